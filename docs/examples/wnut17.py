"""WNUT-17 emerging entities: NER on noisy user text (tweets, Reddit, YouTube, StackExchange).

Six entity types (person, location, group, corporation, product, creative-work) in IOB2, scored by
strict span F1. The files are those of github.com/leondz/emerging_entities_17, kept beside this
module in ``wnut17/``: ``token<TAB>tag`` lines; the training file separates sentences with lines
holding only a tab, and a few tokens of dev and test are a lone U+FE0F (an emoji variation
selector, tagged ``O``), which the reader drops.
"""

from __future__ import annotations

from elmo_bench.data.formats import read_columns
from elmo_bench.families.tagging import TaggedSentence, TaggingTask


class Wnut17(TaggingTask):
    name = "wnut17"
    description = "WNUT-17 emerging entities in social media text, strict span F1"
    files = {
        "train": "wnut17/wnut17train.conll",
        "dev": "wnut17/emerging.dev.conll",
        "test": "wnut17/emerging.test.annotated",
    }
    head = {"hidden_size": 200, "lstm_layers": 2, "dropout": 0.5}
    training = {"max_epochs": 30, "patience": 5, "batch_size": 32, "learning_rate": 0.001}

    def read(self, role: str) -> list[TaggedSentence]:
        sentences = read_columns(self.data_path(role), separator="\t", invisible_tokens="drop")
        return [TaggedSentence(sentence.tokens, sentence.tags) for sentence in sentences]
