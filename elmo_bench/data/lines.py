"""Reading a text file as numbered lines, with decoding errors reported by file and line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from elmo_bench.data.errors import DataFormatError


def numbered_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for each line of ``path`` (1-based, line end removed).

    Raises:
        DataFormatError: a line is not valid ``encoding``; names the file and the line.
    """
    with open(path, "rb") as handle:
        for line_number, raw_line in enumerate(handle, start=1):
            try:
                line = raw_line.decode(encoding)
            except UnicodeDecodeError as error:
                raise DataFormatError(
                    path, line_number, f"not valid {encoding} at byte {error.start} of the line"
                ) from error
            yield line_number, line.rstrip("\r\n")
