"""The biLM architecture as data: AllenNLP / bilm-tf ``options.json``, parsed and validated."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    def from_dict(cls, options: Any, source: str = "options") -> "ElmoOptions":
        """Parse the dict of an ``options.json``; ``source`` names it in error messages.

        Every field is checked for its type and range (integers are integers, not ``2.5`` nor
        ``"2"``; booleans are booleans), and all problems are reported together.

        Raises:
            OptionsError: ``"<source>: bad ELMo options: <field> must be ..., found ...; ..."``.
        """
        fields = _OptionFields(options)
        lstm, cnn = fields.section("lstm"), fields.section("char_cnn")
        embedding = fields.section("char_cnn.embedding") if cnn is not None else None
        skip = fields.get(lstm, "lstm.use_skip_connections", required=False)
        if skip is not True:
            fields.problem(
                f"lstm.use_skip_connections must be true (ELMo's residual connection), found {skip!r}"
            )
        activation = fields.get(cnn, "char_cnn.activation", required=False, default="relu")
        if activation not in ("relu", "tanh"):
            fields.problem(f"char_cnn.activation must be 'relu' or 'tanh', found {activation!r}")
        parsed = dict(
            cell_dim=fields.integer(lstm, "lstm.dim", minimum=1),
            projection_dim=fields.integer(lstm, "lstm.projection_dim", minimum=1),
            n_layers=fields.integer(lstm, "lstm.n_layers", minimum=1),
            cell_clip=fields.clip(lstm, "lstm.cell_clip"),
            proj_clip=fields.clip(lstm, "lstm.proj_clip"),
            char_embedding_dim=fields.integer(embedding, "char_cnn.embedding.dim", minimum=1),
            filters=fields.filters(cnn),
            n_highway=fields.integer(cnn, "char_cnn.n_highway", minimum=0),
            activation=activation,
            n_characters=fields.integer(cnn, "char_cnn.n_characters", minimum=1, default=262),
            max_characters_per_token=fields.integer(
                cnn, "char_cnn.max_characters_per_token", minimum=1, default=50
            ),
        )
        if fields.problems:
            raise OptionsError(f"{source}: bad ELMo options: " + "; ".join(fields.problems))
        return cls(**parsed)

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


_MISSING = object()


class _OptionFields:
    """Reads fields of an options dict, collecting a problem for each one of the wrong type or
    range instead of stopping at the first (every check returns a placeholder on a problem)."""

    def __init__(self, options: Any) -> None:
        self.options = options
        self.problems: list[str] = []
        if not isinstance(options, dict):
            self.problem(f"the file must hold a JSON object, found {type(options).__name__}")

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def section(self, dotted: str) -> dict | None:
        """The sub-object at ``dotted`` (``"lstm"``, ``"char_cnn.embedding"``), or None."""
        value: Any = self.options
        for part in dotted.split("."):
            value = value.get(part, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            self.problem(f"section {dotted!r} is missing")
            return None
        if not isinstance(value, dict):
            self.problem(f"{dotted} must be an object, found {value!r}")
            return None
        return value

    def get(self, section: dict | None, dotted: str, required: bool = True, default: Any = None) -> Any:
        if section is None:
            return default
        name = dotted.rsplit(".", 1)[-1]
        if name not in section:
            if required:
                self.problem(f"{dotted} is missing")
            return default
        return section[name]

    def integer(self, section: dict | None, dotted: str, minimum: int, default: Any = _MISSING) -> int:
        value = self.get(section, dotted, required=default is _MISSING, default=default)
        if section is None or value is _MISSING:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(f"{dotted} must be an integer >= {minimum}, found {value!r}")
            return 0
        return value

    def clip(self, section: dict | None, dotted: str) -> float:
        """A clip value: a number >= 0; absent or null means no clipping (0)."""
        value = self.get(section, dotted, required=False)
        if value is None:
            return 0.0
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            self.problem(f"{dotted} must be a number >= 0 (or null: no clipping), found {value!r}")
            return 0.0
        return float(value)

    def filters(self, cnn: dict | None) -> tuple[tuple[int, int], ...]:
        value = self.get(cnn, "char_cnn.filters")
        if cnn is None or value is None:
            return ()
        well_formed = isinstance(value, list) and value and all(
            isinstance(pair, list) and len(pair) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in pair)
            for pair in value
        )
        if not well_formed:
            self.problem(
                f"char_cnn.filters must be a non-empty list of [width, n_filters] pairs of "
                f"integers >= 1, found {value!r}"
            )
            return ()
        return tuple((width, n_filters) for width, n_filters in value)
