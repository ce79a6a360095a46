import os
import sys

import numpy as np
import pytest

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except Exception:  # pragma: no cover - torch is a test-only extra
    HAVE_TORCH = False


def pytest_collection_modifyitems(config, items):
    import fusednet
    if not fusednet.cuda.is_available():
        skip = pytest.mark.skip(reason="no CUDA device on this machine")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def rng():
    """A seeded NumPy generator; each test gets the same stream on every run."""
    return np.random.default_rng(1234)


requires_torch = pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")

