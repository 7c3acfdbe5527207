"""Every check on every piece of the learners' corpus (tests/learners/): its verdict must be the one judged
by hand. The confusion matrix (tuned cases and the held-back fifth apart) is printed at the end of the run."""
from __future__ import annotations

import pytest
import torch

from tests import learner_corpus as corpus

pytestmark = pytest.mark.usefixtures("one_thread")


PIECES = [(name, step) for name in corpus.case_names() for step in corpus.STEPS
          if step in corpus.load(name).VERDICTS]


@pytest.mark.parametrize("name, step", PIECES, ids=[f"{n}-{s}" for n, s in PIECES])
def test_the_check_gives_the_judged_verdict(name, step):
    outcome = corpus.run(name, step)
    corpus.OUTCOMES.append(outcome)  # conftest's pytest_terminal_summary prints their matrix
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


TRAINED = [name for name in corpus.case_names()
           if any(corpus.load(name).VERDICTS.get(step) == "pass" for step in ("discriminator", "generator", "train_step"))]


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINED)
def test_what_passes_the_checks_trains_under_faststep(name):
    """Every D, G and train_step of the corpus that passes its check trains: a few FastStep steps (channels-last,
    and bf16 where this CPU has it) give finite values and change both networks. A piece that does not pass is
    replaced by the lesson's (tests/learners/_lesson.py)."""
    import helpers
    from tests.learners import _lesson

    case = corpus.load(name)

    def piece(step, attribute):
        return getattr(case if case.VERDICTS.get(step) == "pass" else _lesson, attribute)

    D, G = piece("discriminator", "Discriminator")(16), piece("generator", "Generator")(100, 16)
    d_optimizer, g_optimizer = _lesson.make_optimizers(D, G, corpus.LR, corpus.BETAS)
    step = helpers.FastStep(piece("train_step", "train_step"), D, G, "cpu", tune=False)
    before = [p.detach().clone() for p in (*D.parameters(), *G.parameters())]
    images = torch.rand(8, 3, 32, 32) * 2 - 1
    for _ in range(3):
        values = step(D, G, d_optimizer, g_optimizer, images, 100, True)
        assert all(torch.isfinite(torch.as_tensor(v)).all() for v in values), values
    after = list((*D.parameters(), *G.parameters()))
    assert sum(not torch.equal(a, b) for a, b in zip(before, after)) > len(before) // 2
