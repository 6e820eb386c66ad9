"""biLM pretraining: windows and batches, the training kernels against the core, resume, export, DDP."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from elmo_bench.commands import pretrain as pretrain_command
from elmo_bench.embedders.elmo.chars import batch_to_ids, token_char_ids
from elmo_bench.embedders.elmo.charcnn import CharCnnEncoder
from elmo_bench.embedders.elmo.lstm import ElmoLstm
from elmo_bench.embedders.elmo.weights import load_bilm
from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.data import LmCorpus, Windows, make_batch, plan_batches
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.evaluation import evaluate
from elmo_bench.pretrain.bilm.model import BiLanguageModel
from elmo_bench.pretrain.bilm.run import pretrain, write_run_summary
from elmo_bench.pretrain.bilm.sources import load_pretraining_source
from elmo_bench.pretrain.bilm.trainer import BiLmTrainer, StopRule
from elmo_bench.pretrain.bilm.wikitext import read_wikitext
from elmo_bench.pretrain.bilm_presets import PresetError, get_preset
from elmo_bench.pretrain.charcnn_kernel import encode_distinct_tokens
from elmo_bench.pretrain.lstm_kernel import run_full_length_lstm
from elmo_bench.pretrain.vocab import Vocabulary

WORDS = ("the cat dog sat on a mat and ran to house big small red blue green quickly slowly he she it "
         "saw river city old new went home").split()


def _write_wiki(path: Path, n_documents: int, seed: int = 0) -> Path:
    """A small WikiExtractor shard of random sentences (lengths up to 30 words)."""
    rng = random.Random(seed)
    lines = []
    for doc in range(n_documents):
        lines.append(f'<doc id="{doc}" url="u" title="Doc {doc}">')
        lines.append(f"Doc {doc}")
        for _ in range(3):
            sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 30))).capitalize() + "."
                         for _ in range(4)]
            lines.append(" ".join(sentences))
        lines.append("</doc>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus file plus a cache folder (ELMO_BENCH_CACHE is set for the module's tests)."""
    root = tmp_path_factory.mktemp("bilm")
    _write_wiki(root / "wiki_00", 40)
    previous = os.environ.get("ELMO_BENCH_CACHE")
    os.environ["ELMO_BENCH_CACHE"] = str(root / "cache")
    yield root
    if previous is None:
        os.environ.pop("ELMO_BENCH_CACHE", None)
    else:
        os.environ["ELMO_BENCH_CACHE"] = previous


pytestmark = pytest.mark.usefixtures("one_thread")


def _settings(corpus_dir: Path, **changes) -> DataSettings:
    return DataSettings(str(corpus_dir / "wiki_00"), held_out_fraction=0.2, workers=1, **changes)


def _preset(model: dict | None = None, **train):
    """The tiny preset without periodic evaluation, with ``train`` (and ``model``) fields changed."""
    return get_preset("tiny", {"train": {"eval_every": 0, **train}, "model": model or {}})


# -- windows, batches ------------------------------------------------------------------------


def test_windows_cover_every_target_once():
    lengths = np.array([0, 1, 9, 10, 11, 40])
    windows = Windows.of(lengths, max_window=12)
    assert windows.length.min() >= 2 and windows.length.max() <= 12
    for sentence, n_words in enumerate(lengths):
        mine = np.flatnonzero(windows.sentence == sentence)
        starts, ends = windows.start[mine], windows.start[mine] + windows.length[mine]
        assert starts[0] == 0 and ends[-1] == n_words + 2
        assert np.array_equal(starts[1:], ends[:-1] - 1)  # consecutive windows share one position
        # forward targets: positions 1..n+1, each predicted once
        assert (windows.length[mine] - 1).sum() == n_words + 1


def test_plan_batches_respects_budget_and_is_deterministic():
    lengths = np.random.default_rng(0).integers(2, 13, size=500)
    plan = plan_batches(lengths, 40, np.random.default_rng([1, 0]))
    assert sorted(np.concatenate(plan).tolist()) == list(range(500))
    for members in plan:
        assert len(set(lengths[members].tolist())) == 1
        assert len(members) * lengths[members[0]] <= 40
    again = plan_batches(lengths, 40, np.random.default_rng([1, 0]))
    other_epoch = plan_batches(lengths, 40, np.random.default_rng([1, 1]))
    assert all(np.array_equal(a, b) for a, b in zip(plan, again))
    assert not all(np.array_equal(a, b) for a, b in zip(plan, other_epoch))


