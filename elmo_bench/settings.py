"""Settings as data: defaults merged with overrides, declarative checks of config dataclasses, and
the one parser of ``key=value`` strings (used only where the command line hands them in).

Unknown names are errors that suggest the closest known name, so that a typo on the command line
(``trainig.max_epochs=3``) is caught instead of silently running with the defaults.

A config dataclass declares what each field may hold where it declares the field, and checks
every field with one call in ``__post_init__``::

    @dataclass(frozen=True)
    class TrainingConfig:
        max_epochs: int = integer(20, minimum=1)
        grad_clip: float | None = number(5.0, above=0, optional=True)

        def __post_init__(self) -> None:
            check_fields(self, "training", SettingsError)

A bad value is then reported with every other bad value of the same config, each naming the
field, the value found and what was expected:
``training.max_epochs must be an integer >= 1, got 0``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from elmo_bench.errors import ElmoBenchError


class SettingsError(ElmoBenchError, ValueError):
    """An override names a setting that does not exist, is not ``key=value``, or holds a value
    that its setting does not take."""


class PresetError(SettingsError):
    """An unknown preset name (of the benchmark's presets or the biLM's), or a preset or override
    key that names no setting or holds a value of the wrong type."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or ``""``."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def merge_settings(
    defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None, what: str
) -> dict[str, Any]:
    """``defaults`` updated with ``overrides``; every override must name a key of ``defaults``.

    Raises:
        SettingsError: an unknown key; the message names ``what``, the closest known key and
            all known keys.
    """
    merged = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            raise SettingsError(
                f"{what} has no setting {key!r}{did_you_mean(key, defaults)}; "
                f"known: {', '.join(sorted(defaults)) or 'none'}"
            )
        merged[key] = value
    return merged


# ----------------------------------------------------------------------------------------------
# Declarative field checks

_CHECK = "elmo_bench.check"
"""The key of a field's metadata that holds its :class:`Check`."""


@dataclass(frozen=True)
class Check:
    """What one setting may hold.

    Attributes:
        kind: ``"integer"`` (an int, not a bool), ``"number"`` (an int or a float, not a bool),
            ``"integers"`` (a list or tuple of integers, stored as a tuple), ``"choice"`` (one
            of ``choices``) or ``"subset"`` (a non-empty list of distinct ``choices``).
        minimum, maximum: inclusive bounds of a number (of each item of ``"integers"``).
        above, below: exclusive bounds of a number.
        choices: the values a ``"choice"`` takes.
        optional: None is also accepted.
        why: a note appended to the expectation (``"(<S> and </S>)"``).
    """

    kind: Literal["integer", "number", "integers", "choice", "subset"]
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    below: float | None = None
    choices: tuple[Any, ...] = ()
    optional: bool = False
    why: str = ""

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is of the kind and within the bounds."""
        if value is None:
            return self.optional
        if self.kind == "choice":
            return value in self.choices
        if self.kind == "subset":
            return (isinstance(value, (list, tuple)) and 0 < len(set(value)) == len(value)
                    and all(item in self.choices for item in value))
        if self.kind == "integers":
            return isinstance(value, (list, tuple)) and all(
                _is_integer(item) and self._within(item) for item in value
            )
        is_kind = _is_integer(value) if self.kind == "integer" else _is_number(value)
        return is_kind and self._within(value)

    def _within(self, value: float) -> bool:
        return (
            (self.minimum is None or value >= self.minimum)
            and (self.maximum is None or value <= self.maximum)
            and (self.above is None or value > self.above)
            and (self.below is None or value < self.below)
        )

    def expected(self) -> str:
        """What the setting takes, in words: ``an integer >= 1``, ``a number in [0, 1)``,
        ``one of 'adam', 'adagrad'``, ... (``or null`` when optional)."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(choice) for choice in self.choices)
        elif self.kind == "subset":
            text = "a non-empty list of distinct items of " + ", ".join(
                repr(choice) for choice in self.choices)
        else:
            noun = {"integer": "an integer", "number": "a number",
                    "integers": "a list of integers"}[self.kind]
            text = f"{noun}{self._range()}"
        if self.why:
            text += f" {self.why}"
        return text + (" or null" if self.optional else "")

    def _range(self) -> str:
        lower = (f"[{self.minimum:g}" if self.minimum is not None
                 else f"({self.above:g}" if self.above is not None else None)
        upper = (f"{self.maximum:g}]" if self.maximum is not None
                 else f"{self.below:g})" if self.below is not None else None)
        if lower is not None and upper is not None:
            return f" in {lower}, {upper}"
        if lower is not None:
            return f" {'>=' if lower[0] == '[' else '>'} {lower[1:]}"
        if upper is not None:
            return f" {'<=' if upper[-1] == ']' else '<'} {upper[:-1]}"
        return ""


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked_field(default: Any, check: Check) -> Any:
    metadata = {_CHECK: check}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def integer(
    default: Any = dataclasses.MISSING,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    optional: bool = False,
    why: str = "",
) -> Any:
    """A dataclass field that holds an integer within the bounds (no default: required)."""
    return _checked_field(default, Check("integer", minimum=minimum, maximum=maximum,
                                         optional=optional, why=why))


