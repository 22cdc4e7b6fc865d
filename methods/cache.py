"""``cache``: the neural continuous cache (Grave et al., 2017) on the fitted ``lstm``.

The cache holds pairs (h_i, x_{i+1}) -- an LSTM output and the token that followed
it -- from every support song and from the query song's own prefix.  At position t::

    p_cache(w) ∝ Σ_{i in cache, x_{i+1} = w} exp(θ h_t · h_i)
    p(w)       = (1 − λ) p_lstm(w) + λ p_cache(w)

A pair from the query enters the cache only once its token x_{i+1} has been scored
(i < t), so no query token is read before it is scored.  Each query song is scored
on its own, with the support pairs only.  θ and λ are chosen on meta-val.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.contract.methods import register_method
from benchmark.contract.overrides import Range
from benchmark.nn.sequence import LSTMLM, pad_batch
from episodes.types import Item
from methods.pretrained import PretrainedLSTMMethod, TokenwiseAdapted


@torch.no_grad()
def hidden_pairs(model: LSTMLM, items: Sequence[Item]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cache pairs of songs: LSTM outputs ``(N, H)`` and the tokens that followed ``(N,)``."""
    if not items:
        return torch.zeros(0, model.cfg.hidden), torch.zeros(0, dtype=torch.long)
    model.eval()
    batch = pad_batch([it.tokens for it in items])  # (B, T)
    h, _ = model.hidden(batch[:, :-1])  # (B, T-1, H)
    lengths = [len(it.tokens) - 1 for it in items]
    hs = torch.cat([h[b, :n] for b, n in enumerate(lengths)])  # (N, H)
    ys = torch.cat([batch[b, 1 : n + 1] for b, n in enumerate(lengths)])  # (N,)
    return hs, ys


@torch.no_grad()
def cache_token_nll(
    model: LSTMLM, tokens: np.ndarray, support_h: torch.Tensor, support_y: torch.Tensor, *, theta: float, lam: float
) -> np.ndarray:
    """Per-token NLL (nats), shape ``(len(tokens) - 1,)``, of one song under the cache model."""
    x = torch.from_numpy(tokens.astype(np.int64))  # (T,)
    h, _ = model.hidden(x[None, :-1])
    h = h[0]  # (T-1, H)
    y = x[1:]  # (T-1,) targets
    log_p_lstm = torch.log_softmax(model.out(h), dim=-1).gather(1, y[:, None])[:, 0]  # (T-1,)
    n = len(y)
    keys = torch.cat([support_h, h])  # (N_s + T-1, H)
    vals = torch.cat([support_y, y])  # (N_s + T-1,)
    scores = theta * h @ keys.T  # (T-1, N_s + T-1)
    # query pair j (h_j, y_j) is usable at position t only once y_j is scored: j < t
    allowed = torch.ones_like(scores, dtype=torch.bool)
    allowed[:, len(support_y) :] = torch.ones(n, n, dtype=torch.bool).tril(diagonal=-1)
    scores = scores.masked_fill(~allowed, -math.inf)
    log_norm = torch.logsumexp(scores, dim=1)  # (T-1,)
    match = scores.masked_fill(vals[None, :] != y[:, None], -math.inf)
    log_p_cache = torch.logsumexp(match, dim=1) - log_norm  # -inf where nothing matches / empty cache
    has_cache = torch.isfinite(log_norm)
    mix = torch.logaddexp(math.log1p(-lam) + log_p_lstm, math.log(lam) + log_p_cache)
    return (-torch.where(has_cache, mix, log_p_lstm)).double().numpy()


class CacheAdapted(TokenwiseAdapted):
    """The ``lstm`` plus a cache filled from the support set (sampling ignores the cache)."""

    def __init__(self, model: LSTMLM, support_h: torch.Tensor, support_y: torch.Tensor, theta: float, lam: float):
        self.model, self.support_h, self.support_y, self.theta, self.lam = model, support_h, support_y, theta, lam

    def token_nll(self, item: Item) -> np.ndarray:
        return cache_token_nll(self.model, item.tokens, self.support_h, self.support_y, theta=self.theta, lam=self.lam)


@register_method(group="adaptive")
class NeuralCache(PretrainedLSTMMethod):
    """Continuous cache over support-set (and query-prefix) hidden states."""

    name = "cache"
    version = "2"  # 2: wider meta-val grid
    grid = {"theta": (0.1, 0.3, 1.0), "lam": (0.15, 0.3, 0.45, 0.6)}
    eval_settings = {"theta": Range(0), "lam": Range(0, 1, low_open=True, high_open=True)}  # `fsmb eval --set`

    def __init__(self, theta: float = 0.3, lam: float = 0.15, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.theta, self.lam = theta, lam

    def init_args(self) -> dict[str, Any]:
        return {**super().init_args(), "theta": self.theta, "lam": self.lam}

    def adapt(self, support: Sequence[Item]) -> CacheAdapted:
        hs, ys = hidden_pairs(self._model(), support)
        return CacheAdapted(self._model(), hs, ys, self.theta, self.lam)
