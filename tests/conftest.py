import os
import sys
from pathlib import Path

import pytest
import torch

# Shared test helpers (tests/*_helpers.py) import by name under --import-mode=importlib.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Tests run single-threaded per process: deterministic and friendly to 2-core CI machines.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def rng():
    g = torch.Generator()
    g.manual_seed(1234)
    return g


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread (Sionna's decoder and the CPU trainers are faster so on
    a loaded 2-core machine); use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
