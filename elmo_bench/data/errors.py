"""Errors raised by the dataset readers: bad file contents and unavailable data."""

from __future__ import annotations

from pathlib import Path

from elmo_bench.errors import ElmoBenchError


class DataFormatError(ElmoBenchError, ValueError):
    """A data file does not have the expected format.

    The message starts with ``file:line:`` (or ``file:`` when no line applies) so that an editor or
    a terminal can jump to the offending place.
    """

    def __init__(self, path: str | Path, line_number: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line_number = line_number
        self.problem = problem
        location = f"{self.path}:{line_number}" if line_number is not None else f"{self.path}"
        super().__init__(f"{location}: {problem}")


class DataSourceError(ElmoBenchError, ValueError):
    """A dataset split could not be found locally nor loaded from the Hugging Face Hub."""
