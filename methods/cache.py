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
from tqdm.auto import tqdm

from benchmark.contract.device import to_run_device
from benchmark.contract.methods import register_method
from benchmark.contract.settings import Range
from benchmark.nn.sequence import LSTMLM, pad_batch
from benchmark.scoring.nll import EpisodeScore, episode_score
from episodes.types import Episode, Item
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
def cache_token_nll_grid(
    model: LSTMLM,
    tokens: np.ndarray,
    support_h: torch.Tensor,
    support_y: torch.Tensor,
    *,
    thetas: Sequence[float],
    lams: Sequence[float],
) -> np.ndarray:
    """Per-token NLL (nats) of one song under the cache model at every (θ, λ), shape
    ``(len(thetas), len(lams), len(tokens) - 1)``: the LSTM pass and the similarities
    ``h_t · h_i`` are computed once; θ only rescales them, λ only re-mixes."""
    x = to_run_device(tokens.astype(np.int64))  # (T,)
    h, _ = model.hidden(x[None, :-1])
    h = h[0]  # (T-1, H)
    y = x[1:]  # (T-1,) targets
    log_p_lstm = torch.log_softmax(model.out(h), dim=-1).gather(1, y[:, None])[:, 0]  # (T-1,)
    n = len(y)
    keys = torch.cat([support_h, h])  # (N_s + T-1, H)
    vals = torch.cat([support_y, y])  # (N_s + T-1,)
    similarity = h @ keys.T  # (T-1, N_s + T-1)
    # query pair j (h_j, y_j) is usable at position t only once y_j is scored: j < t
    allowed = torch.ones_like(similarity, dtype=torch.bool)
    allowed[:, len(support_y) :] = torch.ones(n, n, dtype=torch.bool).tril(diagonal=-1)
    matches = vals[None, :] == y[:, None]
    out = np.empty((len(thetas), len(lams), n))
    for i, theta in enumerate(thetas):
        scores = (theta * similarity).masked_fill(~allowed, -math.inf)
        log_norm = torch.logsumexp(scores, dim=1)  # (T-1,)
        log_p_cache = torch.logsumexp(scores.masked_fill(~matches, -math.inf), dim=1) - log_norm  # -inf: no match
        has_cache = torch.isfinite(log_norm)
        for j, lam in enumerate(lams):
            mix = torch.logaddexp(math.log1p(-lam) + log_p_lstm, math.log(lam) + log_p_cache)
            out[i, j] = (-torch.where(has_cache, mix, log_p_lstm)).double().cpu().numpy()
    return out


class CacheAdapted(TokenwiseAdapted):
    """The ``lstm`` plus a cache filled from the support set (sampling ignores the cache)."""

    def __init__(self, model: LSTMLM, support_h: torch.Tensor, support_y: torch.Tensor, theta: float, lam: float):
        self.model, self.support_h, self.support_y, self.theta, self.lam = model, support_h, support_y, theta, lam

    def token_nll(self, item: Item) -> np.ndarray:
        return cache_token_nll_grid(
            self.model, item.tokens, self.support_h, self.support_y, thetas=[self.theta], lams=[self.lam]
        )[0, 0]


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

    def score_grid(self, settings: Sequence[dict], episodes: Sequence[Episode]) -> list[list[EpisodeScore]]:
        """The meta-val scores of every setting in one pass over ``episodes`` (the
        `benchmark.training.selection` hook): each song's LSTM pass is shared by the grid."""
        thetas = sorted({s["theta"] for s in settings})
        lams = sorted({s["lam"] for s in settings})
        scores: dict[tuple[float, float], list[EpisodeScore]] = {(t, lam): [] for t in thetas for lam in lams}
        for episode in tqdm(
            episodes, desc=f"select {self.name} on meta-val ({len(settings)} settings at once)", unit="episode"
        ):
            hs, ys = hidden_pairs(self._model(), episode.support)
            nll = np.stack(
                [
                    cache_token_nll_grid(self._model(), it.tokens, hs, ys, thetas=thetas, lams=lams).sum(-1)
                    for it in episode.query
                ],
                axis=-1,
            )  # (thetas, lams, queries)
            for i, theta in enumerate(thetas):
                for j, lam in enumerate(lams):
                    scores[theta, lam].append(episode_score(episode.query, -nll[i, j]))
        return [scores[s["theta"], s["lam"]] for s in settings]

    def adapt(self, support: Sequence[Item]) -> CacheAdapted:
        hs, ys = hidden_pairs(self._model(), support)
        return CacheAdapted(self._model(), hs, ys, self.theta, self.lam)
