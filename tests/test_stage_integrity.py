"""A pretraining stage's outputs are checked against the checksums its record holds before the grid
reuses them: a changed output is reported, moved aside and written again from the checkpoint; a
record from before checksums is adopted."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from elmo_bench.atomic import remove_temporaries
from elmo_bench.checksums import forget_verified
from elmo_bench.runner.presets import resolve_preset
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.runner.stage_folders import STAGE_RECORD, read_stage_record, stage_folder
from elmo_bench.runner.stages import run_glove_stage

REPO = Path(__file__).resolve().parents[1]
_KILLED_WRITE = """
import sys, time
from elmo_bench.atomic import write_atomically
def write(temporary):
    temporary.write_bytes(b"half a checkpoint")
    print("writing", flush=True)
    time.sleep(60)
write_atomically(sys.argv[1], write)
"""


def _kill_while_writing(path: Path) -> None:
    """Run write_atomically(path) in a process and SIGKILL it halfway through the write."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITE, str(path)], stdout=subprocess.PIPE,
                              env=env, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()


@pytest.fixture()
def glove_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    config = {**resolve_preset("smoke")["pretrain"]["glove"], "epochs": 2}
    data = write_smoke_data(tmp_path / "data")
    stages = tmp_path / "stages"
    outcome = run_glove_stage(config, data, stages, lambda line: None)
    forget_verified()
    return config, data, stages, outcome


def test_a_changed_glove_output_is_moved_aside_and_written_again(glove_stage, caplog):
    config, data, stages, trained = glove_stage
    vectors = trained.folder / "vectors.txt"
    assert trained.record["output_checksums"]["vectors"]
    original = vectors.read_text()
    vectors.write_text(original.replace(" 0.", " 9.", 1))

    with caplog.at_level(logging.WARNING, logger="elmo_bench.runner.stage_folders"):
        again = run_glove_stage(config, data, stages, lambda line: None)

    assert not again.skipped and vectors.read_text() == original
    assert f"{vectors}: vectors.txt has sha256" in caplog.text
    assert len(list(trained.folder.glob("vectors.txt.corrupt-*"))) == 1
    assert len(list(trained.folder.glob(f"{STAGE_RECORD}.corrupt-*"))) == 1


def test_a_record_from_before_checksums_is_adopted(glove_stage):
    _, _, _, trained = glove_stage
    record_path = trained.folder / STAGE_RECORD
    record = json.loads(record_path.read_text())
    digests = record.pop("output_checksums")
    record_path.write_text(json.dumps(record))

    adopted = read_stage_record(trained.folder)

    assert adopted is not None and adopted["output_checksums"] == digests
    assert json.loads(record_path.read_text())["output_checksums"] == digests


def test_a_stage_killed_while_writing_its_checkpoint_leaves_nothing_after_the_rerun(tmp_path, monkeypatch):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    config = {**resolve_preset("smoke")["pretrain"]["glove"], "epochs": 2}
    data = write_smoke_data(tmp_path / "data")
    stages = tmp_path / "stages"
    folder = stage_folder("glove", config, data, stages)
    folder.mkdir(parents=True)
    _kill_while_writing(folder / "checkpoint.pt")
    _kill_while_writing(folder / "vectors.txt")
    assert len([path for path in folder.iterdir() if path.name.startswith(".")]) == 2

    outcome = run_glove_stage(config, data, stages, lambda line: None)

    assert not outcome.skipped
    assert [path.name for path in folder.iterdir() if path.name.startswith(".")] == []


def test_only_the_temporaries_of_atomic_writes_are_removed(tmp_path):
    for name in (".checkpoint-ab12cd_9.pt", ".metrics-x1y2z3w4.json", ".gitignore", "checkpoint.pt"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".entry.k2j4h5g6").mkdir()
    (tmp_path / ".config").mkdir()

    removed = remove_temporaries(tmp_path)

    assert sorted(path.name for path in removed) == [".checkpoint-ab12cd_9.pt", ".entry.k2j4h5g6", ".metrics-x1y2z3w4.json"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [".config", ".gitignore", "checkpoint.pt"]
