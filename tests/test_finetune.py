"""Fine-tuning ELMo's biLM: language-model adaptation on a task's text (cached), the unfrozen biLM
that trains with the head, and the head's optimizer groups."""

from __future__ import annotations

import pytest
import torch

from elmo_bench.embedders.elmo.embedder import ElmoEmbedder
from elmo_bench.finetune.lm import LmFinetuneSettings, adapted_bilm
from elmo_bench.finetune.unfrozen import UnfrozenElmo
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.task import TrainingConfig
from elmo_bench.training import UNFROZEN_MODULE, parameter_groups

pytestmark = pytest.mark.usefixtures("one_thread")

TASK_TRAIN = [["who", "wrote", "Hamlet", "?"], ["where", "is", "Paris", "?"], ["who", "won", "the", "war", "?"]] * 20
TASK_DEV = [["who", "wrote", "Hamlet", "?"], ["where", "is", "Rome", "?"]]
SETTINGS = LmFinetuneSettings(steps=8, learning_rate=1e-2, warmup_steps=1, batch_tokens=256)


def test_lm_finetuning_adapts_to_the_task_text_and_is_cached(tiny_pretrain_run, tmp_path):
    first = adapted_bilm(tiny_pretrain_run, TASK_TRAIN, TASK_DEV, SETTINGS, tmp_path)
    record = first.record
    assert record["cache"] == "computed" and record["train_tokens"] == 4 * 20 + 4 * 20 + 5 * 20
    # The dev questions resemble the training questions, so adaptation must lower their perplexity.
    assert record["dev_perplexity_after"]["mean_ppl"] < 0.8 * record["dev_perplexity_before"]["mean_ppl"]
    assert not (first.options.parent / "checkpoint.pt").exists()

    original = ElmoEmbedder.from_files(
        tiny_pretrain_run / "options.json", tiny_pretrain_run / "weights.hdf5", dtype="bfloat16",
        max_batch_tokens=512,
    )
    adapted = original.with_weights(first.options, first.weights)
    assert (adapted.dtype, adapted.max_batch_tokens) == ("bfloat16", 512)  # run as the original
    assert adapted.fingerprint == ElmoEmbedder.from_files(
        first.options, first.weights, dtype="bfloat16"
    ).fingerprint
    sentence = [["who", "wrote", "Hamlet", "?"]]
    assert not torch.allclose(adapted.embed(sentence).activations, original.embed(sentence).activations)

    again = adapted_bilm(tiny_pretrain_run, TASK_TRAIN, TASK_DEV, SETTINGS, tmp_path)
    assert again.record["cache"] == "hit" and again.weights == first.weights
    other = adapted_bilm(tiny_pretrain_run, TASK_TRAIN[:-1], TASK_DEV, SETTINGS, tmp_path)
    assert other.record["cache"] == "computed" and other.weights != first.weights


def test_lm_finetuning_needs_the_pretraining_checkpoint(tiny_pretrain_run, tmp_path):
    export_only = tmp_path / "export"
    export_only.mkdir()
    for name in ("options.json", "weights.hdf5", "vocab.txt"):
        (export_only / name).write_bytes((tiny_pretrain_run / name).read_bytes())
    with pytest.raises(PretrainError, match=r"export/checkpoint\.pt: not found.*checkpoint\.pt and vocab\.txt"):
        adapted_bilm(export_only, TASK_TRAIN, TASK_DEV, SETTINGS, tmp_path / "cache")
    with pytest.raises(PretrainError, match="no training text"):
        adapted_bilm(tiny_pretrain_run, [[]], TASK_DEV, SETTINGS, tmp_path / "cache")


def test_unfrozen_elmo_gives_the_frozen_layers_and_trains(tiny_elmo_dir):
    frozen = ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
    sentences = [["The", "cat", "sat", "."], ["Hello"], ["a", "b", "c", "d", "e", "f"]]
    unfrozen = UnfrozenElmo(frozen.bilm)
    layers = unfrozen(sentences)
    expected = frozen.embed(sentences).activations
    assert layers.shape == expected.shape == (3, 3, 6, 32)
    torch.testing.assert_close(layers, expected, atol=1e-5, rtol=1e-4)
    layers.pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in unfrozen.parameters())
    assert all(not p.requires_grad for p in frozen.bilm.parameters())  # the original stays frozen
    with pytest.raises(ValueError, match="at least one token"):
        unfrozen([["a"], []])


def test_an_unfrozen_embedder_trains_at_its_own_learning_rate():
    head = torch.nn.Sequential(torch.nn.Linear(3, 2))
    head.add_module(UNFROZEN_MODULE, torch.nn.ModuleDict({"elmo": torch.nn.Linear(2, 2)}))
    groups = parameter_groups(head, TrainingConfig(learning_rate=1e-3, embedder_learning_rate=1e-5))
    assert [(len(group["params"]), group["lr"]) for group in groups] == [(2, 1e-3), (2, 1e-5)]
    assert len(parameter_groups(torch.nn.Linear(3, 2), TrainingConfig())) == 1
