"""facegen/step_recorder.py: what check_train_step sees of a train_step."""
from __future__ import annotations

import torch
import torch.nn as nn

from facegen import step_recorder as sr


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
    kinds = [e[0] for e in rec.events]
    assert kinds == ["zero_grad", "call", "call", "backward", "step"], kinds
    assert [c.net for c in rec.calls] == ["G", "D"] and not rec.calls[1].attached
    assert len(sr.steps(rec, "d")) == 1 and sr.steps(rec, "d")[0][2]["D"][0] is not None


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
