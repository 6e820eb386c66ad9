"""biLM pretraining presets as data: architecture, softmax, vocabulary cut-off and training schedule.

A preset is a plain nested dict (``PRESETS``) parsed into :class:`BiLmPreset`; any field can be
overridden by section (``{"train": {"max_steps": 2000}}``; on the command line ``--set
train.max_steps=2000``), so the command line never needs one flag per field. Every field's type and
range is declared with it (:mod:`elmo_bench.settings`) and checked when a preset is built.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from elmo_bench.embedders.elmo.options import ElmoOptions
from elmo_bench.pretrain.vocab import VocabConfig
from elmo_bench.settings import (
    PresetError,
    check_fields,
    choice,
    did_you_mean,
    integer,
    integers,
    number,
)

SECTIONS = ("model", "train", "vocab")
"""The sections of a preset, each a config dataclass."""

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

    cell_dim: int = integer(minimum=1)
    projection_dim: int = integer(minimum=1)
    n_layers: int = integer(2, minimum=1)
    cell_clip: float = number(3.0, minimum=0)
    proj_clip: float = number(3.0, minimum=0)
    char_embedding_dim: int = integer(16, minimum=1)
    filters: tuple[tuple[int, int], ...] = PUBLISHED_FILTERS
    n_highway: int = integer(1, minimum=0)
    activation: str = choice("relu", ("relu", "tanh"))
    softmax_cutoffs: tuple[int, ...] = integers((4000, 20000), minimum=1)
    softmax_div_value: float = number(4.0, above=0)
    dropout: float = number(0.1, minimum=0, below=1)

    def __post_init__(self) -> None:
        check_fields(self, "model", PresetError)

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

    batch_tokens: int = integer(4096, minimum=1)
    max_window: int = integer(50, minimum=2, why="(<S> and </S>)")
    batches_per_step: int = integer(1, minimum=1)
    optimizer: str = choice("adam", ("adam", "adagrad"))
    learning_rate: float = number(2e-3, above=0)
    warmup_steps: int = integer(200, minimum=0)
    max_steps: int = integer(3000, minimum=1)
    min_lr_ratio: float = number(0.1, minimum=0, maximum=1)
    clip_norm: float = number(10.0, above=0)
    seed: int = integer(1)
    log_every: int = integer(20, minimum=1)
    eval_every: int = integer(500, minimum=0)
    eval_tokens: int = integer(100_000, minimum=1)
    checkpoint_every: int = integer(200, minimum=1)
    snapshot_steps: tuple[int, ...] = integers((), minimum=1)

    def __post_init__(self) -> None:
        check_fields(self, "train", PresetError)
        if self.batch_tokens < self.max_window:
            raise PresetError(
                f"train.batch_tokens ({self.batch_tokens}) must hold at least one window of "
                f"train.max_window ({self.max_window}) positions"
            )
        late = [step for step in self.snapshot_steps if step >= self.max_steps]
        if late:
            raise PresetError(
                f"train.snapshot_steps: {late[0]!r} is not a step between 1 and train.max_steps - 1 "
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


def get_preset(name: str, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> BiLmPreset:
    """The preset ``name`` with ``overrides`` (``{"train": {"max_steps": 100}}``) applied; a whole
    number given for a float field becomes a float.

    Raises:
        PresetError: unknown name, unknown section or field, or a value the field does not take.
    """
    if name not in PRESETS:
        raise PresetError(
            f"unknown biLM preset {name!r}{did_you_mean(name, PRESETS)}; known presets: {', '.join(PRESETS)}"
        )
    data = BiLmPreset.from_dict({"name": name, **PRESETS[name]}).to_dict()
    for section, fields in (overrides or {}).items():
        if section not in SECTIONS or not isinstance(fields, Mapping):
            raise PresetError(
                f"biLM override {section}={fields!r}: expected a section ({', '.join(SECTIONS)}) "
                f"of fields, e.g. train.max_steps=100"
            )
        for field_name, value in fields.items():
            if field_name not in data[section]:
                known = ", ".join(f"{s}.{f}" for s in SECTIONS for f in data[s])
                raise PresetError(
                    f"unknown field '{section}.{field_name}'{did_you_mean(field_name, data[section])}; "
                    f"known fields: {known}"
                )
            current = data[section][field_name]
            whole = isinstance(value, int) and not isinstance(value, bool)
            data[section][field_name] = float(value) if isinstance(current, float) and whole else value
    return BiLmPreset.from_dict(data)
