"""A curve's points: each is the settings of an ordinary grid run (its cells folder named by
``settings["preset"]``), the embedders it runs and where it sits on the curve's x axis.

A point that is the preset itself (the fully pretrained biLM, the whole training split, the
transformer beside the preset's rows) keeps the preset's name, so its cells are the preset's own
files under ``results/cells/<preset>/`` and are never computed twice. The other points are named
``<preset>-pretraining-step<N>`` and ``<preset>-training-data-<P>pct``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elmo_bench.curves.definitions import CurveDefinition
from elmo_bench.pretrain.bilm.export import SNAPSHOTS_DIR
from elmo_bench.runner.benchmark import run_folders
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.runner.stage_folders import read_stage_record, stage_folder
from elmo_bench.runner.stages import bilm_stage_preset, source_is_given
from elmo_bench.settings import SettingsError


class CurveError(SettingsError):
    """A curve that cannot be drawn from what exists (an unfinished biLM stage, no snapshots)."""


@dataclass(frozen=True)
class CurvePoint:
    """One point of a curve.

    Attributes:
        curve: the curve's name.
        label: how tables and plots name the point (``"step 500"``, ``"5%"``).
        x: its place on the x axis (pretraining tokens seen, training fraction); None where the
            curve has no axis or the biLM that would give it is not pretrained yet.
        settings: the resolved preset settings of its grid run.
        embedders: the embedders run at this point.
        details: what the point is (a snapshot's step, tokens seen and held-out perplexity; a
            fraction).
        ready: False where its inputs do not exist yet (a plan may list it, a run may not).
    """

    curve: str
    label: str
    x: float | None
    settings: dict[str, Any]
    embedders: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)
    ready: bool = True

    @property
    def cells_name(self) -> str:
        """The folder under ``results/cells/`` that holds the point's cell files."""
        return self.settings["preset"]


def curve_points(
    definition: CurveDefinition, settings: dict[str, Any], require_inputs: bool = True
) -> list[CurvePoint]:
    """The points of ``definition`` under the preset ``settings`` (resolved, not modified).

    Args:
        require_inputs: raise when a point's inputs do not exist yet; False lists such points
            with ``ready=False`` (a dry run's plan).

    Raises:
        CurveError: the pretraining curve of a preset that does not pretrain its biLM, or whose
            biLM stage is unfinished (with ``require_inputs``) or exported no snapshots.
    """
    if definition.axis == "pretraining":
        return _pretraining_points(definition, settings, require_inputs)
    if definition.axis == "train_fraction":
        return [_fraction_point(definition, settings, fraction) for fraction in definition.fractions]
    return [CurvePoint(definition.name, settings["preset"], None, copy.deepcopy(settings),
                       definition.all_embedders)]


def fraction_label(fraction: float) -> str:
    """``0.05`` -> ``"5%"``."""
    return f"{100 * fraction:g}%"


def _fraction_point(definition: CurveDefinition, settings: dict[str, Any], fraction: float) -> CurvePoint:
    point_settings = copy.deepcopy(settings)
    if fraction < 1:
        point_settings["train_fraction"] = fraction
        point_settings["preset"] = f"{settings['preset']}-training-data-{100 * fraction:g}pct"
    return CurvePoint(definition.name, fraction_label(fraction), fraction, point_settings,
                      definition.all_embedders, {"train_fraction": fraction})


def _heldout_perplexity(record: dict[str, Any] | None) -> float | None:
    value = (record or {}).get("mean_ppl")
    return float(value) if isinstance(value, (int, float)) else None


def _pretraining_points(
    definition: CurveDefinition, settings: dict[str, Any], require_inputs: bool
) -> list[CurvePoint]:
    preset = settings["preset"]
    if source_is_given("elmo", settings["embedder"]["elmo"]):
        raise CurveError(
            f"the pretraining curve follows the biLM that preset {preset!r} pretrains, but "
            "embedder.elmo names its weights; use a preset that pretrains its biLM (standard)"
        )
    config = settings["pretrain"]["bilm"]
    schedule = bilm_stage_preset(config).train
    _, stages_dir, data_dir = run_folders(settings)
    if settings["smoke_data"]:
        write_smoke_data(data_dir)
    folder = stage_folder("bilm", config, data_dir, stages_dir)
    record = read_stage_record(folder)
    if record is None:
        if require_inputs:
            raise CurveError(
                f"the pretraining curve needs the finished biLM stage of preset {preset!r} "
                f"({folder} is not finished): pretrain it first with `make bench` (or "
                f"`elmo-bench bench --preset {preset}`)"
            )
        return [
            CurvePoint(definition.name, f"step {step}", None, _snapshot_settings(settings, step, None),
                       definition.embedders, {"step": step}, ready=False)
            for step in schedule.snapshot_steps
        ] + [CurvePoint(definition.name, f"step {schedule.max_steps}", None, copy.deepcopy(settings),
                        definition.all_embedders, {"step": schedule.max_steps}, ready=False)]
    points = []
    for step in sorted(schedule.snapshot_steps):
        snapshot = folder / SNAPSHOTS_DIR / f"step-{step}"
        try:
            described = json.loads((snapshot / "snapshot.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CurveError(
                f"{snapshot}: no snapshot of step {step} (pretrain.bilm.overrides.train."
                f"snapshot_steps asks for it): {error}; pretrain the biLM stage again"
            ) from None
        details = {"step": step, "tokens_seen": described["tokens_seen"],
                   "heldout_perplexity": _heldout_perplexity(described.get("heldout")),
                   "weights": str(snapshot / "weights.hdf5")}
        points.append(CurvePoint(definition.name, f"step {step}", float(described["tokens_seen"]),
                                 _snapshot_settings(settings, step, snapshot), definition.embedders,
                                 details))
    if not points:
        raise CurveError(
            f"the biLM stage in {folder} exported no snapshots: set "
            "pretrain.bilm.overrides.train.snapshot_steps (standard: [500, 1000, 2000]) and "
            "pretrain it again"
        )
    cost = record["cost"]
    final = (cost.get("final_perplexities") or {}).get("heldout")
    details = {"step": cost["steps"], "tokens_seen": cost["tokens_seen"],
               "heldout_perplexity": _heldout_perplexity(final), "weights": record["outputs"]["weights"]}
    points.append(CurvePoint(definition.name, f"step {cost['steps']}", float(cost["tokens_seen"]),
                             copy.deepcopy(settings), definition.all_embedders, details))
    return points


def _snapshot_settings(settings: dict[str, Any], step: int, snapshot: Path | None) -> dict[str, Any]:
    """The preset's settings with ELMo read from the snapshot of ``step`` (no biLM stage runs)."""
    point = copy.deepcopy(settings)
    point["preset"] = f"{settings['preset']}-pretraining-step{step}"
    if snapshot is not None:
        point["embedder"]["elmo"]["options"] = str(snapshot / "options.json")
        point["embedder"]["elmo"]["weights"] = str(snapshot / "weights.hdf5")
    return point
