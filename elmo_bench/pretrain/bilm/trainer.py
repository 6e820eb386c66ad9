"""The training loop of the biLM: steps over the data, checkpoints, held-out evaluation, export.

The loss of a step is the summed negative log-likelihood of every target of the step (all ranks,
all accumulated batches) divided by their number, so ``W`` ranks with one batch each give the same
gradient as one process accumulating the same ``W`` batches. Perplexities are over this
package's vocabulary and tokenizer.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from elmo_bench.atomic import write_atomically, write_json
from elmo_bench.pretrain.bilm.checkpoint import (
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    TrainingPosition,
    read_checkpoint,
)
from elmo_bench.pretrain.bilm.data import LmCorpus, PretrainingSource, Windows, make_batch, plan_batches
from elmo_bench.pretrain.bilm.distributed import DistributedContext
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.evaluation import Perplexity, evaluate
from elmo_bench.pretrain.bilm.export import SNAPSHOTS_DIR, export_model, write_snapshot
from elmo_bench.pretrain.bilm.model import BiLanguageModel
from elmo_bench.pretrain.bilm.optimizer import build_optimizer
from elmo_bench.pretrain.bilm.progress import TrainingProgress
from elmo_bench.pretrain.bilm_presets import BiLmPreset
from elmo_bench.random_states import rng_states, set_rng_states
from elmo_bench.settings import check_fields, integer, number

logger = logging.getLogger(__name__)


@dataclass
class StopRule:
    """When this invocation stops (besides reaching the schedule's ``max_steps``).

    Attributes:
        stop_after_steps: optimizer steps of this invocation.
        max_minutes: wall-clock budget of this invocation.
        evaluate_on_stop: run the final evaluations also when stopping before ``max_steps``.
    """

    stop_after_steps: int | None = integer(None, minimum=1, optional=True)
    max_minutes: float | None = number(None, above=0, optional=True)
    evaluate_on_stop: bool = False

    def __post_init__(self) -> None:
        check_fields(self, "stop", PretrainError)


class BiLmTrainer:
    """Trains a :class:`BiLanguageModel` with checkpoints every ``checkpoint_every`` steps.

    Output folder::

        config.json              the resolved preset and the data description
        vocab.txt                the softmax vocabulary (bilm-tf format)
        checkpoint.pt            model, optimizer, scheduler, data position, RNG states, history
        metrics.json             held-out perplexity curve and final evaluations
        options.json, weights.hdf5   the biLM in AllenNLP / bilm-tf format (written when a run stops)
    """

    def __init__(
        self,
        preset: BiLmPreset,
        source: PretrainingSource,
        output_dir: Path,
        context: DistributedContext = DistributedContext(),
    ) -> None:
        self.preset, self.source, self.output_dir, self.context = preset, source, Path(output_dir), context
        self.config = preset.train
        torch.manual_seed(self.config.seed)
        model = BiLanguageModel(preset.model, len(source.vocabulary)).to(context.device)
        self.model = model
        self.optimizer, self.scheduler = build_optimizer(model, self.config)
        if context.world_size > 1:
            # Tail clusters of the adaptive softmax get no gradient on a rank whose batch has no
            # target in them.
            device_ids = [context.device.index] if context.device.type == "cuda" else None
            self.ddp: nn.Module = DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)
        else:
            self.ddp = model
        # Dropout differs per rank; initialisation (above) and data order do not.
        torch.manual_seed(self.config.seed * 1_000_003 + context.rank + 1)
        np.random.seed(self.config.seed + context.rank)
        random.seed(self.config.seed + context.rank)
        self.position = TrainingPosition()
        self.windows = Windows.of(source.train.sentence_lengths, self.config.max_window)
        self._epoch_plan: tuple[int, list[np.ndarray]] | None = None

    # -- data order ------------------------------------------------------------------------

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The batches of ``epoch``, in order (a function of the seed and the epoch only)."""
        if self._epoch_plan is None or self._epoch_plan[0] != epoch:
            rng = np.random.default_rng([self.config.seed, epoch])
            self._epoch_plan = (epoch, plan_batches(self.windows.length, self.config.batch_tokens, rng))
        return self._epoch_plan[1]

    def step_batches(self) -> list[np.ndarray]:
        """The window sets of the next optimizer step, all ranks (``world_size * batches_per_step``);
        advances to the next epoch when the current one has too few batches left."""
        per_step = self.context.world_size * self.config.batches_per_step
        batches = self.epoch_batches(self.position.epoch)
        if len(batches) < per_step:
            raise PretrainError(
                f"the training split has {len(batches)} batches per epoch, fewer than one step needs "
                f"({per_step} = world size x batches_per_step); lower train.batch_tokens"
            )
        if self.position.batch_in_epoch + per_step > len(batches):
            self.position.epoch += 1
            self.position.batch_in_epoch = 0
            batches = self.epoch_batches(self.position.epoch)
        start = self.position.batch_in_epoch
        return batches[start : start + per_step]

    # -- one step --------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        """One optimizer step; returns this rank's summed losses and the step's global target count."""
        step_batches = self.step_batches()
        n_step_targets = int(sum(len(m) * (int(self.windows.length[m[0]]) - 1) for m in step_batches)) * 2
        per_rank = self.config.batches_per_step
        mine = step_batches[self.context.rank * per_rank : (self.context.rank + 1) * per_rank]
        scale = self.context.world_size / n_step_targets  # DDP averages gradients over ranks
        sums = {"forward_nll": 0.0, "backward_nll": 0.0, "targets": 0.0}
        for index, members in enumerate(mine):
            batch = make_batch(self.source.train, self.windows, members, self.source.vocabulary.bos_id,
                               self.source.vocabulary.eos_id).to(self.context.device)
            last = index == len(mine) - 1
            sync = contextlib.nullcontext() if last or self.context.world_size == 1 else self.ddp.no_sync()
            with sync:
                loss = self.ddp(batch.char_ids, batch.token_index, batch.word_ids)
                ((loss.forward_nll + loss.backward_nll) * scale).backward()
            sums["forward_nll"] += loss.forward_nll.item()
            sums["backward_nll"] += loss.backward_nll.item()
            sums["targets"] += loss.n_targets
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.position.step += 1
        self.position.batch_in_epoch += len(step_batches)
        self.position.tokens_seen += n_step_targets // 2
        return sums

    # -- checkpoints -----------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.output_dir / CHECKPOINT_NAME

    def save_checkpoint(self) -> None:
        """Write the checkpoint atomically (rank 0; every rank's RNG states are gathered into it)."""
        states = [rng_states()]
        if self.context.world_size > 1:
            states = [None] * self.context.world_size
            dist.all_gather_object(states, rng_states())
        if not self.context.is_main:
            return
        checkpoint = {
            "version": CHECKPOINT_VERSION,
            "preset": self.preset.to_dict(),
            "vocabulary_fingerprint": self.source.vocabulary.fingerprint,
            "vocabulary_size": len(self.source.vocabulary),
            "world_size": self.context.world_size,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "position": self.position.__dict__,
            "rng_states": states,
        }
        write_atomically(self.checkpoint_path, lambda temp: torch.save(checkpoint, temp))

    def load_checkpoint(self) -> None:
        """Restore everything :meth:`save_checkpoint` wrote (after checking it fits this run)."""
        checkpoint = read_checkpoint(self.checkpoint_path)
        vocabulary = self.source.vocabulary
        if checkpoint["vocabulary_fingerprint"] != vocabulary.fingerprint:
            raise PretrainError(
                f"{self.source.vocabulary_path}: this vocabulary ({len(vocabulary)} tokens, fingerprint "
                f"{vocabulary.fingerprint}) does not fit the checkpoint {self.checkpoint_path}, which was "
                f"trained with {checkpoint['vocabulary_size']} tokens (fingerprint "
                f"{checkpoint['vocabulary_fingerprint']}); resume with the vocabulary and corpus of that run"
            )
        if checkpoint["world_size"] != self.context.world_size:
            raise PretrainError(
                f"{self.checkpoint_path}: written by a run with {checkpoint['world_size']} process(es); "
                f"resume it with the same number (now {self.context.world_size}), so that the batch "
                "order and per-rank random states continue exactly"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.position = TrainingPosition(**checkpoint["position"])
        set_rng_states(checkpoint["rng_states"][self.context.rank])

    # -- evaluation and export ------------------------------------------------------------

    def evaluate(self, corpus: LmCorpus) -> Perplexity:
        return evaluate(self.model, corpus, self.source.vocabulary, self.config.batch_tokens,
                        self.config.max_window, self.context)

    def _record_heldout(self, train_loss: float | None) -> None:
        heldout = self.source.heldout
        if heldout is None or heldout.n_sentences == 0:
            return
        result = self.evaluate(heldout.head(self.config.eval_tokens))
        entry = {"step": self.position.step, "tokens_seen": self.position.tokens_seen,
                 "train_seconds": round(self.position.train_seconds, 1), **result.to_dict()}
        if train_loss is not None:
            entry["train_ppl"] = math.exp(train_loss)
        self.position.history.append(entry)
        if self.context.is_main:
            logger.info("step %d: held-out perplexity forward %.1f backward %.1f mean %.1f (%d tokens)",
                        self.position.step, result.forward, result.backward, result.mean, result.tokens)

    def write_metrics(self, final: dict[str, Any] | None = None) -> None:
        if not self.context.is_main:
            return
        path = self.output_dir / "metrics.json"
        metrics = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        metrics.update({"preset": self.preset.name, "curve": self.position.history,
                        "step": self.position.step, "tokens_seen": self.position.tokens_seen,
                        "train_seconds": round(self.position.train_seconds, 1)})
        if final is not None:
            metrics["final"] = final
        write_json(path, metrics)

    def export(self) -> None:
        """Write ``options.json`` + ``weights.hdf5`` (AllenNLP format) and ``vocab.txt``."""
        if self.context.is_main:
            export_model(self.model.bilm, self.source.vocabulary, self.output_dir)

    def export_snapshot(self, train_loss: float | None) -> Path:
        """Export the biLM as it is now to ``snapshots/step-<N>/`` (``options.json``,
        ``weights.hdf5``, ``vocab.txt`` and ``snapshot.json``: step, tokens seen, held-out
        perplexity at this step; see :func:`~elmo_bench.pretrain.bilm.export.write_snapshot`).
        Every rank calls this (the held-out evaluation is collective); the main rank writes."""
        step = self.position.step
        if self.source.heldout is not None and not (
            self.position.history and self.position.history[-1]["step"] == step
        ):
            self._record_heldout(train_loss)
            self.write_metrics()
        if not self.context.is_main:
            return self.output_dir / SNAPSHOTS_DIR / f"step-{step}"
        heldout = self.position.history[-1] if self.position.history else None
        folder = write_snapshot(self.model.bilm, self.source.vocabulary, self.output_dir, step, {
            "step": step, "max_steps": self.config.max_steps, "tokens_seen": self.position.tokens_seen,
            "train_seconds": round(self.position.train_seconds, 1),
            "heldout": heldout if heldout is not None and heldout["step"] == step else None,
        })
        logger.info("step %d: snapshot exported to %s", step, folder)
        return folder

    # -- the loop --------------------------------------------------------------------------

    def train(self, stop: StopRule = StopRule()) -> TrainingPosition:
        """Train until the schedule ends or ``stop`` says so; checkpoint, evaluate and export.

        At the end of the schedule the whole held-out split and the extra evaluation corpora are
        evaluated and written to ``metrics.json`` under ``final``.
        """
        config = self.config
        self.model.train()
        progress = TrainingProgress(self.position, config.max_steps)
        saved_step = self.position.step
        if self.position.step == 0 and config.eval_every:
            self._record_heldout(None)
            self.write_metrics()
        while self.position.step < config.max_steps:
            step_start = time.perf_counter()
            progress.add(self.train_step())
            self.position.train_seconds += time.perf_counter() - step_start
            step = self.position.step
            if step % config.log_every == 0 or step == config.max_steps:
                progress.log(self.context, self.scheduler.get_last_lr()[0])
            if config.eval_every and step % config.eval_every == 0 and step < config.max_steps:
                self._record_heldout(progress.last_train_nll)
                self.write_metrics()
            if step in config.snapshot_steps:
                self.export_snapshot(progress.last_train_nll)
            if step % config.checkpoint_every == 0:
                self.save_checkpoint()
                saved_step = step
            if self._should_stop(stop, progress):
                break
        finished = self.position.step >= config.max_steps
        if saved_step != self.position.step:
            self.save_checkpoint()
        final = None
        if finished or stop.evaluate_on_stop:
            self._record_heldout(progress.last_train_nll)
            final = self._final_evaluation()
        self.write_metrics(final)
        self.export()
        return self.position

    def leave_process_group(self) -> None:
        """Drop the DDP wrapper and destroy the process group; the trainer cannot train after this.

        Left to interpreter exit, the group's gloo worker threads can still be releasing the last
        collective's tensor, which needs the GIL while Python finalizes: the process then aborts
        ("terminate called without an active exception") after a successful run. Destroying the
        group once nothing else holds it (the wrapper's reducer does, through a reference cycle,
        hence the collection) joins those threads first.
        """
        self.ddp = self.model
        gc.collect()
        if dist.is_initialized():
            dist.destroy_process_group()

    def _should_stop(self, stop: StopRule, progress: "TrainingProgress") -> bool:
        """Whether this invocation stops now; every rank gets rank 0's answer."""
        answer = stop.stop_after_steps is not None and self.position.step - progress.first_step >= stop.stop_after_steps
        if stop.max_minutes is not None:
            out_of_time = progress.seconds() >= stop.max_minutes * 60
            answer = answer or bool(self.context.all_reduce_sum([float(out_of_time and self.context.is_main)])[0])
        return answer

    def _final_evaluation(self) -> dict[str, Any]:
        """Perplexities of the whole held-out split and of every extra corpus."""
        final: dict[str, Any] = {}
        corpora = dict(self.source.extra_eval)
        if self.source.heldout is not None and self.source.heldout.n_sentences:
            corpora = {"heldout": self.source.heldout, **corpora}
        for name, corpus in corpora.items():
            started = time.perf_counter()
            result = self.evaluate(corpus)
            final[name] = {**result.to_dict(), "seconds": round(time.perf_counter() - started, 1)}
            if self.context.is_main:
                logger.info("final %s perplexity: forward %.1f backward %.1f mean %.1f (%d tokens)",
                            name, result.forward, result.backward, result.mean, result.tokens)
        return final
