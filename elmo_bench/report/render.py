"""The report's content as text: Markdown (README.md), CSV, LaTeX and JSON.

Scores are stored in [0, 1] (CSV, JSON) and shown as percentages (Markdown, LaTeX), like the
published numbers beside them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elmo_bench.comparisons import COMPARISONS
from elmo_bench.report.cells import TrainingHistory
from elmo_bench.report.reference import PUBLISHED_SCORES, PublishedScore
from elmo_bench.report.significance import ComparisonResult
from elmo_bench.report.summary import ReportContent, ScoreSummary

DASH = "–"
NOT_CONVERGED = "†"
CSV_COLUMNS = (
    "task",
    "metric",
    "reported_split",
    "embedder",
    "n_seeds",
    "seeds",
    "mean",
    "std",
    "scores",
    "epochs_run",
    "best_epochs",
    "stopped_early",
    "not_converged_seeds",
    "paper",
    "paper_std",
    "paper_split",
    "embedding_seconds",
    "adaptation_seconds",
    "training_seconds_per_epoch",
    "peak_memory_mib",
    "embedding_tokens_per_second",
)


@dataclass(frozen=True)
class Table:
    """A table as text cells; ``align`` holds one letter per column (``l`` left, ``r`` right)."""

    header: list[str]
    rows: list[list[str]]
    align: str


@dataclass(frozen=True)
class ReportSource:
    """Where the report's numbers come from and how the tests were run."""

    cells_dir: str
    cell_files: tuple[str, ...]
    resamples: int
    seed: int
    caveat: str = ""


# ------------------------------------------------------------------------------ number formats


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def mean_std(mean: float, std: float | None) -> str:
    return percent(mean) if std is None else f"{percent(mean)} ± {percent(std)}"


def rounded_up(value: float) -> str:
    """``value`` rounded up to one significant digit (0.00019998 -> ``"0.0002"``)."""
    exponent = math.floor(math.log10(value))
    digit = math.ceil(round(value / 10**exponent, 9))
    if digit == 10:
        digit, exponent = 1, exponent + 1
    return f"{digit * 10.0**exponent:.{max(0, -exponent)}f}"


def p_value(value: float | None, resolution: float | None) -> str:
    """A p-value as text, never below the test's ``resolution``: a p-value at the resolution
    (no resample on the far side of 0) is shown as "< " the resolution rounded up."""
    if value is None or resolution is None:
        return DASH
    if value <= resolution * (1 + 1e-9):
        return f"< {rounded_up(resolution)}"
    return f"{value:.4f}" if value >= 0.001 else f"{value:.2g}"


def amount(value: float | None, decimals: int) -> str:
    return DASH if value is None else f"{value:,.{decimals}f}"


def published(score: PublishedScore | None) -> str:
    """``"92.22 ± 0.10 (test)"``: the published number with its split."""
    return DASH if score is None else f"{mean_std(score.value, score.std)} ({score.split_label})"


def _per_seed_scores(summary: ScoreSummary) -> str:
    """Each seed's score, marked where that seed's head did not converge."""
    late = set(summary.not_converged_seeds)
    return ", ".join(
        percent(score) + (NOT_CONVERGED if seed in late else "")
        for seed, score in zip(summary.seeds, summary.scores, strict=True)
    )


def _epochs(summary: ScoreSummary) -> str:
    """``"8/12, 27/30"``: best epoch / epochs run, per seed."""
    return ", ".join(
        DASH if history is None else f"{history.best_epoch}/{history.epochs_run}"
        for history in summary.training
    )


# ------------------------------------------------------------------------------ table rows


