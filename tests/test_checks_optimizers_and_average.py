"""check_optimizers (step 7) and check_weight_average (step 8) of problem_unittests.py.

As in test_problem_unittests.py: the lesson's way and its valid variations pass; each typical mistake is
rejected with a CheckFailed naming it and its fix. The optimizers are those of the notebook's optimizer
cell, made over the notebook's D and G; update_average is written here in every way the lesson accepts.
"""
from __future__ import annotations

import copy
import re

import pytest
import torch
import torch.nn as nn

import problem_unittests as pu

LR, BETAS = 2e-4, (0.5, 0.999)


def passes(capsys, check, *args, **kwargs) -> None:
    check(*args, **kwargs)
    assert capsys.readouterr().out == pu.PASSED + "\n"


def rejects(check, *args, match: str, **kwargs) -> None:
    with pytest.raises(pu.CheckFailed, match=match) as e:
        check(*args, **kwargs)
    assert e.value.check == check.__name__


# --- check_optimizers --------------------------------------------------------------------------

@pytest.fixture
def nets(nb):
    return nb["Discriminator"](conv_dim=8), nb["Generator"](z_size=10, conv_dim=8)


def adam(net, **kwargs):
    return torch.optim.Adam(net.parameters(), **{"lr": LR, "betas": BETAS, **kwargs})


def test_optimizers_pass_the_notebooks_cell(capsys, nets):
    D, G = nets
    fused = False  # the notebook's cell on a CPU: fused = device.type == "cuda"
    passes(capsys, pu.check_optimizers, adam(D, fused=fused), adam(G, fused=fused), D, G)


VALID_OPTIMIZERS = {
    "foreach": lambda net: adam(net, foreach=True),
    "no-foreach": lambda net: adam(net, foreach=False),
    "capturable": lambda net: adam(net, capturable=True),
    "a-list-of-parameters": lambda net: torch.optim.Adam(list(net.parameters()), lr=LR, betas=BETAS),
    "betas-as-a-list": lambda net: adam(net, betas=list(BETAS)),
    "two-parameter-groups": lambda net: torch.optim.Adam([{"params": list(net.parameters())[:2]},
                                                          {"params": list(net.parameters())[2:]}], lr=LR, betas=BETAS),
}


@pytest.mark.parametrize("make", VALID_OPTIMIZERS.values(), ids=VALID_OPTIMIZERS.keys())
def test_optimizers_pass_with_adams_speed_options(capsys, nets, make):
    D, G = nets
    passes(capsys, pu.check_optimizers, make(D), make(G), D, G)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_optimizers_pass_fused_on_cuda(capsys, nets):
    D, G = (net.cuda() for net in nets)
    passes(capsys, pu.check_optimizers, adam(D, fused=True), adam(G, fused=True), D, G)


def test_optimizers_pass_with_the_lr_and_betas_asked_for(capsys, nets):
    D, G = nets
    passes(capsys, pu.check_optimizers, adam(D, lr=1e-3, betas=(0.9, 0.99)), adam(G, lr=1e-3, betas=(0.9, 0.99)),
           D, G, lr=1e-3, betas=(0.9, 0.99))
    rejects(pu.check_optimizers, adam(D), adam(G), D, G, lr=1e-3, match="learning rate is 0.0002, not 0.001")


