"""biLM pretraining presets as data: architecture, softmax, vocabulary cut-off and training schedule.

A preset is a plain nested dict (``PRESETS``) parsed into :class:`BiLmPreset`; any field can be
overridden with a dotted ``section.field=value`` string (``train.max_steps=2000``), so the command
line never needs one flag per field.

Sizes:
    ``tiny``: 24k parameters, for tests (seconds).
    ``cpu-small``: 4.7M parameters (3.0M in the exported biLM, 1.7M in the softmax) for an hour on
        two CPU cores (DESIGN.md section 4: 2 layers of 512 cells projected to 128, 5 filter
        widths, adaptive softmax over 50k words). Its softmax has four clusters: with two, the
        rare-word cluster's 40k-wide log-softmax made the softmax twice as slow on the CPU.
    ``elmo-small``: the published ``elmo_2x1024_128_2048cnn_1xhighway`` architecture (13.6M
        parameters in the biLM, as AllenNLP's table).
    ``elmo-original``: the published ``elmo_2x4096_512_2048cnn_2xhighway`` architecture (93.6M in
        the biLM; for a GPU).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from elmo_bench.embedders.elmo.options import ElmoOptions
from elmo_bench.errors import ElmoBenchError
from elmo_bench.pretrain.vocab import VocabConfig


class PresetError(ElmoBenchError, ValueError):
    """An unknown preset name or an override that does not name a field or fit its type."""


# The char CNN of every published ELMo model (ELMO_SPEC.md section 1).
PUBLISHED_FILTERS = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))


@dataclass(frozen=True)
class ModelConfig:
    """The biLM architecture plus what only training needs (softmax, dropout).

    Attributes:
        cell_dim, projection_dim, n_layers, cell_clip, proj_clip, char_embedding_dim, filters,
            n_highway, activation: as :class:`~elmo_bench.embedders.elmo.options.ElmoOptions`.
        softmax_cutoffs: word-id cut-offs of the adaptive softmax (head = words below the first);
            cut-offs at or above ``vocabulary size - 1`` are dropped for small vocabularies.
        softmax_div_value: each tail cluster's projection is this many times narrower than the
            previous one (torch's ``div_value``).
        dropout: dropout on the LSTM input and on the top layer's output (training only).
    """

    cell_dim: int
    projection_dim: int
    n_layers: int = 2
    cell_clip: float = 3.0
    proj_clip: float = 3.0
    char_embedding_dim: int = 16
    filters: tuple[tuple[int, int], ...] = PUBLISHED_FILTERS
    n_highway: int = 1
    activation: str = "relu"
    softmax_cutoffs: tuple[int, ...] = (4000, 20000)
    softmax_div_value: float = 4.0
    dropout: float = 0.1

    def elmo_options(self) -> ElmoOptions:
        """The inference-time architecture (what ``options.json`` records)."""
        return ElmoOptions(
            cell_dim=self.cell_dim,
            projection_dim=self.projection_dim,
            n_layers=self.n_layers,
            cell_clip=self.cell_clip,
            proj_clip=self.proj_clip,
            char_embedding_dim=self.char_embedding_dim,
            filters=tuple(tuple(pair) for pair in self.filters),
            n_highway=self.n_highway,
            activation=self.activation,
        )


@dataclass(frozen=True)
class BiLmTrainConfig:
    """How to train the biLM (the schedule of a pretraining run; a task head's is
    ``TrainingConfig``, the schema of ``Task.training``).

    Attributes:
        batch_tokens: positions (``<S>``/``</S>`` included) per batch and rank; every batch holds
            windows of one length, so there is no padding.
        max_window: longest window of a sentence, markers included; longer sentences are cut
            into windows that overlap by one position, so every target is predicted once.
        batches_per_step: batches accumulated into one optimizer step on each rank.
        optimizer: "adam" or "adagrad".
        learning_rate: peak learning rate.
        warmup_steps: linear warm-up from 0 to the peak.
        max_steps: optimizer steps of the schedule; the learning rate decays (cosine) to
            ``min_lr_ratio`` times the peak at this step, where training ends.
        min_lr_ratio: final learning rate as a fraction of the peak.
        clip_norm: global gradient-norm clip.
        seed: initialisation, data order and dropout.
        log_every: steps between progress lines.
        eval_every: steps between held-out evaluations (0: only at the end).
        eval_tokens: held-out tokens used by the periodic evaluation (the final one uses all).
        checkpoint_every: steps between checkpoints (one is also written when a run stops).
        snapshot_steps: steps (each below ``max_steps``) at which the biLM is also exported to
            ``snapshots/step-<N>/`` with its held-out perplexity and tokens seen, for learning
            curves over pretraining; the final export is the run's own.
    """

    batch_tokens: int = 4096
    max_window: int = 50
    batches_per_step: int = 1
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    max_steps: int = 3000
    min_lr_ratio: float = 0.1
    clip_norm: float = 10.0
    seed: int = 1
    log_every: int = 20
    eval_every: int = 500
    eval_tokens: int = 100_000
    checkpoint_every: int = 200
    snapshot_steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adagrad"):
            raise PresetError(f"train.optimizer must be 'adam' or 'adagrad', got {self.optimizer!r}")
        if self.max_window < 2:
            raise PresetError(f"train.max_window must be at least 2 (<S> and </S>), got {self.max_window}")
        if self.batch_tokens < self.max_window:
            raise PresetError(
                f"train.batch_tokens ({self.batch_tokens}) must hold at least one window of "
                f"train.max_window ({self.max_window}) positions"
            )
        for name in ("batches_per_step", "max_steps", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise PresetError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        object.__setattr__(self, "snapshot_steps", tuple(self.snapshot_steps))
        for step in self.snapshot_steps:
            if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step < self.max_steps:
                raise PresetError(
                    f"train.snapshot_steps: {step!r} is not a step between 1 and train.max_steps - 1 "
                    f"({self.max_steps - 1}); the final export is the run's own"
                )
        if len(set(self.snapshot_steps)) != len(self.snapshot_steps):
            raise PresetError(f"train.snapshot_steps repeats a step: {list(self.snapshot_steps)}")


@dataclass(frozen=True)
class BiLmPreset:
    """A named, complete pretraining configuration."""

    name: str
    model: ModelConfig
    train: BiLmTrainConfig = field(default_factory=BiLmTrainConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BiLmPreset":
        """Inverse of :meth:`to_dict` (lists become tuples)."""
        try:
            model = dict(data["model"])
            model["filters"] = tuple(tuple(pair) for pair in model.get("filters", PUBLISHED_FILTERS))
            model["softmax_cutoffs"] = tuple(model.get("softmax_cutoffs", ()))
            return cls(
                name=str(data["name"]),
                model=ModelConfig(**model),
                train=BiLmTrainConfig(**data.get("train", {})),
                vocab=VocabConfig(**data.get("vocab", {})),
            )
        except (KeyError, TypeError) as error:
            raise PresetError(f"not a biLM preset: {error}") from error


PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "model": {
            "cell_dim": 32, "projection_dim": 16, "n_layers": 2, "char_embedding_dim": 4,
            "filters": [[1, 8], [2, 8], [3, 16]], "n_highway": 1, "softmax_cutoffs": [20],
            "dropout": 0.1,
        },
        "train": {
            "batch_tokens": 256, "max_window": 12, "learning_rate": 1e-2, "warmup_steps": 2,
            "max_steps": 20, "log_every": 5, "eval_every": 10, "eval_tokens": 2000,
            "checkpoint_every": 5,
        },
        "vocab": {"max_words": 200, "min_count": 1},
    },
    "cpu-small": {
        "model": {
            "cell_dim": 512, "projection_dim": 128, "n_layers": 2, "char_embedding_dim": 16,
            "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256]], "n_highway": 1,
            "softmax_cutoffs": [2000, 10000, 25000], "softmax_div_value": 2.0, "dropout": 0.1,
        },
        "train": {
            "batch_tokens": 4096, "max_window": 50, "optimizer": "adam", "learning_rate": 2e-3,
            "warmup_steps": 100, "max_steps": 1000, "min_lr_ratio": 0.1, "clip_norm": 10.0,
            "log_every": 10, "eval_every": 100, "eval_tokens": 30_000, "checkpoint_every": 100,
        },
        "vocab": {"max_words": 50_000, "min_count": 5},
    },
    "elmo-small": {
        "model": {
            "cell_dim": 1024, "projection_dim": 128, "n_layers": 2, "n_highway": 1,
            "softmax_cutoffs": [4000, 20000], "dropout": 0.1,
        },
        "train": {
            "batch_tokens": 8192, "max_steps": 50_000, "warmup_steps": 1000, "learning_rate": 1e-3,
            "eval_every": 2000, "eval_tokens": 200_000, "checkpoint_every": 1000,
        },
        "vocab": {"max_words": 100_000, "min_count": 3},
    },
    "elmo-original": {
        "model": {
            "cell_dim": 4096, "projection_dim": 512, "n_layers": 2, "n_highway": 2,
            "softmax_cutoffs": [4000, 20000], "dropout": 0.1,
        },
        "train": {
            "batch_tokens": 16384, "max_steps": 200_000, "warmup_steps": 2000,
            "learning_rate": 5e-4, "eval_every": 5000, "eval_tokens": 400_000,
            "checkpoint_every": 2000,
        },
        "vocab": {"max_words": 100_000, "min_count": 3},
    },
}


def _parse_value(text: str, current: Any, key: str) -> Any:
    """``text`` read as the type of the field's ``current`` value (JSON for lists)."""
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if isinstance(current, int) or current is None:
            return None if text.lower() == "none" else int(text)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, (tuple, list)):
            value = json.loads(text)
            if not isinstance(value, list):
                raise ValueError(text)
            return value
        return text
    except ValueError as error:
        raise PresetError(
            f"override {key}={text!r}: expected a value like {current!r}"
        ) from error


def get_preset(name: str, overrides: list[str] | tuple[str, ...] = ()) -> BiLmPreset:
    """The preset ``name`` with ``section.field=value`` overrides applied.

    Raises:
        PresetError: unknown name, malformed override, unknown field or a value of the wrong type.
    """
    if name not in PRESETS:
        raise PresetError(f"unknown biLM preset {name!r}; known presets: {', '.join(PRESETS)}")
    data = BiLmPreset.from_dict({"name": name, **PRESETS[name]}).to_dict()
    for override in overrides:
        key, sep, text = override.partition("=")
        section, dot, field_name = key.strip().partition(".")
        if not sep or not dot:
            raise PresetError(f"override {override!r}: expected section.field=value, e.g. train.max_steps=100")
        if section not in ("model", "train", "vocab") or field_name not in data[section]:
            known = ", ".join(f"{s}.{f}" for s in ("model", "train", "vocab") for f in data[s])
            raise PresetError(f"override {override!r}: unknown field {key!r}; known fields: {known}")
        data[section][field_name] = _parse_value(text.strip(), data[section][field_name], key)
    return BiLmPreset.from_dict(data)
