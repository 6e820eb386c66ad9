"""A run killed (SIGKILL) while it writes leaves a temporary; the next run removes it and ends with
what an uninterrupted run gives, with no temporary left: the LM-fine-tune cache, the GloVe
co-occurrence counts in the corpus cache, and a biLM run's checkpoint.

Each test starts the work in a process whose write of one file writes half of it and then hangs
(the real write, through the real :func:`elmo_bench.atomic.write_atomically`, so the temporary has
its real name and place), polls until that temporary exists, kills the process, then runs the same
work again in this process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.sparse
import torch

from elmo_bench.atomic import remove_building_leftovers
from elmo_bench.finetune.lm import LmFinetuneSettings, adapted_bilm
from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.run import pretrain
from elmo_bench.pretrain.bilm_presets import get_preset
from elmo_bench.pretrain.corpus import CorpusConfig
from elmo_bench.pretrain.glove import GloveConfig, train_glove
from elmo_bench.pretrain.vocab import VocabConfig
from elmo_bench.runner.smoke_data import write_smoke_data

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")

_HALF_WRITE_THEN_HANG = """
import fnmatch, os, sys, time
import torch
torch.set_num_threads(1)
import {module} as writer
real_write_atomically = writer.write_atomically
calls = []

def write_atomically(path, write):
    if fnmatch.fnmatch(path.name, {name!r}):
        calls.append(path)
        if len(calls) == {nth}:
            def half_then_hang(temporary):
                write(temporary)
                os.truncate(temporary, os.path.getsize(temporary) // 2)
                time.sleep(600)  # until killed
            return real_write_atomically(path, half_then_hang)
    return real_write_atomically(path, write)

writer.write_atomically = write_atomically
"""


def _kill_during_write(
    work: str, module: str, name: str, nth: int, temporaries: Callable[[], list[Path]]
) -> list[Path]:
    """Run the Python code ``work`` in a process in which the ``nth`` write (by ``module``'s
    ``write_atomically``) of a file whose name matches ``name`` hangs half-written; poll until
    ``temporaries()`` finds something, SIGKILL the process and return what was found."""
    prelude = _HALF_WRITE_THEN_HANG.format(module=module, name=name, nth=nth)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_WAIT_POLICY": "PASSIVE"}
    process = subprocess.Popen([sys.executable, "-c", prelude + textwrap.dedent(work)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (found := temporaries()) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    stderr = process.communicate()[1]
    assert found, f"no temporary appeared while the process ran: {stderr}"
    assert process.returncode == -signal.SIGKILL, stderr
    return found


def _hidden(folder: Path) -> list[Path]:
    """Every file or folder under ``folder`` whose name starts with a dot (what a write leaves)."""
    return sorted(folder.rglob(".*"))


# -- the LM-fine-tune cache -------------------------------------------------------------------------

TASK_TRAIN = [["who", "wrote", "Hamlet", "?"], ["where", "is", "Paris", "?"], ["who", "won", "the", "war", "?"]] * 20
TASK_DEV = [["who", "wrote", "Hamlet", "?"], ["where", "is", "Rome", "?"]]
LM_SETTINGS = LmFinetuneSettings(steps=8, learning_rate=1e-2, warmup_steps=1, batch_tokens=256)


def _weights(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 weight file by its name."""
    arrays: dict[str, np.ndarray] = {}

    def read(name: str, item: h5py.Dataset | h5py.Group) -> None:
        if isinstance(item, h5py.Dataset):
            arrays[name] = item[()]

    with h5py.File(path, "r") as weights:
        weights.visititems(read)
    return arrays


def test_a_killed_lm_finetuning_is_redone_and_leaves_no_temporary_folder(tiny_pretrain_run, tmp_path):
    cache_root = tmp_path / "killed"
    lm_cache = cache_root / "lm-finetuned"
    work = f"""
        from pathlib import Path
        from elmo_bench.finetune.lm import LmFinetuneSettings, adapted_bilm
        adapted_bilm(Path({str(tiny_pretrain_run)!r}), {TASK_TRAIN!r}, {TASK_DEV!r},
                     LmFinetuneSettings(**{asdict(LM_SETTINGS)!r}), Path({str(cache_root)!r}))
    """
    # Killed while it writes the fine-tuned checkpoint inside its hidden build folder.
    found = _kill_during_write(work, "elmo_bench.pretrain.bilm.trainer", "checkpoint.pt", 1,
                               lambda: sorted(lm_cache.glob(".*/.checkpoint-*.pt")))
    (building,) = {path.parent for path in found}
    assert building.is_dir()
    entries = [path for path in lm_cache.iterdir() if not path.name.startswith(".") and path.suffix != ".lock"]
    assert entries == []

    adapted = adapted_bilm(tiny_pretrain_run, TASK_TRAIN, TASK_DEV, LM_SETTINGS, cache_root)
    straight = adapted_bilm(tiny_pretrain_run, TASK_TRAIN, TASK_DEV, LM_SETTINGS, tmp_path / "straight")

    assert adapted.record["cache"] == "computed"
    assert _hidden(cache_root) == []
    for field in ("dev_perplexity_before", "dev_perplexity_after", "tokens_seen", "checkpoint_sha256"):
        assert adapted.record[field] == straight.record[field]
    assert adapted.options.read_text() == straight.options.read_text()
    expected, actual = _weights(straight.weights), _weights(adapted.weights)
    assert sorted(actual) == sorted(expected)
    assert all(np.array_equal(actual[name], expected[name]) for name in expected)


# -- the GloVe co-occurrence counts in the corpus cache ---------------------------------------------


def smoke_glove_config(data: Path, output_dir: Path) -> GloveConfig:
    """GloVe on the smoke corpus, two epochs: seconds."""
    return GloveConfig(
        corpus=CorpusConfig(path=str(data / "corpus" / "wikipedia"), held_out_fraction=0.1, workers=1),
        output_dir=str(output_dir),
        vocab=VocabConfig(max_words=2000, min_count=1),
        dim=16, window=5, epochs=2, threads=1,
    )


def test_killed_cooccurrence_counting_is_redone_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    data = write_smoke_data(tmp_path / "data")
    killed_cache, output = tmp_path / "killed-cache", tmp_path / "glove"
    work = f"""
        sys.path.insert(0, {str(REPO / "tests")!r})
        from pathlib import Path
        from elmo_bench.pretrain.glove import train_glove
        from test_killed_runs import smoke_glove_config
        train_glove(smoke_glove_config(Path({str(data)!r}), Path({str(output)!r})))
    """
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(killed_cache))
    (found,) = _kill_during_write(work, "elmo_bench.pretrain.glove", "cooccurrence-*.npz", 1,
                                  lambda: sorted(killed_cache.glob("corpus/*/.cooccurrence-*.npz")))
    assert found.is_file() and not list(found.parent.glob("cooccurrence-*.npz"))

    vectors = train_glove(smoke_glove_config(data, output))
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "straight-cache"))
    straight = train_glove(smoke_glove_config(data, tmp_path / "straight"))

    assert _hidden(killed_cache) == [] and _hidden(output) == []
    (counts,) = killed_cache.glob("corpus/*/cooccurrence-*.npz")
    (straight_counts,) = (tmp_path / "straight-cache").glob("corpus/*/cooccurrence-*.npz")
    assert counts.name == straight_counts.name
    assert (scipy.sparse.load_npz(counts) != scipy.sparse.load_npz(straight_counts)).nnz == 0
    assert vectors.read_text() == straight.read_text()


