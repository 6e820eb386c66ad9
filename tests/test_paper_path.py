"""The ``paper`` preset as a user meets it, end to end, against a mirror on 127.0.0.1: the tiny
AllenNLP ELMo fixture served as ``original`` and a small GloVe zip under the real archive name
(``glove.840B.300d.zip``, its sha256 standing for the published one). Published names resolve,
each file is downloaded once before any cell, the vectors are converted once, every cell runs and
records its device, the report is built and its table printed; a second run downloads nothing. A
mirror that is down stops the run before any cell with one message."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_download import FIXTURES, WEIGHTS, RangeServer, Served

from elmo_bench.cli import main
from elmo_bench.embedders.published_vectors import PUBLISHED_VECTORS, PublishedVectors
from elmo_bench.runner.smoke_data import write_smoke_data

ORIGINAL = "/elmo/2x4096_512_2048cnn_2xhighway/elmo_2x4096_512_2048cnn_2xhighway"
GLOVE = "/glove/glove.840B.300d.zip"
CELLS = 8  # trec6, sst2 x glove, elmo, elmo+glove, elmo-layer0 x seed 1
SMALL_HEADS = [
    "--set", "smoke_data=true", "--set", "threads=1", "--seeds", "1",
    "--tasks", "trec6,sst2",
    "--set", 'task_defaults.head={"hidden_size": 8}',
    "--set", 'task_defaults.training={"max_epochs": 2, "patience": 1, "batch_size": 16}',
]


def _glove_zip(words: list[str]) -> bytes:
    rng = np.random.default_rng(0)
    text = "".join(
        word + " " + " ".join(f"{value:.5f}" for value in rng.standard_normal(6)) + "\n"
        for word in words
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("glove.840B.300d.txt", text)
    return buffer.getvalue()


def _task_words(data: Path) -> list[str]:
    text = (data / "trec" / "train_5500.label").read_text(encoding="latin-1")
    return sorted({token for line in text.splitlines() for token in line.split()[1:]})


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Iterator[RangeServer]:
    data = tmp_path / "smoke-data"
    write_smoke_data(data)
    archive = _glove_zip(_task_words(data))
    running = RangeServer()
    running.files[ORIGINAL + "_options.json"] = Served((FIXTURES / "options.json").read_bytes())
    running.files[ORIGINAL + "_weights.hdf5"] = Served(WEIGHTS)
    running.files[GLOVE] = Served(archive)
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ELMO_BENCH_ELMO_URL", running.url("/elmo"))
    monkeypatch.setenv("ELMO_BENCH_GLOVE_URL", running.url("/glove"))
    monkeypatch.setitem(PUBLISHED_VECTORS, "glove.840B.300d", PublishedVectors(
        "glove.840B.300d", "glove.840B.300d.zip", "glove.840B.300d.txt",
        hashlib.sha256(archive).hexdigest(), len(archive), "test"))
    yield running
    running.close()


def test_paper_preset_end_to_end_on_a_local_mirror(mirror, tmp_path, capsys):
    results = tmp_path / "results"
    argv = ["bench", "--preset", "paper", "--results-dir", str(results), "--no-progress",
            "--set", f"stages_dir={tmp_path / 'stages'}", *SMALL_HEADS]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "--device auto: using cpu (" in err  # what auto chose, and why
    assert "GloVe glove.840B.300d: ready in" in err and "ELMo original: ready in" in err
    assert sorted(path for path, _ in mirror.requests) == sorted(
        [ORIGINAL + "_options.json", ORIGINAL + "_weights.hdf5", GLOVE])
    stores = list((tmp_path / "cache" / "vectors").glob("*-v1"))
    assert len(stores) == 1  # converted once, for every cell

    cells = sorted((results / "cells" / "paper").glob("*.json"))
    assert len(cells) == CELLS
    for path in cells:
        result = json.loads(path.read_text())
        assert result["device"]["device"] == "cpu" and result["device"]["name"]
        assert result["device"]["gpu_peak_memory_bytes"] is None
        sources = {part["source"]: part["fingerprint_parts"]
                   for part in result["embedder_details"]["parts"]}
        if "glove" in sources:
            assert sources["glove"]["member"] == "glove.840B.300d.txt"
    assert (results / "paper" / "README.md").is_file()
    assert "| " in out and "8 cells run, 0 done before, 0 failed" in out  # the table, then the tally

    mirror.requests.clear()
    assert main(argv) == 0
    assert mirror.requests == []  # found in the cache: neither downloaded nor re-converted
    assert "0 cells run, 8 done before" in capsys.readouterr().out


def test_a_mirror_that_is_down_stops_the_run_before_any_cell(mirror, tmp_path, capsys):
    del mirror.files[GLOVE]
    results = tmp_path / "results"
    status = main(["bench", "--preset", "paper", "--results-dir", str(results), "--no-progress",
                   "--set", f"stages_dir={tmp_path / 'stages'}", *SMALL_HEADS])
    assert status == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("elmo-bench bench: error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert "could not download glove.840B.300d.zip" in lines[0]
    assert f"{mirror.url(GLOVE)} (HTTP 404" in lines[0]
    assert "ELMO_BENCH_GLOVE_URL" in lines[0] and "embedder.glove.vectors=PATH" in lines[0]
    assert not (results / "cells" / "paper").exists() or not any(
        (results / "cells" / "paper").iterdir())
