"""Language-model fine-tuning of a pretrained biLM on a task's own training text.

Domain adaptation before freezing: the biLM of a pretraining run (``elmo-bench pretrain``: its
``checkpoint.pt`` holds the softmax that the exported ``weights.hdf5`` lacks) keeps training on its
language-model objective, over the task's training sentences only, with a fresh Adam optimizer
and a short warm-up + cosine schedule; the task's dev sentences are the held-out text on which the
perplexity before and after is measured. Test text is never seen. The result is an ordinary
``options.json`` + ``weights.hdf5`` pair that ELMo then embeds the task with, frozen.

The training loop is the pretraining one (:class:`~elmo_bench.pretrain.bilm.trainer.BiLmTrainer`) with the
schedule replaced, so the batches, losses and export are the same code.

Adapted biLMs are cached under ``<cache>/lm-finetuned/<key>``, ``key`` a digest of the checkpoint
file, the training and dev sentences and the settings: a changed input never returns a stale
biLM. An adaptation is built in a temporary folder renamed into place, under a file lock beside
it (a second process wanting the same one waits, then reads it); a run is short (minutes), so a
killed one is not resumed: the next call removes its temporary folder and starts again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elmo_bench.atomic import building_folder, writing_once
from elmo_bench.cache import cache_key
from elmo_bench.data.sources import file_sha256
from elmo_bench.digest import content_digest
from elmo_bench.pretrain.bilm.checkpoint import CHECKPOINT_NAME, read_checkpoint
from elmo_bench.pretrain.bilm.data import LmCorpus, PretrainingSource
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.trainer import BiLmTrainer
from elmo_bench.pretrain.bilm_presets import BiLmPreset
from elmo_bench.pretrain.vocab import Vocabulary
from elmo_bench.settings import check_fields, integer, number

# Bump when a change here changes the adapted weights (part of the cache key).
ADAPTATION_VERSION = 1


@dataclass(frozen=True)
class LmFinetuneSettings:
    """The schedule of the fine-tuning.

    Attributes:
        steps: optimizer steps (each ``batch_tokens`` positions of the task's training text).
        learning_rate: Adam's peak step size (pretraining ends at a tenth of its 2e-3 peak).
        warmup_steps: linear warm-up before the cosine decay to a tenth of the peak.
        batch_tokens: positions per step.
        seed: batch order and dropout.
    """

    steps: int = integer(150, minimum=1)
    learning_rate: float = number(5e-4, above=0)
    warmup_steps: int = integer(10, minimum=0)
    batch_tokens: int = integer(4096, minimum=1)
    seed: int = integer(1, minimum=1)

    def __post_init__(self) -> None:
        check_fields(self, "lm_finetune", PretrainError)


@dataclass(frozen=True)
class AdaptedBiLm:
    """A biLM fine-tuned on a task's text.

    Attributes:
        options: its ``options.json``.
        weights: its ``weights.hdf5``.
        record: what was done: settings, token counts, seconds, dev perplexity before and after,
            and whether it came from the cache.
    """

    options: Path
    weights: Path
    record: dict[str, Any]


def _run_files(pretrain_run: Path) -> tuple[Path, Path]:
    checkpoint, vocabulary = pretrain_run / CHECKPOINT_NAME, pretrain_run / "vocab.txt"
    for path in (checkpoint, vocabulary):
        if not path.is_file():
            raise PretrainError(
                f"{path}: not found; language-model fine-tuning needs a pretraining run folder "
                f"(elmo-bench pretrain --output DIR) with {CHECKPOINT_NAME} and vocab.txt"
            )
    return checkpoint, vocabulary


def finetune_language_model(
    pretrain_run: Path,
    train_sentences: Sequence[Sequence[str]],
    dev_sentences: Sequence[Sequence[str]],
    settings: LmFinetuneSettings,
    output_dir: Path,
) -> dict[str, Any]:
    """Fine-tune the biLM of ``pretrain_run`` on ``train_sentences``; export it to ``output_dir``.

    Returns:
        The record of :attr:`AdaptedBiLm.record` (without the cache flag).

    Raises:
        PretrainError: a missing or unreadable checkpoint or vocabulary, a vocabulary that does
            not fit the checkpoint, or no training text.
    """
    checkpoint_path, vocabulary_path = _run_files(pretrain_run)
    checkpoint = read_checkpoint(checkpoint_path)
    vocabulary = Vocabulary.load(vocabulary_path)
    if vocabulary.fingerprint != checkpoint["vocabulary_fingerprint"]:
        raise PretrainError(
            f"{vocabulary_path}: this vocabulary (fingerprint {vocabulary.fingerprint}) is not the one "
            f"{checkpoint_path} was trained with ({checkpoint['vocabulary_fingerprint']})"
        )
    train = LmCorpus.from_sentences(train_sentences, vocabulary)
    if train.n_tokens == 0:
        raise PretrainError("language-model fine-tuning got no training text (every sentence is empty)")
    dev = LmCorpus.from_sentences(dev_sentences, vocabulary)
    pretrained = BiLmPreset.from_dict(checkpoint["preset"])
    schedule = dataclasses.replace(
        pretrained.train,
        learning_rate=settings.learning_rate,
        warmup_steps=settings.warmup_steps,
        max_steps=settings.steps,
        batch_tokens=settings.batch_tokens,
        batches_per_step=1,
        seed=settings.seed,
        eval_every=0,
        checkpoint_every=settings.steps,
        log_every=max(1, settings.steps // 10),
    )
    preset = dataclasses.replace(pretrained, name=f"{pretrained.name}+lm-finetune", train=schedule)
    source = PretrainingSource(
        train, dev if dev.n_tokens else None, vocabulary, vocabulary_path,
        description={"train_tokens": train.n_tokens, "dev_tokens": dev.n_tokens},
    )
    trainer = BiLmTrainer(preset, source, output_dir)
    trainer.model.load_state_dict(checkpoint["model"])
    before = trainer.evaluate(dev).to_dict() if dev.n_tokens else None
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    (output_dir / CHECKPOINT_NAME).unlink()  # optimizer state: only the export is used
    after = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))["final"].get("heldout")
    return {
        "pretrain_run": str(pretrain_run),
        "checkpoint_sha256": file_sha256(checkpoint_path),
        "settings": dataclasses.asdict(settings),
        "train_tokens": train.n_tokens,
        "dev_tokens": dev.n_tokens,
        "tokens_seen": trainer.position.tokens_seen,
        "epochs_of_task_text": trainer.position.tokens_seen / train.n_tokens,
        "seconds": round(seconds, 1),
        "dev_perplexity_before": before,
        "dev_perplexity_after": after,
    }


def adapted_bilm(
    pretrain_run: str | Path,
    train_sentences: Sequence[Sequence[str]],
    dev_sentences: Sequence[Sequence[str]],
    settings: LmFinetuneSettings,
    cache_root: Path,
) -> AdaptedBiLm:
    """The biLM of ``pretrain_run`` fine-tuned on ``train_sentences``, from the cache when this
    exact adaptation was done before (see the module docstring for the key)."""
    pretrain_run = Path(pretrain_run)
    checkpoint_path, _ = _run_files(pretrain_run)
    key_parts = {
        "checkpoint_sha256": file_sha256(checkpoint_path),
        "train": cache_key("lm-finetune train text", train_sentences),
        "dev": cache_key("lm-finetune dev text", dev_sentences),
        "settings": dataclasses.asdict(settings),
        "version": ADAPTATION_VERSION,
    }
    key = content_digest(key_parts, 24)
    folder = cache_root / "lm-finetuned" / key
    with writing_once(folder) as to_build:
        if to_build:  # a killed build's temporary folder is removed by now
            with building_folder(folder) as building:
                record = finetune_language_model(
                    pretrain_run, train_sentences, dev_sentences, settings, building
                )
                text = json.dumps(record, indent=1) + "\n"
                (building / "adaptation.json").write_text(text, encoding="utf-8")
    record = json.loads((folder / "adaptation.json").read_text(encoding="utf-8"))
    cache = "computed" if to_build else "hit"
    return AdaptedBiLm(folder / "options.json", folder / "weights.hdf5", {**record, "cache": cache})
