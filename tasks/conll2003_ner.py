"""CoNLL-2003 English NER: BiLSTM-CRF tagger, strict span F1; dev = testa, test = testb.

The reader converts the files' IOB1 tags to IOB2. The model is selected on dev (testa) and scored on
test (testb), with per-type (PER, LOC, ORG, MISC) scores in the result.
"""

from __future__ import annotations

from elmo_bench.data.conll2003 import read_conll2003
from elmo_bench.families.tagging import TaggedSentence, TaggingTask


class Conll2003Ner(TaggingTask):
    name = "conll2003_ner"
    description = "CoNLL-2003 English named entities (PER, LOC, ORG, MISC), strict span F1"
    dataset = "conll2003"
    splits = {"train": "train", "dev": "dev", "test": "test"}
    head = {"hidden_size": 200, "lstm_layers": 2, "dropout": 0.5}
    training = {"max_epochs": 30, "patience": 5, "batch_size": 32, "learning_rate": 0.001}

    def read(self, role: str) -> list[TaggedSentence]:
        return [
            TaggedSentence(sentence.tokens, sentence.ner)
            for sentence in read_conll2003(self.splits[role], self.data_folders)
        ]
