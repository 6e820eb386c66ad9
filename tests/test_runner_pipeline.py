"""The smoke preset end to end (data, GloVe and biLM pretraining, every task x glove/elmo), the two
pretraining stages side by side (the same outputs; a failing one raises its own error), a finished
stage found by the content of its corpus (not its path), resume after a kill (of the grid, and of a
cell between its epochs), skip and redo of result files, the pool and submitit executors, and a task from a ``--tasks-dir`` folder in the grid.

The first test's run (module fixture) is the reference: the others reuse its stages and embedding
cache (same ``ELMO_BENCH_CACHE``) and compare their scores with it.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from elmo_bench.runner.benchmark import run_benchmark
from elmo_bench.runner.request import RunRequest
from elmo_bench.runner.grid import RUNNER_KEY
from elmo_bench.runner.presets import resolve_preset
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.run import pretrain
from elmo_bench.pretrain.bilm.trainer import StopRule
from elmo_bench.pretrain.bilm_presets import get_preset
from elmo_bench.pretrain.corpus import CorpusError
from elmo_bench.runner.stage_folders import STAGE_RECORD, read_stage_record, stage_folder, stage_inputs
from elmo_bench.runner.stages import run_bilm_stage, run_glove_stage, run_stages
from elmo_bench.training_checkpoint import EpochCheckpoint
from golden_cells import GOLDEN, smoke_cells

REPO = Path(__file__).resolve().parents[1]
SMOKE_CELLS = 10  # 5 tasks x glove, elmo x seed 1


def load_run_benchmarks():
    spec = importlib.util.spec_from_file_location("run_benchmarks", REPO / "run_benchmarks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cell_files(results: Path) -> dict[str, dict]:
    """The finished result files (pathlib's glob also matches the hidden temporaries that a pool
    worker which outlived a killed run may still be writing)."""
    folder = results / "cells" / "smoke"
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))
            if not path.name.startswith(".")}


def scores(files: dict[str, dict]) -> dict[str, dict]:
    return {name: result["scores"] for name, result in files.items()}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke preset run once through ``run_benchmarks.py``'s main, in this process."""
    root = tmp_path_factory.mktemp("smoke")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ELMO_BENCH_CACHE", str(root / "cache"))
        started = time.perf_counter()
        status = load_run_benchmarks().main(
            ["--preset", "smoke", "--results-dir", str(root / "results"), "--no-progress"]
        )
        seconds = time.perf_counter() - started
    torch.set_num_threads(threads)
    assert status == 0
    return {"cache": root / "cache", "results": root / "results", "seconds": seconds}


@pytest.fixture()
def smoke_cache(smoke, monkeypatch):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(smoke["cache"]))
    return smoke["cache"]


def report_tables(results: Path) -> tuple[list, list]:
    """The scores and paired tests of the report a run left (its costs differ run to run)."""
    document = json.loads((results / "smoke" / "results.json").read_text())
    scores_rows = [(row["task"], row["embedder"], row["scores"]) for row in document["scores"]]
    comparisons = [(row["task"], row["a"], row["b"], row["difference"], row["p_two_sided"])
                   for row in document["comparisons"]]
    return scores_rows, comparisons


