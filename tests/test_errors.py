"""Entry points tell user errors from bugs: every user-facing error class shares ElmoBenchError and is
printed as one line (status 2); anything else keeps its traceback and is called a bug (status 1).
``--set`` values of the wrong type are named at start-up."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import elmo_bench
from elmo_bench.cli import main
from elmo_bench.commands import list as list_command
from elmo_bench.errors import ElmoBenchError
from elmo_bench.runner.presets import resolve_preset
from elmo_bench.settings import PresetError, parse_assignments

REPO = Path(__file__).resolve().parents[1]


def _error_classes() -> list[type]:
    found = []
    for module_info in pkgutil.walk_packages(elmo_bench.__path__, "elmo_bench."):
        if module_info.name.endswith("transformer"):
            continue  # imports transformers lazily; its error class is checked by name below
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == module.__name__ and issubclass(value, Exception):
                found.append(value)
    return found


def test_every_error_class_of_the_package_is_an_elmo_bench_error():
    classes = _error_classes()
    assert len(classes) >= 24
    assert [cls.__qualname__ for cls in classes if not issubclass(cls, ElmoBenchError)] == []
    from elmo_bench.embedders.transformer import TransformerModelError

    assert issubclass(TransformerModelError, ElmoBenchError)


@pytest.mark.parametrize(
    "raised, status, last_line",
    [
        (ElmoBenchError("data.txt:6: bad byte 0xff; expected UTF-8"), 2,
         "elmo-bench list: error: data.txt:6: bad byte 0xff; expected UTF-8"),
        (FileNotFoundError(2, "No such file or directory", "x.txt"), 2,
         "elmo-bench list: error: [Errno 2] No such file or directory: 'x.txt'"),
        (ValueError("operands could not be broadcast"), 1,
         "elmo-bench list: internal error: this is a bug in elmo-bench"),
        (AssertionError("torch internal assertion"), 1,
         "elmo-bench list: internal error: this is a bug in elmo-bench"),
        (RuntimeError("shape mismatch"), 1, "elmo-bench list: internal error: this is a bug in elmo-bench"),
    ],
)
def test_user_errors_are_one_line_and_bugs_keep_their_traceback(monkeypatch, capsys, raised, status, last_line):
    def fail(args):
        raise raised

    monkeypatch.setattr(list_command, "run", fail)
    assert main(["list"]) == status
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(last_line)
    assert ("Traceback (most recent call last)" in err) == (status == 1)


@pytest.mark.parametrize(
    "item, message",
    [
        ("threads=two", '--set threads="two": threads must be an integer (now 1)'),
        ("pretrain.glove.dim=abc", '--set pretrain.glove.dim="abc": pretrain.glove.dim must be an integer (now 128)'),
        ("pretrain.concurrent=yes", "pretrain.concurrent must be true or false"),
        ("executor.workers=2.5", "--set executor.workers=2.5: executor.workers must be an integer (now 2)"),
    ],
)
def test_set_values_of_the_wrong_type_are_named(item, message):
    with pytest.raises(PresetError) as raised:
        resolve_preset("standard", parse_assignments([item], "--set", "seeds=1"))
    assert message.replace("(now 1)", "") in str(raised.value)


def test_a_list_setting_takes_one_name_or_a_comma_separated_list():
    assert resolve_preset("smoke", parse_assignments(["tasks=trec6"], "--set", "seeds=1"))["tasks"] == ["trec6"]
    assert resolve_preset("smoke", parse_assignments(["tasks=trec6,sst2"], "--set", "seeds=1"))["tasks"] == ["trec6", "sst2"]
    assert resolve_preset("smoke", parse_assignments(["seeds=1,2"], "--set", "seeds=1"))["seeds"] == [1, 2]
    assert resolve_preset("smoke", parse_assignments(["seeds=3"], "--set", "seeds=1"))["seeds"] == [3]


@pytest.mark.parametrize(
    "item, message",
    [
        ("task_defaults.head.hidden_size=-5",
         "task 'conll2003_ner' head.hidden_size must be an integer >= 1, got -5"),
        ("task_defaults.head.dropout=1.5", "head.dropout must be a number in [0, 1), got 1.5"),
        ('task_settings.sst2.head.pooling=["max","sum"]',
         "task 'sst2' head.pooling must be a non-empty list of distinct items of 'max', 'mean', "
         "got ['max', 'sum']"),
        ("task_settings.squad11.head.max_answer_tokens=0",
         "task 'squad11' head.max_answer_tokens must be an integer >= 1, got 0"),
    ],
)
def test_a_bad_head_setting_stops_the_grid_in_one_line_before_any_stage(tmp_path, item, message):
    env = {**os.environ, "PYTHONPATH": str(REPO), "ELMO_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(REPO / "run_benchmarks.py"), "--preset", "smoke", "--no-progress",
         "--results-dir", str(tmp_path / "results"), "--set", item],
        capture_output=True, text=True, env=env, timeout=1200,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr
    assert not list((tmp_path / "cache" / "stages").glob("glove-*"))
    assert not list((tmp_path / "cache" / "stages").glob("bilm-*"))


def test_glove_module_reports_a_corpus_error_in_one_line_and_leaves_no_folder(tmp_path):
    empty = tmp_path / "corpus"
    empty.mkdir()
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ELMO_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "elmo_bench.pretrain.glove", "--corpus", str(empty), "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=1200,  # a starved shared CPU is slow to import
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m elmo_bench.pretrain.glove: error: ") and str(empty) in last
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_glove_settings_of_the_wrong_type_are_one_error(tmp_path):
    from elmo_bench.pretrain.corpus import CorpusConfig
    from elmo_bench.pretrain.glove import GloveConfig, GloveConfigError

    with pytest.raises(GloveConfigError, match=r"glove.dim must be an integer >= 1, got 'abc'; .*glove.alpha must be a number > 0, got 0"):
        GloveConfig(CorpusConfig(path="."), output_dir=".", dim="abc", alpha=0)


@pytest.mark.parametrize(
    "raised, error_text",
    [(ElmoBenchError("trec/TREC_10.label:3: no label"), "error: trec/TREC_10.label:3: no label"),
     (IndexError("list index out of range"), "Traceback (most recent call last)")],
)
def test_a_failed_cell_reports_a_user_error_in_one_line_and_a_bug_with_its_traceback(monkeypatch, raised, error_text):
    from types import SimpleNamespace

    from elmo_bench.runner import grid

    def fail(spec):
        raise raised

    monkeypatch.setattr(grid, "run_cell_spec", fail)
    outcome = grid.execute_cell(SimpleNamespace(label="trec6 glove 1", result_path="x.json"))
    assert outcome.status == "failed" and outcome.error.startswith(error_text)
    assert (len(outcome.error.strip().splitlines()) == 1) == isinstance(raised, ElmoBenchError)
