"""The error of a biLM pretraining run."""
from __future__ import annotations

from elmo_bench.errors import ElmoBenchError


class PretrainError(ElmoBenchError, ValueError):
    """A pretraining run that cannot start or resume (bad checkpoint, mismatched vocabulary, ...)."""
