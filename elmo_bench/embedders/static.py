"""Static word vectors (GloVe, word2vec text format) as a one-layer :class:`Embedder`.

Files: the GloVe text format (``word v1 ... vD`` a line) and the word2vec text format (the same
after a ``count dim`` header line), plain, gzip, or inside a zip archive (pick the member by name;
``glove.6B.zip`` holds four files). A few lines of ``glove.840B.300d`` have words containing spaces
(``. . .``, ``at name@domain.com``): a line with more fields than ``dim + 1`` is read as such a word
when the extra fields are not numbers, and is an error otherwise.

Lookup: the exact token, then (optionally) its lower-cased form, then the out-of-vocabulary vector
(zeros, or the file's ``<UNK>``/``<unk>`` vector). The embedder counts tokens and OOV tokens.
"""
from __future__ import annotations

import collections
import gzip
import hashlib
import io
import itertools
import logging
import zipfile
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from elmo_bench.download import fetch
from elmo_bench.embedders.base import Embedder, Layers
from elmo_bench.errors import ElmoBenchError, UsageError
from elmo_bench.paths import cache_dir
from elmo_bench.data.sources import file_sha256

logger = logging.getLogger(__name__)

# Bump when the lookup rules change the vectors a token gets.
STATIC_EMBEDDER_VERSION = 1
UNKNOWN_TOKENS = ("<UNK>", "<unk>")
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
# Data lines whose number of values decides the dimension (the most common count wins, so that a
# ragged first line is reported as the bad one).
_DIMENSION_LINES = 3
_HASH_BLOCK_BYTES = 1 << 20


class VectorsFormatError(ElmoBenchError, ValueError):
    """A word-vectors file that does not follow the GloVe / word2vec text format."""


@dataclass(frozen=True)
class PublishedVectors:
    """Vectors distributed as a member of a zip archive."""

    url: str
    member: str
    md5: str  # of the archive, as published alongside the download by many projects

    @property
    def archive_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_GLOVE_6B = "https://nlp.stanford.edu/data/glove.6B.zip"
_GLOVE_6B_MD5 = "056ea991adb4740ac6bf1b6d9b50408b"
PUBLISHED_VECTORS: dict[str, PublishedVectors] = {
    **{
        f"glove.6B.{dim}d": PublishedVectors(_GLOVE_6B, f"glove.6B.{dim}d.txt", _GLOVE_6B_MD5)
        for dim in (50, 100, 200, 300)
    },
    "glove.840B.300d": PublishedVectors(
        "https://nlp.stanford.edu/data/glove.840B.300d.zip",
        "glove.840B.300d.txt",
        "2ffafcc9f9ae46fc8c95f32372976137",
    ),
}


# ----------------------------------------------------------------------------------------------
# Reading vector files


