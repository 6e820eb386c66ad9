"""``elmo-bench curves pretraining|training-data|transformer|all``: the claims' curves.

``pretraining``: elmo and elmo+glove at each snapshot of the preset's biLM stage (standard: steps
500, 1000, 2000 and the final 4000), GloVe as a band; needs that stage finished (``make bench``).
``training-data``: glove, elmo+glove and elmo trained on 1, 5, 10, 25 and 100% of each training
split. ``transformer``: the transformer embedder beside the preset's rows (and in its report).
Tasks: CoNLL-2003 NER, SST-2, TREC-6; seeds: the preset's. ``--dry-run`` prints every cell, whether
it is done, and the estimated cost; ``--tables-only`` rebuilds the tables and plots from the cell
files. Tables and plots go to ``results/curves/`` (other presets: ``results/<preset>/curves/``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from elmo_bench.commands.bench import _names, _seeds
from elmo_bench.curves import CURVES, curve_points, plan_curve, run_curve, write_curve_files
from elmo_bench.curves.run import PlannedCell, curves_dir
from elmo_bench.runner.benchmark import describe_outcome, failure_details
from elmo_bench.runner.executors import EXECUTORS
from elmo_bench.runner.presets import PRESETS, resolve_preset
from elmo_bench.settings import parse_assignments

DEFAULT_PRESET = "standard"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("curves", nargs="+", choices=[*CURVES, "all"], metavar="CURVE",
                        help=f"one or more of {', '.join(CURVES)}, or all")
    parser.add_argument("--preset", default=DEFAULT_PRESET,
                        help=f"the protocol the curves run under: one of {', '.join(PRESETS)} "
                        f"(default {DEFAULT_PRESET})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="change a preset setting (as for `elmo-bench bench`; repeatable)")
    parser.add_argument("--tasks", type=_names, help="only these tasks (default conll2003_ner,sst2,trec6)")
    parser.add_argument("--seeds", type=_seeds, help="only these seeds (default: the preset's)")
    parser.add_argument("--executor", help=f"where cells run: {', '.join(EXECUTORS)} (default: the preset's)")
    parser.add_argument("--workers", type=int, help="processes (pool) or jobs in flight (submitit)")
    parser.add_argument("--tasks-dir", action="append", default=[], type=Path,
                        help="another folder of task modules (repeatable)")
    parser.add_argument("--results-dir", type=Path, default=Path("results"),
                        help="cells go to RESULTS_DIR/cells/POINT/ (default results)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="print each curve's cells, which are done, and the estimated cost; run nothing")
    mode.add_argument("--tables-only", action="store_true",
                      help="rebuild the tables and plots from the cell files; run nothing")
    parser.add_argument("--verbose", action="store_true", help="print each cell's progress lines")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.1f} min"


def _print_plan(name: str, preset: str, points, cells: list[PlannedCell], workers: int) -> None:
    print(f"curve {name} (preset {preset}): {len(points)} points")
    for point in points:
        state = "" if point.ready else " (not pretrained yet: the biLM stage is unfinished)"
        print(f"  point {point.label} -> cells/{point.cells_name}{state}")
        for cell in (c for c in cells if c.point == point.label):
            cost = "-" if cell.seconds is None else _duration(cell.seconds)
            print(f"    {cell.label:<34} {cell.status:<6} {cost:>10}  ({cell.basis})")
    _print_total(f"curve {name}", cells, workers)


def _print_total(what: str, cells: list[PlannedCell], workers: int) -> None:
    todo = [cell for cell in cells if cell.status != "done"]
    known = sum(cell.seconds for cell in todo if cell.seconds is not None)
    unknown = sum(1 for cell in todo if cell.seconds is None)
    print(f"{what}: {len(todo)} cells to run, {len(cells) - len(todo)} done; estimated "
          f"{_duration(known)} of cell time, about {_duration(known / workers)} on {workers} "
          f"worker(s)" + (f"; {unknown} cells without an estimate" if unknown else ""))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    overrides = parse_assignments(args.overrides, "--set", "pretrain.glove.dim=50")
    if args.executor is not None:
        overrides["executor.name"] = args.executor
    if args.workers is not None:
        overrides["executor.workers"] = args.workers
    settings = resolve_preset(args.preset, overrides)
    names = list(CURVES) if "all" in args.curves else list(dict.fromkeys(args.curves))
    selection = {"tasks": args.tasks, "seeds": args.seeds, "tasks_dirs": args.tasks_dir,
                 "results_dir": args.results_dir}
    if args.dry_run:
        workers = settings["executor"]["workers"] if settings["executor"]["name"] != "local" else 1
        every: dict[tuple[str, str], PlannedCell] = {}
        for name in names:
            points, cells = plan_curve(CURVES[name], settings, **selection)
            _print_plan(name, args.preset, points, cells, workers)
            every.update((cell.key, cell) for cell in cells)
        if len(names) > 1:
            _print_total("all these curves (cells they share counted once)", list(every.values()), workers)
        return 0
    if args.tables_only:
        for name in names:
            points = curve_points(CURVES[name], settings)
            written = write_curve_files(CURVES[name], points, settings, tasks=args.tasks,
                                        seeds=args.seeds, results_dir=args.results_dir)
            print(f"curve {name}: {', '.join(str(path) for path in written)}")
        return 0
    status = 0
    for name in names:
        outcomes = run_curve(CURVES[name], settings, **selection, verbose=args.verbose,
                             progress=not args.no_progress)
        for outcome in outcomes:
            print(describe_outcome(outcome))
            if outcome.failed:
                print(failure_details(outcome))
                status = 1
        if not status:
            print(f"curve {name}: tables and plot in {curves_dir(settings, args.results_dir)}")
    return status