def score_table(content: ReportContent) -> Table:
    header = [
        "task",
        "metric (split)",
        "embedder",
        "n",
        "ours: mean ± std",
        "per seed",
        "best / epochs run",
        "published (split)",
        "embedding s",
        "adaptation s",
        "training s/epoch",
        "peak MiB",
        "embedding tokens/s",
    ]
    rows = [
        [
            summary.task,
            f"{summary.metric} ({summary.reported_split})",
            summary.embedder,
            str(summary.n_seeds),
            mean_std(summary.mean, summary.std)
            + (f" {NOT_CONVERGED}" if summary.not_converged_seeds else ""),
            _per_seed_scores(summary),
            _epochs(summary),
            published(summary.published),
            amount(summary.embedding_seconds, 1),
            amount(summary.adaptation_seconds, 1),
            amount(summary.training_seconds_per_epoch, 1),
            amount(summary.peak_memory_mib, 0),
            amount(summary.embedding_tokens_per_second, 0),
        ]
        for summary in content.summaries
    ]
    return Table(header, rows, "lllrrrrrrrrrr")


def _interval(comparison: ComparisonResult) -> str:
    if comparison.ci95_low is None:
        return DASH
    return f"[{percent(comparison.ci95_low, True)}, {percent(comparison.ci95_high, True)}]"


def _per_seed_differences(comparison: ComparisonResult) -> str:
    return ", ".join(
        f"s{seed} {percent(value, True)}" for seed, value in comparison.per_seed_differences
    ) or DASH


def _note(comparison: ComparisonResult) -> str:
    """Examples tested and caveats, or why there is no test."""
    if comparison.status != "tested":
        kind = "skipped" if comparison.status == "skipped" else "no test"
        return f"{kind}: {comparison.reason}"
    sides = ((comparison.a, comparison.seeds_a), (comparison.b, comparison.seeds_b))
    caveats = [
        f"{name} ran 1 seed: its seed variance is not in the test"
        for name, seeds in sides
        if len(seeds) == 1
    ]
    return "; ".join([f"{comparison.n_examples:,} examples", *caveats])


def comparison_table(comparisons: Sequence[ComparisonResult]) -> Table:
    header = [
        "A vs B",
        "task",
        "seeds A; B",
        "A",
        "B",
        "Δ (A − B)",
        "95% interval of Δ",
        "p (two-sided)",
        "p (Holm)",
        "per-seed Δ",
        "note",
    ]
    rows = []
    for comparison in comparisons:
        seeds = "; ".join(
            ",".join(map(str, seeds)) or DASH for seeds in (comparison.seeds_a, comparison.seeds_b)
        )
        rows.append(
            [
                f"{comparison.a} vs {comparison.b}",
                comparison.task,
                seeds,
                percent(comparison.mean_a),
                percent(comparison.mean_b),
                percent(comparison.difference, True),
                _interval(comparison),
                p_value(comparison.p_two_sided, comparison.p_resolution),
                p_value(comparison.p_holm, comparison.p_resolution),
                _per_seed_differences(comparison),
                _note(comparison),
            ]
        )
    return Table(header, rows, "lllrrrrrrll")


def mix_table(content: ReportContent) -> Table:
    n_layers = max((len(row.layer_weights) for row in content.mixes), default=0)
    header = ["task", "embedder", "source", "seed", *[f"s{i}" for i in range(n_layers)], "γ"]
    rows = [
        [
            row.task,
            row.embedder,
            row.source,
            str(row.seed),
            *[f"{weight:.3f}" for weight in row.layer_weights],
            *[""] * (n_layers - len(row.layer_weights)),
            f"{row.gamma:.3f}",
        ]
        for row in content.mixes
    ]
    return Table(header, rows, "lllr" + "r" * (n_layers + 1))


# ------------------------------------------------------------------------------ Markdown


def markdown_table(table: Table) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rule = ["---:" if letter == "r" else "---" for letter in table.align]
    return "\n".join([line(table.header), line(rule), *map(line, table.rows)])


