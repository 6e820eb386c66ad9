"""`elmo-bench report` on hand-written cell files: tables, seed-aware tests, convergence, errors."""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import statistics

import numpy as np
import pytest

from elmo_bench.commands import report as report_command
from elmo_bench.metrics.classification import classification_scores
from elmo_bench.metrics.ner import span_f1
from elmo_bench.metrics.per_example import (
    classification_record,
    entity_span_record,
    outcomes_from_record,
)
from elmo_bench.report import REPORT_FILES, CellFileError, build_report
from elmo_bench.report.significance import p_resolution, resampled_scores
from elmo_bench.report.summary import comparisons_for
from elmo_bench.runner.presets import resolve_preset

RESAMPLES = 2000


def cell(
    task: str,
    embedder: str,
    seed: int,
    metric: str,
    score: float,
    record: dict | None,
    format_version: int = 2,
    best_epoch: int = 2,
    epochs_run: int = 3,
    stopped_early: bool = True,
) -> dict:
    """A minimal cell result as `elmo-bench task` writes it (its head trained ``epochs_run``
    epochs of the cap of 3 and kept ``best_epoch``)."""
    mixed = embedder != "glove"
    result = {
        "format_version": format_version,
        "task": task,
        "embedder": embedder,
        "seed": seed,
        "main_score": {"name": metric, "split": "test", "dataset_split": "test", "value": score},
        "settings": {"options": {}, "head": {"hidden_size": 8}, "training": {"max_epochs": 3}},
        "protocol": {"data": {"test": [{"sha256": "ab" * 32}]}},
        "embedder_details": {"parts": [{"source": embedder, "fingerprint": f"fp-{embedder}"}]},
        "head": {
            "learned_mixes": [
                {"layer_weights": [0.2, 0.3, 0.5], "gamma": 0.5 + seed} if mixed else None
            ]
        },
        "timings": {
            "embedding": {
                role: {
                    embedder: {"embed_seconds_when_computed": 2.0 if mixed else 0.5, "tokens": 1000}
                }
                for role in ("train", "dev", "test")
            },
            "training_seconds_per_epoch": 3.0,
            "training_seconds_per_epoch_median": 2.0 + seed,
        },
        "memory": {"peak_rss_bytes": 100 * 2**20},
        "training": {
            "epochs": [{"epoch": epoch} for epoch in range(1, epochs_run + 1)],
            "best_epoch": best_epoch,
            "stopped_early": stopped_early,
        },
    }
    if format_version >= 2:
        result["per_example"] = (
            None if record is None else {"test": {**record, "examples_sha256": f"{task}-test"}}
        )
    return result


def classification_cell(task, embedder, seed, gold, predicted, **kwargs) -> dict:
    score = classification_scores(gold, predicted).accuracy
    record = classification_record(gold, predicted)
    return cell(task, embedder, seed, "accuracy", score, record, **kwargs)


def write_cells(folder, cells) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for result in cells:
        name = f"{result['task']}.{result['embedder']}.seed{result['seed']}.json"
        (folder / name).write_text(json.dumps(result), encoding="utf-8")


GOLD = ["pos", "neg"] * 30


def flipped(labels):
    return ["neg" if label == "pos" else "pos" for label in labels]


@pytest.fixture()
def grid(tmp_path):
    """2 tasks x 2 embedders x 2 seeds: sentiment (ELMo right everywhere, GloVe wrong nearly
    everywhere) and NER (random predictions)."""
    rng = random.Random(0)
    cells = []
    for seed in (1, 2):
        cells.append(classification_cell("sent", "elmo", seed, GOLD, GOLD))
        # GloVe is wrong everywhere except on `seed` examples, so its seeds differ.
        predicted = GOLD[:seed] + flipped(GOLD[seed:])
        cells.append(classification_cell("sent", "glove", seed, GOLD, predicted))
    gold_tags = [["B-PER", "I-PER", "O"], ["O", "B-LOC"], ["B-ORG", "O", "B-LOC"], ["O"]] * 10
    for embedder in ("elmo", "glove"):
        for seed in (1, 2):
            predicted = [
                [tag if rng.random() < 0.8 else rng.choice(["O", "B-PER", "I-LOC"]) for tag in s]
                for s in gold_tags
            ]
            score = span_f1(gold_tags, predicted).overall.f1
            record = entity_span_record(gold_tags, predicted)
            cells.append(cell("conll2003_ner", embedder, seed, "f1", score, record))
    write_cells(tmp_path / "cells", cells)
    return tmp_path, cells


