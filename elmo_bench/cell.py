"""One cell of the benchmark grid: (task, embedder, seed) -> a result record.

:func:`run_cell` adapts the embedder to the task where it asks for that (:mod:`elmo_bench.finetune`:
a language-model fine-tuned or an unfrozen biLM), reads the task's splits, embeds them through the
cache (an unfrozen biLM instead embeds inside every batch), trains the head with early
stopping on dev, scores dev and test, and returns a JSON-serialisable record of the scores, the
per-example outcomes behind them, the protocol (splits, data sha256, metric, settings), the
embedder's fingerprint, the costs (embedding, training per epoch, evaluation, tokens/s, peak
memory) and the environment (commit, versions). :func:`write_result` stores it atomically.

Result format versions: 1 had no per-example outcomes; 2 adds ``per_example``: for ``dev`` and
``test``, a record of :mod:`elmo_bench.metrics.per_example` plus ``examples_sha256`` (see
:func:`examples_fingerprint`), or null for a task that does not record them.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import operator
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from elmo_bench.atomic import write_text_atomically
from elmo_bench.cache import EmbeddingCache
from elmo_bench.compared import ComparedEmbedder
from elmo_bench.data.subsets import (
    EPOCH_RULE,
    STRATIFIED_SUBSET_RULE,
    SUBSET_RULE,
    nested_subset,
    passes_per_epoch,
)
from elmo_bench.devices import device_record, start_peak_memory
from elmo_bench.embedded_split import EmbeddedSplit, embed_split
from elmo_bench.finetune.adapt import adapt_to_task
from elmo_bench.heads.scalar_mix_input import EmbeddingInput
from elmo_bench.metrics.per_example import OutcomeRecordError, checked_outcomes
from elmo_bench.task import ROLES, Task
from elmo_bench.training import UNFROZEN_MODULE, evaluate_examples, train_head
from elmo_bench.training_checkpoint import EpochCheckpoint

RESULT_FORMAT_VERSION = 2
_PACKAGES = ("torch", "numpy", "pytorch-crf", "seqeval", "scikit-learn", "spacy", "h5py")
_REPOSITORY = Path(__file__).resolve().parents[1]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (head initialisation, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_memory_bytes() -> int:
    """This process's peak resident set size so far (Linux reports KiB; memory-mapped cache pages
    that were read count too)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def environment() -> dict[str, Any]:
    """The commit (and whether the tree had changes), Python and package versions, threads."""

    def git(*args: str) -> str | None:
        try:
            completed = subprocess.run(
                ["git", *args],
                cwd=_REPOSITORY,
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return completed.stdout.strip()

    versions = {"python": platform.python_version()}
    for package in ("elmo-bench", *_PACKAGES):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "versions": versions,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def _embedding_costs(split: EmbeddedSplit, embedder: ComparedEmbedder) -> dict[str, Any]:
    costs: dict[str, Any] = {}
    seen = set()
    for part, lookup in zip(embedder.parts, split.lookups, strict=True):
        if part.use.source in seen:
            continue
        seen.add(part.use.source)
        if lookup is None:  # unfrozen: embedded inside every training and evaluation batch
            costs[part.use.source] = {"cache": "unfrozen", "seconds": 0.0, "tokens": split.n_tokens}
            continue
        computed_seconds = lookup.entry.meta["embed_seconds"]
        costs[part.use.source] = {
            "cache": "hit" if lookup.hit else "computed",
            "seconds": lookup.seconds,
            "embed_seconds_when_computed": computed_seconds,
            "tokens": split.n_tokens,
            "tokens_per_second_when_computed": split.n_tokens / computed_seconds
            if computed_seconds > 0
            else None,
            "vocabulary_coverage": lookup.entry.meta.get("vocabulary_coverage"),
            "cache_key": lookup.entry.key,
            "cache_bytes": int(lookup.entry.vectors.nbytes),
        }
    return costs


def examples_fingerprint(task: Task, examples: Sequence[Any]) -> str:
    """sha256 of the examples' token sequences, in order: two results hold per-example outcomes
    of the same examples in the same order (so they can be paired) when their fingerprints
    agree."""
    digest = hashlib.sha256()
    for example in examples:
        text = json.dumps(task.token_sequences(example), ensure_ascii=False)
        digest.update(text.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _checked_per_example(
    task: Task, role: str, scores: dict[str, Any], record: dict[str, Any]
) -> dict[str, Any]:
    """``record`` after checking that it gives back the main score; raises RuntimeError (a bug in
    the family's ``per_example``) when it does not."""
    try:
        checked_outcomes(record, task.main_score, float(scores[task.main_score]))
    except OutcomeRecordError as error:
        raise RuntimeError(f"task {task.name!r}, {role} split: {error}") from error
    return record


def run_cell(
    task: Task,
    embedder: ComparedEmbedder,
    seed: int,
    cache: EmbeddingCache,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    train_fraction: float | None = None,
    checkpoint: EpochCheckpoint | None = None,
) -> dict[str, Any]:
    """Train and score ``task`` on ``embedder`` with ``seed``; returns the result record.

    Args:
        train_fraction: train on this nested, seed-independent part of the training split
            (:func:`elmo_bench.data.subsets.nested_subset`; dev and test stay whole), with
            :func:`~elmo_bench.data.subsets.passes_per_epoch` passes over it per epoch, recorded
            under ``protocol.train_subset``; None trains on all of it, one pass per epoch.
        checkpoint: where the head's training saves its state after every epoch and resumes
            from (:func:`elmo_bench.training.train_head`); None: it runs in one go.

    Raises:
        EmptySplitError: a split has no examples.
        ValueError: ``train_fraction`` is not in (0, 1].
        TaskDataError, DataSourceError: a data file cannot be located or read (before any work).
    """
    say = log or (lambda line: None)
    started = time.perf_counter()
    # Located first: a missing or unreadable file fails here, not after training.
    data = {role: [split_file.provenance() for split_file in task.data_files(role)] for role in ROLES}
    start_peak_memory(task.training_config.device)
    timings: dict[str, Any] = {"read_seconds": {}, "embedding": {}}
    examples: dict[str, list[Any]] = {}
    for role in ROLES:
        read_started = time.perf_counter()
        examples[role] = task.read_checked(role)
        timings["read_seconds"][role] = time.perf_counter() - read_started
    # The head's label set comes from the whole training split, so a head trained on a subset
    # that misses a rare class still has that class as an output.
    whole_train = examples["train"]
    strata = task.subset_strata
    stratum = None if strata is None else operator.attrgetter(strata)
    if train_fraction is not None:
        examples["train"] = nested_subset(examples["train"], train_fraction, task.token_sequences, stratum)
    adaptation_started = time.perf_counter()
    adaptation = adapt_to_task(task, embedder, examples, cache.root, say)
    embedder = adaptation.embedder
    timings["adaptation_seconds"] = time.perf_counter() - adaptation_started
    splits: dict[str, EmbeddedSplit] = {}
    for role in ROLES:
        splits[role] = embed_split(
            examples[role], task.token_sequences, embedder, cache, task.training_config.device,
            progress, adaptation.unfrozen,
        )
        timings["embedding"][role] = _embedding_costs(splits[role], embedder)
        say(f"{role}: {len(examples[role])} examples, {splits[role].n_tokens} distinct-sequence tokens")

    seed_everything(seed)
    config = task.training_config
    head = task.build_head(EmbeddingInput(embedder.input_specs()), whole_train)
    if adaptation.unfrozen:
        # The head owns the trainable biLM: the optimizer, clipping and best-epoch restore see it.
        head.add_module(UNFROZEN_MODULE, torch.nn.ModuleDict(adaptation.unfrozen))
    head.to(config.device)
    passes = 1 if train_fraction is None else passes_per_epoch(train_fraction)
    outcome = train_head(task, head, splits["train"], splits["dev"], config, seed, log=say,
                         checkpoint=checkpoint, passes_per_epoch=passes)

    scores = {}
    per_example: dict[str, Any] | None = {}
    timings["evaluation_seconds"] = {}
    for role in ("dev", "test"):
        eval_started = time.perf_counter()
        evaluation = evaluate_examples(task, head, splits[role], config.eval_batch_size)
        scores[role] = evaluation.scores
        if evaluation.per_example is None:
            per_example = None
        elif per_example is not None:
            per_example[role] = {
                **_checked_per_example(task, role, evaluation.scores, evaluation.per_example),
                "examples_sha256": examples_fingerprint(task, splits[role].examples),
            }
        timings["evaluation_seconds"][role] = time.perf_counter() - eval_started
    epoch_seconds = [record.train_seconds for record in outcome.epochs]
    timings["training_seconds_per_epoch"] = sum(epoch_seconds) / len(epoch_seconds)
    # The median is robust to an epoch slowed by other jobs on a shared machine.
    timings["training_seconds_per_epoch_median"] = statistics.median(epoch_seconds)
    timings["training_tokens_per_second"] = sum(
        record.train_tokens for record in outcome.epochs
    ) / sum(epoch_seconds)
    timings["total_seconds"] = time.perf_counter() - started

    protocol = task.protocol()
    protocol["data"] = data
    protocol["examples"] = {role: len(splits[role]) for role in ROLES}
    if train_fraction is not None:
        protocol["train_subset"] = {
            "fraction": train_fraction, "examples": len(examples["train"]),
            "of_examples": len(whole_train),
            "rule": SUBSET_RULE if strata is None else STRATIFIED_SUBSET_RULE.format(strata=strata),
            "passes_per_epoch": passes, "epoch_rule": EPOCH_RULE,
        }
        if strata is not None:
            protocol["train_subset"]["strata"] = strata
            protocol["train_subset"]["examples_per_stratum"] = dict(sorted(Counter(
                str(stratum(example)) for example in examples["train"]).items()))
    return {
        "format_version": RESULT_FORMAT_VERSION,
        "task": task.name,
        "embedder": embedder.name,
        "seed": seed,
        "main_score": {
            "name": task.main_score,
            "split": "test",
            "dataset_split": task.splits["test"],
            "value": scores["test"][task.main_score],
        },
        "scores": scores,
        "per_example": per_example,
        "protocol": protocol,
        "settings": {"options": task.options, "head": task.head, "training": task.training},
        "embedder_details": {**embedder.describe(), "adaptation": adaptation.records},
        "head": {
            "class": type(head).__qualname__,
            "trainable_parameters": sum(p.numel() for p in head.parameters() if p.requires_grad),
            "unfrozen_embedder_parameters": sum(
                p.numel() for module in adaptation.unfrozen.values() for p in module.parameters()
            ),
            "learned_mixes": head.embedding_input.learned_mixes(),
        },
        "training": outcome.to_dict(),
        "timings": timings,
        "memory": {"peak_rss_bytes": peak_memory_bytes()},
        "device": device_record(task.training_config.device),
        "environment": environment(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def summary_line(result: dict[str, Any]) -> str:
    """One line: the main test score, dev score, epochs and costs."""
    main = result["main_score"]
    training = result["training"]
    timings = result["timings"]
    embed_seconds = sum(
        cost["seconds"] for role in timings["embedding"].values() for cost in role.values()
    )
    return (
        f"{result['task']} {result['embedder']} seed {result['seed']}: test {main['name']} "
        f"{main['value']:.4f} (dev {result['scores']['dev'][main['name']]:.4f}, best epoch "
        f"{training['best_epoch']}/{len(training['epochs'])}); embedding {embed_seconds:.1f} s, "
        f"training {timings['training_seconds_per_epoch_median']:.1f} s/epoch (median), "
        f"peak memory {result['memory']['peak_rss_bytes'] / 2**20:.0f} MiB"
    )


def write_result(path: str | Path, result: dict[str, Any]) -> Path:
    """Write ``result`` as JSON to ``path`` atomically (a temporary file renamed onto it)."""
    path = Path(path)
    text = json.dumps(result, indent=1, allow_nan=False) + "\n"  # fails before touching the disk
    write_text_atomically(path, text)
    return path