def _method(source: ReportSource) -> str:
    resolution = 2 / (source.resamples + 1)
    return (
        "**Method.** A two-level bootstrap, so that the test carries both sources of chance: the "
        "seeds that trained the heads (for BiLSTM heads often the larger one; Reimers and "
        "Gurevych, 2017) and the sample of test examples. A paired bootstrap over test examples "
        "alone would hold the trained heads fixed and ignore the first. Each of "
        f"R = {source.resamples:,} resamples (1) draws A's seeds with replacement from the seeds "
        "A ran and, independently, B's from B's (the heads of two embedders share nothing, so "
        "seeds are not paired); (2) draws the test examples with replacement, one set of draws "
        "shared by A, B and every seed (paired on examples); (3) recomputes every drawn seed's "
        "corpus-level main score on the drawn examples from its per-example outcomes (NER: "
        "summed true-positive, predicted and gold entity counts, then strict span F1; SQuAD: "
        "mean F1 over the drawn questions; classification: accuracy), averages over the drawn "
        "seeds of each side and takes Δ* = A − B. *Δ* is the observed difference of the means "
        "over each embedder's seeds, in points of the task's main score; the *95% interval* is "
        "the 2.5 and 97.5 percentiles of Δ*; *p (two-sided)* tests Δ = 0 against either sign: "
        "min(1, 2 (1 + min(#Δ* ≤ 0, #Δ* ≥ 0)) / (R + 1)), the +1 counting the observed sample "
        "as one of the resamples. It cannot go below 2 / (R + 1) ≈ "
        f"{resolution:.2g}, the resolution of {source.resamples:,} resamples, and is shown as "
        f"\"< {rounded_up(resolution)}\" there. *p (Holm)* is Holm's step-down adjustment of "
        "the two-sided p-values of one comparison across its tested tasks (it bounds the "
        "chance of any false claim of a difference, over those tasks, at the chosen level). "
        "*per-seed Δ* is A − B on the full test set for each seed both ran. With k seeds the "
        "seed level of the bootstrap has few distinct draws (10 multisets for k = 3) and its "
        "variance of a k-seed mean is (k − 1)/k of the usual estimate, so with 3 seeds the "
        "interval is somewhat narrow: read a p near 0.05 as inconclusive. Random generator: "
        f"numpy's default_rng seeded with ({source.seed}, crc32 of task, A and B), so each "
        "comparison's draws do not depend on which other cells are reported."
    )


def _questions(comparisons: Sequence[ComparisonResult]) -> str:
    """One line per comparison made: what it asks."""
    made = {(c.a, c.b) for c in comparisons}
    return "\n".join(
        f"- `{c.a}` vs `{c.b}`: {c.question}." for c in COMPARISONS if (c.a, c.b) in made
    )


def _skipped(comparisons: Sequence[ComparisonResult]) -> list[str]:
    return [
        f"- {c.a} vs {c.b} on {c.task}: {c.reason}" for c in comparisons if c.status == "skipped"
    ]


def _histories(content: ReportContent) -> list[tuple[ScoreSummary, int, TrainingHistory]]:
    """(row, seed, training history) of every cell whose file records its training."""
    return [
        (summary, seed, history)
        for summary in content.summaries
        for seed, history in zip(summary.seeds, summary.training, strict=True)
        if history is not None
    ]


def _history_line(summary: ScoreSummary, seed: int, history: TrainingHistory) -> str:
    cap = f" (cap {history.max_epochs})" if history.max_epochs is not None else ""
    stop = "stopped early" if history.stopped_early else "not stopped early"
    return (
        f"- {summary.task}, {summary.embedder}, seed {seed}: best epoch {history.best_epoch} "
        f"of {history.epochs_run}{cap}; {stop}"
    )


def _convergence(content: ReportContent) -> str:
    """The cells whose head did not converge (or that none is marked), and those that the epoch
    cap stopped rather than patience."""
    histories = _histories(content)
    late = [_history_line(*entry) for entry in histories if not entry[2].converged]
    capped = [
        _history_line(*entry)
        for entry in histories
        if entry[2].converged and not entry[2].stopped_early
    ]
    blocks = [
        f"{NOT_CONVERGED} *Not converged*: the head's best dev epoch was the last one it ran, so "
        "dev was still improving when training stopped and a longer training might change the "
        "score; such a cell cannot carry a conclusion."
        + ("" if late else " No cell is marked: every head whose file records its training had "
           "its best dev epoch before its last.")
    ]
    if late:
        blocks.append("\n".join(late))
    if capped:
        blocks += [
            "Stopped by the epoch cap rather than by patience (converged by the rule above, "
            "but the cap, meant as a safety bound, was reached):",
            "\n".join(capped),
        ]
    unrecorded = sum(history is None for s in content.summaries for history in s.training)
    if unrecorded:
        blocks.append(f"{unrecorded} cell(s) record no training history, so they are not checked.")
    return "\n\n".join(blocks)


