"""Methods that start from a fitted LSTM -- the ``lstm``, or its trimmed variant
``lstm-trim`` (training setting ``base``: ``finetune[base="lstm-trim"]``) -- and tune a
few hyper-parameters on meta-val."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from baselines.lstm import LSTMBaseline
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.contract.settings import Choice
from benchmark.nn.sequence import LSTMLM, sample_lstm
from benchmark.training.selection import grid, select_on_val
from episodes.types import Item

VAL_EPISODES_MAX = 40  # adaptation is costly: select on at most this many meta-val episodes


class PretrainedLSTMMethod(LSTMBaseline):
    """Shares the fitted ``base``'s weights; `fit` only selects ``grid`` on meta-val."""

    grid: ClassVar[dict[str, Sequence]] = {}
    train_settings = {"base": Choice(("lstm", "lstm-trim"))}

    def __init__(self, base: str = "lstm", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = base

    def init_args(self) -> dict[str, Any]:
        return {**super().init_args(), "base": self.base}

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        base = data.pretrained(self.base)
        self.model = base.model
        self.lr, self.weight_decay = base.lr, base.weight_decay
        episodes = data.val_episodes(min(budget.val_episodes, VAL_EPISODES_MAX))
        self.train_log = {
            "base": self.base,
            "base_train_log": base.train_log,
            "val_grid": select_on_val(self, grid(self.grid), episodes),
        }

    def adapt_many(self, supports):
        return [self.adapt(s) for s in supports]


class TokenwiseAdapted:
    """An adapted model that scores each song token by token (`token_nll`) and samples
    from its LSTM ``model`` alone."""

    model: LSTMLM

    def token_nll(self, item: Item) -> np.ndarray:
        """Per-token NLL in nats, shape ``(len(item.tokens) - 1,)``."""
        raise NotImplementedError

    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        return np.array([-self.token_nll(it).sum() for it in items], dtype=np.float64)

    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        return sample_lstm(self.model, n, max_len=max_len, generator=generator)
