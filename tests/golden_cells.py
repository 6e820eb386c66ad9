"""The smoke run's cells as a refactor must leave them: every field that says what was computed
(scores, per-example predictions, settings, fingerprints, cache keys, stage keys, losses, learned
mixes), none that says when, where or how fast (timings, memory, paths, host, versions, commit).

``tests/golden/smoke_cells.json`` was written by this module from the code before the refactor of
the house (issue 17); ``test_runner_pipeline`` compares each smoke run with it. Regenerate it only
for a change meant to alter results, and say so in the commit:

    ELMO_BENCH_CACHE=$(mktemp -d) .venv/bin/python run_benchmarks.py --preset smoke \\
        --results-dir /tmp/smoke --no-progress
    .venv/bin/python tests/golden_cells.py /tmp/smoke > tests/golden/smoke_cells.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent / "golden" / "smoke_cells.json"

VOLATILE_KEYS = frozenset({
    "seconds", "train_seconds", "dev_seconds", "embed_seconds_when_computed",
    "tokens_per_second_when_computed", "train_tokens_per_second", "total_seconds",
    "adaptation_seconds", "training_seconds_per_epoch", "training_seconds_per_epoch_median",
    "training_tokens_per_second", "read_seconds", "evaluation_seconds", "memory", "device",
    "environment", "created", "process_id", "cost", "task_module", "path",
    # computed, or read from the cache a concurrent test left: either is the same entry
    "cache",
})
"""Keys whose values change from run to run or machine to machine, wherever they sit."""

SIGNIFICANT_DIGITS = 6
"""Floats are compared to this many significant digits: losses and learned mixes move with a
changed computation, not with the last bits of a machine's BLAS."""


def normalize(value: Any) -> Any:
    """``value`` without volatile keys, floats rounded, stage folders by name only."""
    if isinstance(value, dict):
        return {key: (Path(item).name if key == "folder" else normalize(item))
                for key, item in value.items() if key not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def smoke_cells(results: Path) -> dict[str, Any]:
    """Every finished smoke cell under ``results``, normalized, by file name."""
    folder = results / "cells" / "smoke"
    return {path.name: normalize(json.loads(path.read_text()))
            for path in sorted(folder.glob("*.json")) if not path.name.startswith(".")}


if __name__ == "__main__":
    print(json.dumps(smoke_cells(Path(sys.argv[1])), indent=1, sort_keys=True))
