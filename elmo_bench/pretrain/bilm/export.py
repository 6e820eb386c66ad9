"""A trained biLM written out for ELMo: the run's final export and its snapshots along the way."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from elmo_bench.atomic import write_json
from elmo_bench.embedders.elmo.bilm import ElmoBiLm
from elmo_bench.embedders.elmo.weights import export_bilm
from elmo_bench.pretrain.vocab import Vocabulary

SNAPSHOTS_DIR = "snapshots"
"""The folder of a run's snapshots, ``<run>/snapshots/step-<N>/``."""


def export_model(bilm: ElmoBiLm, vocabulary: Vocabulary, folder: Path) -> None:
    """Write ``options.json`` + ``weights.hdf5`` (AllenNLP / bilm-tf format) and ``vocab.txt``
    into ``folder``."""
    export_bilm(bilm, folder / "options.json", folder / "weights.hdf5")
    vocabulary.save(folder / "vocab.txt")


def write_snapshot(bilm: ElmoBiLm, vocabulary: Vocabulary, output_dir: Path, step: int,
                   record: dict[str, Any]) -> Path:
    """Export the biLM to ``<output_dir>/snapshots/step-<step>/`` with ``record`` as its
    ``snapshot.json``; the folder is written whole, then renamed into place, so a snapshot that
    exists is complete. Returns the folder."""
    folder = output_dir / SNAPSHOTS_DIR / f"step-{step}"
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    export_model(bilm, vocabulary, partial)
    write_json(partial / "snapshot.json", record)
    shutil.rmtree(folder, ignore_errors=True)  # one left by a run resumed from before it
    partial.rename(folder)
    return folder
