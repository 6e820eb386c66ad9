"""Reading word-vector text files: the GloVe format (``word v1 ... vD`` a line) and the word2vec
text format (the same after a ``count dim`` header line), plain, gzip, or inside a zip archive
(pick the member by name; ``glove.6B.zip`` holds four files).

A few lines of ``glove.840B.300d`` have words containing spaces (``. . .``,
``at name@domain.com``): a line with more fields than ``dim + 1`` is read as such a word when the
extra fields are not numbers, and is an error otherwise. Every error names the file and line.

:func:`read_vectors` reads a file (or the words of a vocabulary) into memory;
:func:`iter_vector_blocks` streams it in blocks, for :mod:`elmo_bench.embedders.vectors_store`.
"""
from __future__ import annotations

import collections
import gzip
import io
import itertools
import logging
import warnings
import zipfile
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from elmo_bench.errors import ElmoBenchError

logger = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
# Data lines whose number of values decides the dimension (the most common count wins, so that a
# ragged first line is reported as the bad one).
_DIMENSION_LINES = 3


class VectorsFormatError(ElmoBenchError, ValueError):
    """A word-vectors file that does not follow the GloVe / word2vec text format."""


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
