"""Adapting a compared embedder to one task before its cell runs.

An ``lm-finetuned`` part gets the biLM fine-tuned on the task's training text
(:mod:`elmo_bench.finetune.lm`; cached), loaded as an ordinary frozen ELMo; an ``unfrozen`` part
gets the trainable :class:`~elmo_bench.finetune.unfrozen.UnfrozenElmo` that the head will own.
Frozen parts are left as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elmo_bench.compared import ComparedEmbedder, EmbedderPart
from elmo_bench.embedders.registry import load_embedder
from elmo_bench.finetune.lm import LmFinetuneSettings, adapted_bilm
from elmo_bench.finetune.unfrozen import UnfrozenElmo
from elmo_bench.settings import SettingsError
from elmo_bench.task import Task


@dataclass
class TaskAdaptation:
    """The embedder a cell runs with, and what was done to get it.

    Attributes:
        embedder: the compared embedder with its ``lm-finetuned`` parts replaced.
        unfrozen: per source, the trainable module of an ``unfrozen`` part.
        records: per adapted source, a JSON-able record (settings, costs, perplexities).
    """

    embedder: ComparedEmbedder
    unfrozen: dict[str, UnfrozenElmo] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def _distinct_sequences(task: Task, examples: Sequence[Any]) -> list[tuple[str, ...]]:
    sequences = (tuple(sequence) for example in examples for sequence in task.token_sequences(example))
    return list(dict.fromkeys(sequence for sequence in sequences if sequence))


def _lm_finetuned_part(
    task: Task, examples: Mapping[str, Sequence[Any]], part: EmbedderPart, cache_root: Path
) -> tuple[EmbedderPart, dict[str, Any]]:
    settings = part.settings
    if settings.get("pretrain_run") is None:
        raise SettingsError(
            "elmo-lm-finetuned needs embedder.elmo.pretrain_run: a folder written by elmo-bench "
            "pretrain, whose checkpoint.pt holds the softmax that language-model fine-tuning trains with"
        )
    schedule = LmFinetuneSettings(
        steps=settings["lm_finetune_steps"], learning_rate=settings["lm_finetune_learning_rate"]
    )
    adapted = adapted_bilm(
        settings["pretrain_run"], _distinct_sequences(task, examples["train"]),
        _distinct_sequences(task, examples["dev"]),
        schedule, cache_root,
    )
    loaded = load_embedder(
        "elmo", {**settings, "model": None, "pretrain_run": None, "options": str(adapted.options),
                 "weights": str(adapted.weights)},
    )
    return dataclasses.replace(part, embedder=loaded), adapted.record


def adapt_to_task(
    task: Task,
    embedder: ComparedEmbedder,
    examples: Mapping[str, Sequence[Any]],
    cache_root: Path,
    log: Callable[[str], None] | None = None,
) -> TaskAdaptation:
    """Prepare ``embedder``'s parts for ``task`` (see the module docstring); ``examples`` holds
    the task's examples by role (language-model fine-tuning reads ``train`` and ``dev``).

    Raises:
        SettingsError: an ``lm-finetuned`` part without ``embedder.elmo.pretrain_run``.
        PretrainError: an unusable pretraining run.
    """
    say = log or (lambda line: None)
    adaptation = TaskAdaptation(embedder)
    parts = []
    for part in embedder.parts:
        source = part.use.source
        if part.use.adaptation == "lm-finetuned":
            part, record = _lm_finetuned_part(task, examples, part, cache_root)
            adaptation.records[source] = {"adaptation": "lm-finetuned", **record}
            before, after = (
                f"{record[key]['mean_ppl']:.1f}" if record[key] else "n/a"
                for key in ("dev_perplexity_before", "dev_perplexity_after")
            )
            say(
                f"{source}: language model fine-tuned on {record['train_tokens']} training tokens "
                f"({record['cache']}, {record['seconds']} s); dev perplexity {before} -> {after}"
            )
        elif part.use.adaptation == "unfrozen":
            if source not in adaptation.unfrozen:
                adaptation.unfrozen[source] = UnfrozenElmo(part.embedder.bilm)
            adaptation.records[source] = {
                "adaptation": "unfrozen",
                "trainable_parameters": sum(p.numel() for p in adaptation.unfrozen[source].parameters()),
            }
        parts.append(part)
    adaptation.embedder = dataclasses.replace(embedder, parts=tuple(parts))
    return adaptation
