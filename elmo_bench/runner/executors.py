"""Where the grid's cells run: in this process, in a local process pool, or as submitit jobs.

Every executor runs :func:`elmo_bench.runner.grid.execute_cell` on picklable
:class:`~elmo_bench.runner.grid.CellSpec` objects, and that function writes the cell's result file,
so the files are the same whichever executor ran them. Cells are independent; an executor only
decides where and how many at a time.

``local``
    one cell after another in this process (the default; the embedding cache and loaded modules
    are shared, so it has the least overhead).
``pool``
    ``workers`` processes on this machine (``spawn``ed: no forked OpenMP state), each cell with
    the preset's ``threads`` torch threads; e.g. 2 workers x 1 thread on a 2-core machine.
``submitit``
    one submitit job per cell: on a Slurm cluster when submitit detects one, otherwise submitit's
    local executor (a subprocess per job). At most ``workers`` jobs are in flight at once; the job
    folders (pickled specs, logs) go to ``executor.submitit.folder``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from elmo_bench.runner.grid import CellOutcome, CellSpec, execute_cell
from elmo_bench.settings import SettingsError, did_you_mean

OnDone = Callable[[CellOutcome], None]


class Executor(Protocol):
    """Runs cells; calls ``on_done`` (in this process) with each cell's outcome as it ends."""

    name: str

    def run(self, specs: Sequence[CellSpec], on_done: OnDone) -> None: ...


class LocalExecutor:
    """One cell after another, in this process."""

    name = "local"

    def run(self, specs: Sequence[CellSpec], on_done: OnDone) -> None:
        for spec in specs:
            on_done(execute_cell(spec))


class PoolExecutor:
    """A pool of ``workers`` spawned processes on this machine, a fresh process for every cell: a
    cell's peak memory is its process's peak resident size, which a process reused from an
    earlier, larger cell would report instead."""

    name = "pool"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise SettingsError(f"the pool executor needs at least 1 worker, got {workers}")
        self.workers = workers

    def run(self, specs: Sequence[CellSpec], on_done: OnDone) -> None:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context, max_tasks_per_child=1) as pool:
            futures = {pool.submit(execute_cell, spec): spec for spec in specs}
            for future in concurrent.futures.as_completed(futures):
                spec = futures[future]
                try:
                    on_done(future.result())
                except concurrent.futures.process.BrokenProcessPool as error:
                    # A worker died (killed, out of memory): its cells are lost, not the others'.
                    on_done(CellOutcome(spec.label, "failed", spec.result_path, error=repr(error)))


class SubmititExecutor:
    """One submitit job per cell (Slurm when available, else submitit's local executor), at most
    ``workers`` in flight."""

    name = "submitit"

    def __init__(
        self, workers: int, folder: Path, parameters: Mapping[str, Any], poll_seconds: float = 1.0
    ) -> None:
        import submitit  # optional at import time of this module: only this executor needs it

        if workers < 1:
            raise SettingsError(f"the submitit executor needs at least 1 job in flight, got {workers}")
        self.workers = workers
        self.poll_seconds = poll_seconds
        self.executor = submitit.AutoExecutor(folder=str(folder))
        self.cluster = self.executor.cluster
        values = {key: value for key, value in parameters.items() if value is not None}
        if "slurm_partition" in values and self.cluster != "slurm":
            values.pop("slurm_partition")
        self.executor.update_parameters(name="elmo-bench-cell", **values)

    def run(self, specs: Sequence[CellSpec], on_done: OnDone) -> None:
        waiting = list(specs)
        running: list[tuple[CellSpec, Any]] = []
        while waiting or running:
            while waiting and len(running) < self.workers:
                spec = waiting.pop(0)
                running.append((spec, self.executor.submit(execute_cell, spec)))
            still_running = []
            for spec, job in running:
                if not job.done():
                    still_running.append((spec, job))
                    continue
                try:
                    on_done(job.result())
                except Exception as error:  # the job itself failed: timeout, killed, crashed
                    on_done(CellOutcome(
                        spec.label, "failed", spec.result_path,
                        error=f"submitit job {job.job_id}: {type(error).__name__}: {error}",
                    ))
            if len(still_running) == len(running) and running:
                time.sleep(self.poll_seconds)
            running = still_running


EXECUTORS = ("local", "pool", "submitit")


def make_executor(name: str, workers: int, submitit_settings: Mapping[str, Any], folder: Path) -> Executor:
    """The executor called ``name``.

    Args:
        name: one of :data:`EXECUTORS`.
        workers: processes (pool) or jobs in flight (submitit); unused by ``local``.
        submitit_settings: the preset's ``executor.submitit`` section (``timeout_min``,
            ``slurm_partition``, ``cpus_per_task``, ``gpus_per_node``, ``mem_gb``,
            ``poll_seconds``; its ``folder`` is resolved into ``folder`` by the caller).
        folder: the submitit job folder.

    Raises:
        SettingsError: an unknown name (with the closest one) or fewer than one worker.
    """
    if name == "local":
        return LocalExecutor()
    if name == "pool":
        return PoolExecutor(workers)
    if name == "submitit":
        parameters = {
            key: value for key, value in submitit_settings.items() if key not in ("folder", "poll_seconds")
        }
        return SubmititExecutor(workers, folder, parameters, submitit_settings["poll_seconds"])
    raise SettingsError(
        f"unknown executor {name!r}{did_you_mean(name, EXECUTORS)}; known: {', '.join(EXECUTORS)}"
    )
