"""Every check on every piece of the learners' corpus (tests/learners/): its verdict must be the one judged
by hand. The confusion matrix (tuned cases and the held-back fifth apart) is printed at the end of the run."""
from __future__ import annotations

import pytest

from tests import learner_corpus as corpus

pytestmark = pytest.mark.usefixtures("one_thread")

OUTCOMES: list[corpus.Outcome] = []  # read by conftest's pytest_terminal_summary

PIECES = [(name, step) for name in corpus.case_names() for step in corpus.STEPS
          if step in corpus.load(name).VERDICTS]


@pytest.mark.parametrize("name, step", PIECES, ids=[f"{n}-{s}" for n, s in PIECES])
def test_the_check_gives_the_judged_verdict(name, step):
    outcome = corpus.run(name, step)
    OUTCOMES.append(outcome)
    assert outcome.right, f"{name} / {step}: judged {outcome.expected!r} (message must match " \
                          f"{outcome.pattern!r}); the check gave {outcome.got}: {outcome.message}"


def test_every_case_names_its_source_and_judges_what_it_holds():
    for name in corpus.case_names():
        case = corpus.load(name)
        assert case.SOURCE.startswith("https://github.com/") or name.startswith("made_up_"), name
        assert set(case.VERDICTS) <= set(corpus.STEPS), name
        assert set(case.JUDGEMENT) == set(case.VERDICTS), f"{name}: every verdict needs its judgement"
        for verdict in case.VERDICTS.values():
            assert verdict == "pass" or (isinstance(verdict, tuple) and len(verdict) == 2), (name, verdict)
