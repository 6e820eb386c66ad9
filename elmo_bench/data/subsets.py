"""Nested, deterministic subsets of a training split, for sample-efficiency curves.

Every example gets a rank from the sha256 of its token sequences (a CoNLL sentence, an SST
sentence, a TREC question; the n-th repeat of the same sequences is told apart by its count), and
a fraction ``f`` keeps the ``ceil(f * n)`` examples of lowest rank, in their original order. The
order depends on the examples' content only (not on the seed, nor on where an example sits in the
file), so the 1% subset is inside the 5% subset, which is inside the 10% one, and every seed of a
cell trains on the same examples.

A task may name strata (a classification label, ``Task.subset_strata``): the hash then ranks
examples within their stratum, and the whole split is ordered by each example's place within its
stratum, ``(rank + 1/2) / stratum size``, so that any first ``k`` of the order holds each stratum's
share of the split to within one example, and the subsets stay nested.

An epoch on a small subset passes over it several times (:func:`passes_per_epoch`): one pass over
1% of CoNLL-2003 is 5 updates, and with dev checked after each, early stopping ended such a head
after 30 updates with its training loss still falling steeply (32 to 10) and dev F1 0.01, a head
that had not begun to learn rather than one that had converged.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

Example = TypeVar("Example")

SUBSET_SALT = "elmo-bench train subset v1"
"""Part of every rank's hash: changing it would draw other subsets (and must change the cells'
fingerprints, which hold the fraction only, not the rule)."""

SUBSET_RULE = (
    "the ceil(fraction * n) training examples of lowest sha256(salt, token sequences, repeat "
    "count), in file order; nested across fractions, the same for every seed"
)
"""How a subset is drawn, recorded in the results of cells that train on one."""

STRATIFIED_SUBSET_RULE = (
    "within each {strata}, examples ranked by sha256(salt, token sequences, repeat count); the "
    "ceil(fraction * n) examples first in the order of (rank + 1/2) / {strata} count, then the "
    "hash, in file order: each {strata} keeps its share of the split to within one example; "
    "nested across fractions, the same for every seed"
)
"""How a subset is drawn for a task with strata (``{strata}``: their name, e.g. ``label``)."""


EPOCH_SHARE = 0.25
"""An epoch on a subset covers at least this share of the whole split's examples."""

EPOCH_RULE = (
    "an epoch passes over the subset ceil(0.25 / fraction) times, at least once, each pass "
    "reshuffled: dev is checked, and patience counted, at least every quarter of the whole "
    "split's examples"
)
"""How epochs on a subset are formed, recorded beside :data:`SUBSET_RULE`."""


def passes_per_epoch(fraction: float) -> int:
    """How often one epoch passes over a ``fraction`` subset: ``ceil(EPOCH_SHARE / fraction)``,
    at least 1 (1% -> 25, 5% -> 5, 10% -> 3, 25% and up -> 1).

    Raises:
        ValueError: ``fraction`` is not in (0, 1].
    """
    # The tolerance keeps float noise (0.25 / 0.05 = 5.000...01) from adding a pass.
    return max(1, math.ceil(EPOCH_SHARE / check_fraction(fraction) - 1e-9))


def check_fraction(fraction: Any, what: str = "train_fraction") -> float:
    """``fraction`` as a float in (0, 1].

    Raises:
        ValueError: not a number in (0, 1] (the message names ``what`` and the value).
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"{what} must be a number in (0, 1] (e.g. 0.05 for 5%), got {fraction!r}")
    return float(fraction)


def subset_ranks(
    examples: Sequence[Example],
    token_sequences: Callable[[Example], Sequence[Sequence[str]]],
    stratum: Callable[[Example], Hashable] | None = None,
) -> list[int]:
    """``[n]``: each example's position (0 first) in the subset order of ``examples``: by content
    hash, or with ``stratum``, by place within its stratum (see the module docstring)."""
    seen: Counter[str] = Counter()
    keys = []
    for example in examples:
        text = json.dumps([list(sequence) for sequence in token_sequences(example)], ensure_ascii=False)
        repeat = seen[text]
        seen[text] += 1
        digest = hashlib.sha256(f"{SUBSET_SALT}\n{repeat}\n{text}".encode("utf-8")).hexdigest()
        keys.append(digest)
    by_hash = sorted(range(len(examples)), key=lambda index: (keys[index], index))
    if stratum is None:
        order = by_hash
    else:
        # Each example's quantile within its stratum; IEEE division is correctly rounded, so
        # equal quantiles of different strata compare equal and the hash breaks the tie.
        strata: dict[Hashable, list[int]] = {}
        for index in by_hash:
            strata.setdefault(stratum(examples[index]), []).append(index)
        quantile = {index: (2 * rank + 1) / (2 * len(members))
                    for members in strata.values() for rank, index in enumerate(members)}
        order = sorted(range(len(examples)), key=lambda index: (quantile[index], keys[index], index))
    ranks = [0] * len(examples)
    for rank, index in enumerate(order):
        ranks[index] = rank
    return ranks


def subset_size(n_examples: int, fraction: float) -> int:
    """``ceil(fraction * n)``, at least 1 (for a non-empty split) and at most ``n``."""
    fraction = check_fraction(fraction)
    # The tolerance keeps float noise (0.29 * 100 = 28.999...) from adding an example.
    return min(n_examples, max(1 if n_examples else 0, math.ceil(fraction * n_examples - 1e-9)))


def nested_subset(
    examples: Sequence[Example],
    fraction: float,
    token_sequences: Callable[[Example], Sequence[Sequence[str]]],
    stratum: Callable[[Example], Hashable] | None = None,
) -> list[Example]:
    """The first :func:`subset_size` examples of the subset order (:func:`subset_ranks`), in
    their original order; ``fraction`` 1 returns every example.

    Raises:
        ValueError: ``fraction`` is not in (0, 1].
    """
    keep = subset_size(len(examples), fraction)
    if keep == len(examples):
        return list(examples)
    ranks = subset_ranks(examples, token_sequences, stratum)
    return [example for example, rank in zip(examples, ranks, strict=True) if rank < keep]
