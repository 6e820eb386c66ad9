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

from elmo_bench.commands.grid_arguments import add_grid_arguments, preset_settings, print_outcomes, run_request
from elmo_bench.curves import CURVES, curve_points, plan_curve, run_curve, write_curve_files
from elmo_bench.curves.definitions import CURVE_TASKS
from elmo_bench.curves.run import PlannedCell, curves_dir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("curves", nargs="+", choices=[*CURVES, "all"], metavar="CURVE",
                        help=f"one or more of {', '.join(CURVES)}, or all")
    add_grid_arguments(parser, preset_help="the protocol the curves run under",
                       default_tasks=",".join(CURVE_TASKS), cells_folder="POINT", embedders=False)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="print each curve's cells, which are done, and the estimated cost; run nothing")
    mode.add_argument("--tables-only", action="store_true",
                      help="rebuild the tables and plots from the cell files; run nothing")


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
    settings = preset_settings(args)
    request = run_request(args)
    names = list(CURVES) if "all" in args.curves else list(dict.fromkeys(args.curves))
    if args.dry_run:
        workers = settings["executor"]["workers"] if settings["executor"]["name"] != "local" else 1
        every: dict[tuple[str, str], PlannedCell] = {}
        for name in names:
            points, cells = plan_curve(CURVES[name], settings, request)
            _print_plan(name, args.preset, points, cells, workers)
            every.update((cell.key, cell) for cell in cells)
        if len(names) > 1:
            _print_total("all these curves (cells they share counted once)", list(every.values()), workers)
        return 0
    if args.tables_only:
        for name in names:
            points = curve_points(CURVES[name], settings)
            written = write_curve_files(CURVES[name], points, settings, request)
            print(f"curve {name}: {', '.join(str(path) for path in written)}")
        return 0
    status = 0
    for name in names:
        status = print_outcomes(run_curve(CURVES[name], settings, request)) or status
        if not status:
            print(f"curve {name}: tables and plot in {curves_dir(settings, request.results_dir)}")
    return status