def test_smoke_preset_runs_the_whole_pipeline(smoke):
    assert smoke["seconds"] < 120
    files = cell_files(smoke["results"])
    assert sorted(files) == sorted(
        f"{task}.{embedder}.seed1.json"
        for task in ("conll2003_ner", "sst2", "sst5", "trec6", "squad11")
        for embedder in ("glove", "elmo")
    )
    for result in files.values():
        assert 0.0 <= result["main_score"]["value"] <= 1.0
        stages = result[RUNNER_KEY]["stages"]
        assert set(stages) == {"glove", "bilm"} and result[RUNNER_KEY]["preset"] == "smoke"
        assert stages["bilm"]["config"]["preset"] == "tiny"
        assert result["settings"]["training"]["max_epochs"] == 2
        # the cells read the smoke data, not the shared data folder
        assert "smoke-data" in result["protocol"]["data"]["test"][0]["path"]
    elmo = files["trec6.elmo.seed1.json"]["embedder_details"]["parts"][0]
    assert elmo["source"] == "elmo" and elmo["n_layers"] == 3
    for stage in ("glove", "bilm"):
        (folder,) = (smoke["cache"] / "stages").glob(f"{stage}-*")
        record = json.loads((folder / STAGE_RECORD).read_text())
        assert record["cost"]["wall_seconds_last_invocation"] > 0 and not record["cost"]["resumed"]
    assert json.loads((folder / STAGE_RECORD).read_text())["cost"]["steps"] == 20
    manifest = json.loads((smoke["results"] / "bench" / "smoke.json").read_text())
    assert [cell["status"] for cell in manifest["cells"]] == ["done"] * SMOKE_CELLS
    scores_rows, comparisons = report_tables(smoke["results"])  # the report follows the grid
    assert len(scores_rows) == SMOKE_CELLS and len(comparisons) == 5
    assert (smoke["results"] / "smoke" / "README.md").is_file()


def test_the_smoke_cells_are_those_the_code_wrote_before_the_refactor(smoke):
    """Scores, predictions, settings, fingerprints, cache and stage keys, losses and mixes equal
    the committed golden cells (timings, paths and host aside): a refactor changes none of them."""
    golden = json.loads(GOLDEN.read_text())
    cells = smoke_cells(smoke["results"])
    assert sorted(cells) == sorted(golden)
    for name, cell in cells.items():
        assert cell == golden[name], name


