"""SST-5: fine-grained sentiment (0 very negative ... 4 very positive) of whole sentences.

Trained on the sentences of the training trees, or with ``options.phrases=true`` on every labelled
phrase of them too (each distinct phrase once); dev and test are always whole sentences. Tokens
are shown as raw text (``(`` for ``-LRB-``); see :mod:`elmo_bench.data.sst`.
"""

from __future__ import annotations

from elmo_bench.data.sst import read_sst
from elmo_bench.families.classification import ClassificationTask, LabelledText


class Sst5(ClassificationTask):
    name = "sst5"
    description = "Stanford Sentiment Treebank, 5 classes, sentence-level accuracy"
    dataset = "sst"
    splits = {"train": "train", "dev": "dev", "test": "test"}
    options = {"phrases": False}
    head = {"hidden_size": 300, "lstm_layers": 1, "dropout": 0.5, "pooling": ["max", "mean"]}
    training = {"max_epochs": 20, "patience": 4, "batch_size": 32, "learning_rate": 0.001}

    def read(self, role: str) -> list[LabelledText]:
        phrases = bool(self.options["phrases"]) and role == "train"
        examples = read_sst(self.splits[role], self.data_folders, classes=5, phrases=phrases)
        return [LabelledText(example.tokens, str(example.label)) for example in examples]
