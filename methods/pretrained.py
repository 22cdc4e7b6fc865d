"""Methods that start from the fitted ``lstm`` and tune a few hyper-parameters on meta-val."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
from tqdm.auto import tqdm

from baselines.lstm import LSTMBaseline
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.nn.sequence import LSTMLM, sample_lstm
from benchmark.scoring.nll import mean_nats_per_token, score_episodes
from episodes.types import Episode, Item

VAL_EPISODES_MAX = 40  # adaptation is costly: select on at most this many meta-val episodes


def select_on_val(method: Any, grid: dict[str, Sequence], episodes: Sequence[Episode]) -> list[dict]:
    """Try every combination in ``grid`` (set as attributes of ``method``), keep the one
    with the lowest meta-val nats/token; returns the table of what was tried."""
    table = []
    combos = list(itertools.product(*grid.values()))
    for values in tqdm(combos, desc=f"select {getattr(method, 'name', '')} on meta-val", unit="setting"):
        setting = dict(zip(grid, values))
        for key, value in setting.items():
            setattr(method, key, value)
        table.append({**setting, "val_nats_per_token": mean_nats_per_token(score_episodes(method, episodes))})
    best = min(table, key=lambda row: row["val_nats_per_token"])
    for key in grid:
        setattr(method, key, best[key])
    return table


class PretrainedLSTMMethod(LSTMBaseline):
    """Shares the fitted ``lstm``'s weights; `fit` only selects ``grid`` on meta-val."""

    grid: ClassVar[dict[str, Sequence]] = {}

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        base = data.pretrained("lstm")
        self.model = base.model
        self.lr, self.weight_decay = base.lr, base.weight_decay
        episodes = data.val_episodes(min(budget.val_episodes, VAL_EPISODES_MAX))
        self.train_log = {"base": "lstm", "base_train_log": base.train_log,
                          "val_grid": select_on_val(self, self.grid, episodes)}

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
