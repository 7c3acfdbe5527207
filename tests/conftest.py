"""Shared fixtures: the repository root on sys.path, and the notebook's own solution code."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def nb() -> dict:
    """The names defined by the notebook's cells tagged "solution" (Discriminator, Generator, ...)."""
    from benchmarks.notebook import load_notebook_code

    return load_notebook_code()


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state, so a borderline case cannot flake."""
    torch.manual_seed(0)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (kernels, subprocesses, kills)")
