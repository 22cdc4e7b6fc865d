"""Structured trimming: shapes, equivalence with the silenced (masked) network, schedules."""

from __future__ import annotations

import pytest
import torch

from benchmark.compress.trim import (
    KeptUnits,
    keep_best,
    n_params,
    silenced,
    trim_schedule,
    trimmed,
    unit_scores,
    widths_for,
)
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from episodes.tokens import PAD


def _model(layers: int = 1, seed: int = 0) -> LSTMLM:
    torch.manual_seed(seed)
    model = LSTMLM(LSTMConfig(vocab=40, emb=12, hidden=20, layers=layers)).eval()
    with torch.no_grad():  # non-zero biases, so that silencing is not trivially the identity
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _tokens(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(3, 40, (5, 30), generator=g)
    tokens[3, 20:] = PAD
    return tokens


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("criterion", ["magnitude", "activation"])
def test_trimmed_model_has_its_shapes_and_the_silenced_models_outputs(layers, criterion):
    model = _model(layers)
    kept = keep_best(model, emb=7, hidden=9, criterion=criterion, tokens=_tokens())
    small = trimmed(model, kept).eval()
    assert (small.cfg.emb, small.cfg.hidden, small.cfg.layers) == (7, 9, layers)
    assert small.embed.weight.shape == (40, 7)
    assert small.lstm.weight_ih_l0.shape == (36, 7) and small.lstm.weight_hh_l0.shape == (36, 9)
    assert small.out.weight.shape == (40, 9)
    if layers == 2:
        assert small.lstm.weight_ih_l1.shape == (36, 9)
    assert n_params(small.cfg) == sum(p.numel() for p in small.parameters())
    tokens = _tokens(2)
    with torch.no_grad():
        ours, (h, c) = small(tokens)
        theirs, (h_full, c_full) = silenced(model, kept).eval()(tokens)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    for layer in range(layers):  # the kept units' state is the same; the removed ones stay 0
        torch.testing.assert_close(h[layer], h_full[layer][:, kept.hidden[layer]], atol=1e-5, rtol=1e-5)
    removed = [j for j in range(20) if j not in set(kept.hidden[-1].tolist())]
    assert torch.count_nonzero(h_full[-1][:, removed]) == 0 and torch.count_nonzero(c_full[-1][:, removed]) == 0


def test_the_trimmed_rows_are_the_kept_units_rows():
    model = _model()
    kept = KeptUnits(torch.tensor([0, 5, 11]), (torch.tensor([2, 3, 19]),))
    small = trimmed(model, kept)
    for gate in range(4):
        for i, j in enumerate([2, 3, 19]):
            torch.testing.assert_close(
                small.lstm.weight_hh_l0[gate * 3 + i], model.lstm.weight_hh_l0[gate * 20 + j, [2, 3, 19]]
            )
            torch.testing.assert_close(
                small.lstm.weight_ih_l0[gate * 3 + i], model.lstm.weight_ih_l0[gate * 20 + j, [0, 5, 11]]
            )
    torch.testing.assert_close(small.out.weight, model.out.weight[:, [2, 3, 19]])


def test_magnitude_scores_by_hand():
    model = _model()
    emb, (units,) = unit_scores(model, "magnitude")
    lstm = model.lstm
    j = 4
    rows = [j, 20 + j, 40 + j, 60 + j]
    by_hand = (
        lstm.weight_ih_l0[rows].pow(2).sum()
        + lstm.weight_hh_l0[rows].pow(2).sum()
        + lstm.weight_hh_l0[:, j].pow(2).sum()
        + model.out.weight[:, j].pow(2).sum()
    ).sqrt()
    torch.testing.assert_close(units[j], by_hand.detach())
    torch.testing.assert_close(
        emb[3], (model.embed.weight[:, 3].pow(2).sum() + lstm.weight_ih_l0[:, 3].pow(2).sum()).sqrt().detach()
    )


def test_a_silent_unit_ranks_last_by_activation():
    model = _model()
    with torch.no_grad():
        model.lstm.weight_ih_l0[[6, 26, 46, 66]] = 0
        model.lstm.weight_hh_l0[[6, 26, 46, 66]] = 0
        model.lstm.bias_ih_l0[[46]] = 0  # candidate 0: the unit's cell never moves
        model.lstm.bias_hh_l0[[46]] = 0
    _, (units,) = unit_scores(model, "activation", _tokens())
    assert int(units.argmin()) == 6 and float(units[6]) == 0.0
    with pytest.raises(ValueError, match="needs songs"):
        unit_scores(model, "activation")
    with pytest.raises(ValueError, match="criterion must be one of"):
        unit_scores(model, "random")


def test_schedule_removes_a_fifth_of_units_per_round_and_lands_on_each_target():
    cfg = LSTMConfig(vocab=299, emb=128, hidden=256)
    rounds = trim_schedule(cfg, [0.5, 0.9])
    hiddens = [256] + [r.hidden for r in rounds]
    assert all(b < a for a, b in zip(hiddens, hiddens[1:]))
    assert all(b >= int(a * 0.8) for a, b in zip(hiddens, hiddens[1:]))  # never more than a fifth at once
    landed = [r for r in rounds if r.target is not None]
    assert [r.target for r in landed] == [0.5, 0.9]
    for r in landed:
        assert r.removed >= r.target  # at most the target's share of parameters is left
        wider = LSTMConfig(vocab=299, emb=round(128 * (r.hidden + 1) / 256), hidden=r.hidden + 1)
        assert 1 - n_params(wider) / n_params(cfg) < r.target  # and it is the widest such model
    assert widths_for(cfg, 0.9).hidden == landed[-1].hidden
    with pytest.raises(ValueError, match="ascending"):
        trim_schedule(cfg, [0.9, 0.5])