def number(
    default: Any = dataclasses.MISSING,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    optional: bool = False,
) -> Any:
    """A dataclass field that holds a number (an int or a float) within the bounds."""
    return _checked_field(default, Check("number", minimum=minimum, maximum=maximum, above=above,
                                         below=below, optional=optional))


def integers(default: tuple[int, ...] = (), *, minimum: int | None = None) -> Any:
    """A dataclass field that holds integers within the bounds; a list given is stored as a
    tuple (so that a config read from JSON equals the one it was written from)."""
    return _checked_field(default, Check("integers", minimum=minimum))


def choice(default: Any, choices: Iterable[Any]) -> Any:
    """A dataclass field that holds one of ``choices``."""
    return _checked_field(default, Check("choice", choices=tuple(choices)))


def check_fields(config: Any, section: str, error: type[Exception]) -> None:
    """Check every field of the dataclass instance ``config`` that was declared with
    :func:`integer`, :func:`number`, :func:`integers` or :func:`choice` (and store a list of
    integers as a tuple); call it from ``__post_init__``.

    Raises:
        error: one message for all bad fields, each as
            ``"<section>.<field> must be <expected>, got <value>"``, joined by ``"; "``.
    """
    checks = {config_field.name: config_field.metadata[_CHECK]
              for config_field in dataclasses.fields(config) if _CHECK in config_field.metadata}
    check_values({name: getattr(config, name) for name in checks}, checks, section, error)
    for name, check in checks.items():
        if check.kind == "integers":
            object.__setattr__(config, name, tuple(getattr(config, name)))


def check_values(
    values: Mapping[str, Any], checks: Mapping[str, Check], section: str, error: type[Exception]
) -> None:
    """Check the settings ``values`` that ``checks`` names (settings given as a dict, such as a
    task's head hyper-parameters; a config dataclass calls :func:`check_fields`).

    Raises:
        error: one message for all bad values, each as
            ``"<section>.<name> must be <expected>, got <value>"``, joined by ``"; "``.
    """
    problems = [
        f"{section}.{name} must be {check.expected()}, got {values[name]!r}"
        for name, check in checks.items() if name in values and not check.accepts(values[name])
    ]
    if problems:
        raise error("; ".join(problems))


# ----------------------------------------------------------------------------------------------
# The command line's key=value strings


def parse_assignments(items: Iterable[str], flag: str, example: str) -> dict[str, Any]:
    """``["seeds=[1,2]", "pretrain.glove.dim=50"]`` -> ``{"seeds": [1, 2], "pretrain.glove.dim": 50}``.

    The one reader of the command line's ``KEY=VALUE`` strings (``--set``, ``--config``); past the
    command line, settings travel as dicts. A value is read as JSON when it parses (``3``,
    ``0.5``, ``true``, ``null``, ``[1, 2]``) and kept as text otherwise; a later item for the same
    key wins.

    Args:
        flag: the option the items came with, for the error message (``"--set"``).
        example: a valid item, for the error message (``"pretrain.glove.dim=50"``).

    Raises:
        SettingsError: an item without ``=`` or without a key.
    """
    parsed: dict[str, Any] = {}
    for item in items:
        key, separator, text = item.partition("=")
        if not separator or not key.strip():
            raise SettingsError(f"{flag} {item!r} is not KEY=VALUE (e.g. {flag} {example})")
        parsed[key.strip()] = read_value(text)
    return parsed


def read_value(text: str) -> Any:
    """``text`` read as JSON when it parses (``"3"`` -> 3, ``"null"`` -> None), else ``text``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_sections(items: Iterable[str], flag: str, example: str) -> dict[str, dict[str, Any]]:
    """:func:`parse_assignments` grouped by section:
    ``["training.max_epochs=3", "embedder.glove.vectors=g.txt"]`` ->
    ``{"training": {"max_epochs": 3}, "embedder": {"glove.vectors": "g.txt"}}``, each key split at
    its first dot into a section and the key within it.

    Raises:
        SettingsError: an item without ``=``, or a key without ``section.``.
    """
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in parse_assignments(items, flag, example).items():
        section, dot, key = dotted.partition(".")
        if not dot or not section or not key:
            raise SettingsError(
                f"{flag} {dotted}=...: {dotted!r} is not SECTION.KEY (e.g. {flag} {example})"
            )
        sections.setdefault(section, {})[key] = value
    return sections
