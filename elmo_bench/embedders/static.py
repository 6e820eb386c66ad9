"""Static word vectors (GloVe, word2vec text format) as a one-layer :class:`Embedder`.

Files: the GloVe text format (``word v1 ... vD`` a line) and the word2vec text format (the same
after a ``count dim`` header line), plain, gzip, or inside a zip archive (pick the member by name;
``glove.6B.zip`` holds four files). A few lines of ``glove.840B.300d`` have words containing spaces
(``. . .``, ``at name@domain.com``): a line with more fields than ``dim + 1`` is read as such a word
when the extra fields are not numbers, and is an error otherwise.

Lookup: the exact token, then (optionally) its lower-cased form, then the out-of-vocabulary vector
(zeros, or the file's ``<UNK>``/``<unk>`` vector). The embedder counts tokens and OOV tokens.

Large files (from :data:`LARGE_FILE_BYTES`, and every published set) are converted once into a
binary store keyed by the file's sha256 (:mod:`elmo_bench.embedders.vectors_store`): later
loads, in any process, take seconds and read only the rows of the words a task looks up. The
vectors, and the embedder's fingerprint, are the same either way.
"""
from __future__ import annotations

import collections
import gzip
import hashlib
import io
import itertools
import logging
import warnings
import zipfile
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from elmo_bench.errors import ElmoBenchError, UsageError
from elmo_bench.data.sources import file_sha256
from elmo_bench.embedders.base import Embedder, Layers, OovStats
from elmo_bench.embedders.published_vectors import PUBLISHED_VECTORS, fetch_published_vectors
from elmo_bench.embedders.vectors_store import VectorsStore, open_store, store_folder
from elmo_bench.paths import cache_dir

logger = logging.getLogger(__name__)

# Bump when the lookup rules change the vectors a token gets.
STATIC_EMBEDDER_VERSION = 1
UNKNOWN_TOKENS = ("<UNK>", "<unk>")
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
# Data lines whose number of values decides the dimension (the most common count wins, so that a
# ragged first line is reported as the bad one).
_DIMENSION_LINES = 3


class VectorsFormatError(ElmoBenchError, ValueError):
    """A word-vectors file that does not follow the GloVe / word2vec text format."""


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

    def row(self, word: str) -> int | None:
        """The row of ``word``, or None."""
        return self.index.get(word)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """float32 ``[len(rows), dim]``: the given rows."""
        return self.vectors[rows]


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


def _check_vector_count(name: str, n_vectors: int, header_count: int | None) -> None:
    """Raise VectorsFormatError for a file without vectors, or whose word2vec header announces
    another number of them than it holds."""
    if n_vectors == 0:
        raise VectorsFormatError(f"{name}: no vectors in the file")
    if header_count is not None and header_count != n_vectors:
        raise VectorsFormatError(
            f"{name}: the word2vec header announces {header_count} vectors, the file has "
            f"{n_vectors}"
        )


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
    _check_vector_count(name, n_vectors, header_count)
    if n_duplicates:
        logger.warning("%s: %d repeated words; the first vector of each was kept", name,
                       n_duplicates)
    vectors = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    return StaticVectors(words, vectors)


def _header_or_dim(text: str, name: str, line_number: int) -> tuple[int | None, int]:
    """``(word2vec header count or None, dim)`` from the first non-blank line of a file."""
    fields = text.split(" ")
    if len(fields) == 2 and all(value.isdigit() for value in fields):
        return int(fields[0]), int(fields[1])
    if len(fields) < 2:
        raise VectorsFormatError(f"{name}: line {line_number}: no numbers after the word")
    return None, len(fields) - 1


