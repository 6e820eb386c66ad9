"""``elmo-bench curves`` end to end on the smoke preset: the smoke grid pretrains GloVe and the tiny
biLM (snapshots at steps 5 and 10 of 20), then each curve runs its points as ordinary grid cells and
writes its tables and plot; a dry run lists the cells with their status and estimated cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from elmo_bench.cli import main
from elmo_bench.curves import CURVES, CurveError, curve_points
from elmo_bench.data.conll2003 import read_conll2003
from elmo_bench.data.subsets import nested_subset
from elmo_bench.paths import DataFolders
from elmo_bench.runner.grid import RUNNER_KEY
from elmo_bench.runner.presets import resolve_preset
from elmo_bench.runner.smoke_data import write_smoke_data

transformers = pytest.importorskip("transformers")

TASKS = "conll2003_ner,trec6"
pytestmark = pytest.mark.usefixtures("one_thread")


def test_cost_estimates_scale_with_the_fraction_and_fall_back_to_a_stand_in():
    from elmo_bench.curves.estimate import ReferenceCost, estimate_seconds, expected_epochs

    capped = ReferenceCost("conll.json", {"train": 30.0, "dev": 5.0, "test": 5.0}, 40.0, 3.0, 3.0,
                           epochs=10, best_epoch=10, stopped_early=False)
    training = {"max_epochs": 100, "patience": 5}
    assert expected_epochs(capped, 100, 5, 1.0) == 15  # cut by a cap of 10: best epoch + patience
    assert expected_epochs(capped, 100, 5, 0.01) == 100  # 150 epochs on 1%, at most the cap
    references = {("conll2003_ner", "elmo"): [capped]}
    whole, basis = estimate_seconds(references, "conll2003_ner", "elmo", training, 1.0)
    assert whole == 5 + 5 + 30 + 15 * (40 + 3) + 3 and basis.startswith("1 conll2003_ner elmo")
    quarter, _ = estimate_seconds(references, "conll2003_ner", "elmo", training, 0.25)
    assert quarter == pytest.approx(5 + 5 + 7.5 + 30 * (10 + 3) + 3)  # ceil(15 / sqrt(0.25)) epochs
    # 10%: 3 passes per epoch, so an epoch covers 30% of the split: ceil(15 / sqrt(0.3)) epochs
    tenth, _ = estimate_seconds(references, "conll2003_ner", "elmo", training, 0.1)
    assert tenth == pytest.approx(5 + 5 + 3 + 28 * (12 + 3) + 3)
    stand_in, basis = estimate_seconds(references, "conll2003_ner", "transformer", training, 1.0)
    assert stand_in == pytest.approx(whole + 3 * 40) and "elmo cell(s), embedding x4" in basis
    assert estimate_seconds(references, "trec6", "glove", training, 1.0) == (
        None, "no finished trec6 glove cell to measure from")


def test_the_sample_efficiency_reading_finds_the_most_data_the_baseline_needs():
    from elmo_bench.curves.points import CurvePoint
    from elmo_bench.curves.stats import CurveNumbers, PointScore

    means = {  # (point, embedder) -> mean; glove dips at 25% (a curve need not rise everywhere)
        ("1%", "glove"): 0.50, ("5%", "glove"): 0.60, ("25%", "glove"): 0.58, ("100%", "glove"): 0.80,
        ("1%", "elmo+glove"): 0.59, ("5%", "elmo+glove"): 0.70, ("100%", "elmo+glove"): 0.79,
    }
    labels = ("1%", "5%", "25%", "100%")
    points = [CurvePoint("training-data", label, float(label[:-1]) / 100, {"preset": "p"}, ())
              for label in labels]

    def row(point: str, embedder: str, mean: float) -> PointScore:
        return PointScore(point, None, "trec6", embedder, "accuracy", (1,), (mean,), mean, None, None,
                          None, (), None, None, 1.0, 1.0)

    numbers = CurveNumbers(CURVES["training-data"], points, ["trec6"],
                           [row(point, embedder, mean) for (point, embedder), mean in means.items()], [])
    matched = {label: numbers.baseline_matched(label, "trec6") for label in labels}
    assert matched["1%"].point == "1%"  # glove's 0.60 at 5% ends it, whatever its dip at 25%
    assert matched["5%"].point == "25%" and matched["5%"].mean == 0.58
    assert matched["25%"] is None  # no elmo+glove row there
    assert matched["100%"].point == "25%"  # below glove's 0.80 on the whole split
    assert [(row.point, found.point) for row, found in numbers.data_matches("trec6")] == [
        ("1%", "1%"), ("5%", "25%"), ("100%", "25%")]
    lower = CurveNumbers(CURVES["training-data"], points[:1], ["trec6"],
                         [row("1%", "glove", 0.6), row("1%", "elmo+glove", 0.5)], [])
    assert lower.baseline_matched("1%", "trec6") is None


def tiny_bert(folder: Path) -> Path:
    """A saved 2-layer BERT, hidden size 16 (its pieces are mostly [UNK] on the smoke data)."""
    folder.mkdir()
    words = ["the", "a", "is", "in", "of", "what", "who", "paris", "france", ".", ",", "?"]
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizerFast.from_pretrained(folder).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=512)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke grid (CoNLL and TREC, glove / elmo / elmo+glove), then every curve on it."""
    root = tmp_path_factory.mktemp("curves")
    results = root / "results"
    model = tiny_bert(root / "tiny-bert")
    common = ["--preset", "smoke", "--results-dir", str(results), "--no-progress", "--tasks", TASKS]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ELMO_BENCH_CACHE", str(root / "cache"))
        assert main(["bench", *common, "--embedders", "glove,elmo,elmo+glove"]) == 0
        statuses = {
            "pretraining": main(["curves", "pretraining", *common]),
            "training-data": main(["curves", "training-data", *common, "--tasks", "conll2003_ner",
                                   "--seeds", "1,2"]),
            "transformer": main(["curves", "transformer", *common, "--tasks", "trec6",
                                 "--set", f"embedder.transformer.model={model}"]),
        }
    return {"root": root, "results": results, "statuses": statuses, "model": model}


