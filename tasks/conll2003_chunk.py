"""CoNLL-2003 chunking probe: the file's 3rd column (IOB2 after reading), linear probe.

The main score is token accuracy, as for the POS probe; the strict chunk-span F1 (conlleval's
rules, the measure of the CoNLL-2000 chunking task) of the same per-token predictions is reported
beside it. Selected on dev (testa), scored on test (testb).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elmo_bench.data.conll2003 import read_conll2003
from elmo_bench.families.probe import LabelledTokens, TokenProbeTask
from elmo_bench.metrics.ner import span_f1


class Conll2003Chunk(TokenProbeTask):
    name = "conll2003_chunk"
    description = "CoNLL-2003 syntactic chunks (NP, VP, PP, ...), linear probe, token accuracy"
    dataset = "conll2003"
    splits = {"train": "train", "dev": "dev", "test": "test"}
    metric = (
        f"{TokenProbeTask.metric}; also strict chunk-span micro F1 "
        "(elmo_bench.metrics.ner.span_f1, seqeval strict IOB2)"
    )

    def read(self, role: str) -> list[LabelledTokens]:
        return [
            LabelledTokens(sentence.tokens, sentence.chunk)
            for sentence in read_conll2003(self.splits[role], self.data_folders)
        ]

    def score(
        self, examples: Sequence[LabelledTokens], predictions: Sequence[Sequence[str]]
    ) -> dict[str, Any]:
        chunks = span_f1([example.labels for example in examples], predictions).overall
        return {
            **super().score(examples, predictions),
            "chunk_f1": chunks.f1,
            "chunk_precision": chunks.precision,
            "chunk_recall": chunks.recall,
            "chunks": chunks.support,
        }
