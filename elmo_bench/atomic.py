"""Writing a file or a folder whole or not at all: every result, cache entry and export goes
through here.

A reader (or a resumed run) never sees a half-written file: the content goes to a temporary file
(or folder) beside the target, which is renamed onto it (``os.replace``, atomic on POSIX). The
temporaries are hidden (their names start with a dot). A killed write leaves its temporary behind;
the next run removes it before it writes there: :func:`remove_temporaries` in a folder that one run
owns, :func:`remove_building_leftovers` for one target of a shared folder (a cache), under the
target's lock (:func:`writing_once`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

# tempfile's random part: 8 characters of "abcdefghijklmnopqrstuvwxyz0123456789_".
_RANDOM = r"[a-z0-9_]{8}"
_FILE_TEMPORARY = re.compile(rf"\..+-{_RANDOM}(\.[^.]+)?")
_FOLDER_TEMPORARY = re.compile(rf"\..+\.{_RANDOM}")

logger = logging.getLogger(__name__)


def corrupt_suffix() -> str:
    """The suffix (``.corrupt-<local time>``) of a file moved aside because it failed a check: kept
    for a look, never read again."""
    return f".corrupt-{time.strftime('%Y%m%dT%H%M%S')}"


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Create ``path`` through ``write(temporary path)``, then a rename; the temporary is removed
    when ``write`` fails. The file gets mode 0644 (``mkstemp``'s 0600 would hide shared caches and
    outputs from other users); the temporary keeps ``path``'s suffix for writers that append one
    (``np.save`` adds ``.npy`` to any other name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(handle)
    try:
        write(Path(temp_name))
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_text_atomically(path: str | Path, text: str) -> None:
    """:func:`write_atomically` of UTF-8 ``text``."""
    write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data: Any) -> None:
    """:func:`write_text_atomically` of ``data`` as JSON, indented by 2, with a final newline."""
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")


def write_bytes_atomically(path: str | Path, data: bytes) -> None:
    """:func:`write_atomically` of ``data``."""
    write_atomically(path, lambda temporary: temporary.write_bytes(data))


@contextlib.contextmanager
def building_folder(folder: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``folder``, to fill in the ``with`` block; it becomes ``folder``
    when the block ends normally and is removed when it raises. When ``folder`` already exists by
    then (another process built it first), the new one is discarded."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        yield building
        os.chmod(building, 0o755)  # mkdtemp makes it 0700
        if not folder.exists():
            os.replace(building, folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporaries that writes into ``folder`` killed mid-way left there (files of
    :func:`write_atomically`, folders of :func:`building_folder`); return what was removed.

    Only for a folder that one run owns (a stage's or a pretraining run's), before that run writes
    there: a temporary of a write still in progress would be removed too."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return _remove_matching(folder.iterdir(), _FOLDER_TEMPORARY, _FILE_TEMPORARY)


def remove_building_leftovers(target: str | Path) -> list[Path]:
    """Remove the temporaries that killed writes of ``target`` left beside it (the folders of
    :func:`building_folder`, ``.<name>.*``, and the files of :func:`write_atomically`,
    ``.<stem>-*<suffix>``); return what was removed.

    For a shared folder (a cache), where other targets may be written at the same time: only
    ``target``'s temporaries are touched, and the caller holds the lock under which ``target`` is
    written, so none of them belongs to a write still in progress."""
    target = Path(target)
    folder_temporary = re.compile(rf"\.{re.escape(target.name)}\.{_RANDOM}")
    file_temporary = re.compile(rf"\.{re.escape(target.stem)}-{_RANDOM}{re.escape(target.suffix)}")
    return _remove_matching(target.parent.glob(".*"), folder_temporary, file_temporary)


def _remove_matching(
    entries: Iterable[Path], folder_temporary: re.Pattern[str], file_temporary: re.Pattern[str]
) -> list[Path]:
    """Remove the folders among ``entries`` whose name matches ``folder_temporary`` and the files
    whose name matches ``file_temporary``; return what was removed."""
    removed = []
    for entry in entries:
        if entry.is_dir() and folder_temporary.fullmatch(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_file() and file_temporary.fullmatch(entry.name):
            entry.unlink(missing_ok=True)
        else:
            continue
        removed.append(entry)
    return removed


@contextlib.contextmanager
def writing_once(target: str | Path) -> Iterator[bool]:
    """For a file or folder of a shared cache, written once and never changed: whether the ``with``
    block is to write ``target`` (False when it exists).

    When it is, the block runs under the file lock ``<target>.lock``, so a second process waits and
    then finds ``target`` written, and the temporaries that killed writes of ``target`` left are
    removed first (:func:`remove_building_leftovers`). The block writes ``target`` with
    :func:`write_atomically` or :func:`building_folder`, so that it exists only when whole."""
    target = Path(target)
    if target.exists():
        yield False
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{target}.lock"):
        if target.exists():  # written by the process that held the lock before
            yield False
            return
        for leftover in remove_building_leftovers(target):
            logger.info("removed %s, left by a write of %s that was killed", leftover, target)
        yield True
