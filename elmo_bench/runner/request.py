"""What a command asks of a grid run besides the preset's settings: which part of the grid, where
its files go and what it shows while running; ``elmo-bench bench`` and every curve's points take
the same request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunRequest:
    """A part of a preset's grid and how to run it.

    Attributes:
        tasks, embedders, seeds: a part of the grid (None: the preset's; a curve has its own
            default tasks and takes its embedders from its points).
        tasks_dirs: extra folders of task modules.
        results_dir: cells go to ``<results_dir>/cells/<preset or point>/``.
        verbose: cells print their progress lines.
        progress: show the grid's progress bar.
    """

    tasks: Sequence[str] | None = None
    embedders: Sequence[str] | None = None
    seeds: Sequence[int] | None = None
    tasks_dirs: Sequence[Path] = ()
    results_dir: Path = Path("results")
    verbose: bool = False
    progress: bool = True
