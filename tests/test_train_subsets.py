"""Training-split fractions: nested, seed-independent subsets, and cell fingerprints that do not
move for a cell on a whole split (a long benchmark resumes on those cells).

The pinned fingerprints were computed with the code of main at 5db3e5d, before fractions existed,
on the smoke data (``write_smoke_data``) with three fixed source files.
"""

from __future__ import annotations

import random

import pytest

from elmo_bench.data.conll2003 import read_conll2003
from elmo_bench.data.subsets import nested_subset, passes_per_epoch, subset_size
from elmo_bench.paths import DataFolders
from elmo_bench.runner.benchmark import flat_sources
from elmo_bench.runner.grid import plan_cells
from elmo_bench.runner.identity import cell_fingerprint
from elmo_bench.runner.presets import resolve_preset
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.settings import PresetError
from elmo_bench.task import discover_tasks

PINNED = {
    ("smoke", "conll2003_ner.glove.seed1"): "e3342b1f4ef7e52c4d618b0fb85ec14d38064bb0ec3712be451bec177cc8ed66",
    ("smoke", "conll2003_ner.elmo.seed1"): "7a93bb4f50be6b5370fb6c882f1ab2a33fe65c2f09202722d7ba45da86e3fb76",
    ("smoke", "trec6.glove.seed1"): "575a20d232db05b6d6be24fbd3e5c22eaf135a4b863a4c21e8270983c8a90a3a",
    ("smoke", "trec6.elmo.seed1"): "d624706d125539b64978f78ee817d41dc42f3f515e3c2d345ec9065648b8c3a8",
    ("standard", "conll2003_ner.glove.seed1"): "7e69fc9d9309fc4ab4ad619bcfe21bb5f962a4ae5786ade71fe0455439549b3f",
    ("standard", "conll2003_ner.elmo+glove.seed1"): "99792d10b2494e3b1b5073ff9d21c2c480255946f28627bb4a049ea44d5f5868",
    ("standard", "conll2003_ner.elmo.seed1"): "bc740946879c5f79313cc11c99fafc51fa9d7e4408d632cf1e350475f2a31052",
    ("standard", "conll2003_ner.elmo-layer0.seed1"): "ac34d53607b03c64e8a2e64b55849b2b20372607f6ed07368249c6c1be74b7ae",
    ("standard", "trec6.glove.seed1"): "be661239295ea935255b273f0911391af31f122a1c7e00eb244b47059c13e498",
    ("standard", "trec6.elmo+glove.seed1"): "499d5575fabf695a4dc67474ef0512a01774c7d6538b4286b4560214935a332b",
    ("standard", "trec6.elmo.seed1"): "d61c2283585098620d05769525640fb456f523de2c3c690a41538cdeb18a36e9",
    ("standard", "trec6.elmo-layer0.seed1"): "f900fc4c6c900a2c9b21a9ba1004c68a5dde67b3bcc14901d1d8a1a8c30ece57",
}


PINNED_FIVE_PERCENT = {  # main at 530dc0a, before subsets had strata
    "conll2003_ner.glove.seed1": "64685e17932d36f6005d90254af6888c04f9230d31151e508a14a82f1306712c",
    "conll2003_ner.elmo+glove.seed1": "84450032e49b18f0b447cd0873d2296e4fe4ce5753865410e5b8fc7d0c926881",
    "trec6.glove.seed1": "44c04e10c66ff3d34a40380005cd4b32c9eb211fa6a91f41b2a39a5bafef0bb3",
}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """``plan(preset, overrides) -> {label: fingerprint}`` on the smoke data, CoNLL and TREC."""
    root = tmp_path_factory.mktemp("fingerprints")
    data = write_smoke_data(root / "data")
    (root / "vectors.txt").write_text("the 0.1 0.2\n")
    (root / "options.json").write_text("{}")
    (root / "weights.hdf5").write_bytes(b"w")
    files = {"embedder.glove.vectors": str(root / "vectors.txt"),
             "embedder.elmo.options": str(root / "options.json"),
             "embedder.elmo.weights": str(root / "weights.hdf5")}

    def plan(preset, overrides=None):
        settings = resolve_preset(preset, {**files, **(overrides or {})})
        settings["tasks"], settings["seeds"] = ["conll2003_ner", "trec6"], [1]
        specs = plan_cells(settings, discover_tasks(), flat_sources(settings, "cpu"),
                           root / "cells", [], data, root / "cache", "cpu")
        return {spec.label: spec for spec in specs}

    return plan


@pytest.mark.parametrize("fraction", [None, 1, 1.0])
def test_cells_on_the_whole_training_split_keep_their_fingerprints(planned, fraction):
    for preset in ("smoke", "standard"):
        specs = planned(preset, {"train_fraction": fraction})
        expected = {label: value for (name, label), value in PINNED.items() if name == preset}
        assert {label: spec.fingerprint for label, spec in specs.items()} == expected
        assert all(spec.train_fraction is None for spec in specs.values())


