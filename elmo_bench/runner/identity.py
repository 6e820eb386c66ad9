"""What a cell's scores depend on, as a digest: the cell's *settings fingerprint*.

:func:`cell_fingerprint` digests the task, embedder and seed, the task's merged options, head and
training settings, the identity of every source embedder the cell reads (:func:`settings_read`:
only the source settings the cell depends on; :func:`source_identity`: every file they name by
its sha256), the sha256 of the task's data files (:func:`data_identity`) and, only for a cell that
trains on part of its training split, the fraction and the passes over it per epoch (so a cell on
the whole split has the fingerprint it had before fractions existed). A result file that carries its cell's fingerprint
is finished; retrained weights or changed data at the same paths give another fingerprint, and
the cell is redone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from elmo_bench.cell import RESULT_FORMAT_VERSION
from elmo_bench.compared import SourceUse
from elmo_bench.data.sources import file_sha256
from elmo_bench.data.subsets import passes_per_epoch
from elmo_bench.digest import content_digest
from elmo_bench.pretrain.bilm.checkpoint import CHECKPOINT_NAME
from elmo_bench.task import ROLES, Task

# The files of a pretraining run folder (``elmo.pretrain_run``) that what is read from it depends on.
_RUN_FOLDER_FILES = (CHECKPOINT_NAME, "vocab.txt", "options.json", "weights.hdf5")

SPEED_ONLY_SETTINGS = frozenset({"compile"})
"""Source settings that do not change the vectors (ELMo's ``compile`` fuses the LSTM's element-wise
step; a test holds its vectors to the eager ones), so not part of a cell's fingerprint."""


def data_identity(task: Task) -> dict[str, list[str]]:
    """The sha256 of every file each role of ``task`` reads (so changed data redoes its cells).

    Raises:
        DataSourceError: a data file that cannot be found (before any cell runs).
    """
    return {role: [split.sha256() for split in task.data_files(role)] for role in ROLES}


def source_identity(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A source's settings with every value naming an existing file replaced by the file's sha256,
    and every value naming a folder (a pretraining run) by the sha256 of its run files: retrained
    weights at the same path change the fingerprint, the same weights elsewhere do not."""
    identity: dict[str, Any] = {}
    for key, value in settings.items():
        path = Path(value).expanduser() if isinstance(value, str) else None
        if path is not None and path.is_file():
            identity[key] = {"sha256": file_sha256(path)}
        elif path is not None and path.is_dir():
            identity[key] = {
                "folder_sha256": {name: file_sha256(path / name) for name in _RUN_FOLDER_FILES
                                  if (path / name).is_file()}
            }
        else:
            identity[key] = value
    return identity


def settings_read(source: str, settings: Mapping[str, Any], uses: Sequence[SourceUse]) -> dict[str, Any]:
    """The settings of ``source`` that a cell reading it through ``uses`` depends on.

    ``elmo.pretrain_run`` (a run folder, identified by its checkpoint too) counts only where it is
    read: for language-model fine-tuning, or as the weights when no options/weights or published
    model are given. A frozen or unfrozen ELMo given by its weight files does not depend on the
    pretraining checkpoint, so its cells stay valid where the same weights come with another (or
    no) checkpoint, e.g. a run resumed on another machine. :data:`SPEED_ONLY_SETTINGS` are left
    out: they change how fast the vectors come, not the vectors.
    """
    read = {key: value for key, value in settings.items() if key not in SPEED_ONLY_SETTINGS}
    if source == "elmo" and read.get("pretrain_run") is not None:
        weights_given = read.get("model") is not None or read.get("weights") is not None
        fine_tuned = any(use.adaptation == "lm-finetuned" for use in uses)
        if weights_given and not fine_tuned:
            del read["pretrain_run"]
    return read


def cell_fingerprint(
    task: str,
    embedder: str,
    seed: int,
    merged_task_settings: Mapping[str, Any],
    source_identities: Mapping[str, Any],
    data: Mapping[str, Any],
    fraction: float | None = None,
    subset_strata: str | None = None,
) -> str:
    """Digest of everything that determines a cell's scores (see the module docstring).

    ``fraction`` (below 1) and its passes per epoch enter the digest only when given, so that
    every cell on a whole training split keeps the fingerprint it had before fractions existed;
    so do the task's ``subset_strata`` (what its subsets keep in proportion), only with a
    fraction and only when the task has them.
    """
    identity = {
        "format_version": RESULT_FORMAT_VERSION,
        "task": task,
        "embedder": embedder,
        "seed": seed,
        "task_settings": merged_task_settings,
        "sources": source_identities,
        "data": data,
    }
    if fraction is not None:
        identity["train_fraction"] = fraction
        identity["passes_per_epoch"] = passes_per_epoch(fraction)
        if subset_strata is not None:
            identity["train_subset_strata"] = subset_strata
    return content_digest(identity, default=str)
