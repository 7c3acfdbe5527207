"""The corpus of learners' code (tests/learners/): loading a case, running a check on one of its pieces,
and the confusion matrix of the checks' verdicts against the verdicts judged by hand.

An outcome is one of
    "pass"     the check printed Tests Passed
    "refused"  the check raised CheckFailed (its message is kept)
    "raw"      anything else escaped the check (a raw traceback in the notebook)
and it is right when it is "pass" for a piece judged "pass", or "refused" with a message that matches
the judged mistake's pattern for a piece judged a mistake.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import problem_unittests as pu

CORPUS = Path(__file__).parent / "learners"
STEPS = ("scale", "discriminator", "generator", "weights_init", "losses", "optimizers", "train_step")
LR, BETAS = 2e-4, (0.5, 0.999)


def case_names() -> list[str]:
    return sorted(p.stem for p in CORPUS.glob("*.py") if not p.stem.startswith("_"))


def held_back(name: str) -> bool:
    """About a fifth of the learners' cases, by their name's hash: reported apart, not looked at while tuning the
    checks. (The made-up cases are written for the tuning, so none is held back.)"""
    return not name.startswith("made_up_") and hashlib.sha256(name.encode()).hexdigest()[0] in "012"


@functools.lru_cache(maxsize=None)
def load(name: str):
    """The case's module: its pieces, SOURCE, VERDICTS and JUDGEMENT (loaded once: every check builds its own
    networks from its classes)."""
    spec = importlib.util.spec_from_file_location(f"learners.{name}", CORPUS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _optimizers(case) -> None:
    D, G = case.Discriminator(32), case.Generator(100, 32)
    d_optimizer, g_optimizer = case.make_optimizers(D, G, LR, BETAS)
    pu.check_optimizers(d_optimizer, g_optimizer, D, G, lr=LR, betas=BETAS)


CALLS = {
    "scale": lambda case: pu.check_scale(case.scale),
    "discriminator": lambda case: pu.check_discriminator(case.Discriminator),
    "generator": lambda case: pu.check_generator(case.Generator),
    "weights_init": lambda case: pu.check_weights_init(case.weights_init_normal, case.Discriminator, case.Generator),
    "losses": lambda case: pu.check_losses(case.real_loss, case.fake_loss),
    "optimizers": _optimizers,
    "train_step": lambda case: pu.check_train_step(case.train_step, case.Discriminator, case.Generator),
}


@dataclass
class Outcome:
    case: str
    step: str
    expected: str  # "pass" or the mistake's words
    pattern: str | None  # what a refusal's message must match, for a mistake
    got: str  # "pass", "refused" or "raw"
    message: str
    printed: str

    @property
    def right(self) -> bool:
        if self.pattern is None:
            return self.got == "pass"
        return self.got == "refused" and re.search(self.pattern, self.message, re.I | re.S) is not None

    @property
    def cell(self) -> str:
        """The confusion matrix's cell this outcome falls in."""
        if self.got == "raw":
            return "raw error"
        if self.pattern is None:
            return "valid passed" if self.got == "pass" else "valid refused"
        if self.got == "pass":
            return "mistake passed"
        return "mistake named" if self.right else "mistake, message misses it"


def run(case_name: str, step: str) -> Outcome:
    """Run the check of `step` on the case's piece, as the notebook's check cell would."""
    case = load(case_name)
    verdict = case.VERDICTS[step]
    expected, pattern = ("pass", None) if verdict == "pass" else verdict
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings(record=True) as escaped:
            warnings.simplefilter("always")
            CALLS[step](case)
        got, message = "pass", ""
        if escaped:  # on stderr in the notebook: nbgrader would give the cell no points
            got, message = "raw", f"a warning escaped the check: {escaped[0].category.__name__}: {escaped[0].message}"
    except pu.CheckFailed as e:
        got, message = "refused", str(e)
    except Exception as e:  # noqa: BLE001 - what would reach the learner as a raw traceback
        got, message = "raw", f"{type(e).__name__}: {e}"
    if got == "pass" and pu.PASSED not in printed.getvalue():
        got, message = "raw", "the check returned without printing its verdict"
    return Outcome(case_name, step, expected, pattern, got, message, printed.getvalue())


OUTCOMES: list[Outcome] = []  # this pytest run's, for the matrix at its end

CELLS = ("valid passed", "valid refused", "mistake named", "mistake, message misses it", "mistake passed",
         "raw error")


def matrix(outcomes: list[Outcome]) -> str:
    """The confusion matrix as text: a row for the tuned cases, one for the held-back fifth."""
    rows = []
    for label, keep in (("tuned", lambda o: not held_back(o.case)), ("held back", lambda o: held_back(o.case))):
        picked = [o for o in outcomes if keep(o)]
        counts = [sum(o.cell == c for o in picked) for c in CELLS]
        cases = len({o.case for o in picked})
        rows.append(f"{label:<10} {cases:>5} {len(picked):>8} " + " ".join(f"{n:>{len(c)}}" for n, c in zip(counts, CELLS)))
    head = f"{'':<10} {'cases':>5} {'verdicts':>8} " + " ".join(CELLS)
    wrong = [f"  {o.case} / {o.step}: judged {o.expected!r}, got {o.got}: {o.message[:300]}"
             for o in outcomes if not o.right]
    return "\n".join([head, *rows, *(["wrong:"] + wrong if wrong else [])])
