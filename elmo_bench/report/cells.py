"""Cell result files -> :class:`Cell` records: what a report needs from each, checked on reading.

Every ``*.json`` file under the cells folder must be a cell result (:mod:`elmo_bench.cell`, result
format 1 or 2); anything else is an error naming the file, so that no result is left out
unnoticed. Per-example test outcomes (format 2) are parsed and must give back the cell's reported
main score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elmo_bench.errors import ElmoBenchError
from elmo_bench.metrics.per_example import ExampleOutcomes, OutcomeRecordError, checked_outcomes

READABLE_FORMAT_VERSIONS = (1, 2)
# Recorded mix weights are softmax outputs rounded to 6 decimals.
MIX_SUM_TOLERANCE = 1e-3


class CellFileError(ElmoBenchError, ValueError):
    """A cell result file that cannot be read or is not a valid cell result; names the file."""


@dataclass(frozen=True)
class LearnedMix:
    """The scalar mix a head learned over one source embedder's layers.

    Attributes:
        source: the source embedder (``"elmo"``).
        layer_weights: softmax-normalised weight of each layer (layer 0 first; they sum to 1).
        gamma: the mix's scale.
    """

    source: str
    layer_weights: tuple[float, ...]
    gamma: float


@dataclass(frozen=True)
class TrainingHistory:
    """How the head's training ended.

    Attributes:
        epochs_run: epochs trained.
        best_epoch: the epoch (1-based) whose head was kept: the best on dev.
        stopped_early: whether patience ended the training (False: the epoch cap did).
        max_epochs: the epoch cap, where recorded.
    """

    epochs_run: int
    best_epoch: int
    stopped_early: bool
    max_epochs: int | None

    @property
    def converged(self) -> bool:
        """False when the best epoch is the last one run: dev was still improving when training
        ended, so a longer training might have given a better head."""
        return self.best_epoch < self.epochs_run


@dataclass(frozen=True)
class Cell:
    """What a report uses from one cell result (task, embedder, seed).

    Attributes:
        path: the result file.
        task, embedder, seed: the cell.
        metric: the task's main score (``"f1"``, ``"accuracy"``).
        score: the main score on the reported split, in [0, 1].
        reported_split: the dataset split that is reported (``"test"``; SQuAD: ``"dev"``).
        outcomes: the per-example outcomes on the reported split, or None.
        no_outcomes_reason: why ``outcomes`` is None.
        examples_sha256: fingerprint of the reported split's examples (None without outcomes).
        embedder_fingerprint: the source embedders' fingerprints, joined.
        embedding_seconds: seconds it took to compute the embeddings of all splits (when they
            were computed, whether or not this run found them cached), summed over sources.
        adaptation_seconds: seconds the embedder's adaptation to the task took when it was
            computed (language-model fine-tuning of the biLM; 0 for the others).
        embedding_tokens: tokens embedded for all splits (distinct token sequences).
        training_seconds_per_epoch: median seconds per training epoch (the mean in files that
            predate the median).
        peak_memory_bytes: the process's peak resident memory.
        mixes: learned scalar mixes, one per mixed source.
        comparable_settings: settings and test data checksums that must agree between the cells
            of one task for their scores to share a protocol.
        training: the head's training history (None in files that do not record it).
    """

    path: Path
    task: str
    embedder: str
    seed: int
    metric: str
    score: float
    reported_split: str
    outcomes: ExampleOutcomes | None
    no_outcomes_reason: str | None
    examples_sha256: str | None
    embedder_fingerprint: str
    embedding_seconds: float
    adaptation_seconds: float
    embedding_tokens: int
    training_seconds_per_epoch: float
    peak_memory_bytes: int
    mixes: tuple[LearnedMix, ...]
    comparable_settings: dict[str, Any]
    training: TrainingHistory | None = None

    @property
    def embedding_tokens_per_second(self) -> float | None:
        return self.embedding_tokens / self.embedding_seconds if self.embedding_seconds else None


class _Fields:
    """Typed access to a parsed cell file; every failure names the file and the key."""

    def __init__(self, path: Path, data: Any) -> None:
        self.path = path
        self.data = data

    def error(self, message: str) -> CellFileError:
        return CellFileError(f"{self.path}: {message}")

    def get(
        self, dotted_key: str, expected: type | tuple[type, ...], optional: bool = False
    ) -> Any:
        """The value at ``dotted_key`` (``"a.b"``: key ``b`` of ``a``), of type ``expected``;
        None when ``optional`` and it is missing or null."""
        value = self.data
        for key in dotted_key.split("."):
            if not isinstance(value, Mapping) or key not in value:
                if optional:
                    return None
                raise self.error(f"no {dotted_key!r}; is this a cell result of `elmo-bench task`?")
            value = value[key]
        if optional and value is None:
            return None
        # No field of a cell result is a boolean; JSON true/false must not pass as 1/0.
        if isinstance(value, bool) or not isinstance(value, expected):
            kinds = expected if isinstance(expected, tuple) else (expected,)
            names = " or ".join(kind.__name__ for kind in kinds)
            raise self.error(f"{dotted_key!r} must be {names}, got {value!r:.80}")
        return value


def _embedding_costs(fields: _Fields) -> tuple[float, int]:
    seconds, tokens = 0.0, 0
    for role, sources in fields.get("timings.embedding", dict).items():
        if not isinstance(sources, Mapping) or not sources:
            raise fields.error(f"timings.embedding.{role} must map sources to their costs")
        role_tokens = set()
        for source in sources:
            key = f"timings.embedding.{role}.{source}"
            # An unfrozen biLM embeds inside every training batch: its cost is in the epochs.
            if fields.get(f"{key}.cache", str, optional=True) != "unfrozen":
                seconds += fields.get(f"{key}.embed_seconds_when_computed", (int, float))
            role_tokens.add(fields.get(f"{key}.tokens", int))
        if len(role_tokens) != 1:
            raise fields.error(f"timings.embedding.{role}: sources embedded different token counts")
        tokens += role_tokens.pop()
    return seconds, tokens


def _adaptation_seconds(fields: _Fields) -> float:
    """Seconds the task adaptations took when they were computed (language-model fine-tuning;
    0 for frozen and unfrozen embedders), summed over sources."""
    records = fields.get("embedder_details.adaptation", dict, optional=True) or {}
    return float(sum(
        fields.get(f"embedder_details.adaptation.{source}.seconds", (int, float), optional=True) or 0
        for source in records
    ))


def _mixes(fields: _Fields) -> tuple[LearnedMix, ...]:
    recorded = fields.get("head.learned_mixes", list)
    parts = fields.get("embedder_details.parts", list)
    if len(recorded) != len(parts):
        raise fields.error(
            f"head.learned_mixes has {len(recorded)} entries for {len(parts)} embedder parts"
        )
    mixes = []
    for index, (mix, part) in enumerate(zip(recorded, parts, strict=True)):
        if mix is None:
            continue
        key = f"head.learned_mixes[{index}]"
        weights = mix.get("layer_weights") if isinstance(mix, Mapping) else None
        gamma = mix.get("gamma") if isinstance(mix, Mapping) else None
        if (
            not isinstance(weights, list)
            or not weights
            or not all(isinstance(w, (int, float)) and w >= 0 for w in weights)
            or not isinstance(gamma, (int, float))
        ):
            raise fields.error(f"{key} must hold non-negative layer_weights and a gamma")
        if abs(sum(weights) - 1) > MIX_SUM_TOLERANCE:
            raise fields.error(
                f"{key}.layer_weights sum to {sum(weights)}, not 1: not softmax-normalised"
            )
        source = part.get("source") if isinstance(part, Mapping) else None
        if not isinstance(source, str):
            raise fields.error(f"embedder_details.parts[{index}] has no source name")
        mixes.append(LearnedMix(source, tuple(float(w) for w in weights), float(gamma)))
    return tuple(mixes)


def _outcomes(
    fields: _Fields, metric: str, score: float, format_version: int
) -> tuple[ExampleOutcomes | None, str | None, str | None]:
    """(outcomes, reason when there are none, examples sha256)."""
    if format_version < 2:
        return None, f"result format {format_version} predates per-example outcomes", None
    if "per_example" not in fields.data:
        raise fields.error(f"result format {format_version} needs a 'per_example' entry")
    if fields.data["per_example"] is None:
        return None, "the task does not record per-example outcomes", None
    record = fields.get("per_example.test", dict)
    examples_sha256 = fields.get("per_example.test.examples_sha256", str)
    try:
        outcomes = checked_outcomes(record, metric, score)
    except OutcomeRecordError as error:
        raise fields.error(f"per_example.test: {error}") from None
    return outcomes, None, examples_sha256


def _training_history(fields: _Fields) -> TrainingHistory | None:
    """The ``training`` record's epochs, best epoch and early stop; None when it is absent."""
    if fields.get("training", dict, optional=True) is None:
        return None
    epochs = fields.get("training.epochs", list)
    best_epoch = fields.get("training.best_epoch", int)
    stopped_early = fields.data["training"].get("stopped_early")
    if not isinstance(stopped_early, bool):
        raise fields.error(
            f"'training.stopped_early' must be true or false, got {stopped_early!r}"
        )
    if not 1 <= best_epoch <= len(epochs):
        raise fields.error(
            f"'training.best_epoch' {best_epoch} is not one of the {len(epochs)} epochs run"
        )
    return TrainingHistory(
        epochs_run=len(epochs),
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        max_epochs=fields.get("settings.training.max_epochs", int, optional=True),
    )


