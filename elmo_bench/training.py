"""The shared train / evaluate loop: Adam, length-bucketed batches, early stopping on dev.

Each epoch goes over the training examples (once, or ``passes_per_epoch`` times for a small part of
a training split) in batches of similar length (shuffled pools of
``bucket_pool`` batches are sorted by length, so there is little padding, and the batch order is
shuffled), then scores the dev split with the task's metric. The head's state at the epoch with the
best dev main score is kept and restored at the end; training stops after ``patience`` epochs
without improvement. Everything random draws from the seed given, so a run is repeatable. With an
:class:`~elmo_bench.training_checkpoint.EpochCheckpoint`, the state after every epoch is saved, and
a killed run resumes after its last finished epoch to the same outcome.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from elmo_bench.embedded_split import EmbeddedSplit
from elmo_bench.random_states import rng_states, set_rng_states
from elmo_bench.task import Task, TrainingConfig
from elmo_bench.training_checkpoint import EpochCheckpoint

UNFROZEN_MODULE = "unfrozen_embedder"
"""Name of the head's submodule that holds unfrozen embedders; their parameters train at
``TrainingConfig.embedder_learning_rate``."""


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, dev scores, and where the time went."""

    epoch: int
    train_loss: float
    dev_main_score: float
    train_seconds: float
    dev_seconds: float
    train_tokens: int

    @property
    def train_tokens_per_second(self) -> float | None:
        return self.train_tokens / self.train_seconds if self.train_seconds > 0 else None


@dataclass
class TrainingOutcome:
    """The epochs run and the one whose head state was kept; ``resumed_after_epoch``: the epoch of
    the checkpoint this invocation resumed from (None: it ran every epoch itself)."""

    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_dev_score: float = float("-inf")
    stopped_early: bool = False
    resumed_after_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record a cell keeps; ``resumed_after_epoch`` only where it resumed (so a result is
        the same as before checkpoints existed)."""
        record: dict[str, Any] = {
            "epochs": [
                {**asdict(epoch), "train_tokens_per_second": epoch.train_tokens_per_second}
                for epoch in self.epochs
            ],
            "best_epoch": self.best_epoch,
            "best_dev_score": self.best_dev_score,
            "stopped_early": self.stopped_early,
        }
        if self.resumed_after_epoch is not None:
            record["resumed_after_epoch"] = self.resumed_after_epoch
        return record


def length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, pool: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of example indices, each drawn from a length-sorted pool.

    Every index appears in exactly one batch; the permutation depends only on ``rng``.
    """
    order = rng.permutation(len(lengths))
    batches = []
    pool_size = batch_size * pool
    for start in range(0, len(order), pool_size):
        chunk = order[start : start + pool_size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def predict_split(task: Task, head: nn.Module, split: EmbeddedSplit, batch_size: int) -> list[Any]:
    """The head's predictions for every example of ``split``, in example order (batches are formed
    in length order for speed)."""
    head.eval()
    order = np.argsort(split.example_lengths(), kind="stable")
    predictions: list[Any] = [None] * len(split)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size].tolist()
            for index, prediction in zip(indices, task.predict(head, split, indices), strict=True):
                predictions[index] = prediction
    return predictions


def evaluate(task: Task, head: nn.Module, split: EmbeddedSplit, batch_size: int) -> dict[str, Any]:
    """The task's scores of the head's predictions on ``split``."""
    return task.score(split.examples, predict_split(task, head, split, batch_size))


@runtime_checkable
class PerExampleScoring(Protocol):
    """A task that can say what each example contributes to its scores (every task family does):
    ``per_example`` returns a record of :mod:`elmo_bench.metrics.per_example`."""

    def per_example(self, examples: Sequence[Any], predictions: Sequence[Any]) -> dict[str, Any]:
        ...


@dataclass(frozen=True)
class Evaluation:
    """The scores of one split and, where the task records them, its per-example outcomes (a
    record of :mod:`elmo_bench.metrics.per_example`; None for a task that is not
    :class:`PerExampleScoring`)."""

    scores: dict[str, Any]
    per_example: dict[str, Any] | None


def evaluate_examples(
    task: Task, head: nn.Module, split: EmbeddedSplit, batch_size: int
) -> Evaluation:
    """:func:`evaluate`, plus the per-example outcomes of the same predictions."""
    predictions = predict_split(task, head, split, batch_size)
    per_example = (
        task.per_example(split.examples, predictions)
        if isinstance(task, PerExampleScoring)
        else None
    )
    return Evaluation(task.score(split.examples, predictions), per_example)


