"""The two-level bootstrap against a case worked by hand, Holm against a textbook example, and the
p-value's resolution floor."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest

from elmo_bench.metrics.per_example import classification_record, outcomes_from_record
from elmo_bench.report.render import p_value, rounded_up
from elmo_bench.report.significance import (
    holm,
    p_resolution,
    two_level_differences,
    two_sided_p,
)

# Which of 3 test examples each seed's head got right: A ran seeds 1 and 2, B ran seeds 1 and 2.
A_RIGHT = ((1, 1, 0), (1, 1, 1))
B_RIGHT = ((0, 1, 1), (1, 0, 0))


def outcomes(right):
    gold = ["pos"] * len(right)
    return outcomes_from_record(
        classification_record(gold, ["pos" if hit else "neg" for hit in right])
    )


def exact_distribution() -> dict[Fraction, int]:
    """Δ* -> how many of the equally likely two-level draws give it: 3^3 example draws (shared
    by A and B) x 2^2 draws of A's seeds x 2^2 draws of B's seeds = 432."""
    counts: dict[Fraction, int] = {}
    for examples in itertools.product(range(3), repeat=3):
        def accuracy(right):
            return Fraction(sum(right[i] for i in examples), 3)

        for a_seeds in itertools.product(A_RIGHT, repeat=2):
            for b_seeds in itertools.product(B_RIGHT, repeat=2):
                delta = (sum(map(accuracy, a_seeds)) - sum(map(accuracy, b_seeds))) / 2
                counts[delta] = counts.get(delta, 0) + 1
    return counts


def quantile(counts: dict[Fraction, int], level: float) -> Fraction:
    """The smallest Δ whose cumulative probability reaches ``level``."""
    total, cumulative = sum(counts.values()), 0
    for delta in sorted(counts):
        cumulative += counts[delta]
        if cumulative / total >= level:
            return delta
    raise AssertionError("unreachable")


def test_the_enumeration_is_the_case_worked_by_hand():
    counts = exact_distribution()
    assert sum(counts.values()) == 432
    # Δ* <= 0 in 76 of 432 draws (e.g. Δ* = -1: examples (3, 3, 3), A draws seed 1 twice,
    # B draws seed 1 twice: A gets 0 right, B 3); Δ* >= 0 in 394.
    assert sum(n for delta, n in counts.items() if delta <= 0) == 76
    assert sum(n for delta, n in counts.items() if delta >= 0) == 394
    assert counts[Fraction(-1)] == 1
    # The 2.5% quantile falls inside the atom at -1/3 (cumulative 8/432 = 0.019 before it,
    # 20/432 = 0.046 with it) and the 97.5% one inside the atom at 1 (0.965 before it).
    assert quantile(counts, 0.025) == Fraction(-1, 3) and quantile(counts, 0.975) == 1


def test_two_level_bootstrap_matches_the_exact_enumeration():
    counts = exact_distribution()
    total = sum(counts.values())
    not_above = sum(n for delta, n in counts.items() if delta <= 0) / total
    not_below = sum(n for delta, n in counts.items() if delta >= 0) / total
    exact_p = min(1.0, 2 * min(not_above, not_below))  # 2 x 76/432 = 0.352
    resamples = 40_000
    differences = two_level_differences(
        [outcomes(right) for right in A_RIGHT],
        [outcomes(right) for right in B_RIGHT],
        "accuracy",
        resamples,
        np.random.default_rng(5),
    )
    # Monte-Carlo standard error of the p-value: 2 sqrt(q (1 - q) / R) = 0.0038; allow 5 of them.
    assert two_sided_p(differences) == pytest.approx(exact_p, abs=0.019)
    # Every draw's probability: Δ*'s resampled distribution is the enumerated one.
    values, frequencies = np.unique(np.round(differences * 6).astype(int), return_counts=True)
    for value, frequency in zip(values, frequencies, strict=True):
        assert frequency / resamples == pytest.approx(
            counts[Fraction(int(value), 6)] / total, abs=0.006
        )
    low, high = np.percentile(differences, [2.5, 97.5])
    assert (low, high) == (pytest.approx(-1 / 3), pytest.approx(1.0))


def test_examples_are_drawn_once_for_both_sides():
    """A and B identical: with one example draw shared by both, every Δ* is exactly 0."""
    same = [outcomes((1, 0, 1)), outcomes((0, 1, 1))]
    differences = two_level_differences(same[:1], same[:1], "accuracy", 500, np.random.default_rng(0))
    assert np.all(differences == 0) and two_sided_p(differences) == 1.0


def test_holm_against_a_textbook_example():
    # Sorted 0.01, 0.03, 0.04: 3 x 0.01 = 0.03; 2 x 0.03 = 0.06; 1 x 0.04 = 0.04 -> max 0.06.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.8]) == [1.0, 1.0]  # capped at 1
    assert holm([0.02]) == [0.02] and holm([]) == []


def test_p_is_never_below_the_resolution_and_never_printed_below_it():
    resamples = 10_000
    all_above = np.full(resamples, 0.01)
    assert two_sided_p(all_above) == p_resolution(resamples) == 2 / 10_001
    assert two_sided_p(-all_above) == 2 / 10_001
    one_at_zero = np.concatenate([[0.0], all_above[1:]])
    assert two_sided_p(one_at_zero) == 4 / 10_001
    assert p_value(2 / 10_001, p_resolution(resamples)) == "< 0.0002"
    assert p_value(2 / 2_001, p_resolution(2_000)) == "< 0.001"
    assert p_value(6 / 10_001, p_resolution(resamples)) == "0.0006"
    assert p_value(0.0566, p_resolution(resamples)) == "0.0566"
    assert p_value(None, None) == "–"
    assert [rounded_up(x) for x in (0.00019998, 0.0009995, 0.00399, 0.02)] == [
        "0.0002", "0.001", "0.004", "0.02",
    ]
