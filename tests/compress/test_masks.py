"""Global magnitude masks: which weights go, that they stay at zero in training, schedules."""

from __future__ import annotations

import pytest
import torch

from benchmark.compress.masks import (
    apply_masks,
    hold_masked,
    masks_of,
    prunable,
    prune_globally,
    sparsity_schedule,
)
from benchmark.nn.sequence import LSTMLM, LSTMConfig, lm_loss


def _model() -> LSTMLM:
    torch.manual_seed(0)
    return LSTMLM(LSTMConfig(vocab=30, emb=6, hidden=8, dropout=0.0))


def test_global_pruning_keeps_the_largest_weights_over_the_whole_network():
    model = _model()
    masks = masks_of(model)
    assert set(masks) == {"embed.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "out.weight"}
    weights = torch.cat([p.detach().abs().flatten() for p in prunable(model).values()])
    keep = 100
    pruned = prune_globally(model, masks, keep)
    assert sum(int(m.sum()) for m in pruned.values()) == keep
    threshold = weights.sort(descending=True).values[keep - 1]
    for name, p in prunable(model).items():  # alive exactly where |w| is among the 100 largest
        assert torch.equal(pruned[name], p.detach().abs() >= threshold)
    again = prune_globally(model, pruned, 40)  # a later round only removes among the alive
    assert all(bool((again[n] <= pruned[n]).all()) for n in pruned)
    with pytest.raises(ValueError, match="cannot keep 101"):
        prune_globally(model, pruned, 101)


def test_masked_weights_stay_exactly_zero_through_adam_training():
    model = _model()
    masks = prune_globally(model, masks_of(model), 150)
    apply_masks(model, masks)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    batch = torch.randint(3, 30, (4, 12))
    before = {n: p.detach().clone() for n, p in prunable(model).items()}
    with hold_masked(model, masks):
        for _ in range(5):
            opt.zero_grad()
            lm_loss(model, batch).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    for name, p in prunable(model).items():
        assert torch.count_nonzero(p.detach()[~masks[name]]) == 0
        assert not torch.equal(p.detach()[masks[name]], before[name][masks[name]])  # the alive ones trained
    assert {n: m.sum() for n, m in masks_of(model).items()} == {n: m.sum() for n, m in masks.items()}
    model.zero_grad()
    lm_loss(model, batch).backward()  # hooks removed on exit: gradients flow everywhere again
    assert torch.count_nonzero(model.out.weight.grad[~masks["out.weight"]]) > 0


def test_schedule_rounds_are_equal_between_targets_and_never_remove_more_than_the_fraction():
    rounds = sparsity_schedule([0.5, 0.9])
    kept = [1.0] + [k for k, _ in rounds]
    assert all(b / a >= 0.8 - 1e-9 for a, b in zip(kept, kept[1:]))
    assert [(k, t) for k, t in rounds if t is not None] == [(0.5, 0.5), (pytest.approx(0.1), 0.9)]
    assert len(rounds) == 4 + 8  # ceil(log .5 / log .8) = 4, ceil(log .2 / log .8) = 8
