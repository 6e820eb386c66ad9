"""Extractive QA tasks (SQuAD): a BiDAF-style head points at context tokens; the predicted tokens
are mapped back to the context's characters and scored with the official EM/F1.

Examples are :class:`~elmo_bench.data.squad.SquadQuestion`; training targets the first reference
answer's tokens. Helpers here carve deterministic subsets (a held-out selection set of whole
articles, a capped training set) by hashing names, so subsets do not depend on file order or seed
and cached embeddings stay valid across seeds.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from elmo_bench.data.squad import SquadQuestion
from elmo_bench.embedded_split import EmbeddedSplit
from elmo_bench.heads.scalar_mix_input import EmbeddingInput
from elmo_bench.heads.span_qa import BidafSpanHead, QuestionAndContext
from elmo_bench.heads.task_head import TaskHead
from elmo_bench.metrics.per_example import squad_record
from elmo_bench.metrics.squad import squad_scores
from elmo_bench.settings import Check
from elmo_bench.task import Task


def hash_rank(text: str, salt: str) -> str:
    """A deterministic, order-independent sort key for ``text``."""
    return hashlib.sha256(f"{salt}:{text}".encode("utf-8")).hexdigest()


def split_off_articles(
    questions: Sequence[SquadQuestion], n_questions: int, salt: str
) -> tuple[list[SquadQuestion], list[SquadQuestion]]:
    """``(rest, held_out)``: whole articles, ranked by the hash of their title, are held out until
    they hold at least ``n_questions``; then the held-out questions ranked first by the hash of
    their id are kept, exactly ``n_questions`` (the other held-out questions are dropped, so no
    article is on both sides). Both keep the input order."""
    per_title = collections.Counter(question.paragraph.title for question in questions)
    held_titles: set[str] = set()
    count = 0
    for title in sorted(per_title, key=lambda title: hash_rank(title, salt)):
        if count >= n_questions:
            break
        held_titles.add(title)
        count += per_title[title]
    rest = [question for question in questions if question.paragraph.title not in held_titles]
    held = [question for question in questions if question.paragraph.title in held_titles]
    kept_ids = set(sorted((q.id for q in held), key=lambda i: hash_rank(i, salt))[:n_questions])
    return rest, [question for question in held if question.id in kept_ids]


def cap_questions(
    questions: Sequence[SquadQuestion], limit: int | None, salt: str
) -> list[SquadQuestion]:
    """At most ``limit`` questions, in input order, taken paragraph by paragraph.

    Paragraphs are ranked by the hash of their context, and questions within one by the hash of
    their id; whole paragraphs are kept (only the last one may be cut), so the kept questions
    share contexts as in the full set and embedding them costs about ``limit / 5`` contexts
    rather than ``limit``.
    """
    if limit is None or limit >= len(questions):
        return list(questions)
    ranked = sorted(
        questions,
        key=lambda q: (hash_rank(q.paragraph.context, salt), hash_rank(q.id, salt)),
    )
    kept = {question.id for question in ranked[:limit]}
    return [question for question in questions if question.id in kept]


def answer_text(question: SquadQuestion, first: int, last: int) -> str:
    """The context characters from token ``first``'s start to token ``last``'s end."""
    paragraph = question.paragraph
    return paragraph.context[paragraph.token_starts[first] : paragraph.token_ends[last]]


class SpanQaTask(Task):
    """Extractive QA on SQuAD-format questions.

    Option ``max_train_context_tokens`` (in ``options``) truncates training contexts; training
    questions whose first answer ends beyond it are left out by :meth:`trainable`.
    """

    main_score: ClassVar[str] = "f1"
    metric: ClassVar[str] = (
        "SQuAD v1.1 official exact match and F1 (answer normalisation of the v1.1 script, best "
        "over references): elmo_bench.metrics.squad.squad_scores"
    )
    head: ClassVar[dict[str, Any]] = {
        "hidden_size": 100,
        "modelling_layers": 2,
        "dropout": 0.2,
        "max_answer_tokens": 30,
    }
    head_checks: ClassVar[dict[str, Check]] = {
        "hidden_size": Check("integer", minimum=1),
        "modelling_layers": Check("integer", minimum=1),
        "dropout": Check("number", minimum=0, below=1),
        "max_answer_tokens": Check("integer", minimum=1),
    }

    def token_sequences(self, example: SquadQuestion) -> tuple[tuple[str, ...], ...]:
        return (example.question_tokens, example.paragraph.tokens)

    def trainable(self, questions: Sequence[SquadQuestion]) -> list[SquadQuestion]:
        """The questions whose first answer lies within ``max_train_context_tokens``."""
        limit = self.options["max_train_context_tokens"]
        return [q for q in questions if limit is None or q.answers[0].last_token < limit]

    def build_head(
        self, embedding_input: EmbeddingInput, train_examples: Sequence[SquadQuestion]
    ) -> BidafSpanHead:
        return BidafSpanHead(embedding_input, **self.head)

    def batch_loss(
        self, head: TaskHead, split: EmbeddedSplit, indices: Sequence[int]
    ) -> torch.Tensor:
        question = split.word_inputs([split.sequence_ids[i][0] for i in indices])
        context = split.word_inputs(
            [split.sequence_ids[i][1] for i in indices],
            max_tokens=self.options["max_train_context_tokens"],
        )
        answers = [split.examples[i].answers[0] for i in indices]
        answer_tokens = torch.tensor(
            [[answer.first_token, answer.last_token] for answer in answers],
            device=context.mask.device,
        )
        return head.loss(QuestionAndContext(question, context), answer_tokens)

    def predict(self, head: TaskHead, split: EmbeddedSplit, indices: Sequence[int]) -> list[str]:
        question = split.word_inputs([split.sequence_ids[i][0] for i in indices])
        context = split.word_inputs([split.sequence_ids[i][1] for i in indices])
        spans = head.predict(QuestionAndContext(question, context))
        return [
            answer_text(split.examples[i], first, last)
            for i, (first, last) in zip(indices, spans, strict=True)
        ]

    def score(
        self, examples: Sequence[SquadQuestion], predictions: Sequence[str]
    ) -> dict[str, Any]:
        scores = squad_scores(
            {
                example.id: prediction
                for example, prediction in zip(examples, predictions, strict=True)
            },
            {example.id: [answer.text for answer in example.answers] for example in examples},
        )
        return {"f1": scores.f1, "exact_match": scores.exact_match, "questions": scores.count}

    def per_example(
        self, examples: Sequence[SquadQuestion], predictions: Sequence[str]
    ) -> dict[str, Any]:
        """Exact match and F1 of every question (a ``squad`` record of
        :mod:`elmo_bench.metrics.per_example`)."""
        return squad_record(
            predictions, [[answer.text for answer in example.answers] for example in examples]
        )
