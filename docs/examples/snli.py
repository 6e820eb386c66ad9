"""SNLI: does the first sentence entail, contradict or leave open the second (3 classes)?

A task of a new kind (sentence pairs), whose family and head live beside it in ``_pair.py``. The
files are the corpus's JSON lines (``snli_1.0_{train,dev,test}.jsonl`` in ``snli/`` beside this
module); sentences are raw text, tokenized PTB-style like the rest of the benchmark, and pairs whose
annotators did not agree (gold label ``-``) are left out, as in the SNLI paper.
"""

from __future__ import annotations

from elmo_bench.data.formats import read_json_lines

from ._pair import PairClassificationTask, SentencePair

LABELS = ("entailment", "neutral", "contradiction")


class Snli(PairClassificationTask):
    name = "snli"
    description = "SNLI natural language inference (entailment, neutral, contradiction), accuracy"
    files = {
        "train": "snli/snli_1.0_train.jsonl",
        "dev": "snli/snli_1.0_dev.jsonl",
        "test": "snli/snli_1.0_test.jsonl",
    }
    training = {"max_epochs": 10, "patience": 2, "batch_size": 64}

    def read(self, role: str) -> list[SentencePair]:
        examples = read_json_lines(
            self.data_path(role), texts=("sentence1", "sentence2"), label="gold_label",
            labels=LABELS, skip_labels=("-",), tokenizer="spacy",
        )
        return [SentencePair(*example.texts, example.label) for example in examples]