FIX_D = re.escape("d_optimizer = torch.optim.Adam(D.parameters(), lr=0.0002, betas=(0.5, 0.999))")
FIX_G = re.escape("g_optimizer = torch.optim.Adam(G.parameters(), lr=0.0002, betas=(0.5, 0.999))")
OPTIMIZER_MISTAKES = {
    "swapped": (lambda D, G, old: (adam(G), adam(D)),
                r"^d_optimizer holds G's parameters, not D's \(are the two optimizers swapped\?\): " + FIX_D),
    "both-over-d": (lambda D, G, old: (adam(D), adam(D)), r"^g_optimizer holds D's parameters, not G's .*: " + FIX_G),
    "d-over-both": (lambda D, G, old: (torch.optim.Adam([*D.parameters(), *G.parameters()], lr=LR, betas=BETAS), adam(G)),
                    r"^d_optimizer holds G's parameters as well as D's: each optimizer updates its own network only"),
    "made-before-the-networks-were-rebuilt": (
        lambda D, G, old: (adam(old), adam(G)),
        r"^d_optimizer holds none of D's current parameters: it was made for a D built before this one\. Run the "
        r"optimizer cell again after building the networks: " + FIX_D),
    "g-made-before-g-was-rebuilt": (
        lambda D, G, old: (adam(D), adam(copy.deepcopy(G))), r"^g_optimizer holds none of G's current parameters"),
    "some-parameters": (lambda D, G, old: (torch.optim.Adam(list(D.parameters())[:-2], lr=LR, betas=BETAS), adam(G)),
                        r"^d_optimizer misses 2 of D's parameter tensors \(net\.12\.weight, net\.12\.bias\): give it all "
                        r"of D\.parameters\(\)"),
    "adams-default-lr": (lambda D, G, old: (torch.optim.Adam(D.parameters(), betas=BETAS), adam(G)),
                         r"^d_optimizer's learning rate is 0\.001, Adam's default, not 0\.0002: pass lr=lr"),
    "other-lr": (lambda D, G, old: (adam(D), adam(G, lr=2e-3)), r"^g_optimizer's learning rate is 0\.002, not 0\.0002"),
    "adams-default-betas": (lambda D, G, old: (torch.optim.Adam(D.parameters(), lr=LR), adam(G)),
                            r"^d_optimizer's beta1 is 0\.9, Adam's default: the DCGAN paper's 0\.5 keeps the momentum "
                            r"short because the target moves\. Pass betas=betas"),
    "other-betas": (lambda D, G, old: (adam(D, betas=(0.5, 0.99)), adam(G)),
                    re.escape("d_optimizer's betas are (0.5, 0.99), not (0.5, 0.999): pass betas=betas")),
    "sgd": (lambda D, G, old: (torch.optim.SGD(D.parameters(), lr=LR), adam(G)),
            r"^d_optimizer is SGD, not Adam: the DCGAN paper trains both networks with Adam: " + FIX_D),
    "adamw": (lambda D, G, old: (adam(D), torch.optim.AdamW(G.parameters(), lr=LR, betas=BETAS)),
              r"^g_optimizer is AdamW, not Adam"),
    "weight-decay": (lambda D, G, old: (adam(D, weight_decay=1e-4), adam(G)), r"^d_optimizer has weight_decay=0\.0001"),
    "not-an-optimizer": (lambda D, G, old: (D.parameters(), adam(G)),
                         r"^d_optimizer is a generator, not an optimizer: " + FIX_D),
}


@pytest.mark.parametrize("make, match", OPTIMIZER_MISTAKES.values(), ids=OPTIMIZER_MISTAKES.keys())
def test_optimizers_name_the_mistake(nb, nets, make, match):
    D, G = nets
    old = nb["Discriminator"](conv_dim=8)  # a D of the same shape, built before the current one
    rejects(pu.check_optimizers, *make(D, G, old), D, G, match=match)


# --- check_weight_average ----------------------------------------------------------------------

def update_average(average, G, decay):
    """The lesson's solution."""
    with torch.no_grad():
        for a, p in zip(average.parameters(), G.parameters()):
            a.mul_(decay).add_(p, alpha=1 - decay)


def with_lerp(average, G, decay):
    with torch.no_grad():
        for a, p in zip(average.parameters(), G.parameters()):
            a.lerp_(p, 1 - decay)


def with_copy(average, G, decay):
    with torch.no_grad():
        for a, p in zip(average.parameters(), G.parameters()):
            a.copy_(decay * a + (1 - decay) * p)


@torch.no_grad()
def with_foreach(average, G, decay):
    averages, params = list(average.parameters()), list(G.parameters())
    torch._foreach_mul_(averages, decay)
    torch._foreach_add_(averages, params, alpha=1 - decay)