def test_make_batch_frames_windows_with_markers():
    vocabulary = Vocabulary(["<S>", "</S>", "<UNK>", "a", "b"])
    corpus = LmCorpus.from_sentences([["a", "b", "zebra"], ["b"]], vocabulary)
    windows = Windows.of(corpus.sentence_lengths, max_window=4)
    # sentence 0 framed: <S> a b zebra </S> -> windows [0, 4) and [3, 5); sentence 1: <S> b </S>
    assert windows.start.tolist() == [0, 3, 0] and windows.length.tolist() == [4, 2, 3]
    first = make_batch(corpus, windows, np.array([0]), vocabulary.bos_id, vocabulary.eos_id)
    assert first.word_ids.tolist() == [[0, 3, 4, 2]]  # zebra is <UNK> as a target ...
    strings = ["<S>", "a", "b", "zebra"]  # ... but the char CNN reads its letters
    assert torch.equal(first.char_ids[first.token_index[0]], torch.tensor([token_char_ids(s) for s in strings]))
    assert first.n_targets == 3
    second = make_batch(corpus, windows, np.array([1]), vocabulary.bos_id, vocabulary.eos_id)
    assert second.word_ids.tolist() == [[2, 1]]
    third = make_batch(corpus, windows, np.array([2]), vocabulary.bos_id, vocabulary.eos_id)
    assert third.word_ids.tolist() == [[0, 4, 1]]


# -- the training kernels equal the core modules ---------------------------------------------


def test_full_length_lstm_matches_core_values_and_gradients():
    # Low clip values, so that both clips act on some states and their gradients are tested too.
    options = dataclasses.replace(get_preset("tiny").model.elmo_options(), cell_clip=0.5, proj_clip=0.1)
    torch.manual_seed(0)
    lstm = ElmoLstm(options)
    with torch.no_grad():
        for bias in lstm.biases:
            bias.uniform_(-1, 1)
    inputs = (3 * torch.randn(5, 9, options.projection_dim)).requires_grad_()
    reference, _ = lstm(inputs, torch.full((5,), 9))
    first_layer = reference[0]
    assert (first_layer.abs() == 0.1).any() and (first_layer.abs() < 0.1).any()
    ours = run_full_length_lstm(lstm, inputs)
    for expected, actual in zip(reference, ours):
        assert torch.allclose(expected, actual, atol=1e-6)
    weights = torch.randn_like(reference[-1])
    expected_grads = torch.autograd.grad((reference[-1] * weights).sum(), [inputs, *lstm.parameters()])
    actual_grads = torch.autograd.grad((ours[-1] * weights).sum(), [inputs, *lstm.parameters()])
    for expected, actual in zip(expected_grads, actual_grads):
        assert torch.allclose(expected, actual, atol=1e-5, rtol=1e-5)


def test_char_cnn_kernel_matches_core_values_and_gradients():
    options = get_preset("tiny").model.elmo_options()
    torch.manual_seed(0)
    encoder = CharCnnEncoder(options)
    # Random ids at every position: no two windows tie, so the max-pool subgradient is unique.
    char_ids = torch.randint(1, 262, (30, 50))
    reference = encoder(char_ids)
    ours = encode_distinct_tokens(encoder, char_ids)
    assert torch.allclose(reference, ours, atol=1e-5)
    weights = torch.randn_like(reference)
    expected_grads = torch.autograd.grad((reference * weights).sum(), list(encoder.parameters()))
    actual_grads = torch.autograd.grad((ours * weights).sum(), list(encoder.parameters()))
    for expected, actual in zip(expected_grads, actual_grads):
        assert torch.allclose(expected, actual, atol=1e-4, rtol=1e-4)


# -- runs: resume, export, errors ------------------------------------------------------------


def _parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_resume_continues_exactly(corpus_dir: Path, tmp_path: Path):
    preset = _preset(max_steps=8, checkpoint_every=3)  # dropout 0.1: RNG state matters
    straight = pretrain(preset, _settings(corpus_dir), tmp_path / "straight")
    pretrain(preset, _settings(corpus_dir), tmp_path / "split", stop=StopRule(stop_after_steps=4))
    checkpoint = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert checkpoint["position"]["step"] == 4
    resumed = pretrain(None, None, tmp_path / "split", resume=True)
    assert resumed.position.step == straight.position.step == 8
    assert resumed.position.tokens_seen == straight.position.tokens_seen
    expected, actual = _parameters(straight.model), _parameters(resumed.model)
    assert all(torch.equal(expected[name], actual[name]) for name in expected)


