"""How the pretraining stages run in processes: under a thread count, as spawned data-parallel
ranks, or side by side in processes of their own whose logs come back to the parent.

Nothing here knows what a stage trains: :mod:`elmo_bench.runner.stages` hands in the work as
picklable callables (module-level functions, or ``functools.partial`` of them).
"""

from __future__ import annotations

import concurrent.futures
import logging
import logging.handlers
import multiprocessing
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch

Result = TypeVar("Result")

STAGE_LOG = f"{__name__}.log"
"""The logger that carries a stage process's ``log`` lines to the ``log`` of the parent."""


def with_threads(threads: int, work: Callable[[], Result]) -> Result:
    """``work()`` with torch using ``threads`` threads (the count before is restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return work()
    finally:
        torch.set_num_threads(before)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_rank(
    rank: int, world_size: int, port: int, threads: int, log_level: int, work: Callable[[], Any]
) -> None:
    """One rank of :func:`run_data_parallel` (a spawned process): the environment that
    ``torchrun`` would set (from which ``work`` joins the gloo group), then ``work()``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    logging.basicConfig(level=log_level, format=f"%(asctime)s rank {rank} %(name)s: %(message)s")
    torch.set_num_threads(threads)
    work()


def run_data_parallel(processes: int, threads: int, work: Callable[[], Any]) -> None:
    """Run ``work`` (picklable) in ``processes`` ranks of ``threads`` torch threads on this
    machine, spawned by torch.multiprocessing as ``torchrun --nproc-per-node`` would start them;
    returns when every rank has finished.

    Raises:
        torch.multiprocessing.spawn.ProcessException: a rank failed (its error and traceback are
            in the message).
    """
    torch.multiprocessing.start_processes(
        _run_rank,
        args=(processes, _free_port(), threads, logging.getLogger().getEffectiveLevel(), work),
        nprocs=processes, join=True, start_method="spawn",
    )


def _log_to_parent(line: str) -> None:
    """The ``log`` of a stage process (a module-level function: it is pickled by name)."""
    logging.getLogger(STAGE_LOG).info(line)


def _send_logs_to(queue: Any, level: int) -> None:
    """Initializer of a stage process: its log records at ``level`` and above, and its ``log``
    lines, go to ``queue`` and nowhere else (not to handlers the main module set up on import)."""
    root = logging.getLogger()
    root.handlers = [logging.handlers.QueueHandler(queue)]
    root.setLevel(level)
    logging.getLogger(STAGE_LOG).setLevel(logging.INFO)


class _FromStageProcesses(logging.Handler):
    """In the parent: hands what stage processes log to the parent's ``log`` (their ``log``
    lines) or to the parent's logger of the same name (their log records)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == STAGE_LOG:
            self.log(record.getMessage())
        else:
            logging.getLogger(record.name).handle(record)


def run_side_by_side(
    calls: Mapping[str, Callable[[Callable[[str], None]], Result]],
    log: Callable[[str], None],
    on_finished: Callable[[Result], None],
) -> dict[str, concurrent.futures.Future]:
    """Run every call of ``calls`` (name -> picklable callable taking a ``log``) at once, each in
    a spawned process of its own; their log records and ``log`` lines come back to this process's
    loggers and ``log``. As each ends, ``on_finished`` gets its result, or ``log`` a line naming
    its error. Returns ``{name: future}`` (in the order of ``calls``) once every one has ended,
    finished or failed; a process that died (killed, out of memory) breaks the pool, and every
    future not finished by then raises ``BrokenProcessPool``."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    listener = logging.handlers.QueueListener(queue, _FromStageProcesses(log))
    listener.start()
    try:
        with concurrent.futures.ProcessPoolExecutor(
            len(calls), mp_context=context, initializer=_send_logs_to,
            initargs=(queue, logging.getLogger().getEffectiveLevel()),
        ) as pool:
            futures = {name: pool.submit(call, _log_to_parent) for name, call in calls.items()}
            names = {future: name for name, future in futures.items()}
            for future in concurrent.futures.as_completed(names):
                error = future.exception()
                if error is None:
                    on_finished(future.result())
                else:
                    log(f"{names[future]}: failed: {type(error).__name__}: {error}")
    finally:
        listener.stop()
    return futures
