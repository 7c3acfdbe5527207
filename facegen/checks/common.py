"""What the checks in problem_unittests.py share with the train-step grader (training_step.py).

checked() runs a check the way its notebook cell needs: it prints "Tests Passed" when the check
returns and leaves the learner's world as it found it. The random state is forked, so the checks
draw nothing from the learner's generators: in the notebook the networks are built after
torch.manual_seed(FACEGEN_SEED), the checks run, and only then are the weights initialised, so a
check that reseeded (or just drew numbers) would change the learner's starting weights. Inside the
fork each check is seeded, so it does the same thing every time. The warnings filters are
restored too, and the learner's own warnings stay visible, once each, after the verdict on stdout: they
may point at a real problem. Any other error inside a check leaves it as one line naming where.

A mistake a check finds leaves it as CheckFailed (an AssertionError, so pytest and nbgrader see a
failure) that knows which check it came from: helpers.explain_stubs shows it in one line.
"""
from __future__ import annotations

import functools
import inspect
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn

PASSED = "Tests Passed"
SMOOTH = 0.9  # the lesson's one-sided label smoothing: the real label with smooth=True


def bce(logits: torch.Tensor, label: float) -> float:
    """The mean binary cross-entropy of logits against one label, as a number: what the losses should give."""
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label)).item()


class CheckFailed(AssertionError):
    """A mistake in the learner's code, found by the check named `check`: the message names it and its fix."""

    def __init__(self, message: str = "", check: str = ""):
        super().__init__(message)
        self.check = check


def _failure(e: AssertionError, check: str) -> CheckFailed:
    """e as a CheckFailed of `check`, with e's message and traceback (the caller raises it from e's cause)."""
    if isinstance(e, CheckFailed):
        e.check = e.check or check
        return e
    return CheckFailed(str(e), check).with_traceback(e.__traceback__)


def seed(value: int, device="cpu") -> None:
    """Seed the CPU generator and, on an accelerator, that device's only. (torch.manual_seed would
    reseed every CUDA device, or queue that until CUDA starts, even for a check on the CPU.)"""
    torch.random.default_generator.manual_seed(value)
    device = torch.device(device)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(value)
    elif device.type != "cpu":
        torch.get_device_module(device.type).manual_seed(value)


def forked_rng(device="cpu"):
    """A context in which the CPU random state, and that of `device` when it is an accelerator, can
    change freely: both are restored, byte for byte, on the way out."""
    device = torch.device(device)
    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    return torch.random.fork_rng(devices=[device], device_type=device.type)


def checked(check):
    """check, run in a fork of the random state (seeded with 0) and with the warnings filters as found,
    printing PASSED when it returns; an AssertionError it raises leaves as a CheckFailed naming the
    check. Its name, docstring and signature are kept.

    Two keyword arguments are added for nbgrader's hidden tests: seed= (another seed than 0: other random
    inputs and weights) and quiet=True (print nothing when the check passes; a failure still raises)."""
    signature = inspect.signature(check)

    @functools.wraps(check)
    def run(*args, seed: int = 0, quiet: bool = False, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        device = bound.arguments.get("device", "cpu")
        # catch_warnings(record=True) keeps the filters as they are and restores them on the way out; what
        # warns inside is recorded, then shown after the verdict on stdout (nbgrader gives a cell that writes
        # to stderr no points). The checks' own calls warn nothing with the notebook's code
        # (tests/test_checks_leave_no_trace.py), so what is shown is the learner's code's.
        try:
            with forked_rng(device), warnings.catch_warnings(record=True) as warned:
                _seed(seed, device)
                check(*args, **kwargs)
        except AssertionError as e:
            raise _failure(e, check.__name__) from e.__cause__
        except NotImplementedError:  # a stub of the exercise: one line of its own (notebook_errors.py)
            raise
        except Exception as e:  # noqa: BLE001 - never a raw traceback from a check: one line that says where
            raise CheckFailed(_escaped(e, check.__name__), check.__name__) from e
        if not quiet:
            print(PASSED + "".join(f", with a warning: {w}" for w in _warnings(warned)))

    return run


def _warnings(caught) -> list[str]:
    """What the learner's code warned during a check, once each, with where: printed on stdout after PASSED, as
    nbgrader takes any output on stderr for an error and gives the cell no points."""
    seen = dict.fromkeys(f"{w.category.__name__}: {str(w.message).rstrip('.')} ({_where(w.filename, w.lineno)})"
                         for w in caught)
    return list(seen)


def _where(filename: str, lineno: int) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return f"line {lineno} of your cell" if name.startswith("<ipython-input") or "ipykernel" in filename \
        else f"{name}, line {lineno}"


def _learner_frame(tb):
    """The innermost frame of the traceback outside this package and torch: the learner's own code, or None."""
    found = None
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename.replace("\\", "/")
        if not any(part in path for part in ("/facegen/", "/torch/", "/problem_unittests.py", "/contextlib.py")):
            found = tb
        tb = tb.tb_next
    return found


def _escaped(e: Exception, check: str) -> str:
    """One line for an exception that got past a check's own handling, naming where it came from."""
    text = (str(e).strip().splitlines() or [""])[0].split(". ")[0][:200]
    frame = _learner_frame(e.__traceback__)
    if frame is not None:
        code = frame.tb_frame.f_code
        where = f"in your {code.co_name} ({_where(code.co_filename, frame.tb_lineno)})"
        return f"{check} could not finish: {type(e).__name__} {where}: {text}. Fix that line, then run the check again"
    return (f"{check} could not finish: {type(e).__name__}: {text}. This came from inside the check, not from a line "
            "of yours: check that the earlier steps' checks pass, then run this one again")


@dataclass(frozen=True)
class Exercise:
    """What a check grades, beside the check itself (learntools' way): the grade id of the solution cell it grades
    (None for code the learner does not write), its points, its hidden test (a call of the check, silent when it
    passes), and three hints: 1 what and why, 2 the pieces and their names, 3 a skeleton with blanks.
    .ci/nbgrader_metadata.py writes the points and the hidden test into the notebook's check cell, and the hints
    into the prose above the solution cell."""
    solution: str | None
    points: int
    hidden: str | None = None
    hints: tuple[str, ...] = ()


def exercise(solution: str | None, points: int, hidden: str | None = None, hints: tuple[str, ...] = ()):
    """Attach an Exercise to a check (as check.exercise)."""
    def attach(check):
        check.exercise = Exercise(solution, points, hidden, hints)
        return check
    return attach


_seed = seed  # checked()'s wrapper takes a seed= argument, which hides this function's name there


def run(what: str, fn, *args, hint=None):
    """Call the learner's code; an exception it raises becomes a CheckFailed that says where.

    hint: a string, or a function of the exception returning one (or ""), added to the message.
    """
    try:
        return fn(*args)
    except NotImplementedError:  # a stub of the exercise: it says which step, in one line (helpers.explain_stubs)
        raise
    except Exception as e:  # noqa: BLE001 - any error in the learner's code is a failed check
        extra = hint(e) if callable(hint) else hint
        text = str(e).rstrip(".") if extra else str(e)
        raise CheckFailed(f"{what} raised {e.__class__.__name__}: {text}{extra or ''}") from e


def last_layer(model: nn.Module) -> nn.Module:
    """The last linear or convolution layer of a model (the one that produces the logit)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers, "expected the discriminator to end in a linear (or convolution) layer that outputs one logit"
    return layers[-1]