def rows_by_key(path):
    with path.open(encoding="utf-8") as handle:
        return {(row["task"], row["embedder"]): row for row in csv.DictReader(handle)}


def test_report_tables_hold_mean_and_std_over_seeds(grid):
    tmp_path, cells = grid
    document = build_report(tmp_path / "cells", tmp_path / "out", resamples=RESAMPLES)
    for name in REPORT_FILES:
        assert (tmp_path / "out" / name).stat().st_size > 0
    png_signature = b"\x89PNG\r\n\x1a\n"
    for plot in ("scores.png", "cost_vs_score.png", "mix_weights.png"):
        assert (tmp_path / "out" / plot).read_bytes()[:8] == png_signature
    rows = rows_by_key(tmp_path / "out" / "results.csv")
    assert set(rows) == {
        ("sent", "elmo"),
        ("sent", "glove"),
        ("conll2003_ner", "elmo"),
        ("conll2003_ner", "glove"),
    }
    for (task, embedder), row in rows.items():
        scores = [
            c["main_score"]["value"]
            for c in cells
            if (c["task"], c["embedder"]) == (task, embedder)
        ]
        assert float(row["mean"]) == pytest.approx(statistics.fmean(scores), abs=1e-12)
        assert float(row["std"]) == pytest.approx(statistics.stdev(scores), abs=1e-12)
        assert row["n_seeds"] == "2" and row["seeds"] == "1 2"
    glove = rows[("sent", "glove")]
    assert float(glove["mean"]) == pytest.approx(1.5 / 60)  # 1 and 2 of 60 right
    assert float(glove["training_seconds_per_epoch"]) == 3.5  # medians 3 and 4
    assert float(glove["embedding_tokens_per_second"]) == 3000 / 1.5
    readme = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "| sent | accuracy (test) | elmo | 2 | 100.00 ± 0.00 |" in readme
    assert "A two-level bootstrap" in readme and "p (two-sided)" in readme
    assert "| conll2003_ner | elmo | elmo | 1 | 0.200 | 0.300 | 0.500 | 1.500 |" in readme
    # The ELMo paper's baseline beside GloVe (Table 1, test split); its +ELMo adds ELMo to the
    # baseline, so it stands beside elmo+glove, not beside ELMo alone.
    elmo_ner, glove_ner = rows[("conll2003_ner", "elmo")], rows[("conll2003_ner", "glove")]
    assert (glove_ner["paper"], glove_ner["paper_split"]) == ("0.9015", "test")
    assert elmo_ner["paper"] == "" and glove["paper"] == ""  # no published number for "sent"
    assert "| 90.15 (test) |" in readme
    assert r"\begin{tabular}" in (tmp_path / "out" / "results.tex").read_text(encoding="utf-8")
    assert document["learned_mixes"][0]["layer_weights"] == [0.2, 0.3, 0.5]