def document(smoke, curve: str) -> dict:
    return json.loads((smoke["results"] / "smoke" / "curves" / f"{curve}.json").read_text())


def test_every_curve_runs_and_writes_its_tables_and_plot(smoke):
    assert smoke["statuses"] == {"pretraining": 0, "training-data": 0, "transformer": 0}
    folder = smoke["results"] / "smoke" / "curves"
    expected = {f"{curve}.{suffix}" for curve in CURVES for suffix in ("md", "csv", "json")}
    expected |= {"pretraining.png", "training-data.png"}
    assert {path.name for path in folder.iterdir()} == expected
    for name in expected:
        assert (folder / name).stat().st_size > 0
    for curve in CURVES:
        assert document(smoke, curve)["missing_cells"] == []


def test_the_pretraining_curve_has_a_point_per_snapshot_and_glove_as_its_band(smoke):
    pretraining = document(smoke, "pretraining")
    points = pretraining["points"]
    assert [point["label"] for point in points] == ["step 5", "step 10", "step 20"]
    assert [point["cells"] for point in points] == [
        "smoke-pretraining-step5", "smoke-pretraining-step10", "smoke"]
    tokens = [point["x"] for point in points]
    assert tokens == sorted(tokens) and tokens[0] > 0
    assert all(point["details"]["heldout_perplexity"] > 1 for point in points)
    rows = {(row["point"], row["task"], row["embedder"]) for row in pretraining["scores"]}
    assert ("step 5", "trec6", "elmo+glove") in rows and ("step 20", "trec6", "glove") in rows
    assert ("step 5", "trec6", "glove") not in rows  # GloVe runs once, at the preset's point
    tested = [c for c in pretraining["comparisons"] if c["task"] == "trec6"]
    assert [c["point"] for c in tested] == ["step 5", "step 10", "step 20"]
    assert all(c["status"] == "tested" and c["b"] == "glove" for c in tested)
    assert set(pretraining["first_above"]) == {"conll2003_ner", "trec6"}
    # each snapshot's cells embed with that snapshot's weights
    snapshot_cell = smoke["results"] / "cells" / "smoke-pretraining-step5" / "trec6.elmo.seed1.json"
    final_cell = smoke["results"] / "cells" / "smoke" / "trec6.elmo.seed1.json"
    fingerprints = [json.loads(path.read_text())["embedder_details"]["parts"][0]["fingerprint"]
                    for path in (snapshot_cell, final_cell)]
    assert fingerprints[0] != fingerprints[1]
    markdown = (smoke["results"] / "smoke" / "curves" / "pretraining.md").read_text()
    assert "First point where `elmo+glove` is above `glove`" in markdown


