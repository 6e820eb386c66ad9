"""Product reviews: positive or negative, from ``label<TAB>text`` files of one's own.

A template for the commonest shape of data a researcher brings: one example a line, the label,
a tab, and the text (tokenized here with the benchmark's PTB-style tokenizer). The three files sit
in ``reviews/`` beside this module; any other labels than the two named are an error naming the
file and line.
"""

from __future__ import annotations

from elmo_bench.data.formats import read_delimited
from elmo_bench.families.classification import ClassificationTask, LabelledText


class Reviews(ClassificationTask):
    name = "reviews"
    description = "Product review polarity (positive, negative), accuracy"
    files = {"train": "reviews/train.tsv", "dev": "reviews/dev.tsv", "test": "reviews/test.tsv"}
    training = {"max_epochs": 20, "patience": 4}

    def read(self, role: str) -> list[LabelledText]:
        examples = read_delimited(
            self.data_path(role), columns=("label", "text"), labels=("positive", "negative"),
            tokenizer="spacy",
        )
        return [LabelledText(example.tokens, example.label) for example in examples]
