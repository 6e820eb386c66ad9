"""The optimizer and learning-rate schedule of a pretraining run.

Adam with linear warm-up and cosine decay, global-norm clipping (10, as bilm-tf's
``all_clip_norm_val``, applied by the trainer). Adam rather than bilm-tf's Adagrad(0.2): a CPU
hour is only a few hundred to a few thousand steps, and there Adam converged faster. From one
initialisation on the same ``cpu-small`` batches, held-out perplexity after 25/50/75/100 steps
was 989/866/845/820 with Adam (2e-3) and 1647/1192/1051/1034 with Adagrad (0.2)
(``benchmarks/pretrain_bilm.py --compare-optimizers 100``,
``results/benchmarks/pretrain_bilm_optimizers.json``). Adagrad remains selectable
(``train.optimizer=adagrad``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from elmo_bench.pretrain.bilm_presets import BiLmTrainConfig


def learning_rate_factor(step: int, config: BiLmTrainConfig) -> float:
    """Multiplier of the peak learning rate for optimizer step ``step`` (0-based): linear
    warm-up over ``warmup_steps``, then cosine decay to ``min_lr_ratio`` at ``max_steps``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(
    model: nn.Module, config: BiLmTrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The run's optimizer over ``model``'s parameters and its learning-rate schedule."""
    if config.optimizer == "adam":
        optimizer: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    else:  # bilm-tf: Adagrad with initial accumulator 1.0
        optimizer = torch.optim.Adagrad(model.parameters(), lr=config.learning_rate, initial_accumulator_value=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, config))
    return optimizer, scheduler
