"""Published numbers set beside the rows they correspond to, each labelled with its split.

Each number carries the role its system plays (:mod:`elmo_bench.comparisons`: the baseline's word
vectors, word vectors + ELMo, ELMo instead of word vectors); the role says which of our embedders'
rows it sits beside.

They come from systems trained with the original pretrained weights (ELMo on the 1B Word
Benchmark, GloVe 840B on Common Crawl) and task-specific architectures larger than our heads, so
they are a yardstick for the ordering of embedders, not numbers ours should equal. Checked against
the papers' text:

- Peters et al. (2018), Table 1 is a *test set* comparison: CoNLL-2003 NER test F1 and SST-5 test
  accuracy (mean ± std over five seeds), SQuAD v1.1 F1 on the *hidden test set* (the official
  leaderboard; our SQuAD score is on the official dev set). Its "+ELMo" systems add ELMo to the
  baseline's pretrained word vectors (our ``elmo+glove``); its baselines are not GloVe
  alone: NER's BiLSTM-CRF and SQuAD's improved BiDAF also have a char-CNN, SST-5's is McCann et
  al.'s BCN.
- Wang et al. (2019), Table 4 is on the GLUE *test* sets (scored by the GLUE server): the SST-2
  test set is the same 1,821 sentences as ours. Its single-task BiLSTM uses GloVe 840B; its
  "+ELMo" uses ELMo *in place of* GloVe (our ``elmo``, not ``elmo+glove``). Each number
  is the best of three runs by dev score, training on SST-2's 67k phrases (ours: 6,920 sentences).
"""

from __future__ import annotations

from dataclasses import dataclass

from elmo_bench.comparisons import (
    ELMO_INSTEAD_OF_WORD_VECTORS,
    PUBLISHED_ROLES,
    WORD_VECTORS,
    WORD_VECTORS_WITH_ELMO,
)

ELMO_PAPER = (
    "Peters et al. (2018), Deep contextualized word representations, NAACL-HLT 2018, Table 1"
)
GLUE_PAPER = (
    "Wang et al. (2019), GLUE: A Multi-Task Benchmark and Analysis Platform for Natural Language "
    "Understanding, ICLR 2019, Table 4 (single-task training)"
)


@dataclass(frozen=True)
class PublishedScore:
    """One published score and the row of ours it is set beside.

    Attributes:
        task: our task.
        role: what the published system's representations are, against ours
            (:data:`elmo_bench.comparisons.PUBLISHED_ROLES`: it gives the embedder of our row).
        system: the published system, as the paper names it.
        metric: the score (our task's main score).
        value, std: in [0, 1] like our scores; std over seeds where published.
        split: the split it is on, as a reader must read it (``"test"``, ``"hidden test"``).
        comparable_split: whether that is the split we report (SQuAD: no, ours is dev).
        source: the paper and table.
        note: what differs from our setting.
    """

    task: str
    role: str
    system: str
    metric: str
    value: float
    std: float | None
    split: str
    comparable_split: bool
    source: str
    note: str = ""

    @property
    def embedder(self) -> str:
        """The embedder of the row it is set beside."""
        return PUBLISHED_ROLES[self.role]

    @property
    def split_label(self) -> str:
        """The split, with a warning when it is not the split we report."""
        return self.split if self.comparable_split else f"{self.split}, not comparable"


_CHAR_CNN = "the baseline also has a char-CNN, so it is not GloVe alone"
_SQUAD_SPLIT = "hidden test set (official leaderboard); our SQuAD score is on the dev set"
_GLUE = "GLUE test server, best of 3 runs by dev score; trained on SST-2's 67k phrases"

PUBLISHED_SCORES: tuple[PublishedScore, ...] = (
    PublishedScore(
        "conll2003_ner", WORD_VECTORS, "baseline: BiLSTM-CRF", "f1",
        0.9015, None, "test", True, ELMO_PAPER, _CHAR_CNN,
    ),
    PublishedScore(
        "conll2003_ner", WORD_VECTORS_WITH_ELMO, "baseline + ELMo", "f1",
        0.9222, 0.0010, "test", True, ELMO_PAPER, "mean ± std over 5 seeds",
    ),
    PublishedScore(
        "sst5", WORD_VECTORS, "baseline: BCN (McCann et al., 2017)", "accuracy",
        0.514, None, "test", True, ELMO_PAPER,
        "a biattentive classification network, larger than our BiLSTM head",
    ),
    PublishedScore(
        "sst5", WORD_VECTORS_WITH_ELMO, "baseline + ELMo", "accuracy",
        0.547, 0.005, "test", True, ELMO_PAPER, "mean ± std over 5 seeds",
    ),
    PublishedScore(
        "squad11", WORD_VECTORS, "baseline: improved BiDAF (Clark and Gardner, 2017)", "f1",
        0.811, None, "hidden test", False, ELMO_PAPER, f"{_CHAR_CNN}; {_SQUAD_SPLIT}",
    ),
    PublishedScore(
        "squad11", WORD_VECTORS_WITH_ELMO, "baseline + ELMo", "f1",
        0.858, None, "hidden test", False, ELMO_PAPER, _SQUAD_SPLIT,
    ),
    PublishedScore(
        "sst2", WORD_VECTORS, "single-task BiLSTM (GloVe 840B)", "accuracy",
        0.859, None, "test", True, GLUE_PAPER, _GLUE,
    ),
    PublishedScore(
        "sst2", ELMO_INSTEAD_OF_WORD_VECTORS, "single-task BiLSTM + ELMo (ELMo in place of GloVe)", "accuracy",
        0.902, None, "test", True, GLUE_PAPER, _GLUE,
    ),
)
"""Every published score; tasks without one (TREC-6) and rows without a counterpart
(``elmo-layer0``, and ``elmo`` where the paper has only ELMo added to GloVe) have none."""


def published_score(task: str, embedder: str, metric: str) -> PublishedScore | None:
    """The published score set beside ``embedder``'s row on ``task``, if there is one for
    ``metric`` (the task's main score)."""
    return next(
        (
            score
            for score in PUBLISHED_SCORES
            if (score.task, score.embedder, score.metric) == (task, embedder, metric)
        ),
        None,
    )