def test_a_better_everywhere_gives_p_at_the_resolution_in_either_direction(grid):
    tmp_path, _ = grid
    document = build_report(tmp_path / "cells", tmp_path / "out", resamples=RESAMPLES)
    sentiment = next(c for c in document["comparisons"] if c["task"] == "sent")
    assert (sentiment["a"], sentiment["b"]) == ("elmo", "glove")
    assert sentiment["seeds_a"] == sentiment["seeds_b"] == [1, 2]
    # No resample has Δ* <= 0: p is 2 / (R + 1), the smallest R resamples can give, never 0.
    assert sentiment["p_two_sided"] == sentiment["p_resolution"] == p_resolution(RESAMPLES)
    assert sentiment["p_holm"] == pytest.approx(2 * p_resolution(RESAMPLES))  # 2 tasks
    assert sentiment["resamples"] == RESAMPLES and sentiment["n_examples"] == 60
    assert sentiment["difference"] == pytest.approx(1 - 1.5 / 60)
    assert sentiment["per_seed_differences"] == [
        {"seed": 1, "difference": pytest.approx(1 - 1 / 60)},
        {"seed": 2, "difference": pytest.approx(1 - 2 / 60)},
    ]
    readme = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "| elmo vs glove | sent | 1,2; 1,2 | 100.00 | 2.50 | +97.50 |" in readme
    assert "| < 0.001 | 0.0020 | s1 +98.33, s2 +96.67 |" in readme  # 2/2001, then Holm x2
    assert "p_one_sided" not in sentiment and "≤ B" not in readme

    reverse = tmp_path / "reverse"
    write_cells(
        reverse,
        [
            classification_cell("sent", "elmo", 1, GOLD, flipped(GOLD)),
            classification_cell("sent", "glove", 1, GOLD, GOLD),
        ],
    )
    (comparison,) = build_report(reverse, tmp_path / "out2", resamples=RESAMPLES)["comparisons"]
    assert comparison["p_two_sided"] == p_resolution(RESAMPLES)  # two-sided: B better counts


def test_identical_and_equally_good_embedders_are_not_significant(tmp_path):
    identical = tmp_path / "identical"
    predicted = GOLD[:40] + flipped(GOLD[40:])
    write_cells(
        identical,
        [
            classification_cell("sent", "elmo", 1, GOLD, predicted),
            classification_cell("sent", "glove", 1, GOLD, predicted),
        ],
    )
    (same,) = build_report(identical, tmp_path / "out", resamples=RESAMPLES)["comparisons"]
    assert same["difference"] == 0.0 and same["p_two_sided"] == 1.0 == same["p_holm"]
    assert same["ci95_low"] == same["ci95_high"] == 0.0

    # Equally accurate, right on different halves: the difference is symmetric around 0.
    swapped = tmp_path / "swapped"
    write_cells(
        swapped,
        [
            classification_cell("sent", "elmo", 1, GOLD, GOLD[:30] + flipped(GOLD[30:])),
            classification_cell("sent", "glove", 1, GOLD, flipped(GOLD[:30]) + GOLD[30:]),
        ],
    )
    (even,) = build_report(swapped, tmp_path / "out", resamples=RESAMPLES)["comparisons"]
    assert even["p_two_sided"] > 0.8


def test_with_one_seed_each_the_p_value_agrees_with_the_normal_approximation(tmp_path):
    rng = random.Random(3)
    gold = [rng.choice(["a", "b"]) for _ in range(400)]
    a_right = [rng.random() < 0.75 for _ in gold]
    b_right = [rng.random() < 0.70 for _ in gold]
    predictions = [
        [label if right else ("b" if label == "a" else "a") for label, right in zip(gold, rights)]
        for rights in (a_right, b_right)
    ]
    write_cells(
        tmp_path / "cells",
        [
            classification_cell("sent", "elmo", 1, gold, predictions[0]),
            classification_cell("sent", "glove", 1, gold, predictions[1]),
        ],
    )
    (comparison,) = build_report(tmp_path / "cells", tmp_path / "out", resamples=10_000)[
        "comparisons"
    ]
    differences = np.array(a_right, dtype=float) - np.array(b_right, dtype=float)
    # Resampled mean differences ~ N(mean, std^2 / n), on a grid of step 1/n: continuity-corrected.
    n = len(differences)
    z = (differences.mean() - 0.5 / n) / (differences.std() / math.sqrt(n))
    normal_p = math.erfc(z / math.sqrt(2))  # two-sided: twice the lower tail
    assert comparison["p_two_sided"] == pytest.approx(normal_p, abs=0.03)
    assert comparison["ci95_low"] < comparison["difference"] < comparison["ci95_high"]
    assert (
        "| 400 examples; elmo ran 1 seed: its seed variance is not in the test; glove ran 1 seed: "
        "its seed variance is not in the test |"
    ) in (tmp_path / "out" / "README.md").read_text(encoding="utf-8")


