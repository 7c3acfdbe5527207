"""facegen/checks/step_recorder.py: what check_train_step sees of a train_step."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from facegen.checks import step_recorder as sr


def test_fit_reads_off_the_label_and_weight_of_a_bce_term():
    torch.manual_seed(0)
    net = nn.Linear(5, 1)
    x = torch.randn(32, 5) * 3
    params = list(net.parameters())
    basis = list(sr.bce_basis(net(x), params))
    for label, weight in ((1.0, 1.0), (0.9, 1.0), (0.0, 0.5)):
        loss = weight * nn.functional.binary_cross_entropy_with_logits(net(x), torch.full((32, 1), label))
        g = sr.flat(torch.autograd.grad(loss, params), params)
        (a, b), residual = sr.fit(g, basis)
        assert residual < 1e-6 and abs(a - weight) < 1e-6 and abs(-b / a - label) < 1e-6


def test_fit_refuses_parallel_columns():
    column = torch.randn(10, dtype=torch.float64)
    assert sr.fit(column, [column, 2 * column]) is None


def test_watch_and_the_recorded_optimizer_note_calls_zero_grad_and_step_in_order():
    D, G = nn.Linear(3, 1), nn.Linear(2, 3)
    rec = sr.Recording({"D": list(D.parameters()), "G": list(G.parameters())})
    opt = sr.SGD(D.parameters(), lr=0.1).watch(rec, "d")
    with sr.watch(rec, D, G, "cpu"):
        opt.zero_grad()
        D(G(torch.randn(4, 2)).detach()).mean().backward()
        opt.step()
    kinds = [type(e) for e in rec.events]
    assert kinds == [sr.ZeroGrad, sr.Call, sr.Call, sr.Backward, sr.Step], kinds
    assert [c.net for c in rec.calls] == ["G", "D"] and not rec.calls[1].attached
    assert len(sr.steps(rec, "d")) == 1 and sr.steps(rec, "d")[0].grads["D"][0] is not None


def test_replay_runs_a_copy_as_it_was_at_the_call():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    rec = sr.Recording({"D": list(net.parameters()), "G": []})
    x = torch.randn(8, 4)
    with sr.watch(rec, net, nn.Identity(), "cpu"):
        out = net(x)
    with torch.no_grad():
        net[0].weight.add_(1.0)  # the network moves on; the replay must not
    copy = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert torch.equal(sr.replay(copy, rec.calls[0], x, "cpu"), out)  # same weights, same dropout mask


def two_steps_of_d(zero_grad_between: bool) -> sr.Recording:
    """D trained twice by d_optimizer, with or without zero_grad() before the second backward()."""
    D, G = nn.Linear(3, 1), nn.Linear(2, 3)
    rec = sr.Recording({"D": list(D.parameters()), "G": list(G.parameters())})
    opt = sr.SGD(D.parameters(), lr=0.1).watch(rec, "d")
    with sr.watch(rec, D, G, "cpu"):
        opt.zero_grad()
        D(torch.randn(4, 3)).mean().backward()
        opt.step()
        if zero_grad_between:
            opt.zero_grad()
        D(torch.randn(4, 3)).mean().backward()
        opt.step()
    return rec


def test_events_are_typed_with_named_fields():
    rec = two_steps_of_d(zero_grad_between=True)
    zero, call, backward, step = rec.events[:4]
    assert zero == sr.ZeroGrad(opt="d") and zero.opt == "d"
    assert isinstance(call, sr.Call) and call.net == "D" and call is rec.calls[0]
    assert backward == sr.Backward(net="D", had_grad=False)
    assert isinstance(step, sr.Step) and step.opt == "d" and set(step.grads) == {"D", "G"}
    assert step.grads["G"] == [None, None]  # G was never reached
    with pytest.raises(TypeError):
        zero[0]  # not a tuple: nothing is decoded by position


def test_step_keeps_the_gradients_as_they_were_at_that_step():
    rec = two_steps_of_d(zero_grad_between=False)
    first, second = sr.steps(rec, "d")
    assert not torch.equal(first.grads["D"][0], second.grads["D"][0])  # a copy, not the live .grad
    assert torch.equal(second.grads["D"][0], rec.params["D"][0].grad)


@pytest.mark.parametrize("zero_grad_between", [True, False])
def test_backward_notes_whether_grad_already_held_a_gradient(zero_grad_between):
    """had_grad is what tells a missing zero_grad() (the second backward adds to the first's gradient)."""
    backwards = [e for e in two_steps_of_d(zero_grad_between).events if isinstance(e, sr.Backward)]
    assert [b.had_grad for b in backwards] == [False, not zero_grad_between]


def test_position_finds_an_event_by_identity_not_by_equality():
    """Two zero_grad() of the same optimizer are equal events; position() must still tell them apart."""
    rec = two_steps_of_d(zero_grad_between=True)
    zero_grads = [e for e in rec.events if isinstance(e, sr.ZeroGrad)]
    assert zero_grads[0] == zero_grads[1]
    assert [sr.position(rec, z) for z in zero_grads] == [0, 4]
    assert [sr.position(rec, s) for s in sr.steps(rec, "d")] == [3, 7]
