"""The biLM architecture as data: AllenNLP / bilm-tf ``options.json``, parsed and validated."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from elmo_bench.errors import ElmoBenchError


class OptionsError(ElmoBenchError, ValueError):
    """An options.json that is not a valid ELMo biLM description."""


@dataclass(frozen=True)
class ElmoOptions:
    """The fields of ``options.json`` that matter at inference (see ELMO_SPEC.md section 1).

    Attributes:
        cell_dim: LSTM memory-cell size ``C`` (``lstm.dim``).
        projection_dim: ``P``: char-CNN output, LSTM input and projected state size.
        n_layers: biLSTM layers ``L``; the biLM outputs ``L + 1`` layers.
        cell_clip: clip value of the memory cell (0 disables clipping).
        proj_clip: clip value of the projected state (0 disables clipping).
        char_embedding_dim: ``d``.
        filters: ``(width, n_filters)`` pairs in file order.
        n_highway: highway layers after the CNN.
        activation: ``"relu"`` or ``"tanh"``, applied after the max-pool.
        n_characters: rows of the char embedding at inference (262).
        max_characters_per_token: 50.
    """

    cell_dim: int
    projection_dim: int
    n_layers: int
    cell_clip: float
    proj_clip: float
    char_embedding_dim: int
    filters: tuple[tuple[int, int], ...]
    n_highway: int
    activation: str = "relu"
    n_characters: int = 262
    max_characters_per_token: int = 50

    @property
    def n_filters(self) -> int:
        """``F``: total CNN filters, the char-CNN's raw output width."""
        return sum(n for _, n in self.filters)

    @property
    def max_filter_width(self) -> int:
        """The widest CNN filter, in characters."""
        return max(width for width, _ in self.filters)

    @property
    def output_dim(self) -> int:
        """Width of every biLM layer: ``2 P``."""
        return 2 * self.projection_dim

    @classmethod
    def from_dict(cls, options: dict, source: str = "options") -> "ElmoOptions":
        """Parse the dict of an ``options.json``; ``source`` names it in error messages."""
        try:
            lstm, cnn = options["lstm"], options["char_cnn"]
            if not lstm.get("use_skip_connections", False):
                raise OptionsError(
                    f"{source}: lstm.use_skip_connections must be true (ELMo's residual "
                    f"connection); found {lstm.get('use_skip_connections')!r}"
                )
            parsed = cls(
                cell_dim=int(lstm["dim"]),
                projection_dim=int(lstm["projection_dim"]),
                n_layers=int(lstm["n_layers"]),
                cell_clip=float(lstm.get("cell_clip") or 0.0),
                proj_clip=float(lstm.get("proj_clip") or 0.0),
                char_embedding_dim=int(cnn["embedding"]["dim"]),
                filters=tuple((int(w), int(n)) for w, n in cnn["filters"]),
                n_highway=int(cnn["n_highway"]),
                activation=str(cnn.get("activation", "relu")),
                n_characters=int(cnn.get("n_characters", 262)),
                max_characters_per_token=int(cnn.get("max_characters_per_token", 50)),
            )
        except OptionsError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise OptionsError(
                f"{source}: not a valid ELMo options file ({type(error).__name__}: {error}); "
                "expected sections 'lstm' (dim, projection_dim, n_layers, cell_clip, proj_clip, "
                "use_skip_connections) and 'char_cnn' (embedding.dim, filters, n_highway, activation)"
            ) from error
        if parsed.activation not in ("relu", "tanh"):
            raise OptionsError(
                f"{source}: char_cnn.activation must be 'relu' or 'tanh', found {parsed.activation!r}"
            )
        if min(parsed.cell_dim, parsed.projection_dim, parsed.n_layers, len(parsed.filters)) < 1:
            raise OptionsError(f"{source}: sizes must be positive, found {options}")
        return parsed

    @classmethod
    def from_file(cls, path: str | Path) -> "ElmoOptions":
        """Read and parse an ``options.json``."""
        path = Path(path)
        try:
            options = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise OptionsError(f"{path}: cannot read ELMo options as JSON: {error}") from error
        return cls.from_dict(options, source=str(path))

    def to_dict(self) -> dict:
        """The ``options.json`` dict, in the official layout."""
        return {
            "lstm": {
                "use_skip_connections": True,
                "projection_dim": self.projection_dim,
                "cell_clip": self.cell_clip,
                "proj_clip": self.proj_clip,
                "dim": self.cell_dim,
                "n_layers": self.n_layers,
            },
            "char_cnn": {
                "activation": self.activation,
                "filters": [[w, n] for w, n in self.filters],
                "n_highway": self.n_highway,
                "embedding": {"dim": self.char_embedding_dim},
                "n_characters": self.n_characters,
                "max_characters_per_token": self.max_characters_per_token,
            },
        }