def test_training_fractions_are_nested_and_the_same_for_every_seed(smoke):
    results = smoke["results"]
    train = read_conll2003("train", DataFolders(write_smoke_data(smoke["root"] / "data"), smoke["root"]))
    sizes = {}
    for percent in ("1", "5", "10", "25"):
        folder = results / "cells" / f"smoke-training-data-{percent}pct"
        per_seed = [json.loads((folder / f"conll2003_ner.glove.seed{seed}.json").read_text())
                    for seed in (1, 2)]
        subsets = [cell["protocol"]["train_subset"] for cell in per_seed]
        assert subsets[0] == subsets[1] and subsets[0]["fraction"] == int(percent) / 100
        sizes[percent] = subsets[0]["examples"]
        # an epoch passes over a small subset several times (at least a quarter of the split)
        passes = {"1": 25, "5": 5, "10": 3, "25": 1}[percent]
        assert subsets[0]["passes_per_epoch"] == passes
        subset = nested_subset(train, int(percent) / 100, lambda sentence: [sentence.tokens])
        assert per_seed[0]["training"]["epochs"][0]["train_tokens"] == passes * sum(
            len(sentence.tokens) for sentence in subset)
        assert per_seed[0][RUNNER_KEY]["fingerprint"] != per_seed[1][RUNNER_KEY]["fingerprint"]
    whole = json.loads((results / "cells" / "smoke" / "conll2003_ner.glove.seed1.json").read_text())
    assert "train_subset" not in whole["protocol"]  # the 100% point is the preset's own cell
    assert sizes["1"] <= sizes["5"] <= sizes["10"] <= sizes["25"] < whole["protocol"]["examples"]["train"]
    curve = document(smoke, "training-data")
    assert [point["x"] for point in curve["points"]] == [0.01, 0.05, 0.1, 0.25, 1.0]
    gains = [c for c in curve["comparisons"] if c["status"] == "tested"]
    assert [c["point"] for c in gains] == ["1%", "5%", "10%", "25%", "100%"]
    assert all(c["a"] == "elmo+glove" and c["ci95_low"] <= c["ci95_high"] for c in gains)
    seeds = {tuple(row["seeds"]) for row in curve["scores"]}
    assert seeds == {(1, 2)}
    assert set(curve["baseline_matched"]["conll2003_ner"]) == {"1%", "5%", "10%", "25%", "100%"}
    assert "strata" not in subsets[0]  # NER's subsets are drawn by content hash alone
    markdown = (smoke["results"] / "smoke" / "curves" / "training-data.md").read_text()
    assert "How much training data `glove` needs to score what `elmo+glove` scores" in markdown


def _trec6_glove_cells(smoke, fraction: float) -> tuple[dict, dict]:
    """The smoke TREC-6 glove seed-1 cell trained on ``fraction`` of its split, and the one on all of it."""
    results = smoke["root"] / f"trec6-{fraction}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ELMO_BENCH_CACHE", str(smoke["root"] / "cache"))
        assert main(["bench", "--preset", "smoke", "--results-dir", str(results), "--no-progress",
                     "--tasks", "trec6", "--embedders", "glove", "--seeds", "1",
                     "--set", f"train_fraction={fraction}"]) == 0
    cell_path = Path("cells", "smoke", "trec6.glove.seed1.json")
    return (json.loads((results / cell_path).read_text()),
            json.loads((smoke["results"] / cell_path).read_text()))