def test_seeds_that_disagree_make_a_test_set_difference_inconclusive(tmp_path):
    """A's two seeds are 20 points above and 10 below B's (identical) seeds on 400 examples.
    Holding the heads fixed, Δ = +5 would be far beyond the test sample's noise; drawing A's
    seeds, a quarter of the resamples take seed 2 twice (Δ* = -10), so p is about 2 x 1/4."""
    gold = ["pos", "neg"] * 200
    right = {"glove": 280, "elmo-1": 360, "elmo-2": 240}  # of 400: 70%, 90%, 60%
    cells = [
        classification_cell("sent", "glove", seed, gold, gold[: right["glove"]]
                            + flipped(gold[right["glove"]:]))
        for seed in (1, 2)
    ] + [
        classification_cell("sent", "elmo", seed, gold, gold[: right[f"elmo-{seed}"]]
                            + flipped(gold[right[f"elmo-{seed}"]:]))
        for seed in (1, 2)
    ]
    write_cells(tmp_path / "cells", cells)
    (comparison,) = build_report(tmp_path / "cells", tmp_path / "out", resamples=4000)[
        "comparisons"
    ]
    assert comparison["difference"] == pytest.approx(0.05)
    assert 0.4 < comparison["p_two_sided"] < 0.6
    assert comparison["ci95_low"] < -0.05 and comparison["ci95_high"] > 0.15


def test_resampled_ner_scores_are_seqeval_scores_of_the_resampled_sentences():
    rng = random.Random(1)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-ORG"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 6))] for _ in range(25)]
    predicted = [[t if rng.random() < 0.7 else rng.choice(tags) for t in s] for s in gold]
    outcomes = outcomes_from_record(entity_span_record(gold, predicted))
    scores = resampled_scores([outcomes], "f1", 20, np.random.default_rng(7))
    picks = np.random.default_rng(7).integers(0, 25, size=(20, 25))  # the same draws
    for resample, drawn in enumerate(picks):
        expected = span_f1([gold[i] for i in drawn], [predicted[i] for i in drawn]).overall.f1
        assert scores[0, resample] == pytest.approx(expected, abs=1e-12)


def test_cells_without_per_example_outcomes_give_scores_without_p_values(tmp_path):
    predicted = GOLD[:50] + flipped(GOLD[50:])
    write_cells(
        tmp_path / "cells",
        [
            classification_cell("sent", "elmo", 1, GOLD, GOLD, format_version=1),
            classification_cell("sent", "glove", 1, GOLD, predicted),
            cell("qa", "elmo", 1, "f1", 0.5, None),
            cell("qa", "glove", 1, "f1", 0.25, None),
        ],
    )
    document = build_report(tmp_path / "cells", tmp_path / "out", resamples=RESAMPLES)
    rows = rows_by_key(tmp_path / "out" / "results.csv")
    assert float(rows[("sent", "glove")]["mean"]) == pytest.approx(50 / 60)
    assert rows[("sent", "glove")]["std"] == ""  # one seed
    reasons = {c["task"]: c["reason"] for c in document["comparisons"]}
    assert all(c["p_two_sided"] is None for c in document["comparisons"])
    assert all(c["status"] == "untested" for c in document["comparisons"])
    assert reasons == {
        "qa": "qa.elmo.seed1.json: the task does not record per-example outcomes",
        "sent": "sent.elmo.seed1.json: result format 1 predates per-example outcomes",
    }
    readme = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "result format 1 predates per-example outcomes" in readme
    assert "3 of 4 cells have no per-example outcomes" in readme