def _comparable_settings(fields: _Fields) -> dict[str, Any]:
    settings = dict(fields.get("settings", dict))
    # Where the head trained does not change the protocol.
    settings["training"] = {
        key: value
        for key, value in dict(fields.get("settings.training", dict)).items()
        if key != "device"
    }
    test_files = fields.get("protocol.data.test", list, optional=True) or []
    settings["test_data_sha256"] = [
        entry.get("sha256") if isinstance(entry, Mapping) else None for entry in test_files
    ]
    return settings


def load_cell(path: Path) -> Cell:
    """Read and check one cell result file.

    Raises:
        CellFileError: the file cannot be read, is not JSON, is not a cell result, or its
            per-example outcomes do not give back its main score. The message names the file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise CellFileError(f"{path}: cannot be read: {error}") from None
    except json.JSONDecodeError as error:
        raise CellFileError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    fields = _Fields(path, data)
    if not isinstance(data, Mapping):
        raise fields.error("a cell result must be a JSON object")
    format_version = fields.get("format_version", int)
    if format_version not in READABLE_FORMAT_VERSIONS:
        raise fields.error(
            f"result format {format_version} is not one of {READABLE_FORMAT_VERSIONS} "
            "(written by a newer elmo-bench?)"
        )
    metric = fields.get("main_score.name", str)
    score = float(fields.get("main_score.value", (int, float)))
    if not 0 <= score <= 1:
        raise fields.error(f"main_score.value {score} is not within [0, 1]")
    outcomes, reason, examples_sha256 = _outcomes(fields, metric, score, format_version)
    embedding_seconds, embedding_tokens = _embedding_costs(fields)
    per_epoch = fields.get("timings.training_seconds_per_epoch_median", (int, float), optional=True)
    if per_epoch is None:
        per_epoch = fields.get("timings.training_seconds_per_epoch", (int, float))
    parts = fields.get("embedder_details.parts", list)
    fingerprints = [
        part.get("fingerprint") if isinstance(part, Mapping) else None for part in parts
    ]
    if not parts or not all(isinstance(fingerprint, str) for fingerprint in fingerprints):
        raise fields.error("embedder_details.parts must each have a fingerprint")
    return Cell(
        path=path,
        task=fields.get("task", str),
        embedder=fields.get("embedder", str),
        seed=fields.get("seed", int),
        metric=metric,
        score=score,
        reported_split=fields.get("main_score.dataset_split", str),
        outcomes=outcomes,
        no_outcomes_reason=reason,
        examples_sha256=examples_sha256,
        embedder_fingerprint="+".join(fingerprints),
        embedding_seconds=float(embedding_seconds),
        adaptation_seconds=_adaptation_seconds(fields),
        embedding_tokens=embedding_tokens,
        training_seconds_per_epoch=float(per_epoch),
        peak_memory_bytes=fields.get("memory.peak_rss_bytes", int),
        mixes=_mixes(fields),
        comparable_settings=_comparable_settings(fields),
        training=_training_history(fields),
    )


def load_cells(cells_dir: Path) -> list[Cell]:
    """Every cell result file under ``cells_dir`` (recursively, ``*.json``), sorted by task,
    embedder and seed.

    Raises:
        CellFileError: ``cells_dir`` is missing or holds no cell file, a file is not a valid cell
            result (see :func:`load_cell`), or two files hold the same (task, embedder, seed).
    """
    cells_dir = Path(cells_dir)
    if not cells_dir.is_dir():
        raise CellFileError(f"{cells_dir}: no such folder of cell results")
    # Hidden files are the temporaries of writes in progress (elmo_bench.atomic), not results.
    paths = sorted(path for path in cells_dir.rglob("*.json") if not path.name.startswith("."))
    if not paths:
        raise CellFileError(f"{cells_dir}: holds no cell result (*.json) files")
    cells: dict[tuple[str, str, int], Cell] = {}
    for path in paths:
        cell = load_cell(path)
        key = (cell.task, cell.embedder, cell.seed)
        if key in cells:
            raise CellFileError(
                f"{path}: task {cell.task}, embedder {cell.embedder}, seed {cell.seed} is also in "
                f"{cells[key].path}; keep one of them"
            )
        cells[key] = cell
    return [cells[key] for key in sorted(cells)]