def test_a_classification_cell_on_a_fraction_records_each_labels_share(smoke):
    cell, whole = _trec6_glove_cells(smoke, 0.5)
    subset = cell["protocol"]["train_subset"]
    assert subset["strata"] == "label" and "within each label" in subset["rule"]
    of = whole["protocol"]["examples"]["train"]
    assert sum(subset["examples_per_stratum"].values()) == subset["examples"] == (of + 1) // 2


def test_a_subset_missing_a_class_still_trains_a_head_over_every_class(smoke):
    # One training question is one label; the head still outputs all of the split's labels, as
    # a head on the whole split does (its last layer has one row per label).
    cell, whole = _trec6_glove_cells(smoke, 0.01)
    assert len(cell["protocol"]["train_subset"]["examples_per_stratum"]) == 1
    assert cell["head"]["trainable_parameters"] == whole["head"]["trainable_parameters"]


def test_the_transformer_joins_the_presets_report(smoke):
    cell = smoke["results"] / "cells" / "smoke" / "trec6.transformer.seed1.json"
    assert json.loads(cell.read_text())["embedder"] == "transformer"
    report = json.loads((smoke["results"] / "smoke" / "results.json").read_text())
    pairs = {(row["a"], row["b"], row["task"]): row["status"] for row in report["comparisons"]}
    assert pairs[("transformer", "elmo+glove", "trec6")] == "tested"
    table = (smoke["results"] / "smoke" / "curves" / "transformer.md").read_text()
    assert "embedding tokens/s" in table and "| trec6 | smoke |" in table


def test_a_rerun_skips_every_cell_and_the_dry_run_says_so(smoke, monkeypatch, capsys):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(smoke["root"] / "cache"))
    common = ["--preset", "smoke", "--results-dir", str(smoke["results"]), "--no-progress", "--tasks", TASKS]
    assert main(["curves", "pretraining", *common]) == 0
    output = capsys.readouterr().out
    assert "0 cells run" in output and " failed" in output and "FAILED" not in output
    assert "no report while cells fail" not in output  # a snapshot's point makes no report of its own
    assert main(["curves", "all", *common, "--dry-run",
                 "--set", f"embedder.transformer.model={smoke['model']}"]) == 0
    plan = capsys.readouterr().out
    assert "curve pretraining (preset smoke): 3 points" in plan
    assert "curve pretraining: 0 cells to run, 14 done" in plan  # 2 snapshots x 4, then 6 at step 20
    # training-data ran CoNLL only: its TREC cells below 100% are still to run, with estimates
    assert "trec6.elmo+glove.seed1" in plan and "to run" in plan
    assert "all these curves (cells they share counted once)" in plan
    (total,) = [line for line in plan.splitlines() if line.startswith("curve training-data:")]
    assert "1 worker(s)" in total and "without an estimate" not in total


def test_the_pretraining_curve_needs_the_finished_bilm_stage(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    settings = resolve_preset("smoke", {"stages_dir": str(tmp_path / "no-stages")})
    with pytest.raises(CurveError, match=r"needs the finished biLM stage of preset 'smoke'.*make bench"):
        curve_points(CURVES["pretraining"], settings)
    status = main(["curves", "pretraining", "--preset", "smoke", "--results-dir", str(tmp_path),
                   "--set", f"stages_dir={tmp_path / 'no-stages'}"])
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after any log lines
    assert status == 2 and error.startswith("elmo-bench curves: error: the pretraining curve needs")
    assert "make bench" in error
    planned = curve_points(CURVES["pretraining"], settings, require_inputs=False)
    assert [point.label for point in planned] == ["step 5", "step 10", "step 20"]
    assert not any(point.ready for point in planned)
