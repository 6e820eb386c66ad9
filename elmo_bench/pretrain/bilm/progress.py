"""The progress lines of a pretraining run: loss, speed and the time left."""
from __future__ import annotations

import logging
import math
import time

from elmo_bench.pretrain.bilm.checkpoint import TrainingPosition
from elmo_bench.pretrain.bilm.distributed import DistributedContext

logger = logging.getLogger(__name__)


class TrainingProgress:
    """Loss and speed over the steps since the last progress line, and the time left."""

    def __init__(self, position: TrainingPosition, max_steps: int) -> None:
        self.position, self.max_steps = position, max_steps
        self.first_step, self.started = position.step, time.perf_counter()
        self.last_train_nll: float | None = None
        self._reset()

    def _reset(self) -> None:
        self.sums = [0.0, 0.0, 0.0]
        self.window_start, self.window_tokens = time.perf_counter(), self.position.tokens_seen

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def add(self, sums: dict[str, float]) -> None:
        self.sums[0] += sums["forward_nll"]
        self.sums[1] += sums["backward_nll"]
        self.sums[2] += sums["targets"]

    def log(self, context: DistributedContext, learning_rate: float) -> None:
        forward_nll, backward_nll, targets = context.all_reduce_sum(self.sums)
        elapsed = time.perf_counter() - self.window_start
        tokens_per_second = (self.position.tokens_seen - self.window_tokens) / max(elapsed, 1e-9)
        self.last_train_nll = (forward_nll + backward_nll) / (2 * max(targets, 1))
        steps_done = self.position.step - self.first_step
        seconds_left = self.seconds() / max(steps_done, 1) * (self.max_steps - self.position.step)
        if context.is_main:
            logger.info(
                "step %d/%d epoch %d | %.2fM tokens | %.0f tokens/s | loss fwd %.3f bwd %.3f (ppl %.1f) | "
                "lr %.2e | %s left",
                self.position.step, self.max_steps, self.position.epoch, self.position.tokens_seen / 1e6,
                tokens_per_second, forward_nll / max(targets, 1), backward_nll / max(targets, 1),
                math.exp(self.last_train_nll), learning_rate, _duration(seconds_left),
            )
        self._reset()


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
