"""Settings as data: defaults merged with overrides, and ``section.key=value`` override parsing.

Unknown names are errors that suggest the closest known name, so that a typo on the command line
(``trainig.max_epochs=3``) is caught instead of silently running with the defaults.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from elmo_bench.errors import ElmoBenchError


class SettingsError(ElmoBenchError, ValueError):
    """An override names a setting that does not exist, or is not ``key=value``."""


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


def parse_overrides(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``["training.max_epochs=3", "embedder.glove.vectors=g.txt"]`` ->
    ``{"training": {"max_epochs": 3}, "embedder": {"glove.vectors": "g.txt"}}``.

    The section is the text before the first dot; the value is read as JSON when it parses
    (``3``, ``0.5``, ``true``, ``null``, ``[1, 2]``) and kept as a string otherwise.

    Raises:
        SettingsError: an item without ``=`` or without a ``section.`` prefix.
    """
    sections: dict[str, dict[str, Any]] = {}
    for item in items:
        path, separator, text = item.partition("=")
        section, dot, key = path.strip().partition(".")
        if not separator or not dot or not section or not key:
            raise SettingsError(f"override {item!r} is not 'section.key=value'")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        sections.setdefault(section, {})[key] = value
    return sections
