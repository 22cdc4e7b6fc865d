"""A functional LSTM language model for ``torch.func`` (``grad``, ``vmap``).

``nn.LSTM`` has no ``vmap`` batching rule (it falls back to a slow per-task loop), so
meta-learning runs the same network written out step by step from plain tensor ops.
Parameters use `benchmark.nn.sequence.LSTMLM`'s names, so a dict of them loads straight into
an ``LSTMLM`` for fast scoring, and vice versa.  One LSTM layer.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from episodes.tokens import PAD

Params = dict[str, Tensor]


def lstm_logits(params: Params, tokens: Tensor) -> Tensor:
    """tokens ``(B, T)`` long -> logits ``(B, T, V)``, from the zero state, no dropout."""
    w_ih, w_hh = params["lstm.weight_ih_l0"], params["lstm.weight_hh_l0"]  # (4H, E), (4H, H)
    x = F.embedding(tokens, params["embed.weight"])  # (B, T, E)
    gates_x = x @ w_ih.T + params["lstm.bias_ih_l0"] + params["lstm.bias_hh_l0"]  # (B, T, 4H)
    batch, steps, hidden = tokens.shape[0], tokens.shape[1], w_hh.shape[1]
    h = x.new_zeros(batch, hidden)  # (B, H)
    c = x.new_zeros(batch, hidden)  # (B, H)
    outputs = []
    for t in range(steps):
        i, f, g, o = (gates_x[:, t] + h @ w_hh.T).chunk(4, dim=-1)  # each (B, H)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outputs.append(h)
    hs = torch.stack(outputs, dim=1)  # (B, T, H)
    return hs @ params["out.weight"].T + params["out.bias"]  # (B, T, V)


def lm_nll(params: Params, batch: Tensor) -> Tensor:
    """Mean NLL in nats/token of ``batch[:, 1:]`` given ``batch[:, :-1]``; PAD ignored."""
    logits = lstm_logits(params, batch[:, :-1])  # (B, T-1, V)
    targets = batch[:, 1:]  # (B, T-1)
    nll = -torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    mask = (targets != PAD).to(nll.dtype)
    return (nll * mask).sum() / mask.sum().clamp(min=1.0)