def _reference_notes(content: ReportContent) -> list[str]:
    shown = {(summary.task, summary.embedder) for summary in content.summaries}
    return [
        f"- {score.task}, beside `{score.embedder}`: {score.system}, {score.metric} "
        f"{mean_std(score.value, score.std)} on the {score.split} split ({score.source})"
        + (f"; {score.note}." if score.note else ".")
        for score in PUBLISHED_SCORES
        if (score.task, score.embedder) in shown
    ]


def markdown_report(content: ReportContent, source: ReportSource) -> str:
    tasks = content.tasks
    embedders = sorted({summary.embedder for summary in content.summaries})
    blocks = [
        "# elmo-bench results",
        f"Built by `elmo-bench report` from {len(source.cell_files)} cell result files in "
        f"`{source.cells_dir}`: {len(tasks)} task(s) ({', '.join(tasks)}), embedder(s) "
        f"{', '.join(embedders)}. Every number below is recomputed from those files; rerun the "
        "command after adding cells.",
        *([f"> **What this run cannot conclude.** {source.caveat}"] if source.caveat else []),
        "## Scores and costs",
        markdown_table(score_table(content)),
        "Scores are percentages on the reported split (`test`; SQuAD: its dev set, as in the "
        "papers): mean ± sample standard deviation over the n seeds (n − 1 in the denominator; "
        "none for one seed), then each seed's score. *best / epochs run* is, per seed, the epoch "
        "whose head was kept (best on dev) and the epochs trained. *published (split)* is the "
        "published number of the row's counterpart, with the split it is on (listed below): "
        "the ELMo paper's baseline beside `glove` and its baseline + ELMo beside `elmo+glove`; "
        "GLUE's BiLSTM beside `glove` and its BiLSTM with ELMo in place of GloVe beside `elmo`. "
        "Those systems used the original pretrained weights and larger task architectures. "
        "Costs are means over seeds: "
        "*embedding s* is the time it took to compute the embeddings of all three splits (when "
        "they were computed, whether or not the cell then found them cached; an unfrozen biLM "
        "embeds inside its training epochs), *adaptation s* the time it took to fine-tune the "
        "biLM as a language model on the task's training text (`elmo-lm-finetuned`; also "
        "counted when cached), *training s/epoch* "
        "the median epoch time of the head (the mean in result files of format 1), *peak MiB* "
        "the cell process's peak resident memory (cached embeddings that were read count), "
        "*embedding tokens/s* the tokens of all splits over the embedding time.",
    ]
    blocks += [_convergence(content)]
    reference_notes = _reference_notes(content)
    if reference_notes:
        blocks += ["Published numbers:", "\n".join(reference_notes)]
    blocks += ["![scores](scores.png)", "![cost vs score](cost_vs_score.png)"]
    blocks += ["## Comparisons: seed-aware significance tests"]
    if content.comparisons:
        blocks += [
            "Each comparison asks whether A scores differently from B:",
            _questions(content.comparisons),
            markdown_table(comparison_table(content.comparisons)),
        ]
        skipped = _skipped(content.comparisons)
        if skipped:
            blocks += ["Skipped, because one side was not run on the task:", "\n".join(skipped)]
        blocks += [_method(source)]
    else:
        blocks += ["No comparison: the grid does not hold both embedders of any of them."]
    blocks += ["## Learned scalar mix weights"]
    if content.mixes:
        blocks += [
            markdown_table(mix_table(content)),
            "Softmax-normalised weight of each layer the head mixed (s0: the context-free "
            "char-CNN layer, s1, s2: the biLSTM layers) and the scale γ, per task, embedder and "
            "seed, as learned on the training split.",
            "![mix weights](mix_weights.png)",
        ]
    else:
        blocks += ["No cell learned a scalar mix."]
    if content.notes:
        blocks += ["## Notes", "\n".join(f"- {note}" for note in content.notes)]
    blocks += [
        "## Files",
        "- `results.csv`: the score table, one row per task and embedder; scores in [0, 1]; "
        "`seeds`, `scores`, `epochs_run`, `best_epochs`, `stopped_early` and "
        "`not_converged_seeds` space-separated, per seed.\n"
        "- `results.json`: everything here, including the tests and the mixes, with the cell "
        "files used.\n"
        "- `results.tex`: the score and test tables as LaTeX tabulars (booktabs).\n"
        "- `scores.png`, `cost_vs_score.png`, `mix_weights.png`: the plots above.",
    ]
    return "\n\n".join(blocks) + "\n"


