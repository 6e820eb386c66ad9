from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TINY_ELMO = SHARED / "fixtures" / "elmo_allennlp_tiny"


@pytest.fixture(scope="session")
def tiny_elmo_dir() -> Path:
    if not TINY_ELMO.is_dir():
        pytest.skip(f"the AllenNLP fixture is not at {TINY_ELMO}")
    return TINY_ELMO
