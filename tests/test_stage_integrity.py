"""A pretraining stage's outputs are checked against the checksums its record holds before the grid
reuses them: a changed output is reported, moved aside and written again from the checkpoint; a
record from before checksums is adopted."""

from __future__ import annotations

import json
import logging

import pytest

from elmo_bench.checksums import forget_verified
from elmo_bench.runner.presets import resolve_preset
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.runner.stages import STAGE_RECORD, read_stage_record, run_glove_stage


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

    with caplog.at_level(logging.WARNING, logger="elmo_bench.runner.stages"):
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
