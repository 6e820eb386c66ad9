"""The one digest of every content key: a value's JSON, hashed.

Cache keys, stage keys, checkpoint keys and fingerprints are :func:`content_digest` of a value
that holds everything that determines the content (settings, the sha256 of input files, code
versions): the same value is the same key on every machine, and any change is a new key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

FULL_LENGTH = 64
"""Hex characters of a whole sha256."""


def content_digest(value: Any, length: int = FULL_LENGTH, default: Callable[[Any], Any] | None = None) -> str:
    """The first ``length`` hex characters of the sha256 of ``value`` as JSON (keys sorted,
    ``json.dumps``'s default separators and ASCII escapes), encoded as UTF-8.

    Args:
        value: anything ``json.dumps`` writes (dicts, lists, strings, numbers, None).
        length: hex characters kept (1 to 64).
        default: ``json.dumps``'s ``default``, for values it cannot write otherwise (``str``
            writes a path as its text); None: such a value is an error.
    """
    if not 1 <= length <= FULL_LENGTH:
        raise ValueError(f"a sha256 digest has 1 to {FULL_LENGTH} hex characters, not {length}")
    text = json.dumps(value, sort_keys=True, default=default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