def test_export_loads_in_allennlp_format_with_the_same_layers(corpus_dir: Path, tmp_path: Path):
    trainer = pretrain(_preset(max_steps=3), _settings(corpus_dir), tmp_path)
    assert Vocabulary.load(tmp_path / "vocab.txt").tokens == trainer.source.vocabulary.tokens
    summary = write_run_summary(tmp_path, tmp_path / "summary" / "run.json", notes=["a note"])
    assert summary["steps"] == 3 and summary["final"]["heldout"]["tokens"] > 0 and summary["notes"] == ["a note"]
    csv_lines = (tmp_path / "summary" / "run.csv").read_text().splitlines()
    assert csv_lines[0].startswith("step,tokens_seen") and len(csv_lines) == 1 + len(summary["curve"])
    loaded = load_bilm(tmp_path / "options.json", tmp_path / "weights.hdf5")
    native = trainer.model.eval()
    sentences = [["the", "cat", "sat"], ["a", "zebra", "ran", "home", "."]]
    with torch.no_grad():
        expected = native.bilm(batch_to_ids(sentences))
        actual = loaded(batch_to_ids(sentences))
        assert torch.allclose(expected.layers, actual.layers, atol=1e-5)
        # The training path computes the same top layer as the inference biLM.
        for row, sentence in enumerate(sentences):
            framed = ["<S>", *sentence, "</S>"]
            char_ids = torch.tensor([token_char_ids(token) for token in framed])
            top = native.top_layer(char_ids, torch.arange(len(framed))[None, :])[0]
            assert torch.allclose(top, actual.layers[-1, row, : len(framed)], atol=1e-5)


def test_resume_rejects_a_vocabulary_that_does_not_fit(corpus_dir: Path, tmp_path: Path):
    pretrain(_preset(max_steps=2), _settings(corpus_dir), tmp_path / "run")
    other_vocab = tmp_path / "other" / "vocab.txt"
    Vocabulary(["<S>", "</S>", "<UNK>", *WORDS[:25]]).save(other_vocab)
    source = load_pretraining_source(_settings(corpus_dir, vocab_file=str(other_vocab)), _preset().vocab)
    trainer = BiLmTrainer(_preset(max_steps=2), source, tmp_path / "run")
    with pytest.raises(PretrainError, match=f"{other_vocab}.*does not fit the checkpoint .*checkpoint.pt"):
        trainer.load_checkpoint()


def test_new_run_refuses_to_overwrite_and_resume_needs_a_checkpoint(corpus_dir: Path, tmp_path: Path):
    with pytest.raises(PretrainError, match="no checkpoint to resume from"):
        pretrain(None, None, tmp_path, resume=True)
    pretrain(_preset(max_steps=1), _settings(corpus_dir), tmp_path)
    with pytest.raises(PretrainError, match="exists: pass --resume"):
        pretrain(_preset(max_steps=1), _settings(corpus_dir), tmp_path)


def test_empty_corpus_error_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n   \n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    pretrain_command.configure(parser)
    args = parser.parse_args(["--preset", "tiny", "--output", str(tmp_path / "out"), "--corpus", str(empty),
                              "--wikitext", "none", "--workers", "1"])
    with pytest.raises(ValueError, match=f"{empty}.*no text"):
        pretrain_command.run(args)


def test_preset_overrides_are_typed_and_checked():
    preset = get_preset("cpu-small", {"train": {"max_steps": 7, "learning_rate": 1},
                                      "model": {"softmax_cutoffs": [10, 20]}, "vocab": {"max_words": None}})
    assert preset.train.max_steps == 7 and preset.model.softmax_cutoffs == (10, 20) and preset.vocab.max_words is None
    assert preset.train.learning_rate == 1.0 and isinstance(preset.train.learning_rate, float)
    with pytest.raises(PresetError, match=r"unknown field 'train.max_stepz' \(did you mean 'max_steps'\?\)"):
        get_preset("tiny", {"train": {"max_stepz": 3}})
    with pytest.raises(PresetError, match=r"train.optimizer must be one of 'adam', 'adagrad', got 'sgd'; "
                                          r"train.max_steps must be an integer >= 1, got 'many'"):
        get_preset("tiny", {"train": {"max_steps": "many", "optimizer": "sgd"}})
    with pytest.raises(PresetError, match=r"model.dropout must be a number in \[0, 1\), got 1.5"):
        get_preset("tiny", {"model": {"dropout": 1.5}})
    with pytest.raises(PresetError, match="biLM override training=.*expected a section"):
        get_preset("tiny", {"training": {"max_steps": 3}})
    with pytest.raises(PresetError, match="unknown biLM preset 'huge'"):
        get_preset("huge")