@dataclass
class StaticVectors:
    """A word list and its vectors.

    Attributes:
        words: the words, in file order (first occurrence kept).
        vectors: float32 ``[len(words), dim]``.
    """

    words: list[str]
    vectors: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {word: row for row, word in enumerate(self.words)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def _open_binary(path: Path, member: str | None) -> tuple[io.BufferedIOBase, str]:
    """The vectors file as a binary stream, and how error messages name it."""
    with open(path, "rb") as raw:
        head = raw.read(4)
    if zipfile.is_zipfile(path):
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as error:
            raise VectorsFormatError(f"{path}: a damaged zip archive ({error}); download it again") from error
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        if member is None:
            candidates = [name for name in names if name.endswith((".txt", ".vec"))]
            if not candidates:
                raise VectorsFormatError(
                    f"{path}: the zip archive holds no .txt or .vec vectors file "
                    f"({'it is empty' if not names else 'it holds ' + ', '.join(names)})"
                )
            if len(candidates) > 1:
                raise VectorsFormatError(
                    f"{path}: the zip archive holds several vectors files ({', '.join(candidates)}); "
                    "choose one with member=..."
                )
            member = candidates[0]
        elif member not in names:
            raise VectorsFormatError(
                f"{path}: no member {member!r} in the archive; it holds {names}"
            )
        return archive.open(member), f"{path}:{member}"
    if head == _ZIP_MAGIC:
        raise VectorsFormatError(
            f"{path}: starts like a zip archive but has no central directory (truncated or "
            "damaged); download or copy it again"
        )
    if member is not None:
        raise VectorsFormatError(
            f"{path}: member={member!r} given, but the file is not a zip archive"
        )
    head = head[:2]
    if head == _GZIP_MAGIC:
        return gzip.open(path, "rb"), str(path)
    if path.suffix == ".gz":
        raise VectorsFormatError(
            f"{path}: named .gz but is not gzip data (it starts with {head!r})"
        )
    return open(path, "rb"), str(path)


def _decoded_lines(stream: io.BufferedIOBase, name: str) -> Iterator[tuple[int, str]]:
    """``(line number, text without the line end)`` of non-blank lines."""
    for line_number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8").rstrip("\r\n ")
        except UnicodeDecodeError as error:
            raise VectorsFormatError(f"{name}: line {line_number}: not UTF-8 ({error})") from error
        if text:
            yield line_number, text


def _dimension(
    first: list[tuple[int, str]], name: str
) -> tuple[int | None, int, list[tuple[int, str]]]:
    """``(word2vec header count or None, dim, the data lines among first)`` from the first lines:
    a word2vec ``N D`` header gives the dimension, else the most common number of values among the
    first data lines (the first line's on a tie)."""
    if not first:
        return None, 0, []
    fields = first[0][1].split(" ")
    if len(fields) == 2 and all(value.isdigit() for value in fields):
        return int(fields[0]), int(fields[1]), first[1:]
    counts = [len(text.split(" ")) - 1 for _, text in first[:_DIMENSION_LINES]]
    dim = collections.Counter(counts).most_common(1)[0][0]
    if dim < 1:
        raise VectorsFormatError(f"{name}: line {first[0][0]}: no numbers after the word")
    return None, dim, first


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_line(text: str, dim: int, name: str, line_number: int) -> tuple[str, np.ndarray]:
    """``(word, float32 [dim])`` of one ``word v1 ... vD`` line."""
    fields = text.split(" ")
    n_extra = len(fields) - 1 - dim
    if n_extra < 0 or (n_extra > 0 and any(_is_number(value) for value in fields[1 : 1 + n_extra])):
        raise VectorsFormatError(
            f"{name}: line {line_number}: expected a word and {dim} numbers, found "
            f"{len(fields) - 1} fields after {fields[0]!r}"
        )
    try:
        values = np.array(fields[1 + n_extra :], dtype=np.float32)
    except ValueError:
        bad = next(value for value in fields[1 + n_extra :] if not _is_number(value))
        raise VectorsFormatError(
            f"{name}: line {line_number}: {bad!r} is not a number"
        ) from None
    return " ".join(fields[: 1 + n_extra]), values


def read_vectors(
    path: Path,
    *,
    member: str | None = None,
    vocabulary: Collection[str] | None = None,
) -> StaticVectors:
    """Read a GloVe or word2vec text file (plain, gzip, or a zip archive member).

    Args:
        path: the file.
        member: the file inside a zip archive (optional when the archive holds one text file).
        vocabulary: keep only these words (lines of other words are not parsed), to save memory
            on large files.

    Raises:
        VectorsFormatError: with the file and line number, for a line with the wrong number of
            values, a value that is not a number, a word2vec header whose count does not match
            the file, text that is not UTF-8, or a file with no vectors.
    """
    path = Path(path)
    stream, name = _open_binary(path, member)
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    first_fields = None if vocabulary is None else {word.split(" ", 1)[0] for word in vocabulary}
    n_vectors, n_duplicates, line_number = 0, 0, 0
    with stream:
        try:
            lines = _decoded_lines(stream, name)
            header_count, dim, first = _dimension(list(itertools.islice(lines, _DIMENSION_LINES + 1)), name)
            for line_number, text in itertools.chain(first, lines):
                n_vectors += 1
                if first_fields is not None and text.split(" ", 1)[0] not in first_fields:
                    continue
                word, values = _parse_line(text, dim, name, line_number)
                if vocabulary is not None and word not in vocabulary:
                    continue
                if word in seen:
                    n_duplicates += 1
                    continue
                seen.add(word)
                words.append(word)
                rows.append(values)
        except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as error:
            where = f" after line {line_number}" if line_number else ""
            raise VectorsFormatError(
                f"{name}: the compressed data is truncated or damaged{where} ({error}); download "
                "or copy the file again"
            ) from error
    if n_vectors == 0:
        raise VectorsFormatError(f"{name}: no vectors in the file")
    if header_count is not None and header_count != n_vectors:
        raise VectorsFormatError(
            f"{name}: the word2vec header announces {header_count} vectors, the file has "
            f"{n_vectors}"
        )
    if n_duplicates:
        logger.warning("%s: %d repeated words; the first vector of each was kept", name,
                       n_duplicates)
    vectors = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    return StaticVectors(words, vectors)


# ----------------------------------------------------------------------------------------------
# Published vectors


def _md5_check(expected: str):
    def verify(path: Path) -> None:
        digest = hashlib.md5()
        with open(path, "rb") as file:
            while block := file.read(_HASH_BLOCK_BYTES):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise VectorsFormatError(f"{path}: md5 {digest.hexdigest()}, expected {expected}")

    return verify


def fetch_published_vectors(name: str) -> tuple[Path, str]:
    """Download (once) the archive of a published vector set into ``cache_dir()/glove``.

    Returns:
        ``(archive path, member name)``.

    Raises:
        UsageError: an unknown name (the message lists the known ones).
        elmo_bench.download.DownloadError, ChecksumError: as :func:`elmo_bench.download.fetch`.
    """
    if name not in PUBLISHED_VECTORS:
        raise UsageError(f"unknown vectors {name!r}; published ones: {sorted(PUBLISHED_VECTORS)}")
    published = PUBLISHED_VECTORS[name]
    archive = fetch(
        published.url,
        cache_dir() / "glove" / published.archive_name,
        verify=_md5_check(published.md5),
        desc=published.archive_name,
    )
    return archive, published.member




# ----------------------------------------------------------------------------------------------
# The embedder


@dataclass(frozen=True)
class OovStats:
    """Tokens embedded so far and how they were found."""

    tokens: int
    lowercased: int
    oov: int

    @property
    def oov_rate(self) -> float:
        return self.oov / self.tokens if self.tokens else 0.0


class StaticEmbedder(Embedder):
    """One layer of fixed word vectors.

    Args:
        vectors: a vectors file path, or a published name (``glove.6B.300d``, ...; see
            :data:`PUBLISHED_VECTORS`), downloaded on first use.
        member: the file inside a zip archive (for a path).
        lowercase_fallback: look up a token's lower-cased form when the token itself is missing.
        oov: "zero" (a zero vector) or "unk" (the file's ``<UNK>`` or ``<unk>`` vector) for tokens
            not found.
        vocabulary: load only the vectors these tokens can reach (they and their lower-cased
            forms), to save memory; it enters the fingerprint.
    """

    name = "static"

    def __init__(
        self,
        vectors: str | Path,
        *,
        member: str | None = None,
        lowercase_fallback: bool = True,
        oov: Literal["zero", "unk"] = "zero",
        vocabulary: Collection[str] | None = None,
    ) -> None:
        if oov not in ("zero", "unk"):
            raise UsageError(f"oov must be 'zero' or 'unk', got {oov!r}")
        if str(vectors) in PUBLISHED_VECTORS:
            path, member = fetch_published_vectors(str(vectors))
            # fetch keeps the archive's sha256 in a sha256sum-format sidecar and checks it.
            sha256 = path.with_name(path.name + ".sha256").read_text(encoding="ascii").split()[0]
        else:
            path = Path(vectors)
            if not path.exists():
                raise FileNotFoundError(
                    f"{path}: no such vectors file (published names: {sorted(PUBLISHED_VECTORS)})"
                )
            sha256 = file_sha256(path)
        keep = None
        if vocabulary is not None:
            keep = set(vocabulary) | {token.lower() for token in vocabulary} | set(UNKNOWN_TOKENS)
        self.vectors = read_vectors(path, member=member, vocabulary=keep)
        self.source = f"{path}:{member}" if member else str(path)
        self.lowercase_fallback = lowercase_fallback
        self.oov = oov
        self._fingerprint_parts = {
            "vectors_sha256": sha256,
            "member": member,
            "lowercase_fallback": lowercase_fallback,
            "oov": oov,
            "vocabulary_sha256": None if vocabulary is None else hashlib.sha256(
                "\n".join(sorted(set(vocabulary))).encode("utf-8")
            ).hexdigest(),
            "dtype": "float32",
            "version": STATIC_EMBEDDER_VERSION,
        }
        self._oov_row = self._find_oov_row()
        # Row n_words of the table is the OOV vector; padding uses it too and is then zeroed.
        self._table = torch.from_numpy(
            np.concatenate([self.vectors.vectors, self._oov_vector()[None, :]])
        )
        self._tokens = self._lowercased = self._oov_count = 0

    def _find_oov_row(self) -> int | None:
        if self.oov == "zero":
            return None
        for token in UNKNOWN_TOKENS:
            if token in self.vectors.index:
                return self.vectors.index[token]
        raise VectorsFormatError(
            f"oov='unk' needs a {' or '.join(UNKNOWN_TOKENS)} vector, and the file has neither"
        )

    def _oov_vector(self) -> np.ndarray:
        if self._oov_row is None:
            return np.zeros(self.vectors.dim, dtype=np.float32)
        return self.vectors.vectors[self._oov_row]

    @property
    def n_layers(self) -> int:
        return 1

    @property
    def dim(self) -> int:
        return self.vectors.dim

    def fingerprint_parts(self) -> dict:
        return dict(self._fingerprint_parts)

    def _lookup(self, token: str) -> tuple[int | None, bool]:
        """``(row or None, whether the lower-cased form was used)``."""
        row = self.vectors.index.get(token)
        if row is None and self.lowercase_fallback:
            row = self.vectors.index.get(token.lower())
            return row, row is not None
        return row, False

    def embed(self, sentences: list[list[str]]) -> Layers:
        """Look up every token.

        Returns:
            :class:`Layers` with activations ``[1, batch, max_len, dim]`` (zeros at padding) and
            mask ``[batch, max_len]``.
        """
        oov_index = len(self.vectors.words)
        max_len = max((len(sentence) for sentence in sentences), default=0)
        rows = torch.full((len(sentences), max_len), oov_index, dtype=torch.long)
        mask = torch.zeros((len(sentences), max_len), dtype=torch.bool)
        for position, sentence in enumerate(sentences):
            for offset, token in enumerate(sentence):
                row, lowercased = self._lookup(token)
                self._lowercased += lowercased
                if row is None:
                    self._oov_count += 1
                else:
                    rows[position, offset] = row
            mask[position, : len(sentence)] = True
            self._tokens += len(sentence)
        activations = self._table[rows] * mask.unsqueeze(-1)
        return Layers(activations.unsqueeze(0), mask)

    @property
    def oov_stats(self) -> OovStats:
        """Counts over every :meth:`embed` call so far."""
        return OovStats(self._tokens, self._lowercased, self._oov_count)
