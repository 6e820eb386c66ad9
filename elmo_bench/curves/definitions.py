"""The curves as data: which tasks and embedders each runs at its points, and what it tests.

Every curve runs under a preset's protocol (``standard`` by default: its heads, early stopping,
caps and seeds), so that the points it shares with the preset (the fully pretrained biLM, the
whole training split, the glove and elmo+glove rows) are the preset's own cells, computed once.
"""

from __future__ import annotations

from dataclasses import dataclass

CURVE_TASKS = ("conll2003_ner", "sst2", "trec6")
"""NER, sentiment and question classification: the cheap half of the standard grid (SST-5 and
SQuAD would double the cost and add no new kind of task)."""

TRAIN_FRACTIONS = (0.01, 0.05, 0.1, 0.25, 1.0)
ALPHA = 0.05
"""Level of the seed-aware test (Holm-adjusted) that calls a gain real."""


@dataclass(frozen=True)
class CurveDefinition:
    """One curve.

    Attributes:
        name: the command's argument (``elmo-bench curves NAME``).
        description: one line for listings and the tables.
        axis: ``"pretraining"`` (points: the biLM's snapshots and its final export),
            ``"train_fraction"`` (points: :attr:`fractions` of each training split) or ``"none"``
            (one point: the preset's own cells).
        embedders: the embedders run at every point.
        contender, baseline: the comparison made at each point (``contender - baseline``, the
            two-level bootstrap over seeds and test examples).
        fixed_baseline: the baseline does not change along the curve (GloVe along the
            pretraining curve): its cells are the preset's, run once, drawn as a band.
        fractions: the training fractions of a ``train_fraction`` curve.
    """

    name: str
    description: str
    axis: str
    embedders: tuple[str, ...]
    contender: str
    baseline: str
    fixed_baseline: bool = False
    fractions: tuple[float, ...] = ()

    @property
    def all_embedders(self) -> tuple[str, ...]:
        """Every embedder whose cells the curve reads: its own and its baseline."""
        extra = () if self.baseline in self.embedders else (self.baseline,)
        return (*self.embedders, *extra)


CURVES: dict[str, CurveDefinition] = {
    definition.name: definition
    for definition in (
        CurveDefinition(
            name="pretraining",
            description="score against the biLM's pretraining tokens: elmo and elmo+glove at each "
            "snapshot of the preset's biLM stage, GloVe's band beside them",
            axis="pretraining",
            embedders=("elmo", "elmo+glove"),
            contender="elmo+glove",
            baseline="glove",
            fixed_baseline=True,
        ),
        CurveDefinition(
            name="training-data",
            description="score against the fraction of each task's training split (nested, "
            "seed-independent subsets): glove, elmo+glove and elmo",
            axis="train_fraction",
            embedders=("glove", "elmo+glove", "elmo"),
            contender="elmo+glove",
            baseline="glove",
            fractions=TRAIN_FRACTIONS,
        ),
        CurveDefinition(
            name="transformer",
            description="a newer-model reference: the transformer embedder (all-MiniLM-L6-v2, "
            "learned layer mix) beside elmo+glove and glove under the preset's protocol",
            axis="none",
            embedders=("transformer", "elmo+glove", "glove"),
            contender="transformer",
            baseline="elmo+glove",
        ),
    )
}
