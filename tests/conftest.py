from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TINY_ELMO = SHARED / "fixtures" / "elmo_allennlp_tiny"


@pytest.fixture(scope="session")
def tiny_elmo_dir() -> Path:
    if not TINY_ELMO.is_dir():
        pytest.skip(f"the AllenNLP fixture is not at {TINY_ELMO}")
    return TINY_ELMO


@pytest.fixture()
def one_thread():
    """Torch on one thread for the test: the tiny models of the tests run fastest so, and are
    immune to other processes on a shared CPU (two threads ran far slower on a busy machine).
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
