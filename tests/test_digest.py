"""The one digest of every content key: pinned, so that no cache key can drift with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from elmo_bench.digest import content_digest


def test_a_value_has_the_digest_of_its_sorted_ascii_json():
    # sha256 of the bytes {"a": [1, "\u00e9", null], "b": 1} (keys sorted, non-ASCII escaped)
    whole = "91acb7c30b9f97065c68577e0432ef6b691b4fcfa8e9cabb9b6504dfbb528cbc"
    assert content_digest({"b": 1, "a": [1, "é", None]}) == whole
    assert content_digest({"a": [1, "é", None], "b": 1}, 16) == whole[:16]


def test_a_value_json_cannot_write_needs_a_default():
    with pytest.raises(TypeError):
        content_digest({"path": Path("x")})
    assert content_digest({"path": Path("x")}, 24, default=str) == content_digest({"path": "x"}, 24)


@pytest.mark.parametrize("length", [0, 65])
def test_a_length_outside_a_sha256_is_an_error(length):
    with pytest.raises(ValueError, match="1 to 64 hex characters"):
        content_digest([], length)
