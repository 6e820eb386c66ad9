"""Held-out perplexity of the biLM, forward and backward (the ranks of a run share the work)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from elmo_bench.pretrain.bilm.data import LmCorpus, Windows, make_batch, plan_batches
from elmo_bench.pretrain.bilm.distributed import DistributedContext
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.model import BiLanguageModel
from elmo_bench.pretrain.vocab import Vocabulary


@dataclass(frozen=True)
class Perplexity:
    """Perplexities of the two directions over ``tokens`` targets each; ``mean`` is their
    arithmetic mean, as the ELMo paper reports."""

    forward: float
    backward: float
    tokens: int

    @property
    def mean(self) -> float:
        return (self.forward + self.backward) / 2

    def to_dict(self) -> dict[str, float]:
        return {"forward_ppl": self.forward, "backward_ppl": self.backward, "mean_ppl": self.mean, "tokens": self.tokens}


@torch.no_grad()
def evaluate(
    model: BiLanguageModel,
    corpus: LmCorpus,
    vocabulary: Vocabulary,
    batch_tokens: int,
    max_window: int,
    context: DistributedContext = DistributedContext(),
) -> Perplexity:
    """Forward and backward perplexity of ``corpus`` (eval mode, no dropout; ranks share the work)."""
    windows = Windows.of(corpus.sentence_lengths, max_window)
    batches = plan_batches(windows.length, batch_tokens, rng=None)
    was_training = model.training
    model.eval()
    sums = [0.0, 0.0, 0.0]
    for members in batches[context.rank :: context.world_size]:
        batch = make_batch(corpus, windows, members, vocabulary.bos_id, vocabulary.eos_id).to(context.device)
        loss = model(batch.char_ids, batch.token_index, batch.word_ids)
        sums[0] += loss.forward_nll.item()
        sums[1] += loss.backward_nll.item()
        sums[2] += loss.n_targets
    model.train(was_training)
    forward_nll, backward_nll, n_targets = context.all_reduce_sum(sums)
    if n_targets == 0:
        raise PretrainError("cannot evaluate perplexity on an empty corpus")
    return Perplexity(math.exp(forward_nll / n_targets), math.exp(backward_nll / n_targets), int(n_targets))
