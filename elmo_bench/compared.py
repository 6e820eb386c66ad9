"""The embedders under comparison, by name, each built from source embedders and read by a head.

A compared embedder is one or more frozen *source* embedders (:mod:`elmo_bench.embedders.registry`:
ELMo, GloVe, a transformer), each with the layers the head reads from it and how it reads them
(the head's :class:`~elmo_bench.heads.scalar_mix_input.InputSpec`):

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

How the report orders and compares them is data, in :mod:`elmo_bench.comparisons`; every embedder
name that module gives is checked against :data:`COMPARED_EMBEDDERS` when this module is imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from elmo_bench import comparisons
from elmo_bench.embedders.base import Embedder
from elmo_bench.embedders.registry import load_embedder, source_settings
from elmo_bench.errors import ElmoBenchError
from elmo_bench.heads.scalar_mix_input import InputSpec
from elmo_bench.settings import SettingsError, did_you_mean

ELMO_DROPOUT = 0.5
ELMO_MIX_L2 = 0.001
ADAPTATIONS = ("frozen", "lm-finetuned", "unfrozen")


class UnknownEmbedderError(ElmoBenchError, ValueError):
    """An embedder name that is not one of :data:`COMPARED_EMBEDDERS`."""


@dataclass(frozen=True)
class SourceUse:
    """How a head reads one source embedder.

    Attributes:
        source: a source of :mod:`elmo_bench.embedders.registry` (``"elmo"``, ``"glove"``, ...).
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


def check_embedder_names(names: Iterable[str], where: str = "") -> None:
    """Raise for a name in ``names`` that is not a compared embedder.

    Args:
        where: what the names are (``"task_embedders.squad11: "``), put before the message.

    Raises:
        UnknownEmbedderError: the first unknown name, with the closest known one.
    """
    for name in names:
        if name not in COMPARED_EMBEDDERS:
            raise UnknownEmbedderError(
                f"{where}unknown embedder {name!r}{did_you_mean(name, COMPARED_EMBEDDERS)}; "
                f"known: {', '.join(COMPARED_EMBEDDERS)}"
            )


def sources_of(names: Iterable[str]) -> set[str]:
    """The source embedders (``"elmo"``, ``"glove"``, ...) that the compared embedders ``names``
    read."""
    return {use.source for name in names for use in COMPARED_EMBEDDERS[name]}


def _check_comparisons_data() -> None:
    """Raise for an embedder name in :mod:`elmo_bench.comparisons` that is not compared here
    (a typo there would silently drop a comparison or a published number from the report)."""
    unknown = sorted(set(comparisons.named_embedders()) - set(COMPARED_EMBEDDERS))
    if unknown:
        raise UnknownEmbedderError(
            f"elmo_bench.comparisons names {', '.join(map(repr, unknown))}, which "
            f"{'is not a compared embedder' if len(unknown) == 1 else 'are not compared embedders'}; "
            f"known: {', '.join(COMPARED_EMBEDDERS)}"
        )


_check_comparisons_data()


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
            loaded[use.source] = load_embedder(use.source, settings[use.source])
        embedder = loaded[use.source]
        for layer in use.layers or ():
            if not 0 <= layer < embedder.n_layers:
                raise SettingsError(
                    f"embedder {name!r} reads layer {layer} of {use.source}, which has "
                    f"{embedder.n_layers} layers"
                )
        parts.append(EmbedderPart(embedder, use, settings[use.source]))
    return ComparedEmbedder(name, tuple(parts))