def test_a_fraction_below_one_is_part_of_the_fingerprint(planned):
    whole = planned("standard")
    by_fraction = {f: planned("standard", {"train_fraction": f}) for f in (0.05, 0.25)}
    for label, spec in whole.items():
        assert by_fraction[0.05][label].train_fraction == 0.05
        fingerprints = {spec.fingerprint, *(specs[label].fingerprint for specs in by_fraction.values())}
        assert len(fingerprints) == 3


def test_label_strata_move_only_the_classification_cells_on_a_fraction(planned):
    specs = planned("standard", {"train_fraction": 0.05})
    for label in ("conll2003_ner.glove.seed1", "conll2003_ner.elmo+glove.seed1"):
        assert specs[label].fingerprint == PINNED_FIVE_PERCENT[label]  # NER subsets have no strata
    # TREC's subsets now keep each label's share: its 5% cells are new ones
    assert specs["trec6.glove.seed1"].fingerprint != PINNED_FIVE_PERCENT["trec6.glove.seed1"]


def test_the_fingerprint_function_is_unchanged_without_a_fraction():
    arguments = ("trec6", "glove", 1, {"options": {}, "head": {"hidden_size": 8}, "training": {"max_epochs": 2}},
                 {"glove": {"vectors": {"sha256": "ab"}}}, {"train": ["cd"], "dev": ["cd"], "test": ["ef"]})
    pinned = "776074955e6cbdfee12b4c09ea8e4f3782c053d29c141a054a90448950bf753c"
    assert cell_fingerprint(*arguments) == pinned == cell_fingerprint(*arguments, None)
    assert cell_fingerprint(*arguments, 0.5) != pinned


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, "half", True])
def test_a_bad_fraction_is_named_before_any_cell_runs(planned, bad):
    with pytest.raises(PresetError, match=rf"train_fraction must be a number in \(0, 1\].*{bad!r}"):
        planned("smoke", {"train_fraction": bad})


def sentences(tmp_path):
    write_smoke_data(tmp_path)
    return read_conll2003("train", DataFolders(tmp_path, tmp_path / "cache"))


def test_subsets_are_nested_deterministic_and_independent_of_file_order(tmp_path):
    train = sentences(tmp_path)
    tokens = lambda sentence: (sentence.tokens,)  # noqa: E731
    fractions = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)
    subsets = [nested_subset(train, f, tokens) for f in fractions]
    position = {id(example): index for index, example in enumerate(train)}
    for fraction, subset in zip(fractions, subsets, strict=True):
        assert len(subset) == subset_size(len(train), fraction) >= 1
        positions = [position[id(example)] for example in subset]
        assert positions == sorted(positions)  # file order kept
    for smaller, larger in zip(subsets, subsets[1:]):
        assert set(map(id, smaller)) <= set(map(id, larger))
    assert subsets[-1] == list(train)
    shuffled = list(train)
    random.Random(7).shuffle(shuffled)
    for fraction, subset in zip(fractions, subsets, strict=True):
        again = nested_subset(shuffled, fraction, tokens)
        # the same sentences (a repeated sentence's copies are interchangeable)
        assert sorted(map(repr, again)) == sorted(map(repr, subset))


def test_repeated_sentences_are_told_apart_and_sizes_round_up():
    examples = [("a",), ("a",), ("b",), ("c",)] * 25  # 100 examples, many repeats
    half = nested_subset(examples, 0.5, lambda example: (example,))
    assert len(half) == 50 and subset_size(100, 0.29) == 29 and subset_size(3, 0.01) == 1
    assert subset_size(0, 0.5) == 0


def test_an_epoch_on_a_small_subset_covers_at_least_a_quarter_of_the_split():
    assert [passes_per_epoch(f) for f in (0.01, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0)] == [25, 5, 3, 2, 1, 1, 1]
    with pytest.raises(ValueError, match="train_fraction must be a number in"):
        passes_per_epoch(0)


def test_stratified_subsets_keep_each_labels_share_and_stay_nested():
    rng = random.Random(3)
    # 1,000 examples, 64% "neg": drawn by hash alone, a small subset's balance wanders
    examples = [(f"text {i} {rng.random()}", "neg" if i % 25 < 16 else "pos") for i in range(1000)]
    tokens = lambda example: (tuple(example[0].split()),)  # noqa: E731
    label = lambda example: example[1]  # noqa: E731
    previous: set = set()
    for fraction in (0.007, 0.01, 0.05, 0.1, 0.25, 0.5):
        subset = nested_subset(examples, fraction, tokens, label)
        assert len(subset) == subset_size(1000, fraction)
        negatives = sum(1 for example in subset if example[1] == "neg")
        assert abs(negatives - 0.64 * len(subset)) <= 1, (fraction, negatives, len(subset))
        assert previous <= set(subset)
        previous = set(subset)
    shuffled = list(examples)
    rng.shuffle(shuffled)
    assert set(nested_subset(shuffled, 0.05, tokens, label)) == set(nested_subset(examples, 0.05, tokens, label))
    # within a label, the order is the content-hash order of the unstratified draw
    negatives = [example for example in examples if example[1] == "neg"]
    first_negatives = [e for e in nested_subset(examples, 0.1, tokens, label) if e[1] == "neg"]
    assert set(first_negatives) == set(nested_subset(negatives, len(first_negatives) / len(negatives), tokens))
