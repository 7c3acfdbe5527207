"""Shared fixtures: the repository root on sys.path, the notebook's own solution code, a small
synthetic zip, and the `slow` marker (pytest.ini belongs to the notebook's setup, so it is registered here).

The small builders the test files share (images, zips, tiny networks, a seeded training run) are in
tests/builders.py.
"""
from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than about 3 s (subprocesses, kill -9, the real "
                                       "Inception network, the benchmark); deselect with -m 'not slow'")


@pytest.fixture(scope="session")
def nb() -> dict:
    """The names defined by the notebook's cells tagged "solution" (Discriminator, Generator, ...)."""
    from benchmarks.notebook import load_notebook_code

    return load_notebook_code()


@pytest.fixture(scope="session")
def synthetic_zip(tmp_path_factory) -> Path:
    """40 synthetic faces (seed 3) in the published zip's layout, drawn once per session."""
    from facegen import dataset

    return dataset.write_synthetic_zip(tmp_path_factory.mktemp("synthetic") / "faces.zip", n_images=40, seed=3)


@pytest.fixture
def sigint_guard() -> list:
    """For tests that send SIGINT (Stop) to this process: while the test runs, a SIGINT that nothing
    else handles is recorded in this list instead of interrupting the whole pytest session."""
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield caught
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.fixture
def no_loss_plot(monkeypatch) -> list:
    """train() without drawing losses.png (matplotlib takes most of a tiny run's time), for tests about
    something else; the histories it would have plotted are kept in this list."""
    import helpers

    plotted = []
    monkeypatch.setattr(helpers, "plot_losses", lambda history, path=None, show=True, smooth=None: plotted.append(history))
    return plotted


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state, so a borderline case cannot flake, and leaves torch's
    thread count as it found it (FastStep's CPU tuning sets it, as it does for the notebook's session)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def shown(monkeypatch) -> list:
    """The figures plt.show() is asked to show (all closed after the test)."""
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "show", lambda: figures.append(plt.gcf()))
    yield figures
    plt.close("all")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: the checks' networks are tiny, and one thread runs them faster than
    several, far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_sessionfinish(session):
    """In a pytest-xdist worker (the test commands run two): hand the corpus's outcomes to the main process."""
    corpus = sys.modules.get("tests.learner_corpus")
    if hasattr(session.config, "workeroutput") and corpus is not None:
        session.config.workeroutput["corpus_outcomes"] = [dataclasses.astuple(o) for o in corpus.OUTCOMES]


def pytest_testnodedown(node, error):
    """pytest-xdist's hook in the main process: gather a worker's corpus outcomes for the summary."""
    from tests import learner_corpus as corpus

    corpus.OUTCOMES.extend(corpus.Outcome(*o) for o in getattr(node, "workeroutput", {}).get("corpus_outcomes", []))


def pytest_terminal_summary(terminalreporter):
    """The learners' corpus: the checks' verdicts against those judged by hand (tests/test_learners.py)."""
    corpus = sys.modules.get("tests.learner_corpus")
    if corpus is not None and corpus.OUTCOMES:
        terminalreporter.section("the checks on learners' code (tests/learners/)")
        terminalreporter.write_line(corpus.matrix(corpus.OUTCOMES))
