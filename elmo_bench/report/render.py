"""The report's content as text: Markdown (README.md), CSV, LaTeX and JSON.

Scores are stored in [0, 1] (CSV, JSON) and shown as percentages (Markdown, LaTeX), like the
published numbers beside them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elmo_bench.report.reference import PAPER_REFERENCES
from elmo_bench.report.significance import PairedComparison
from elmo_bench.report.summary import ReportContent, ScoreSummary

DASH = "–"
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
    "paper",
    "paper_std",
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


# ------------------------------------------------------------------------------ number formats


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return DASH
    return f"{100 * value:+.2f}" if signed else f"{100 * value:.2f}"


def mean_std(mean: float, std: float | None) -> str:
    return percent(mean) if std is None else f"{percent(mean)} ± {percent(std)}"


def p_value(value: float | None, resamples: int) -> str:
    if value is None:
        return DASH
    if value == 0:
        return f"< {1 / resamples:.2g}"  # no resample at or below zero: p under 1/resamples
    return f"{value:.4f}"


def amount(value: float | None, decimals: int) -> str:
    return DASH if value is None else f"{value:,.{decimals}f}"


def _paper(summary: ScoreSummary) -> str:
    return DASH if summary.paper is None else mean_std(summary.paper, summary.paper_std)


# ------------------------------------------------------------------------------ table rows


def score_table(content: ReportContent) -> Table:
    header = [
        "task",
        "metric (split)",
        "embedder",
        "n",
        "ours: mean ± std",
        "per seed",
        "paper",
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
            mean_std(summary.mean, summary.std),
            ", ".join(percent(score) for score in summary.scores),
            _paper(summary),
            amount(summary.embedding_seconds, 1),
            amount(summary.adaptation_seconds, 1),
            amount(summary.training_seconds_per_epoch, 1),
            amount(summary.peak_memory_mib, 0),
            amount(summary.embedding_tokens_per_second, 0),
        ]
        for summary in content.summaries
    ]
    return Table(header, rows, "lllrrrrrrrrr")


def comparison_table(comparisons: Sequence[PairedComparison]) -> Table:
    header = [
        "task",
        "A vs B",
        "seeds",
        "A",
        "B",
        "Δ (A − B)",
        "95% CI of Δ",
        "p (A ≤ B), one-sided",
        "p, two-sided",
        "note",
    ]
    rows = []
    for comparison in comparisons:
        interval = (
            DASH
            if comparison.ci95_low is None
            else f"[{percent(comparison.ci95_low, True)}, {percent(comparison.ci95_high, True)}]"
        )
        rows.append(
            [
                comparison.task,
                f"{comparison.a} vs {comparison.b}",
                ", ".join(map(str, comparison.seeds)) or DASH,
                percent(comparison.mean_a),
                percent(comparison.mean_b),
                percent(comparison.difference, True),
                interval,
                p_value(comparison.p_one_sided, comparison.resamples),
                p_value(comparison.p_two_sided, comparison.resamples),
                comparison.reason or f"{comparison.n_examples:,} examples",
            ]
        )
    return Table(header, rows, "lllrrrrrrl")


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
    return (
        "Paired bootstrap over test examples. Each of "
        f"{source.resamples:,} resamples draws the test examples with replacement, the same "
        "draws for both embedders and for every seed. On each resample every cell's main score "
        "is recomputed at corpus level from its per-example outcomes (NER: summed true-positive, "
        "predicted and gold entity counts, then strict span F1; SQuAD: mean EM/F1 of the drawn "
        "questions; classification: accuracy), averaged over the seeds both embedders ran "
        "(paired by seed number), and Δ* = A − B is taken. One-sided p = share of resamples "
        "with Δ* ≤ 0 (small: A is better than B beyond test-sample noise); two-sided p = twice "
        "the smaller of the shares with Δ* ≤ 0 and Δ* ≥ 0, at most 1; the 95% interval is the "
        "2.5 and 97.5 percentiles of Δ*. Random generator: numpy's default_rng seeded with "
        f"({source.seed}, crc32 of task, A and B). The test captures the uncertainty from "
        "sampling the test set for the trained heads; variation between seeds enters through "
        "the seed average and the std column, it is not resampled."
    )


def _reference_notes(content: ReportContent) -> list[str]:
    notes = []
    for task in content.tasks:
        reference = PAPER_REFERENCES.get(task)
        if reference is None:
            continue
        with_elmo = mean_std(reference.with_elmo, reference.with_elmo_std)
        line = (
            f"- {task}: {reference.metric} on {reference.split}, baseline "
            f"{percent(reference.baseline)}, +ELMo {with_elmo} ({reference.source})"
        )
        notes.append(line + (f"; {reference.note}." if reference.note else "."))
    return notes


def markdown_report(content: ReportContent, source: ReportSource) -> str:
    tasks = content.tasks
    embedders = sorted({summary.embedder for summary in content.summaries})
    blocks = [
        "# elmo-bench results",
        f"Built by `elmo-bench report` from {len(source.cell_files)} cell result files in "
        f"`{source.cells_dir}`: {len(tasks)} task(s) ({', '.join(tasks)}), embedder(s) "
        f"{', '.join(embedders)}. Every number below is recomputed from those files; rerun the "
        "command after adding cells.",
        "## Scores and costs",
        markdown_table(score_table(content)),
        "Scores are percentages on the reported split (`test`; SQuAD: its dev set, as in the "
        "papers): mean ± sample standard deviation over the n seeds (n − 1 in the denominator; "
        "none for one seed), then each seed's score. *paper* is the published number beside the "
        "row's counterpart: the GloVe baseline for `glove`, the +ELMo system for `elmo` and "
        "`elmo+glove` (the papers add ELMo to a GloVe baseline); those systems used the original "
        "pretrained weights and their own task architectures. Costs are means over seeds: "
        "*embedding s* is the time it took to compute the embeddings of all three splits (when "
        "they were computed, whether or not the cell then found them cached; an unfrozen biLM "
        "embeds inside its training epochs), *adaptation s* the time it took to fine-tune the "
        "biLM as a language model on the task's training text (`elmo-lm-finetuned`; also "
        "counted when cached), *training s/epoch* "
        "the median epoch time of the head (the mean in result files of format 1), *peak MiB* "
        "the cell process's peak resident memory (cached embeddings that were read count), "
        "*embedding tokens/s* the tokens of all splits over the embedding time.",
    ]
    reference_notes = _reference_notes(content)
    if reference_notes:
        blocks += ["Published numbers:", "\n".join(reference_notes)]
    blocks += ["![scores](scores.png)", "![cost vs score](cost_vs_score.png)"]
    blocks += ["## Paired significance tests"]
    if content.comparisons:
        blocks += [markdown_table(comparison_table(content.comparisons)), _method(source)]
    else:
        blocks += ["No task has two embedders to compare."]
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
        "- `results.csv`: the score table, one row per task and embedder; scores in [0, 1], "
        "`seeds` and `scores` space-separated.\n"
        "- `results.json`: everything here, including the tests and the mixes, with the cell "
        "files used.\n"
        "- `results.tex`: the score and test tables as LaTeX tabulars (booktabs).\n"
        "- `scores.png`, `cost_vs_score.png`, `mix_weights.png`: the plots above.",
    ]
    return "\n\n".join(blocks) + "\n"


# ------------------------------------------------------------------------------ CSV and JSON


def csv_text(content: ReportContent) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for summary in content.summaries:
        row = summary.to_dict()
        row["seeds"] = " ".join(map(str, summary.seeds))
        row["scores"] = " ".join(repr(score) for score in summary.scores)
        writer.writerow(
            {column: "" if row[column] is None else row[column] for column in CSV_COLUMNS}
        )
    return buffer.getvalue()


def json_document(content: ReportContent, source: ReportSource) -> dict[str, Any]:
    return {
        "source": {"cells_dir": source.cells_dir, "cell_files": list(source.cell_files)},
        "significance_method": {
            "test": "paired bootstrap over test examples, seeds paired by number",
            "resamples": source.resamples,
            "seed": source.seed,
            "p_one_sided": "share of resamples with mean_a - mean_b <= 0",
            "p_two_sided": "min(1, 2 * min(share <= 0, share >= 0))",
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
_LATEX_TEXT = {"±": r"$\pm$", "Δ": r"$\Delta$", "−": "$-$", "≤": r"$\leq$", "γ": r"$\gamma$"}


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
        parts.append("\n% Paired bootstrap tests\n" + latex_tabular(table))
    if content.mixes:
        parts.append("\n% Learned scalar mix weights\n" + latex_tabular(mix_table(content)))
    return "".join(parts)
