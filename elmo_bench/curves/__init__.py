"""The claims' curves: ELMo's gain against the biLM's pretraining tokens and against the amount of
task training data, and a transformer beside the preset's rows (``elmo-bench curves``).

Every point of a curve is an ordinary grid run of the preset's protocol (:mod:`elmo_bench.runner`),
so its cells resume, reuse the embedding cache and reach the report; :mod:`.stats` reads them back
for the curve's tables (:mod:`.render`) and plots (:mod:`.plots`).
"""

from elmo_bench.curves.definitions import CURVES, CurveDefinition
from elmo_bench.curves.points import CurveError, CurvePoint, curve_points
from elmo_bench.curves.run import plan_curve, run_curve, write_curve_files

__all__ = [
    "CURVES", "CurveDefinition", "CurveError", "CurvePoint", "curve_points", "plan_curve",
    "run_curve", "write_curve_files",
]
