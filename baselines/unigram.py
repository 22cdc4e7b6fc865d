"""Unigram baselines: token frequencies, with or without the support set.

``unigram`` predicts every token from meta-train frequencies (add-``smoothing``
counts) and ignores the support set.  ``unigram-support`` interpolates the support
set's counts with that prior as a Dirichlet posterior mean::

    p(t | S) = (count_S(t) + alpha * p_prior(t)) / (|S| + alpha)

with ``alpha`` chosen on meta-val episodes.  BOS and PAD are never predicted and
get probability zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmark.contract.methods import register_method
from benchmark.contract.protocol import SEQUENCE_MODALITIES, Budget, MetaTrainData
from benchmark.training.selection import grid, select_on_val
from benchmark.training.state import load_arrays, require_fitted, save_arrays
from episodes.tokens import BOS, EOS, PAD
from episodes.types import Item

ALPHA_GRID = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


def token_counts(items: Sequence[Item], vocab: int) -> np.ndarray:
    """Counts of predicted tokens (everything after BOS), shape ``(vocab,)``."""
    if not items:
        return np.zeros(vocab, dtype=np.float64)
    return np.bincount(np.concatenate([it.tokens[1:] for it in items]), minlength=vocab).astype(np.float64)


class UnigramModel:
    """Adapted unigram: i.i.d. tokens with log-probabilities ``logp`` (shape ``(V,)``)."""

    def __init__(self, probs: np.ndarray) -> None:
        with np.errstate(divide="ignore"):
            self.logp = np.log(probs)

    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        return np.array([self.logp[it.tokens[1:]].sum() for it in items], dtype=np.float64)

    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        probs = np.exp(self.logp)
        out = []
        for _ in range(n):
            draws = generator.choice(len(probs), size=max_len - 1, p=probs / probs.sum())
            stop = np.flatnonzero(draws == EOS)
            body = draws[: stop[0] + 1] if len(stop) else draws
            out.append(np.concatenate([[BOS], body]).astype(np.uint16))
        return out


@register_method(group="baseline")
class Unigram:
    """Meta-train token frequencies; ignores the support set."""

    name = "unigram"
    version = "1"
    modalities = SEQUENCE_MODALITIES

    def __init__(self, smoothing: float = 0.5) -> None:
        self.smoothing = smoothing
        self.prior: np.ndarray | None = None

    def hparams(self) -> dict[str, Any]:
        return {"smoothing": self.smoothing}

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        counts = token_counts(data.train_items(), data.vocab_size) + self.smoothing
        counts[[PAD, BOS]] = 0.0
        self.prior = counts / counts.sum()

    def adapt(self, support: Sequence[Item]) -> UnigramModel:
        return UnigramModel(self._prior())

    def _prior(self) -> np.ndarray:
        return require_fitted(self.prior, self.name)

    def save(self, path: Path) -> None:
        save_arrays(path, {"prior": self._prior()}, self.hparams())

    def load(self, path: Path) -> None:
        arrays, settings = load_arrays(path)
        self.prior = arrays["prior"]
        self.__dict__.update(settings)

    def n_params(self) -> int:
        return int(len(self._prior()))


@register_method(group="baseline")
class UnigramSupport(Unigram):
    """Support-set counts shrunk toward the meta-train prior (Dirichlet posterior mean)."""

    name = "unigram-support"

    def __init__(self, smoothing: float = 0.5, alpha: float = 300.0) -> None:
        super().__init__(smoothing)
        self.alpha = alpha

    def hparams(self) -> dict[str, Any]:
        return {"smoothing": self.smoothing, "alpha": self.alpha}

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        super().fit(data, budget=budget, logdir=logdir)
        select_on_val(self, grid({"alpha": ALPHA_GRID}), data.val_episodes(budget.val_episodes))

    def adapt(self, support: Sequence[Item]) -> UnigramModel:
        prior = self._prior()
        counts = token_counts(support, len(prior))
        return UnigramModel((counts + self.alpha * prior) / (counts.sum() + self.alpha))
