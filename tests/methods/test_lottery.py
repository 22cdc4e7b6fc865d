"""``lstm-imp``: the lottery ticket by iterative magnitude pruning with rewinding, and its control."""

from __future__ import annotations

import torch

from benchmark.compress.masks import masks_of
from benchmark.training.convergence import summarise


def test_ticket_and_its_random_reinit_control(fit_on_track):
    fit = fit_on_track
    dense, _ = fit("lstm")
    ticket, _ = fit("lstm-imp[removed=0.5]")
    control, meta = fit("lstm-imp[reinit=true,removed=0.5]")
    assert meta["method"] == "lstm-imp[reinit=true,removed=0.5]"
    total = dense.n_params()
    nonzero = sum(int(torch.count_nonzero(p)) for p in ticket.model.parameters())
    assert abs(nonzero - 0.5 * total) <= 1 and ticket.train_log["rounds"][-1]["nonzero"] == nonzero
    assert len(ticket.train_log["rounds"]) == 4  # 20% at most per round: 0.84, 0.71, 0.59, 0.5 kept
    # rewound: the survivors started from the dense run's early weights, which are kept with the ticket
    assert set(ticket.rewind) == set(dense.model.state_dict())
    assert not torch.equal(ticket.rewind["out.weight"], dense.model.out.weight)
    # the control has the ticket's mask and other values
    for name, mask in masks_of(ticket.model).items():
        assert torch.equal(masks_of(control.model)[name], mask)
    assert not torch.equal(control.model.out.weight, ticket.model.out.weight)
    assert control.train_log["ticket"] == "lstm-imp[removed=0.5]"
    # the control's training is on the record like any row's: its curve, steps, time and FLOPs
    summary = summarise(control.train_log, {"patience": 0, "lr_decays": 0})
    assert summary.steps == control.train_log["steps"] > 0 and summary.seconds > 0 and summary.flops > 0
    # the rewind point survives save and load (a further level continues from it)
    further, _ = fit("lstm-imp[removed=0.8]")
    assert further.train_log["rounds"][:4] == ticket.train_log["rounds"]
    reloaded, _ = fit("lstm-imp[removed=0.5]")
    assert all(torch.equal(reloaded.rewind[k], v) for k, v in ticket.rewind.items())