@torch.no_grad()
def with_foreach_lerp(average, G, decay):
    torch._foreach_lerp_(list(average.parameters()), list(G.parameters()), 1 - decay)


@torch.no_grad()
def by_name(average, G, decay):
    live = dict(G.named_parameters())
    for name, a in average.named_parameters():
        a.mul_(decay).add_(live[name], alpha=1 - decay)


def with_data(average, G, decay):
    for a, p in zip(average.parameters(), G.parameters()):
        a.data.mul_(decay).add_(p.data, alpha=1 - decay)


@torch.no_grad()
def floats_of_the_state_dict(average, G, decay):
    """timm's way: every floating-point entry of the state_dict, batch norm's running statistics too (harmless:
    helpers copies G's into the average before sampling)."""
    for a, p in zip(average.state_dict().values(), G.state_dict().values()):
        if a.is_floating_point():
            a.mul_(decay).add_(p, alpha=1 - decay)


VALID_AVERAGES = [update_average, with_lerp, with_copy, with_foreach, with_foreach_lerp, by_name, with_data,
                  floats_of_the_state_dict]


@pytest.mark.parametrize("fn", VALID_AVERAGES, ids=[f.__name__ for f in VALID_AVERAGES])
def test_weight_average_passes(capsys, fn):
    passes(capsys, pu.check_weight_average, fn)


def each_pair(update):
    """An update_average applying update(a, p, decay) to each pair of parameters, under no_grad."""
    def update_average(average, G, decay):
        with torch.no_grad():
            for a, p in zip(average.parameters(), G.parameters()):
                update(a, p, decay)
    return update_average


def returns_a_new_model(average, G, decay):
    new = copy.deepcopy(average)
    update_average(new, G, decay)
    return new


def rebinds(average, G, decay):
    average = copy.deepcopy(average)  # a local name: the caller's average is untouched
    update_average(average, G, decay)


def new_parameters(average, G, decay):
    for m, live in zip(average.modules(), G.modules()):
        for name, a in list(m.named_parameters(recurse=False)):
            new = (decay * a + (1 - decay) * getattr(live, name)).detach()
            setattr(m, name, nn.Parameter(new, requires_grad=False))


def weights_only(average, G, decay):
    with torch.no_grad():
        for a, p in zip(average.parameters(), G.parameters()):
            if a.dim() > 1:  # the biases and batch norm's parameters are forgotten
                a.mul_(decay).add_(p, alpha=1 - decay)


def with_buffers(average, G, decay):
    with torch.no_grad():
        for a, p in zip(average.parameters(), G.buffers()):
            a.mul_(decay).add_(p, alpha=1 - decay)


def whole_state_dict(average, G, decay):
    with torch.no_grad():
        for a, p in zip(average.state_dict().values(), G.state_dict().values()):
            a.mul_(decay).add_(p, alpha=1 - decay)


def params_with_state_dict(average, G, decay):
    with torch.no_grad():
        for a, p in zip(average.parameters(), G.state_dict().values()):
            a.mul_(decay).add_(p, alpha=1 - decay)


def last_layer_wrong(average, G, decay):
    """Right for all but the last layer's two tensors, which get G's share with the wrong weight."""
    with torch.no_grad():
        pairs = list(zip(average.parameters(), G.parameters()))
        for i, (a, p) in enumerate(pairs):
            a.mul_(decay).add_(p, alpha=decay if i >= len(pairs) - 2 else 1 - decay)


FIX = re.escape("a.mul_(decay).add_(p, alpha=1 - decay) for each a, p in zip(average.parameters(), G.parameters())")
IN_PLACE = re.escape("update the average's tensors in place (a.mul_(...)), assigning a = ... changes nothing outside "
                     "the function")
