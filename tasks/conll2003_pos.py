"""CoNLL-2003 part-of-speech probe: the file's 2nd column (PTB tags), linear probe, token accuracy.

A probe of what the frozen representation encodes, not a tagger competing for the state of the art:
one linear softmax classifier per token on one embedder layer (``elmo-layer0``/``1``/``2``), the
learned mix (``elmo``) or GloVe. Selected on dev (testa), scored on test (testb).
"""

from __future__ import annotations

from elmo_bench.data.conll2003 import read_conll2003
from elmo_bench.families.probe import LabelledTokens, TokenProbeTask


class Conll2003Pos(TokenProbeTask):
    name = "conll2003_pos"
    description = "CoNLL-2003 part-of-speech tags (45 PTB tags), linear probe, token accuracy"
    dataset = "conll2003"
    splits = {"train": "train", "dev": "dev", "test": "test"}

    def read(self, role: str) -> list[LabelledTokens]:
        return [
            LabelledTokens(sentence.tokens, sentence.pos)
            for sentence in read_conll2003(self.splits[role], self.data_folders)
        ]