def iter_vector_blocks(
    path: Path, *, member: str | None = None, block_rows: int = 8192
) -> Iterator[tuple[list[str], np.ndarray]]:
    """The vectors of a file as ``(words, float32 [len(words), dim])`` blocks in file order,
    repeated words included: what :mod:`elmo_bench.embedders.vectors_store` converts.

    A block of lines is parsed in one call (``np.fromstring``: the same C conversion to float32 as
    :func:`read_vectors`' line by line ``np.array``, bit for bit, at about a third less time); a
    block it cannot read whole is parsed line by line, which raises the line's error.

    Raises:
        VectorsFormatError: as :func:`read_vectors`.
    """
    stream, name = _open_binary(Path(path), member)
    header_count, dim, n_vectors = None, None, 0
    words: list[str] = []
    numbers: list[str] = []
    lines: list[tuple[int, str]] = []

    def block() -> tuple[list[str], np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # NumPy warns where it stops at a value it cannot read
            try:
                values = np.fromstring(" ".join(numbers), dtype=np.float32, sep=" ")
            except (DeprecationWarning, ValueError):
                values = np.zeros(0, dtype=np.float32)
        if values.size != len(words) * dim:
            for line_number, text in lines:
                _parse_line(text, dim, name, line_number)  # raises with the line's number
            raise VectorsFormatError(f"{name}: lines {lines[0][0]}-{lines[-1][0]}: unreadable")
        return list(words), values.reshape(len(words), dim)

    with stream:
        for line_number, text in _decoded_lines(stream, name):
            if dim is None:
                header_count, dim = _header_or_dim(text, name, line_number)
                if header_count is not None:
                    continue
            n_vectors += 1
            space = text.find(" ")
            if text.count(" ") == dim and space > 0:
                words.append(text[:space])
                numbers.append(text[space + 1:])
            else:  # a word with spaces in it, or a malformed line (which raises)
                word, _ = _parse_line(text, dim, name, line_number)
                words.append(word)
                numbers.append(" ".join(text.split(" ")[-dim:]))
            lines.append((line_number, text))
            if len(words) == block_rows:
                yield block()
                words.clear(), numbers.clear(), lines.clear()
    _check_vector_count(name, n_vectors, header_count)
    if words:
        yield block()


LARGE_FILE_BYTES = 256 * 1024 * 1024
"""Vectors files from this size on are read through a :mod:`~elmo_bench.embedders.vectors_store`
(converted once, then read in place); smaller ones are parsed in memory, as they always were."""


def _is_large(path: Path) -> bool:
    return path.stat().st_size >= LARGE_FILE_BYTES


def vectors_store(path: Path, member: str | None, sha256: str) -> VectorsStore:
    """The converted binary form of a vectors file (converted on first use)."""
    return open_store(
        cache_dir(), sha256, member,
        lambda: iter_vector_blocks(path, member=member),
        f"{path}:{member}" if member else str(path),
    )


def prepare_vectors(vectors: str | Path, member: str | None = None) -> bool:
    """Download a published set and convert it (or a large file) into its store, without loading
    it: what a run does once before its cells. Returns whether there was anything to prepare.

    Raises:
        FileNotFoundError: no such file. Download errors: as :func:`fetch_published_vectors`.
    """
    if str(vectors) in PUBLISHED_VECTORS:
        vectors_store(*_published_source(str(vectors)))
        return True
    path = Path(vectors)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such vectors file")
    if _is_large(path):
        vectors_store(path, member, file_sha256(path))
        return True
    return False


def _published_source(name: str) -> tuple[Path, str, str]:
    """``(archive, member, archive sha256)`` of a published set, downloaded on first use.

    Once the archive has been converted, its recorded sha256 (the sidecar the download wrote)
    finds the converted store, and the 2 GB archive is not read (nor hashed) again.
    """
    published = PUBLISHED_VECTORS[name]
    archive = cache_dir() / "glove" / published.archive
    sidecar = archive.with_name(archive.name + ".sha256")
    if sidecar.is_file():
        recorded = sidecar.read_text(encoding="ascii").split()[0]
        if recorded == published.sha256 and (
            store_folder(cache_dir(), recorded, published.member) / "meta.json"
        ).is_file():
            return archive, published.member, recorded
    archive, member = fetch_published_vectors(name)
    return archive, member, published.sha256


# ----------------------------------------------------------------------------------------------
# The embedder


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
            path, member, sha256 = _published_source(str(vectors))
        else:
            path = Path(vectors)
            if not path.exists():
                raise FileNotFoundError(
                    f"{path}: no such vectors file (published names: "
                    f"{', '.join(PUBLISHED_VECTORS)})"
                )
            sha256 = file_sha256(path)
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
        self.vectors: StaticVectors | VectorsStore
        if vocabulary is None and (str(vectors) in PUBLISHED_VECTORS or _is_large(path)):
            self.vectors = vectors_store(path, member, sha256)
        else:
            keep = None
            if vocabulary is not None:
                keep = set(vocabulary) | {token.lower() for token in vocabulary} | set(UNKNOWN_TOKENS)
            self.vectors = read_vectors(path, member=member, vocabulary=keep)
        self._oov_row = self._find_oov_row()
        self._tokens = self._lowercased = self._oov_count = 0

    def _find_oov_row(self) -> int | None:
        if self.oov == "zero":
            return None
        for token in UNKNOWN_TOKENS:
            row = self.vectors.row(token)
            if row is not None:
                return row
        raise VectorsFormatError(
            f"oov='unk' needs a {' or '.join(UNKNOWN_TOKENS)} vector, and the file has neither"
        )

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
        row = self.vectors.row(token)
        if row is None and self.lowercase_fallback:
            row = self.vectors.row(token.lower())
            return row, row is not None
        return row, False

    def embed(self, sentences: list[list[str]]) -> Layers:
        """Look up every token; only the rows of the tokens seen are read from the vectors.

        Returns:
            :class:`Layers` with activations ``[1, batch, max_len, dim]`` (zeros at padding) and
            mask ``[batch, max_len]``.
        """
        max_len = max((len(sentence) for sentence in sentences), default=0)
        rows = np.full((len(sentences), max_len), -1, dtype=np.int64)  # -1: the OOV vector
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
        if self._oov_row is not None:
            rows[rows == -1] = self._oov_row
        used, inverse = np.unique(rows, return_inverse=True)
        # Row 0 of the table is the OOV vector (zeros) whether or not a token needs it.
        table = np.concatenate([
            np.zeros((1, self.dim), dtype=np.float32), self.vectors.take(used[used >= 0])
        ])
        index = inverse.reshape(rows.shape) + (0 if used.size and used[0] == -1 else 1)
        activations = torch.from_numpy(table)[torch.from_numpy(index)] * mask.unsqueeze(-1)
        return Layers(activations.unsqueeze(0), mask)

    @property
    def oov_stats(self) -> OovStats:
        """Counts over every :meth:`embed` call so far."""
        return OovStats(self._tokens, self._lowercased, self._oov_count)