def test_run_killed_mid_grid_resumes_to_the_same_results(smoke, smoke_cache, tmp_path, capsys):
    results = tmp_path / "results"
    command = [sys.executable, "run_benchmarks.py", "--preset", "smoke", "--results-dir", str(results),
               "--no-progress"]
    environment = {**os.environ, "ELMO_BENCH_CACHE": str(smoke["cache"]), "OMP_WAIT_POLICY": "PASSIVE"}
    process = subprocess.Popen(command, cwd=REPO, env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cells = results / "cells" / "smoke"
    deadline = time.monotonic() + 90
    while not any(cells.glob("*.json")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    stderr = process.communicate()[1].decode()
    after_kill = set(cell_files(results))
    assert 1 <= len(after_kill) < SMOKE_CELLS, stderr

    resumed = load_run_benchmarks().main(command[2:])  # the rerun, in this process
    assert resumed == 0
    output = capsys.readouterr().out
    assert output.count("skip (done before)") == len(after_kill)
    files = cell_files(results)
    assert sorted(files) == sorted(cell_files(smoke["results"]))
    assert scores(files) == scores(cell_files(smoke["results"]))
    assert report_tables(results) == report_tables(smoke["results"])
    assert not list(cells.glob(".*"))  # no temporary file left behind


def test_an_interrupted_bilm_stage_is_resumed_then_skipped(smoke_cache, tmp_path):
    data_dir = smoke_cache / "stages" / "smoke-data"
    config = resolve_preset("smoke")["pretrain"]["bilm"]
    folder = stage_folder("bilm", config, data_dir, tmp_path)
    inputs = stage_inputs("bilm", config, data_dir)
    data = DataSettings(corpus=str(inputs["corpus"]), held_out_fraction=config["held_out_fraction"],
                        workers=1, wikitext_dir=str(inputs["wikitext"]))
    preset = get_preset("tiny", {"train": {"max_steps": 20, "eval_every": 0, "snapshot_steps": [5, 10]}})
    pretrain(preset, data, folder, stop=StopRule(stop_after_steps=5))  # as if killed at step 5
    assert not (folder / STAGE_RECORD).exists()

    resumed = run_bilm_stage(config, data_dir, tmp_path, log=lambda line: None)
    assert not resumed.skipped and resumed.folder == folder
    assert resumed.record["cost"]["resumed"] and resumed.record["cost"]["steps"] == 20
    assert Path(resumed.sources["elmo.weights"]).is_file()
    again = run_bilm_stage(config, data_dir, tmp_path, log=lambda line: None)
    assert again.skipped and again.record == resumed.record


def test_a_finished_stage_is_found_by_the_content_of_its_corpus_not_its_path(
    tmp_path, monkeypatch
):
    """GloVe finished on one copy of the smoke corpus is found done from another copy elsewhere,
    and not once a corpus file has changed in place: that retrains, into a new folder."""
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    config = {**resolve_preset("smoke")["pretrain"]["glove"], "epochs": 2}
    first = write_smoke_data(tmp_path / "first")
    second = tmp_path / "elsewhere" / "second"
    shutil.copytree(first / "corpus", second / "corpus")
    stages, lines = tmp_path / "stages", []
    trained = run_glove_stage(config, first, stages, lines.append)
    assert not trained.skipped

    moved = run_glove_stage(config, second, stages, lines.append)
    assert moved.skipped and moved.folder == trained.folder
    assert moved.record["inputs"]["corpus"] == str(first / "corpus" / "wikipedia")  # where it trained

    shard = second / "corpus" / "wikipedia" / "AA" / "wiki_01.gz"
    text = gzip.decompress(shard.read_bytes()).decode()
    shard.write_bytes(gzip.compress(text.replace("</doc>", "Paris is in France .\n</doc>", 1).encode()))
    changed = run_glove_stage(config, second, stages, lines.append)
    assert not changed.skipped and changed.folder != trained.folder
    assert changed.record["input_digests"]["corpus"] != trained.record["input_digests"]["corpus"]
    assert sorted(path.name for path in stages.iterdir()) == sorted(
        [trained.folder.name, changed.folder.name]
    )


def test_concurrent_stages_write_what_sequential_ones_wrote(smoke, smoke_cache, tmp_path, caplog):
    """Both stages at once, a spawned process each, against the reference run's stages (run one
    after the other in this process): the same folders and byte-identical output files (GloVe
    and the tiny biLM are deterministic on one thread each), and the processes' log records and
    ``log`` lines reach this process."""
    caplog.set_level(logging.INFO)
    lines = []
    settings = resolve_preset("smoke", {"pretrain.concurrent": True})
    outcomes = run_stages(settings, ["glove", "elmo"], smoke_cache / "stages" / "smoke-data",
                          tmp_path, lines.append)
    assert [outcome.name for outcome in outcomes] == ["glove", "bilm"]
    for outcome in outcomes:
        assert not outcome.skipped
        (reference,) = (smoke["cache"] / "stages").glob(f"{outcome.name}-*")
        assert outcome.folder.name == reference.name
        expected = json.loads((reference / STAGE_RECORD).read_text())["outputs"]
        assert sorted(outcome.record["outputs"]) == sorted(expected)
        for key, path in outcome.record["outputs"].items():
            assert Path(path).read_bytes() == Path(expected[key]).read_bytes(), key
    assert any(line.startswith("glove: training") for line in lines)  # the stage's own log line
    assert sum(line.startswith(("glove: done", "bilm: done")) for line in lines) == 2
    loggers = {record.name for record in caplog.records}
    assert "elmo_bench.pretrain.glove" in loggers
    assert any(name.startswith("elmo_bench.pretrain.bilm.") for name in loggers)


def test_a_failing_concurrent_stage_raises_its_own_error_once_the_other_finished(
    smoke_cache, tmp_path
):
    data_dir = smoke_cache / "stages" / "smoke-data"
    # a corpus that is there (so that its stage has a key) but fails in its reader
    broken = tmp_path / "broken" / "wiki_00"
    broken.parent.mkdir()
    broken.write_text('<doc id="1" title="Paris">\nParis\nParis is in France .\n')  # no </doc>
    settings = resolve_preset("smoke", {"pretrain.concurrent": True,
                                        "pretrain.bilm.corpus": str(broken.parent)})
    lines = []
    with pytest.raises(CorpusError, match="wiki_00: the document opened at line 1"):
        run_stages(settings, ["glove", "elmo"], data_dir, tmp_path / "stages", lines.append)
    assert any(line.startswith("bilm: failed: CorpusError:") for line in lines)
    glove = stage_folder("glove", settings["pretrain"]["glove"], data_dir, tmp_path / "stages")
    assert read_stage_record(glove) is not None  # GloVe finished, and a rerun skips it
    (again,) = run_stages(settings, ["glove"], data_dir, tmp_path / "stages", lines.append)
    assert again.skipped and again.folder == glove


def test_finished_cells_are_skipped_and_bad_files_redone(smoke_cache, tmp_path):
    results = tmp_path / "results"

    def run(**overrides):
        settings = resolve_preset("smoke", overrides)
        return run_benchmark(settings, RunRequest(tasks=["trec6"], embedders=["glove", "elmo"],
                                                  results_dir=results, progress=False), log=lambda line: None)

    assert [o.status for o in run().grid.outcomes] == ["done", "done"]
    glove = results / "cells" / "smoke" / "trec6.glove.seed1.json"
    elmo = results / "cells" / "smoke" / "trec6.elmo.seed1.json"
    reference = json.loads(glove.read_text())
    assert [o.status for o in run().grid.outcomes] == ["skipped", "skipped"]

    glove.write_text(glove.read_text()[:200])  # a partial file
    elmo.write_text(json.dumps({**json.loads(elmo.read_text()), "seed": 2}))  # another cell's
    outcomes = {o.label: o.status for o in run().grid.outcomes}
    assert outcomes == {"trec6.glove.seed1": "done", "trec6.elmo.seed1": "done"}
    assert json.loads(glove.read_text())["scores"] == reference["scores"]

    changed = run(**{"task_settings.trec6.training.max_epochs": 1})  # stale: other settings
    assert [o.status for o in changed.grid.outcomes] == ["done", "done"]
    assert json.loads(glove.read_text())["settings"]["training"]["max_epochs"] == 1


@pytest.mark.parametrize(
    ("executor", "embedders"), [("pool", ["glove", "elmo"]), ("submitit", ["glove"])]
)
def test_other_executors_write_the_same_results(smoke, smoke_cache, tmp_path, executor, embedders):
    results = tmp_path / "results"
    settings = resolve_preset("smoke", {
        "executor.name": executor, "executor.workers": 2,
        "executor.submitit.folder": str(tmp_path / "jobs"),
        "executor.submitit.poll_seconds": 0.2,
    })
    outcome = run_benchmark(settings, RunRequest(tasks=["trec6"], embedders=embedders, results_dir=results,
                                                 progress=False), log=lambda line: None)
    assert outcome.failed == 0, [o.error for o in outcome.grid.outcomes]
    files = cell_files(results)
    reference = {name: result for name, result in cell_files(smoke["results"]).items() if name in files}
    assert sorted(files) == sorted(f"trec6.{embedder}.seed1.json" for embedder in embedders)
    assert scores(files) == scores(reference)
    assert {f[RUNNER_KEY]["fingerprint"] for f in files.values()} == {
        f[RUNNER_KEY]["fingerprint"] for f in reference.values()
    }


def test_the_pool_runs_every_cell_in_a_fresh_process(smoke, smoke_cache, tmp_path):
    """A cell's peak memory is its own: one worker still gives each cell a new process."""
    settings = resolve_preset("smoke", {"executor.name": "pool", "executor.workers": 1})
    outcome = run_benchmark(settings, RunRequest(tasks=["trec6"], embedders=["glove", "elmo"],
                                                 results_dir=tmp_path / "results", progress=False),
                            log=lambda line: None)
    assert outcome.failed == 0, [o.error for o in outcome.grid.outcomes]
    processes = {f[RUNNER_KEY]["process_id"] for f in cell_files(tmp_path / "results").values()}
    assert len(processes) == 2 and os.getpid() not in processes


TASK_MODULE = '''
from elmo_bench.data.trec import read_trec
from elmo_bench.families.classification import ClassificationTask, LabelledText


class TrecFineSmoke(ClassificationTask):
    name = "trec_fine_from_folder"
    description = "TREC fine labels, from a --tasks-dir folder"
    dataset = "trec"
    splits = {"train": "train", "dev": "train", "test": "test"}
    head = {"hidden_size": 300, "lstm_layers": 1, "dropout": 0.5, "pooling": ["max"]}

    def read(self, role):
        questions = read_trec(role, self.data_folders, granularity="fine")
        return [LabelledText(q.tokens, q.label) for q in questions]
'''


def test_a_task_from_a_tasks_dir_runs_in_the_grid(smoke_cache, tmp_path, monkeypatch):
    from elmo_bench import task as task_module
    from elmo_bench.task import TaskRegistry

    monkeypatch.setattr(task_module, "TASKS", TaskRegistry())  # keep the extra task to this test
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    (folder / "trec_fine.py").write_text(TASK_MODULE)
    outcome = run_benchmark(
        resolve_preset("smoke"),
        RunRequest(tasks=["trec_fine_from_folder"], embedders=["glove"], tasks_dirs=[folder],
                   results_dir=tmp_path / "results", progress=False),
        log=lambda line: None,
    )
    assert outcome.failed == 0, [o.error for o in outcome.grid.outcomes]
    result = json.loads((outcome.cells_dir / "trec_fine_from_folder.glove.seed1.json").read_text())
    assert result["settings"]["head"]["hidden_size"] == 8  # the preset's task_defaults apply
    assert ":" in next(iter(result["scores"]["test"]["per_class"]))  # fine labels, e.g. HUM:ind


def test_a_data_parallel_bilm_stage_trains_on_two_ranks_and_exports_snapshots(smoke_cache, tmp_path):
    """``pretrain.bilm.processes=2`` spawns two DDP ranks (what ``standard`` runs on 2 cores):
    the stage finishes its schedule with twice one rank's tokens per step, and the snapshot
    asked for is a complete, loadable biLM beside its step, tokens and held-out perplexity."""
    from elmo_bench.embedders.elmo.weights import load_bilm

    data_dir = smoke_cache / "stages" / "smoke-data"
    config = resolve_preset("smoke", {"pretrain.bilm.processes": 2})["pretrain"]["bilm"]
    config["overrides"] = {"train": {"max_steps": 6, "eval_every": 3, "snapshot_steps": [3]}}
    outcome = run_bilm_stage(config, data_dir, tmp_path, log=lambda line: None)
    cost = outcome.record["cost"]
    assert cost["steps"] == 6 and cost["processes"] == 2
    assert json.loads((outcome.folder / "config.json").read_text())["world_size"] == 2

    snapshot = outcome.folder / "snapshots" / "step-3"
    described = json.loads((snapshot / "snapshot.json").read_text())
    assert described["step"] == 3 and described["max_steps"] == 6
    assert 0 < described["tokens_seen"] < cost["tokens_seen"]
    assert described["heldout"]["step"] == 3 and described["heldout"]["mean_ppl"] > 1
    bilm = load_bilm(snapshot / "options.json", snapshot / "weights.hdf5")
    final = load_bilm(outcome.folder / "options.json", outcome.folder / "weights.hdf5")
    assert not torch.equal(next(bilm.parameters()), next(final.parameters()))  # 3 more steps
    assert not list((outcome.folder / "snapshots").glob("*.partial"))


def test_data_parallel_pretraining_cannot_run_beside_glove():
    from elmo_bench.runner.stage_folders import StageError
    from elmo_bench.runner.stages import check_stages

    settings = resolve_preset("smoke", {"pretrain.bilm.processes": 2, "pretrain.concurrent": True})
    with pytest.raises(StageError, match="pretrain.concurrent=false"):
        check_stages(settings)
    with pytest.raises(StageError, match="processes must be a whole number"):
        check_stages(resolve_preset("smoke", {"pretrain.bilm.processes": 0}))


def test_the_plan_is_printed_first_with_what_is_done_and_measured_costs(smoke, smoke_cache, tmp_path):
    """A rerun of a finished preset plans every stage and cell as done before doing anything; a run
    into an empty results folder beside the first run's manifest and cells estimates each cell
    from the cells measured there."""
    lines = []
    run_benchmark(resolve_preset("smoke"), RunRequest(results_dir=smoke["results"], progress=False), log=lines.append)
    start = lines.index("plan of the 'smoke' run:")  # after "smoke data in ...", before any stage
    assert lines[start + 1].startswith("  stage glove: done (")
    assert lines[start + 2].startswith("  stage bilm: done (")
    assert "  trec6: 2 cells (glove, elmo x 1 seeds), 2 done" in lines
    assert "  estimated time left: 0 s (1 cells at a time)" in lines

    fresh = tmp_path / "results"
    shutil.copytree(smoke["results"] / "bench", fresh / "bench")
    shutil.copytree(smoke["results"] / "cells", tmp_path / "measured")
    for path in (tmp_path / "measured" / "smoke").glob("*.json"):  # stale: another fingerprint
        result = json.loads(path.read_text())
        result["runner"]["fingerprint"] = "0" * 64
        (fresh / "cells" / "smoke").mkdir(parents=True, exist_ok=True)
        (fresh / "cells" / "smoke" / path.name).write_text(json.dumps(result))
    settings = resolve_preset("smoke")
    lines = []
    with pytest.MonkeyPatch.context() as patch:  # stop after the plan: the grid is not the point
        patch.setattr("elmo_bench.runner.benchmark.run_stages", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(settings, RunRequest(results_dir=fresh, progress=False), log=lines.append)
    assert "  trec6: 2 cells (glove, elmo x 1 seeds), 0 done" in lines
    (estimate,) = [line for line in lines if "estimated time left" in line]
    assert "never measured" not in estimate and not estimate.startswith("  estimated time left: 0 s")


def test_a_cell_finished_by_another_run_after_planning_is_not_run_again(smoke, smoke_cache, tmp_path):
    """A grid plans its cells first; one that a second run finishes meanwhile (a cell run ahead
    with --tasks/--seeds into the same folder) is taken as it is when its turn comes."""
    from elmo_bench.runner.grid import execute_cell

    settings = resolve_preset("smoke")
    lines = []
    with pytest.MonkeyPatch.context() as patch:
        specs = []
        patch.setattr("elmo_bench.runner.benchmark.run_grid",
                      lambda planned, *args, **kwargs: specs.extend(planned) or (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            run_benchmark(settings, RunRequest(results_dir=tmp_path, progress=False), log=lines.append)
    spec = next(spec for spec in specs if spec.label == "trec6.glove.seed1")
    Path(spec.result_path).parent.mkdir(parents=True)
    shutil.copy(smoke["results"] / "cells" / "smoke" / "trec6.glove.seed1.json", spec.result_path)
    before = Path(spec.result_path).read_bytes()
    outcome = execute_cell(spec)
    assert outcome.status == "done" and Path(spec.result_path).read_bytes() == before


class _Killed(BaseException):
    """Stands for a kill: nothing in the runner catches it."""


def _trec6_glove(results: Path) -> tuple[Path, Any]:
    """Run the smoke preset's TREC-6 GloVe cell for 4 epochs without early stopping; returns its
    result file and the run's outcome."""
    settings = resolve_preset("smoke", {"task_settings.trec6.training.max_epochs": 4,
                                        "task_settings.trec6.training.patience": 4})
    outcome = run_benchmark(settings, RunRequest(tasks=["trec6"], embedders=["glove"], results_dir=results,
                                                 progress=False), log=lambda line: None)
    return results / "cells" / "smoke" / "trec6.glove.seed1.json", outcome


def _computed(result: dict) -> dict:
    """What a cell computed: scores, per-example outcomes, epochs without their timings, mixes."""
    epochs = [{key: value for key, value in epoch.items() if "second" not in key}
              for epoch in result["training"]["epochs"]]
    return {"scores": result["scores"], "per_example": result["per_example"], "epochs": epochs,
            "best_epoch": result["training"]["best_epoch"], "mixes": result["head"]["learned_mixes"],
            "fingerprint": result[RUNNER_KEY]["fingerprint"]}


@pytest.fixture()
def trec6_glove_uninterrupted(smoke_cache, tmp_path):
    path, _ = _trec6_glove(tmp_path / "uninterrupted")
    result = json.loads(path.read_text())
    assert len(result["training"]["epochs"]) == 4 and "resumed_after_epoch" not in result["training"]
    return result


def _kill_after_epoch(epoch: int, results: Path) -> Path:
    """Run :func:`_trec6_glove` into ``results`` and let it die right after its head training saved
    its ``epoch``-th checkpoint; returns the checkpoint's path."""
    saved: list[Path] = []
    real_save = EpochCheckpoint.save

    def save_then_die(checkpoint, state):
        real_save(checkpoint, state)
        saved.append(checkpoint.path)
        if len(state["epochs"]) == epoch:
            raise _Killed

    with pytest.MonkeyPatch.context() as patch, pytest.raises(_Killed):
        patch.setattr(EpochCheckpoint, "save", save_then_die)
        _trec6_glove(results)
    (path,) = set(saved)
    return path


def test_a_cell_killed_between_epochs_resumes_after_its_last_epoch_to_the_same_result(
    trec6_glove_uninterrupted, tmp_path
):
    checkpoint = _kill_after_epoch(2, tmp_path / "killed")
    assert checkpoint.is_file() and checkpoint.parent.name == "training"

    path, outcome = _trec6_glove(tmp_path / "killed")
    assert [o.status for o in outcome.grid.outcomes] == ["done"]
    resumed = json.loads(path.read_text())
    assert resumed["training"]["resumed_after_epoch"] == 2
    assert _computed(resumed) == _computed(trec6_glove_uninterrupted)
    # the first two epochs' timings are those the killed run measured
    assert not checkpoint.exists()  # removed once the result is written


@pytest.mark.parametrize("damage", ["truncated", "another cell's"])
def test_a_damaged_or_foreign_training_checkpoint_is_set_aside_and_the_head_trains_from_epoch_1(
    trec6_glove_uninterrupted, tmp_path, caplog, damage
):
    checkpoint = _kill_after_epoch(2, tmp_path / "killed")
    if damage == "truncated":
        os.truncate(checkpoint, checkpoint.stat().st_size // 2)
    else:
        payload = torch.load(checkpoint, weights_only=False)
        torch.save({**payload, "cell": {**payload["cell"], "seed": 2}}, checkpoint)

    with caplog.at_level(logging.WARNING, logger="elmo_bench.training_checkpoint"):
        path, _ = _trec6_glove(tmp_path / "killed")
    result = json.loads(path.read_text())
    assert "resumed_after_epoch" not in result["training"]
    assert _computed(result) == _computed(trec6_glove_uninterrupted)
    (aside,) = checkpoint.parent.glob(f"{checkpoint.name}.corrupt-*")
    assert str(checkpoint) in caplog.text and "trains from epoch 1" in caplog.text
    assert ("unreadable" if damage == "truncated" else "saved for") in caplog.text
    aside.unlink()