def test_malformed_cell_files_are_named_in_the_error(grid):
    tmp_path, _ = grid
    broken = tmp_path / "cells" / "sub" / "broken.json"
    broken.parent.mkdir()
    # The temporary of a write that a kill interrupted is not read as a result.
    (broken.parent / ".sent.elmo.seed1-k2j4x.json").write_text('{"task": "sent",', encoding="utf-8")
    build_report(tmp_path / "cells", tmp_path / "interrupted")
    broken.write_text('{"task": "sent",', encoding="utf-8")
    with pytest.raises(CellFileError, match=r"broken\.json: not valid JSON \(line 1"):
        build_report(tmp_path / "cells", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written

    broken.write_text(json.dumps({"format_version": 2, "task": "sent"}), encoding="utf-8")
    with pytest.raises(CellFileError, match=r"broken\.json: no 'main_score\.name'"):
        build_report(tmp_path / "cells", tmp_path / "out")

    wrong_type = classification_cell("sent", "elmo", 3, GOLD, GOLD)
    wrong_type["seed"] = "3"
    broken.write_text(json.dumps(wrong_type), encoding="utf-8")
    with pytest.raises(CellFileError, match=r"broken\.json: 'seed' must be int, got '3'"):
        build_report(tmp_path / "cells", tmp_path / "out")


def test_a_training_record_that_contradicts_itself_is_an_error(tmp_path):
    result = classification_cell("sent", "elmo", 1, GOLD, GOLD, best_epoch=4, epochs_run=3)
    write_cells(tmp_path / "cells", [result])
    with pytest.raises(CellFileError, match=r"'training\.best_epoch' 4 is not one of the 3"):
        build_report(tmp_path / "cells", tmp_path / "out")
    result["training"].update(best_epoch=2, stopped_early=1)
    write_cells(tmp_path / "cells", [result])
    with pytest.raises(CellFileError, match=r"'training\.stopped_early' must be true or false"):
        build_report(tmp_path / "cells", tmp_path / "out")


def test_inconsistent_cells_are_errors_naming_the_files(tmp_path):
    folder = tmp_path / "cells"
    good = classification_cell("sent", "elmo", 1, GOLD, GOLD)
    lying = classification_cell("sent", "glove", 1, GOLD, flipped(GOLD))
    lying["main_score"]["value"] = 0.5
    write_cells(folder, [good, lying])
    with pytest.raises(
        CellFileError,
        match=r"sent\.glove\.seed1\.json: per_example\.test: the per-example outcomes give accuracy",
    ):
        build_report(folder, tmp_path / "out")
    (folder / "sent.glove.seed1.json").unlink()
    (folder / "copy.json").write_text(json.dumps(good), encoding="utf-8")
    with pytest.raises(CellFileError, match=r"sent\.elmo\.seed1\.json: .* is also in .*copy\.json"):
        build_report(folder, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CellFileError, match="empty: holds no cell result"):
        build_report(tmp_path / "empty", tmp_path / "out")


def test_differing_settings_are_noted(tmp_path):
    first = classification_cell("sent", "elmo", 1, GOLD, GOLD)
    second = classification_cell("sent", "glove", 1, GOLD, GOLD)
    second["settings"]["training"]["max_epochs"] = 9
    write_cells(tmp_path / "cells", [first, second])
    document = build_report(tmp_path / "cells", tmp_path / "out", resamples=10)
    assert document["notes"] == [
        "sent: cells differ in training.max_epochs: 9 in sent.glove.seed1.json; "
        "3 in sent.elmo.seed1.json"
    ]


@pytest.mark.parametrize(
    ("embedders", "pairs"),
    [
        (  # standard and paper
            ["glove", "elmo+glove", "elmo", "elmo-layer0"],
            [("elmo+glove", "glove"), ("elmo", "elmo-layer0"), ("elmo", "glove")],
        ),
        (["glove", "elmo"], [("elmo", "glove")]),  # smoke
        (["glove", "elmo+glove"], [("elmo+glove", "glove")]),  # quick
        (["elmo", "elmo-lm-finetuned", "elmo-unfrozen", "glove"], [  # finetune
            ("elmo", "glove"), ("elmo-lm-finetuned", "elmo"), ("elmo-unfrozen", "elmo"),
        ]),
        (["elmo-layer0", "glove"], []),
    ],
)
def test_the_comparisons_are_those_whose_two_embedders_ran(embedders, pairs):
    assert [(c.a, c.b) for c in comparisons_for(embedders)] == pairs


def test_a_comparison_one_side_did_not_run_on_is_skipped_and_said_so(tmp_path):
    """The standard grid's shape: SQuAD runs only glove and elmo+glove."""
    cells = []
    for seed in (1, 2):
        for embedder in ("glove", "elmo+glove", "elmo", "elmo-layer0"):
            right = {"glove": 40, "elmo+glove": 50, "elmo": 45, "elmo-layer0": 42}[embedder]
            predicted = GOLD[:right] + flipped(GOLD[right:])
            cells.append(classification_cell("sent", embedder, seed, GOLD, predicted))
            if embedder in ("glove", "elmo+glove"):
                cells.append(classification_cell("qa", embedder, seed, GOLD, predicted))
    write_cells(tmp_path / "cells", cells)
    document = build_report(tmp_path / "cells", tmp_path / "out", resamples=RESAMPLES)
    rows = {(c["a"], c["b"], c["task"]): c for c in document["comparisons"]}
    assert list(rows) == [
        ("elmo+glove", "glove", "qa"),
        ("elmo+glove", "glove", "sent"),
        ("elmo", "elmo-layer0", "qa"),
        ("elmo", "elmo-layer0", "sent"),
        ("elmo", "glove", "qa"),
        ("elmo", "glove", "sent"),
    ]
    skipped = rows[("elmo", "elmo-layer0", "qa")]
    assert skipped["status"] == "skipped" and skipped["p_two_sided"] is None
    assert skipped["reason"] == "qa has no elmo and no elmo-layer0 cells"
    assert rows[("elmo", "glove", "qa")]["reason"] == "qa has no elmo cells"
    # Holm runs over the tested tasks only: one for elmo vs glove, two for the paper's claim.
    assert rows[("elmo", "glove", "sent")]["holm_family"] == 1
    assert rows[("elmo+glove", "glove", "sent")]["holm_family"] == 2
    readme = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "Skipped, because one side was not run on the task:" in readme
    assert "- elmo vs glove on qa: qa has no elmo cells" in readme
    assert "| skipped: qa has no elmo cells |" in readme
    assert "- `elmo+glove` vs `glove`: the paper's claim: GloVe + ELMo against GloVe." in readme


def test_cells_whose_best_epoch_is_their_last_are_marked_not_converged(tmp_path):
    write_cells(
        tmp_path / "cells",
        [
            classification_cell("sent", "elmo", 1, GOLD, GOLD, best_epoch=3, epochs_run=3,
                                stopped_early=False),
            classification_cell("sent", "elmo", 2, GOLD, GOLD),
            classification_cell("sent", "glove", 1, GOLD, GOLD, stopped_early=False),
        ],
    )
    document = build_report(tmp_path / "cells", tmp_path / "out", resamples=10)
    elmo = next(row for row in document["scores"] if row["embedder"] == "elmo")
    assert (elmo["epochs_run"], elmo["best_epochs"]) == ([3, 3], [3, 2])
    assert elmo["stopped_early"] == [False, True] and elmo["not_converged_seeds"] == [1]
    assert elmo["max_epochs"] == [3, 3]
    readme = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "| 100.00 ± 0.00 † | 100.00†, 100.00 | 3/3, 2/3 |" in readme
    assert "- sent, elmo, seed 1: best epoch 3 of 3 (cap 3); not stopped early" in readme
    marked, capped = readme.split("*Not converged*")[1].split("##")[0].split("epoch cap")
    assert "sent, glove" not in marked  # best epoch 2 of 3: converged, but the cap stopped it
    assert "- sent, glove, seed 1: best epoch 2 of 3 (cap 3); not stopped early" in capped
    rows = rows_by_key(tmp_path / "out" / "results.csv")
    assert rows[("sent", "elmo")]["not_converged_seeds"] == "1"
    assert rows[("sent", "elmo")]["stopped_early"] == "false true"
    assert r"$^\dagger$" in (tmp_path / "out" / "results.tex").read_text(encoding="utf-8")

    converged = tmp_path / "converged"
    write_cells(converged, [classification_cell("sent", "glove", 1, GOLD, GOLD)])
    build_report(converged, tmp_path / "out2", resamples=10)
    assert "No cell is marked" in (tmp_path / "out2" / "README.md").read_text(encoding="utf-8")


def test_report_command_writes_the_report(grid, capsys):
    tmp_path, _ = grid
    parser = argparse.ArgumentParser()
    report_command.configure(parser)
    defaults = parser.parse_args([])
    assert str(defaults.cells) == "results/cells/standard" and str(defaults.out) == "results"
    args = parser.parse_args(
        ["--cells", str(tmp_path / "cells"), "--out", str(tmp_path / "out"), "--resamples", "500"]
    )
    assert report_command.run(args) == 0
    assert "report of 8 cells (4 task x embedder rows, 2 of 2 comparisons tested)" in (
        capsys.readouterr().out
    )
    assert json.loads((tmp_path / "out" / "results.json").read_text())["comparisons"][0][
        "resamples"
    ] == 500


def test_adapted_embedders_report_their_adaptation_cost(tmp_path):
    frozen = classification_cell("sent", "elmo", 1, GOLD, GOLD)
    adapted = classification_cell("sent", "elmo-lm-finetuned", 1, GOLD, GOLD)
    adapted["embedder_details"]["adaptation"] = {"elmo": {"adaptation": "lm-finetuned", "seconds": 673.0}}
    unfrozen = classification_cell("sent", "elmo-unfrozen", 1, GOLD, GOLD)
    unfrozen["timings"]["embedding"] = {  # embedded inside the training epochs: no cache cost
        role: {"elmo": {"cache": "unfrozen", "seconds": 0.0, "tokens": 1000}} for role in ("train", "dev", "test")
    }
    write_cells(tmp_path / "cells", [frozen, adapted, unfrozen])
    document = build_report(tmp_path / "cells", tmp_path / "out", resamples=RESAMPLES)
    costs = {row["embedder"]: (row["embedding_seconds"], row["adaptation_seconds"]) for row in document["scores"]}
    assert costs == {"elmo": (6.0, 0.0), "elmo-lm-finetuned": (6.0, 673.0), "elmo-unfrozen": (0.0, 0.0)}
    pairs = [(c["a"], c["b"]) for c in document["comparisons"]]
    assert ("elmo-lm-finetuned", "elmo") in pairs and ("elmo-unfrozen", "elmo") in pairs
    assert "| adaptation s |" in (tmp_path / "out" / "README.md").read_text()


def test_a_presets_caveat_heads_its_report(grid):
    """``quick``'s report says what it cannot conclude, under the title and in results.json."""
    tmp_path, _ = grid
    caveat = resolve_preset("quick")["report_caveat"]
    assert "says nothing about NER" in caveat
    document = build_report(tmp_path / "cells", tmp_path / "quick", resamples=200, caveat=caveat)
    assert document["caveat"] == caveat
    lines = (tmp_path / "quick" / "README.md").read_text().splitlines()
    assert f"> **What this run cannot conclude.** {caveat}" in lines[:6]
    build_report(tmp_path / "cells", tmp_path / "plain", resamples=200)
    assert "cannot conclude" not in (tmp_path / "plain" / "README.md").read_text()
