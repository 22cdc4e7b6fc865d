"""Structured trimming of an `LSTMLM`: whole hidden units and embedding dimensions are
removed, and the result is a smaller *dense* network (fewer rows and columns), not a
mask.

What a unit owns:

- hidden unit ``j`` of layer ``l``: its four gate rows (input, forget, cell, output:
  rows ``j``, ``H + j``, ``2H + j``, ``3H + j``) of ``weight_ih_l``, ``weight_hh_l``,
  ``bias_ih_l`` and ``bias_hh_l``; column ``j`` of ``weight_hh_l``; and column ``j`` of
  what reads the layer -- ``weight_ih`` of the next layer, or the output layer;
- embedding dimension ``d``: column ``d`` of the embedding table and of ``weight_ih_l0``.

A trimmed network computes exactly what the full one computes with the removed units
*silenced* (`silenced`: gate rows zeroed, so the gates sit at 0.5 and the candidate at
0 and, from the zero state, the unit's cell and output stay 0; embedding columns
zeroed), which the tests check.

Which units go (`unit_scores`, higher is kept):

- ``"magnitude"``: the L2 norm of every weight the unit owns;
- ``"activation"``: the unit's mean absolute output over a batch of songs times the
  L2 norm of its outgoing weights (what the rest of the network reads of it), in the
  spirit of the activation-ranked structured lottery of Esling et al. (2020).

`trim_schedule` lays out the rounds from the dense widths down to target fractions of
removed parameters: each round removes at most ``unit_fraction`` of the remaining units
(hidden and embedding alike), equal rounds between targets, one landing exactly on
each.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from benchmark.nn.sequence import LSTMLM, LSTMConfig
from episodes.tokens import PAD

CRITERIA = ("magnitude", "activation")


@dataclass(frozen=True)
class KeptUnits:
    """Indices (ascending, long) of what a trim keeps: embedding dimensions ``(E',)`` and,
    per layer, hidden units ``(H',)`` (every layer keeps as many, as ``nn.LSTM`` needs)."""

    emb: Tensor
    hidden: tuple[Tensor, ...]


@dataclass(frozen=True)
class TrimRound:
    """One round of a schedule: the widths after it, the fraction of the dense model's
    parameters removed, and the target it lands on (``None`` for a round on the way)."""

    emb: int
    hidden: int
    removed: float
    target: float | None


def gate_rows(units: Tensor, hidden: int) -> Tensor:
    """Rows of the four stacked gates that belong to ``units`` of a layer ``hidden`` wide."""
    return torch.cat([units + gate * hidden for gate in range(4)])


def _reader(model: LSTMLM, layer: int) -> Tensor:
    """The weight that reads layer ``layer``'s output, ``(rows, H)``."""
    if layer + 1 < model.cfg.layers:
        return getattr(model.lstm, f"weight_ih_l{layer + 1}")
    return model.out.weight


def trimmed(model: LSTMLM, kept: KeptUnits) -> LSTMLM:
    """A new `LSTMLM` holding only the ``kept`` units of ``model`` (same vocabulary and
    dropout; same train/eval mode)."""
    cfg = dataclasses.replace(model.cfg, emb=len(kept.emb), hidden=len(kept.hidden[0]))
    small = LSTMLM(cfg)
    wide = model.cfg.hidden
    with torch.no_grad():
        small.embed.weight.copy_(model.embed.weight[:, kept.emb])
        for layer in range(cfg.layers):
            rows = gate_rows(kept.hidden[layer], wide)
            inputs = kept.emb if layer == 0 else kept.hidden[layer - 1]
            for kind, cols in (("ih", inputs), ("hh", kept.hidden[layer])):
                getattr(small.lstm, f"weight_{kind}_l{layer}").copy_(
                    getattr(model.lstm, f"weight_{kind}_l{layer}")[rows][:, cols]
                )
                getattr(small.lstm, f"bias_{kind}_l{layer}").copy_(getattr(model.lstm, f"bias_{kind}_l{layer}")[rows])
        small.out.weight.copy_(model.out.weight[:, kept.hidden[-1]])
        small.out.bias.copy_(model.out.bias)
    small.train(model.training)
    return small


def silenced(model: LSTMLM, kept: KeptUnits) -> LSTMLM:
    """A copy of ``model`` at full width whose units outside ``kept`` are silenced (their
    gate rows and embedding columns zeroed): what `trimmed` computes, as a mask."""
    masked = LSTMLM(model.cfg)
    masked.load_state_dict(model.state_dict())
    with torch.no_grad():
        drop_emb = _complement(kept.emb, model.cfg.emb)
        masked.embed.weight[:, drop_emb] = 0
        for layer in range(model.cfg.layers):
            rows = gate_rows(_complement(kept.hidden[layer], model.cfg.hidden), model.cfg.hidden)
            for kind in ("ih", "hh"):
                getattr(masked.lstm, f"weight_{kind}_l{layer}")[rows] = 0
                getattr(masked.lstm, f"bias_{kind}_l{layer}")[rows] = 0
    masked.train(model.training)
    return masked


def _complement(kept: Tensor, width: int) -> Tensor:
    keep = torch.zeros(width, dtype=torch.bool)
    keep[kept] = True
    return torch.nonzero(~keep)[:, 0]


@torch.no_grad()
def layer_outputs(model: LSTMLM, tokens: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Embeddings ``(B, T, E)`` and each layer's outputs ``(B, T, H)`` of ``tokens``
    ``(B, T)`` (dropout off)."""
    x = model.embed(tokens)
    outputs, h = [], x
    for layer in range(model.cfg.layers):
        one = nn.LSTM(h.shape[-1], model.cfg.hidden, 1, batch_first=True)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(one, f"{name}_l0").copy_(getattr(model.lstm, f"{name}_l{layer}"))
        h, _ = one(h)
        outputs.append(h)
    return x, outputs


def unit_scores(model: LSTMLM, criterion: str, tokens: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
    """Scores of the embedding dimensions ``(E,)`` and of each layer's hidden units
    ``[(H,), ...]`` by ``criterion`` (`CRITERIA`); ``tokens`` ``(B, T)`` (PAD-padded
    songs) are what ``"activation"`` measures on."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, not {criterion!r}")
    hidden, lstm = model.cfg.hidden, model.lstm
    w_ih0 = lstm.weight_ih_l0.detach()
    outgoing = [
        (
            lstm.get_parameter(f"weight_hh_l{layer}").detach().pow(2).sum(0)
            + _reader(model, layer).detach().pow(2).sum(0)
        )
        for layer in range(model.cfg.layers)
    ]
    if criterion == "magnitude":
        emb = (model.embed.weight.detach().pow(2).sum(0) + w_ih0.pow(2).sum(0)).sqrt()
        units = []
        for layer in range(model.cfg.layers):
            incoming = sum(lstm.get_parameter(f"weight_{k}_l{layer}").detach().pow(2).sum(1) for k in ("ih", "hh"))
            units.append((incoming.view(4, hidden).sum(0) + outgoing[layer]).sqrt())
        return emb, units
    if tokens is None:
        raise ValueError("the activation criterion needs songs to measure activations on")
    valid = (tokens != PAD).unsqueeze(-1).float()  # (B, T, 1)
    count = valid.sum().clamp(min=1)
    x, outputs = layer_outputs(model, tokens)
    emb = (x.abs() * valid).sum((0, 1)) / count * w_ih0.pow(2).sum(0).sqrt()
    units = [(h.abs() * valid).sum((0, 1)) / count * outgoing[layer].sqrt() for layer, h in enumerate(outputs)]
    return emb, units


def top_units(scores: Tensor, n: int) -> Tensor:
    """Indices of the ``n`` highest ``scores``, ascending (ties: the lower index)."""
    order = torch.sort(scores, descending=True, stable=True).indices
    return torch.sort(order[:n]).values


def keep_best(model: LSTMLM, emb: int, hidden: int, criterion: str, tokens: Tensor | None = None) -> KeptUnits:
    """The ``emb`` embedding dimensions and ``hidden`` units per layer that score highest."""
    emb_scores, unit_scores_ = unit_scores(model, criterion, tokens)
    return KeptUnits(top_units(emb_scores, emb), tuple(top_units(s, hidden) for s in unit_scores_))


def n_params(cfg: LSTMConfig) -> int:
    """Parameters of an `LSTMLM` of ``cfg`` (built on the meta device: no memory)."""
    with torch.device("meta"):
        return sum(p.numel() for p in LSTMLM(cfg).parameters())


def _scaled(cfg: LSTMConfig, hidden: int) -> LSTMConfig:
    """``cfg`` with ``hidden`` units and the embedding scaled by as much (at least 1)."""
    return dataclasses.replace(cfg, hidden=hidden, emb=max(1, round(cfg.emb * hidden / cfg.hidden)))


def widths_for(cfg: LSTMConfig, removed: float) -> LSTMConfig:
    """The widest ``cfg`` scaled down (hidden and embedding alike) that has at most
    ``1 - removed`` of ``cfg``'s parameters."""
    budget = (1 - removed) * n_params(cfg)
    for hidden in range(cfg.hidden, 0, -1):
        if n_params(_scaled(cfg, hidden)) <= budget:
            return _scaled(cfg, hidden)
    raise ValueError(
        f"no width of {cfg} removes {removed:.0%} of its parameters (the vocabulary layers alone are more)"
    )


def trim_schedule(cfg: LSTMConfig, targets: Sequence[float], unit_fraction: float = 0.2) -> list[TrimRound]:
    """Rounds from the dense ``cfg`` to each of ``targets`` (fractions of parameters
    removed, ascending), a round landing exactly on each target.  Between targets the
    rounds are equal, each removing at most ``unit_fraction`` of the remaining hidden
    units (and embedding dimensions alike), as few as that allows."""
    if not 0 < unit_fraction < 1:
        raise ValueError(f"unit_fraction must be in (0, 1), not {unit_fraction}")
    if list(targets) != sorted(set(targets)) or any(not 0 < t < 1 for t in targets):
        raise ValueError(f"targets must be distinct fractions in (0, 1), ascending, not {list(targets)}")
    dense = n_params(cfg)
    rounds, hidden = [], cfg.hidden
    for target in targets:
        goal = widths_for(cfg, target).hidden
        if goal >= hidden:
            raise ValueError(
                f"targets {list(targets)} are too close: {target} leaves {goal} hidden units, "
                f"no fewer than the level before"
            )
        n = math.ceil(math.log(goal / hidden) / math.log(1 - unit_fraction) - 1e-9)
        widths = [max(goal, math.ceil(hidden * (goal / hidden) ** ((i + 1) / n))) for i in range(n - 1)] + [goal]
        for width in dict.fromkeys(widths):  # distinct, in order
            scaled = _scaled(cfg, width)
            rounds.append(TrimRound(scaled.emb, width, 1 - n_params(scaled) / dense, target if width == goal else None))
        hidden = goal
    return rounds