def parameter_groups(head: nn.Module, config: TrainingConfig) -> list[dict[str, Any]]:
    """Adam's parameter groups: the head's own trainable parameters at ``learning_rate``, an
    unfrozen embedder's at ``embedder_learning_rate`` (no empty group)."""
    own, embedder = [], []
    for name, parameter in head.named_parameters():
        if parameter.requires_grad:
            (embedder if name.startswith(UNFROZEN_MODULE + ".") else own).append(parameter)
    groups = [{"params": own, "lr": config.learning_rate}]
    if embedder:
        groups.append({"params": embedder, "lr": config.embedder_learning_rate})
    return groups


def train_head(
    task: Task,
    head: nn.Module,
    train: EmbeddedSplit,
    dev: EmbeddedSplit,
    config: TrainingConfig,
    seed: int,
    log: Any = None,
    checkpoint: EpochCheckpoint | None = None,
    passes_per_epoch: int = 1,
) -> TrainingOutcome:
    """Train ``head`` on ``train`` with early stopping on ``dev``; leaves the best epoch's state in
    ``head``. ``log`` (optional) is called with one line per epoch. With ``checkpoint``, training
    resumes from it where it holds a saved state, and saves its state after every epoch. An epoch
    passes over ``train`` ``passes_per_epoch`` times, each pass shuffled anew
    (:func:`elmo_bench.data.subsets.passes_per_epoch`, for a small part of a training split).

    Raises:
        FloatingPointError: the training loss became NaN or infinite.
    """
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(parameter_groups(head, config))
    lengths = train.example_lengths()
    outcome = TrainingOutcome()
    best_state = copy.deepcopy(head.state_dict())
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        head.load_state_dict(saved["head"])
        optimizer.load_state_dict(saved["optimizer"])
        best_state = saved["best_head"]
        outcome = TrainingOutcome(
            [EpochRecord(**epoch) for epoch in saved["epochs"]], saved["best_epoch"],
            saved["best_dev_score"], saved["stopped_early"], resumed_after_epoch=len(saved["epochs"]),
        )
        rng.bit_generator.state = saved["batch_order"]
        set_rng_states(saved["random_states"])
        if log is not None:
            log(f"resumed after epoch {outcome.resumed_after_epoch} from {checkpoint.path}")
    while not outcome.stopped_early and len(outcome.epochs) < config.max_epochs:
        epoch = len(outcome.epochs) + 1
        head.train()
        started = time.perf_counter()
        total_loss, steps = 0.0, 0
        batches = [
            batch for _ in range(passes_per_epoch)
            for batch in length_bucketed_batches(lengths, config.batch_size, config.bucket_pool, rng)
        ]
        for batch in batches:
            optimizer.zero_grad()
            loss = task.batch_loss(head, train, batch.tolist())
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"task {task.name}: training loss is {loss.item()} at epoch {epoch}"
                )
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(head.parameters(), config.grad_clip)
            optimizer.step()
            total_loss += loss.item()
            steps += 1
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        dev_score = float(evaluate(task, head, dev, config.eval_batch_size)[task.main_score])
        record = EpochRecord(
            epoch=epoch,
            train_loss=total_loss / steps,
            dev_main_score=dev_score,
            train_seconds=train_seconds,
            dev_seconds=time.perf_counter() - started,
            train_tokens=int(lengths.sum()) * passes_per_epoch,
        )
        outcome.epochs.append(record)
        if log is not None:
            log(
                f"epoch {epoch}: loss {record.train_loss:.4f}, "
                f"dev {task.main_score} {dev_score:.4f} "
                f"({train_seconds:.1f} s train, {record.dev_seconds:.1f} s dev)"
            )
        if dev_score > outcome.best_dev_score:
            outcome.best_dev_score, outcome.best_epoch = dev_score, epoch
            best_state = copy.deepcopy(head.state_dict())
        elif epoch - outcome.best_epoch >= config.patience:
            outcome.stopped_early = True
        if checkpoint is not None:
            checkpoint.save({
                "head": head.state_dict(), "optimizer": optimizer.state_dict(), "best_head": best_state,
                "epochs": [asdict(epoch_record) for epoch_record in outcome.epochs],
                "best_epoch": outcome.best_epoch, "best_dev_score": outcome.best_dev_score,
                "stopped_early": outcome.stopped_early, "batch_order": rng.bit_generator.state,
                "random_states": rng_states(),
            })
    head.load_state_dict(best_state)
    return outcome