# ------------------------------------------------------------------------------ CSV and JSON


def _csv_item(value: Any) -> str:
    """One value of a list field: floats in full precision, booleans as true/false, unknown
    (None) as "-"."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _csv_value(value: Any) -> Any:
    """A CSV field: lists space-separated, None empty."""
    if value is None:
        return ""
    return " ".join(map(_csv_item, value)) if isinstance(value, list) else value


def csv_text(content: ReportContent) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for summary in content.summaries:
        row = summary.to_dict()
        writer.writerow({column: _csv_value(row[column]) for column in CSV_COLUMNS})
    return buffer.getvalue()


def json_document(content: ReportContent, source: ReportSource) -> dict[str, Any]:
    return {
        "source": {"cells_dir": source.cells_dir, "cell_files": list(source.cell_files)},
        "caveat": source.caveat,
        "significance_method": {
            "test": "two-level bootstrap: seeds with replacement within each embedder "
            "(independently for A and B), then test examples with replacement (one draw shared "
            "by A, B and every seed); corpus-level main score recomputed per drawn seed, "
            "averaged over the drawn seeds of each side",
            "resamples": source.resamples,
            "seed": source.seed,
            "difference": "mean_a - mean_b, each the mean over the embedder's own seeds",
            "ci95": "2.5 and 97.5 percentiles of the resampled differences",
            "p_two_sided": "min(1, 2 * (1 + min(#diff <= 0, #diff >= 0)) / (resamples + 1))",
            "p_resolution": 2 / (source.resamples + 1),
            "p_holm": "Holm step-down adjustment of p_two_sided across the tested tasks of "
            "one comparison",
        },
        "scores": [summary.to_dict() for summary in content.summaries],
        "comparisons": [comparison.to_dict() for comparison in content.comparisons],
        "learned_mixes": [row.to_dict() for row in content.mixes],
        "notes": list(content.notes),
    }


# ------------------------------------------------------------------------------ LaTeX

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_TEXT = {
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "−": "$-$",
    "≤": r"$\leq$",
    "γ": r"$\gamma$",
    NOT_CONVERGED: r"$^\dagger$",
}


def latex_escape(text: str) -> str:
    escaped = "".join(_LATEX_SPECIAL.get(character, character) for character in text)
    for symbol, command in _LATEX_TEXT.items():
        escaped = escaped.replace(symbol, command)
    return escaped.replace(DASH, "--")


def latex_tabular(table: Table) -> str:
    lines = [
        f"\\begin{{tabular}}{{{table.align}}}",
        r"\toprule",
        " & ".join(latex_escape(cell) for cell in table.header) + r" \\",
        r"\midrule",
        *(" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in table.rows),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def latex_tables(content: ReportContent) -> str:
    parts = [
        "% elmo-bench results (needs \\usepackage{booktabs}); scores in percent.\n",
        "% Scores and costs\n" + latex_tabular(score_table(content)),
    ]
    if content.comparisons:
        table = comparison_table(content.comparisons)
        parts.append("\n% Seed-aware comparisons (two-level bootstrap)\n" + latex_tabular(table))
    if content.mixes:
        parts.append("\n% Learned scalar mix weights\n" + latex_tabular(mix_table(content)))
    return "".join(parts)