AVERAGE_MISTAKES = {
    "decay-swapped": (each_pair(lambda a, p, d: a.mul_(1 - d).add_(p, alpha=d)),
                      r"^decay and 1 - decay are swapped: the average moves almost all the way to G each step: the old "
                      r"average should keep the weight `decay` \(decay=0\.9, average\.0\.weight\): use " + FIX),
    "add-forgotten": (each_pair(lambda a, p, d: a.mul_(d)),
                      r"^the average was scaled by decay, but G's share was not added \(a \.add_ forgotten\?\)"),
    "not-scaled": (each_pair(lambda a, p, d: a.add_(p, alpha=1 - d)),
                   r"^G's share was added, but the old average was not scaled by decay first"),
    "copies-g": (each_pair(lambda a, p, d: a.copy_(p)), r"^the average became a copy of G"),
    "returns-a-new-model": (returns_a_new_model, r"^update_average returned a Sequential and left the average unchanged "
                                                 r"\(decay=0\.9\): " + IN_PLACE),
    "rebinds-the-name": (rebinds, r"^update_average left the average unchanged \(decay=0\.9\): " + IN_PLACE),
    "new-parameter-objects": (new_parameters, r"^update_average replaced average\.0\.weight with a new tensor: " + IN_PLACE),
    "no-no-grad": (lambda average, G, decay: [a.copy_(decay * a + (1 - decay) * p)
                                              for a, p in zip(average.parameters(), G.parameters())],
                   r"^update_average built an autograd graph: average\.0\.weight now requires grad\. Do the update under "
                   r"`with torch\.no_grad\(\):`"),
    "no-no-grad-in-place": (lambda average, G, decay: [a.mul_(decay).add_(p, alpha=1 - decay)
                                                       for a, p in zip(average.parameters(), G.parameters())],
                            r"^update_average built an autograd graph"),
    "updates-g": (lambda average, G, decay: update_average(G, average, decay),
                  r"^update_average changed G \(0\.weight\): G is only read, the average is what moves"),
    "weights-only": (weights_only, r"^only some of the average's parameters were updated: 0\.bias, 1\.weight, 1\.bias, "
                                   r"3\.bias kept their values \(decay=0\.9\)\. Update every one: " + FIX),
    "g-buffers": (with_buffers, r"raised RuntimeError: .*The average's tensors and G's were paired out of step: "
                                r"zip\(average\.parameters\(\), G\.parameters\(\)\)"),
    "whole-state-dict": (whole_state_dict, r"raised RuntimeError: .*Batch norm's num_batches_tracked, an integer buffer, "
                                           r"cannot be averaged: average the parameters only"),
    "params-with-state-dict": (params_with_state_dict, r"raised RuntimeError: .*paired out of step"),
    "decay-squared": (each_pair(lambda a, p, d: a.mul_(d * d).add_(p, alpha=1 - d * d)),
                      r"^average\.0\.weight is not decay \* average \+ \(1 - decay\) \* G with decay=0\.9: expected "
                      r"-?\d\.\d{4}, got -?\d\.\d{4} for its first value\. Use " + FIX + r"\.$"),
    "last-layer-wrong": (last_layer_wrong, r"^average\.3\.weight is not decay \* average \+ \(1 - decay\) \* G with "
                                           r"decay=0\.9: .*The parameters before it are right: is each paired with G's "
                                           r"parameter of the same name\?"),
}


@pytest.mark.parametrize("fn, match", AVERAGE_MISTAKES.values(), ids=AVERAGE_MISTAKES.keys())
def test_weight_average_names_the_mistake(fn, match):
    rejects(pu.check_weight_average, fn, match=match)


def test_weight_average_checks_decay_0_and_1_too():
    """Right at 0.9 and 0.5, wrong at the ends: an update that ignores decay outside (0, 1)."""
    def clamped(average, G, decay):
        update_average(average, G, min(max(decay, 0.1), 0.9))

    rejects(pu.check_weight_average, clamped, match=r"decay=0\.0")


def test_weight_average_lets_a_stub_through():
    def stub(average, G, decay):
        raise NotImplementedError("not implemented yet: step 8, update_average (see the hints above)")

    with pytest.raises(NotImplementedError, match="step 8"):
        pu.check_weight_average(stub)
