"""What the report asks of the compared embedders, as data: the order it shows them in, the
comparisons it makes, and which of them stands in for which published system.

Cell files name an embedder and nothing more, so the report (which builds no model) reads these
here; :mod:`elmo_bench.compared`, which defines the embedders, checks every name given here when
it is imported. An embedder not listed here still appears in the report, after the listed ones.
This module imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

EMBEDDER_ORDER: tuple[str, ...] = (
    "glove", "elmo", "elmo-lm-finetuned", "elmo-unfrozen", "elmo+glove", "elmo-layer0",
    "elmo-layer1", "elmo-layer2", "transformer",
)
"""Row order of the known embedders; others follow alphabetically."""


@dataclass(frozen=True)
class Comparison:
    """A question the report asks of two embedders: does ``a`` score differently from ``b``
    (the difference is taken as ``a - b``), and what would a difference say (``question``)?"""

    a: str
    b: str
    question: str


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("elmo+glove", "glove", "the paper's claim: GloVe + ELMo against GloVe"),
    Comparison("elmo", "elmo-layer0", "what context adds: ELMo against its own char-CNN layer"),
    Comparison("elmo", "glove", "ELMo alone against GloVe"),
    Comparison("elmo-lm-finetuned", "elmo", "what adapting the biLM to the task's text adds"),
    Comparison("elmo-unfrozen", "elmo", "what fine-tuning the biLM with the head adds"),
    Comparison("transformer", "elmo+glove", "a newer model: the transformer against GloVe + ELMo"),
)
"""The comparisons, in report order; a grid makes those whose two embedders it ran (on some
task), each on every task of the grid (skipped, with the reason, where one side has no cell)."""

WORD_VECTORS = "word vectors"
"""The role of a published baseline's pretrained word vectors (GloVe 840B in the papers)."""
WORD_VECTORS_WITH_ELMO = "word vectors + ELMo"
"""The role of a published "+ELMo" system that adds ELMo to its baseline's word vectors
(Peters et al., 2018)."""
ELMO_INSTEAD_OF_WORD_VECTORS = "ELMo instead of word vectors"
"""The role of a published "+ELMo" system that puts ELMo in place of its word vectors (Wang et
al., 2019)."""

PUBLISHED_ROLES: Mapping[str, str] = {
    WORD_VECTORS: "glove",
    WORD_VECTORS_WITH_ELMO: "elmo+glove",
    ELMO_INSTEAD_OF_WORD_VECTORS: "elmo",
}
"""Role of a published system -> the compared embedder whose row its number is set beside
(:mod:`elmo_bench.report.reference` gives each published number its role)."""


def named_embedders() -> set[str]:
    """Every embedder name this module gives."""
    return {
        *EMBEDDER_ORDER,
        *(name for comparison in COMPARISONS for name in (comparison.a, comparison.b)),
        *PUBLISHED_ROLES.values(),
    }
