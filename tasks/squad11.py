"""SQuAD v1.1: extractive QA with a BiDAF-style head; official EM/F1 on the official dev set.

The official dev set is the reported split (the test set is hidden), so it is this task's ``test``
role. Epochs are selected on a held-out part of the *training* file instead (whole articles,
chosen by the hash of their title; ``options.selection_questions`` questions), so the reported
dev score is not also the selection score. ``options.max_train_questions`` caps the training
questions (chosen by the hash of their id) to bound CPU runs; training contexts are cut at
``options.max_train_context_tokens`` tokens and questions answered beyond the cut are skipped.
"""

from __future__ import annotations

import functools

from elmo_bench.data.squad import SquadQuestion, read_squad
from elmo_bench.families.span_qa import SpanQaTask, cap_questions, split_off_articles

SALT = "squad11"


class Squad11(SpanQaTask):
    name = "squad11"
    description = "SQuAD v1.1 extractive QA, official EM/F1 on the dev set"
    dataset = "squad"
    splits = {"train": "train", "dev": "train", "test": "dev"}  # dev: articles held out of train
    options = {
        "selection_questions": 1000,
        "max_train_questions": None,
        "max_train_context_tokens": 400,
    }
    head = {"hidden_size": 100, "modelling_layers": 2, "dropout": 0.2, "max_answer_tokens": 30}
    training = {
        "max_epochs": 10,
        "patience": 2,
        "batch_size": 32,
        "eval_batch_size": 32,
        "learning_rate": 0.001,
    }

    @functools.cached_property
    def _train_file(self) -> tuple[list[SquadQuestion], list[SquadQuestion]]:
        """``(train, selection)`` questions of the training file."""
        questions = read_squad("train", self.data_folders).questions
        return split_off_articles(questions, self.options["selection_questions"], SALT)

    def read(self, role: str) -> list[SquadQuestion]:
        if role == "test":
            return read_squad("dev", self.data_folders).questions
        train, selection = self._train_file
        if role == "dev":
            return selection
        return cap_questions(self.trainable(train), self.options["max_train_questions"], SALT)
