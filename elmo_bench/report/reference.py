"""Published numbers the benchmark's tasks are compared with (docs: DESIGN.md, section 6).

They come from systems trained with the original pretrained weights (ELMo on the 1B Word
Benchmark, GloVe on Common Crawl) and task-specific architectures, so they are a yardstick for the
ordering of embedders, not numbers ours should equal.
"""

from __future__ import annotations

from dataclasses import dataclass

ELMO_PAPER = "Peters et al. (2018), Deep contextualized word representations, Table 1"
GLUE_PAPER = "Wang et al. (2018), GLUE, BiLSTM baselines"


@dataclass(frozen=True)
class PaperReference:
    """A task's published baseline and +ELMo scores, in [0, 1] like our scores.

    Attributes:
        metric: the score they report (our task's main score).
        split: the split they report on.
        baseline: the baseline system (GloVe-based).
        with_elmo: the same system with ELMo added.
        with_elmo_std: its standard deviation over seeds, where published.
        source: where the numbers come from.
        note: what to keep in mind when comparing.
    """

    metric: str
    split: str
    baseline: float
    with_elmo: float
    with_elmo_std: float | None
    source: str
    note: str = ""


PAPER_REFERENCES: dict[str, PaperReference] = {
    "conll2003_ner": PaperReference("f1", "test", 0.9015, 0.9222, 0.0010, ELMO_PAPER),
    "sst5": PaperReference("accuracy", "test", 0.514, 0.547, 0.005, ELMO_PAPER),
    "squad11": PaperReference(
        "f1",
        "dev",
        0.811,
        0.858,
        None,
        ELMO_PAPER,
        "their baseline is an improved BiDAF with self-attention; AllenNLP's plain BiDAF, closer "
        "to our head, reaches 68.3 EM / 77.8 F1 with GloVe and about 80 F1 with ELMo",
    ),
    "sst2": PaperReference(
        "accuracy",
        "GLUE dev",
        0.859,
        0.902,
        None,
        GLUE_PAPER,
        "GLUE's SST-2 dev set; we report the SST-2 test sentences",
    ),
}
"""Task name -> its published numbers (tasks without one, such as TREC-6, are absent)."""

REFERENCE_ROLE = {"glove": "baseline", "elmo": "with_elmo", "elmo+glove": "with_elmo"}
"""Which published number an embedder's row is shown beside: the papers' +ELMo systems add ELMo to
a GloVe baseline, so both ``elmo`` and ``elmo+glove`` are set beside +ELMo; ``elmo-layer0`` (a
control) has no published counterpart."""


def reference_for(task: str, embedder: str, metric: str) -> tuple[float, float | None] | None:
    """``(score, std or None)`` published for ``embedder``'s counterpart on ``task``, if there is
    one for ``metric`` (the task's main score)."""
    reference = PAPER_REFERENCES.get(task)
    role = REFERENCE_ROLE.get(embedder)
    if reference is None or role is None or reference.metric != metric:
        return None
    if role == "baseline":
        return reference.baseline, None
    return reference.with_elmo, reference.with_elmo_std