def test_read_wikitext_retokenizes_like_the_corpus(tmp_path: Path):
    path = tmp_path / "valid.txt"
    path.write_text(" \n = Title = \n It weighs 0 @.@ 7 kg and is red @-@ tipped . It isn 't <unk> . \n",
                    encoding="utf-8")
    assert read_wikitext(path) == [
        ["It", "weighs", "0.7", "kg", "and", "is", "red", "-", "tipped", "."],
        ["It", "is", "n't", "<UNK>", "."],
    ]


def test_model_perplexity_starts_near_the_vocabulary_size():
    vocabulary = Vocabulary(["<S>", "</S>", "<UNK>", *WORDS])
    corpus = LmCorpus.from_sentences([WORDS[:12], WORDS[5:9]], vocabulary)
    torch.manual_seed(0)
    model = BiLanguageModel(get_preset("tiny").model, len(vocabulary))
    result = evaluate(model, corpus, vocabulary, batch_tokens=64, max_window=8)
    assert result.tokens == 12 + 1 + 4 + 1
    assert 0.5 * len(vocabulary) < result.mean < 2 * len(vocabulary)


# -- DDP ---------------------------------------------------------------------------------------

DDP_OVERRIDES = {"model": {"dropout": 0.0}, "max_steps": 3, "batch_tokens": 128}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, corpus_dir: str, output_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world_size), ELMO_BENCH_CACHE=str(Path(corpus_dir) / "cache"))
    torch.set_num_threads(1)
    trainer = pretrain(_preset(**DDP_OVERRIDES), _settings(Path(corpus_dir)), Path(output_dir))
    assert not dist.is_initialized()  # pretrain destroyed the group it started
    torch.save(_parameters(trainer.model), Path(output_dir) / f"rank{rank}.pt")


def test_ddp_two_processes_match_one_process_with_the_same_global_batch(corpus_dir: Path, tmp_path: Path):
    load_pretraining_source(_settings(corpus_dir), _preset().vocab)  # build the caches before the workers start
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(corpus_dir), str(tmp_path / "ddp")), nprocs=2, join=True)
    rank0 = torch.load(tmp_path / "ddp" / "rank0.pt")
    rank1 = torch.load(tmp_path / "ddp" / "rank1.pt")
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)  # replicas stay identical

    # One process accumulating the same two batches per step.
    single = pretrain(_preset(**DDP_OVERRIDES, batches_per_step=2), _settings(corpus_dir), tmp_path / "one")
    expected = _parameters(single.model)
    initial = _parameters(BiLanguageModel(_preset().model, len(single.source.vocabulary)))
    for name in expected:
        assert torch.allclose(rank0[name], expected[name], atol=2e-5), name
    assert any(not torch.allclose(initial[name], expected[name]) for name in expected)  # it did train
    ddp_final = json.loads((tmp_path / "ddp" / "metrics.json").read_text())["final"]["heldout"]
    one_final = json.loads((tmp_path / "one" / "metrics.json").read_text())["final"]["heldout"]
    assert ddp_final["tokens"] == one_final["tokens"]
    assert ddp_final["mean_ppl"] == pytest.approx(one_final["mean_ppl"], rel=1e-4)


@pytest.mark.parametrize("steps", [[0], [7], [3, 3]])
def test_snapshot_steps_must_be_distinct_steps_inside_the_schedule(steps):
    with pytest.raises(PresetError, match="train.snapshot_steps"):
        get_preset("tiny", {"train": {"max_steps": 7, "snapshot_steps": steps}})
    assert get_preset("tiny", {"train": {"max_steps": 7, "snapshot_steps": [2, 6]}}).train.snapshot_steps == (2, 6)
