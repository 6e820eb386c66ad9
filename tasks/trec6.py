"""TREC-6: question classification (ABBR, DESC, ENTY, HUM, LOC, NUM) on the 500 test questions.

TREC has no dev set: the reader carves 10% of the 5,452 training questions off as dev,
deterministically (by the hash of each question's text). ``options.granularity="fine"`` trains and
scores the 50 fine labels instead (the task keeps its name; the option is in the result).
"""

from __future__ import annotations

from elmo_bench.data.trec import read_trec
from elmo_bench.families.classification import ClassificationTask, LabelledText


class Trec6(ClassificationTask):
    name = "trec6"
    description = "TREC question classification, 6 coarse classes, accuracy on 500 test questions"
    dataset = "trec"
    splits = {"train": "train", "dev": "train", "test": "test"}  # dev is carved from train
    options = {"granularity": "coarse"}
    head = {"hidden_size": 300, "lstm_layers": 1, "dropout": 0.5, "pooling": ["max", "mean"]}
    training = {"max_epochs": 20, "patience": 4, "batch_size": 32, "learning_rate": 0.001}

    def read(self, role: str) -> list[LabelledText]:
        questions = read_trec(role, self.data_folders, granularity=self.options["granularity"])
        return [LabelledText(question.tokens, question.label) for question in questions]