# -- a biLM run's checkpoint -------------------------------------------------------------------------


def test_a_bilm_run_killed_while_checkpointing_resumes_to_the_same_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    data = DataSettings(str(write_smoke_data(tmp_path / "data") / "corpus" / "wikipedia"),
                        held_out_fraction=0.1, workers=1)
    overrides = {"train": {"max_steps": 6, "checkpoint_every": 2, "eval_every": 0}}
    straight = pretrain(get_preset("tiny", overrides), data, tmp_path / "straight")
    folder = tmp_path / "killed"
    work = f"""
        from pathlib import Path
        from elmo_bench.pretrain.bilm.corpus_source import DataSettings
        from elmo_bench.pretrain.bilm.run import pretrain
        from elmo_bench.pretrain.bilm_presets import get_preset
        pretrain(get_preset("tiny", {overrides!r}), DataSettings(**{asdict(data)!r}), Path({str(folder)!r}))
    """
    # Killed while it writes its second checkpoint (step 4), the one of step 2 in place.
    (found,) = _kill_during_write(
        work, "elmo_bench.pretrain.bilm.trainer", "checkpoint.pt", 2,
        lambda: sorted(folder.glob(".checkpoint-*.pt")) if (folder / "checkpoint.pt").is_file() else [],
    )
    assert found.is_file()
    assert torch.load(folder / "checkpoint.pt", weights_only=False)["position"]["step"] == 2

    resumed = pretrain(None, None, folder, resume=True)

    assert _hidden(folder) == []
    assert resumed.position.step == straight.position.step == 6
    assert resumed.position.tokens_seen == straight.position.tokens_seen
    expected, actual = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(expected[name], actual[name]) for name in expected)


# -- which temporaries are whose --------------------------------------------------------------------


def test_only_the_temporaries_of_the_target_are_removed(tmp_path):
    names = [".cooccurrence-ab-k2j4h5g6.npz", ".cooccurrence-abc-k2j4h5g6.npz", ".cooccurrence-ab.npz",
             "cooccurrence-ab.npz.lock", ".cooccurrence-ab-k2j4h5g6.txt"]
    for name in names:
        (tmp_path / name).write_text("x")
    (tmp_path / ".cooccurrence-ab.npz.x1y2z3w4").mkdir()
    (tmp_path / ".cooccurrence-abc.npz.x1y2z3w4").mkdir()

    removed = remove_building_leftovers(tmp_path / "cooccurrence-ab.npz")

    assert sorted(path.name for path in removed) == [
        ".cooccurrence-ab-k2j4h5g6.npz", ".cooccurrence-ab.npz.x1y2z3w4"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [*names[1:], ".cooccurrence-abc.npz.x1y2z3w4"])
