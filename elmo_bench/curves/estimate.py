"""What a curve's cells will cost, from what the preset's own cells measured.

A planned cell is estimated from a *reference*: a finished cell file of the same task and
embedder in ``results/cells/<preset>/`` (else of the embedder in :data:`PROXIES`), as

    embedding (dev + test + fraction x train, seconds when computed)
    + epochs x (share x training seconds per epoch + dev seconds per epoch)
    + the test evaluation,

where ``share`` is the fraction of the training split times the passes over it per epoch
(:func:`elmo_bench.data.subsets.passes_per_epoch`), and ``epochs`` is the reference's, raised to
``best epoch + patience`` when the reference was stopped by an epoch cap lower than the planned
one, and divided by sqrt(share) below a whole split (shorter epochs run more of them before
patience stops them; a deliberately pessimistic guess), at most the planned cap. Snapshot points cost what the final
biLM's cells cost (same architecture).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elmo_bench.data.subsets import passes_per_epoch

PROXIES: dict[str, tuple[tuple[str, float], ...]] = {
    "elmo+glove": (("elmo", 1.0),),
    "elmo": (("elmo+glove", 1.0),),
    "elmo-layer0": (("elmo", 1.0), ("elmo+glove", 1.0)),
    # all-MiniLM-L6-v2: about 21 MFLOP of matrix products per word piece (6 blocks of 384 with
    # 1,536-wide feed-forward layers) against about 7 per word for the cpu-small biLM's forward
    # pass (char-CNN, 2 x 2 LSTM layers of 512 projected to 128), with about 1.3 pieces a word:
    # about 4x; its head reads 384 dimensions like elmo+glove's (256 + 128). Not yet measured.
    "transformer": (("elmo+glove", 4.0), ("elmo", 4.0)),
}
"""Embedder -> the embedders whose cells stand in for it, first found first, each with a factor on
the embedding seconds."""


@dataclass(frozen=True)
class ReferenceCost:
    """What one finished cell measured (seconds)."""

    path: str
    embed_seconds: dict[str, float]  # role -> seconds to compute its embeddings, all sources
    train_seconds_per_epoch: float
    dev_seconds_per_epoch: float
    test_seconds: float
    epochs: int
    best_epoch: int
    stopped_early: bool


def _reference(path: Path) -> tuple[tuple[str, str], ReferenceCost] | None:
    """A cell file's costs, or None when it is not a readable cell result."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        timings, epochs = result["timings"], result["training"]["epochs"]
        embed = {
            role: float(sum(cost.get("embed_seconds_when_computed", 0.0) for cost in sources.values()))
            for role, sources in timings["embedding"].items()
        }
        cost = ReferenceCost(
            path=str(path), embed_seconds=embed,
            train_seconds_per_epoch=float(statistics.median(e["train_seconds"] for e in epochs)),
            dev_seconds_per_epoch=float(statistics.fmean(e.get("dev_seconds", 0.0) for e in epochs)),
            test_seconds=float(timings["evaluation_seconds"]["test"]),
            epochs=len(epochs), best_epoch=int(result["training"]["best_epoch"]),
            stopped_early=bool(result["training"].get("stopped_early", True)),
        )
        return (result["task"], result["embedder"]), cost
    except (OSError, ValueError, KeyError, TypeError, statistics.StatisticsError):
        return None


def reference_costs(cells_dir: Path) -> dict[tuple[str, str], list[ReferenceCost]]:
    """(task, embedder) -> the costs of the finished cells under ``cells_dir`` (not recursive)."""
    found: dict[tuple[str, str], list[ReferenceCost]] = {}
    for path in sorted(Path(cells_dir).glob("*.json")):
        entry = _reference(path)
        if entry is not None:
            found.setdefault(entry[0], []).append(entry[1])
    return found


def expected_epochs(reference: ReferenceCost, max_epochs: int, patience: int, share: float) -> int:
    """Epochs a cell will run whose epochs cover ``share`` of the training split (see the module
    docstring)."""
    epochs = float(reference.epochs)
    if not reference.stopped_early and max_epochs > reference.epochs:
        epochs = reference.best_epoch + patience
    if share < 1:
        epochs /= math.sqrt(share)
    return max(1, min(max_epochs, math.ceil(epochs)))


def estimate_seconds(
    references: dict[tuple[str, str], list[ReferenceCost]],
    task: str,
    embedder: str,
    training: dict[str, Any],
    fraction: float,
) -> tuple[float | None, str]:
    """``(seconds, basis)`` of one planned cell; seconds None when no reference exists.

    Args:
        training: the cell's merged training settings (``max_epochs``, ``patience``).
        fraction: of the training split (1: all of it).
    """
    stand_ins = [(embedder, 1.0), *PROXIES.get(embedder, ())]
    found = [(name, factor) for name, factor in stand_ins if references.get((task, name))]
    if not found:
        return None, f"no finished {task} {embedder} cell to measure from"
    name, factor = found[0]
    candidates = references[(task, name)]
    estimates = []
    share = min(1.0, fraction * passes_per_epoch(fraction))
    for reference in candidates:
        epochs = expected_epochs(reference, training["max_epochs"], training["patience"], share)
        embed = reference.embed_seconds
        seconds = factor * (sum(v for role, v in embed.items() if role != "train")
                            + fraction * embed.get("train", 0.0))
        seconds += epochs * (share * reference.train_seconds_per_epoch + reference.dev_seconds_per_epoch)
        estimates.append(seconds + reference.test_seconds)
    basis = f"{len(candidates)} {task} {name} cell(s)" + (f", embedding x{factor:g}" if factor != 1 else "")
    return float(statistics.fmean(estimates)), basis
