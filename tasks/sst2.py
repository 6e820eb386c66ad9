"""SST-2: binary sentiment of whole sentences (SST-5 labels 0-1 negative, 3-4 positive, 2 dropped).

6,920 / 872 / 1,821 sentences from the PTB trees (cased, unlike the lower-cased ``stsa`` files);
``options.phrases=true`` also trains on every labelled phrase of the training trees. Head and
training settings are SST-5's.
"""

from __future__ import annotations

from elmo_bench.data.sst import read_sst
from elmo_bench.families.classification import ClassificationTask, LabelledText


class Sst2(ClassificationTask):
    name = "sst2"
    description = "Stanford Sentiment Treebank, binary (neutral dropped), sentence-level accuracy"
    dataset = "sst"
    splits = {"train": "train", "dev": "dev", "test": "test"}
    options = {"phrases": False}
    head = {"hidden_size": 300, "lstm_layers": 1, "dropout": 0.5, "pooling": ["max", "mean"]}
    training = {"max_epochs": 20, "patience": 4, "batch_size": 32, "learning_rate": 0.001}

    def read(self, role: str) -> list[LabelledText]:
        phrases = bool(self.options["phrases"]) and role == "train"
        examples = read_sst(self.splits[role], self.data_folders, classes=2, phrases=phrases)
        labels = {0: "negative", 1: "positive"}
        return [LabelledText(example.tokens, labels[example.label]) for example in examples]
