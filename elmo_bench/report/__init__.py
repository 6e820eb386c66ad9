"""Result tables, plots and seed-aware significance tests, rebuilt from cell result files.

:func:`build_report` is the entry point (``elmo-bench report``); :mod:`.cells` reads the files,
:mod:`.summary` aggregates them, :mod:`.significance` runs the two-level bootstrap, :mod:`.render`
and :mod:`.plots` write the outputs.
"""

from elmo_bench.report.build import REPORT_FILES, build_report
from elmo_bench.report.cells import CellFileError

__all__ = ["REPORT_FILES", "CellFileError", "build_report"]
