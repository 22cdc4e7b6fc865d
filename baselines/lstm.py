"""LSTM language-model baselines.

``lstm`` is trained on meta-train songs, one song per sequence, and ignores the
support set: it is the non-adaptive neural floor.

``lstm-concat`` is trained on meta-train *episodes* laid out as one sequence::

    BOS support_1 EOS BOS support_2 EOS ... BOS query EOS

with K drawn uniformly from ``0 .. max_shots`` per training sequence, so that it
learns to use however many songs precede.  At test time it reads the support set
(``adapt``: one pass, state kept) and then scores each query song from that state,
each query on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.nn.sequence import (
    LSTM_SIZES,
    LSTMLM,
    LSTMConfig,
    LSTMState,
    lm_loss,
    pad_batch,
    read_state,
    sample_lstm,
    score_sequences,
)
from benchmark.training.neural import NeuralMethod, episode_batches
from episodes.types import Item


class LSTMAdapted:
    """An LSTM with an initial state (``None``: the zero state).

    ``state`` is ``(h, c)``, each ``(layers, 1, hidden)``.  The model is shared
    read-only with the method; nothing here updates it.
    """

    def __init__(self, model: LSTMLM, state: LSTMState | None) -> None:
        self.model = model
        self.state = state

    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        return -score_sequences(self.model, [it.tokens for it in items], _repeat(self.state, len(items)))

    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        return sample_lstm(self.model, n, max_len=max_len, generator=generator, state=self.state)


def _repeat(state: LSTMState | None, n: int) -> LSTMState | None:
    if state is None:
        return None
    return state[0].expand(-1, n, -1).contiguous(), state[1].expand(-1, n, -1).contiguous()


@register_method(group="baseline", reference_for=("midi", "lyrics"))
class LSTMBaseline(NeuralMethod):
    """LSTM language model on meta-train songs; ignores the support set."""

    name = "lstm"
    version = "2"  # 2: training skips padding (length-grouped sub-batches); plateau budgets
    data_parallel = True  # under torchrun each rank computes its rows' share of a step's loss (lm_loss)
    net_cls = LSTMLM
    config_cls = LSTMConfig

    def __init__(self, lr: float = 2e-3, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)

    # ----- training ------------------------------------------------------------
    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        torch.manual_seed(data.seed)
        self.model = LSTMLM(LSTMConfig(vocab=data.vocab_size, **LSTM_SIZES[budget.size]))
        batches = self.training_batches(data, budget)
        self.train_network(data, budget, logdir, lambda step: lm_loss(self.model, batches(step)))

    def training_batches(self, data: MetaTrainData, budget: Budget):
        """``step -> (B, T)`` batch of meta-train songs, seeded by ``(seed, step)``."""
        items = data.train_items()

        def batch(step: int) -> torch.Tensor:
            rng = np.random.default_rng([data.seed, step])
            picks = rng.integers(len(items), size=budget.batch_size)
            return pad_batch([items[i].tokens for i in picks])

        return batch

    # ----- adaptation ----------------------------------------------------------
    def adapt(self, support: Sequence[Item]) -> LSTMAdapted:
        return LSTMAdapted(self._model(), None)

    def adapt_many(self, supports: Sequence[Sequence[Item]]) -> list[LSTMAdapted]:
        return [self.adapt(s) for s in supports]

    def log_prob_many(self, adapted: Sequence[LSTMAdapted], queries: Sequence[Sequence[Item]]) -> list[np.ndarray]:
        """All queries of all episodes in one length-sorted batched pass (when the
        adapted models share this method's weights; else one episode at a time)."""
        if any(type(a) is not LSTMAdapted or a.model is not self._model() for a in adapted):
            return [a.log_prob(q) for a, q in zip(adapted, queries)]
        seqs = [it.tokens for q in queries for it in q]
        if all(a.state is None for a in adapted):
            state = None
        else:
            zeros = torch.zeros(self._model().cfg.layers, 1, self._model().cfg.hidden)
            hs = [a.state[0] if a.state is not None else zeros for a, q in zip(adapted, queries) for _ in q]
            cs = [a.state[1] if a.state is not None else zeros for a, q in zip(adapted, queries) for _ in q]
            state = (torch.cat(hs, dim=1), torch.cat(cs, dim=1))
        nll = score_sequences(self._model(), seqs, state)
        bounds = np.cumsum([0] + [len(q) for q in queries])
        return [-nll[a:b] for a, b in zip(bounds, bounds[1:])]


@register_method(group="baseline")
class LSTMConcat(LSTMBaseline):
    """LSTM trained on support-then-query sequences; reads the support set at test time."""

    name = "lstm-concat"

    def __init__(self, lr: float = 2e-3, weight_decay: float = 0.0, max_shots: int = 8) -> None:
        super().__init__(lr, weight_decay)
        self.max_shots = max_shots

    def init_args(self) -> dict[str, Any]:
        return {**super().init_args(), "max_shots": self.max_shots}

    def training_batches(self, data: MetaTrainData, budget: Budget):
        """``step -> (B, T)`` batch of episodes laid out as support songs then a query song
        (see `episode_batches`)."""
        return episode_batches(
            data,
            budget,
            max_shots=self.max_shots,
            salt=1,
            layout=lambda episode, rng: np.concatenate([it.tokens for it in episode.support + episode.query]),
        )

    def adapt(self, support: Sequence[Item]) -> LSTMAdapted:
        return self.adapt_many([support])[0]

    def adapt_many(self, supports: Sequence[Sequence[Item]]) -> list[LSTMAdapted]:
        """Read every support set in one batched pass; K = 0 keeps the zero state."""
        model = self._model()
        seqs = [np.concatenate([it.tokens for it in s]) if len(s) else np.zeros(0, np.int64) for s in supports]
        h, c = read_state(model, seqs)
        return [
            LSTMAdapted(model, (h[:, i : i + 1], c[:, i : i + 1]) if len(s) else None) for i, s in enumerate(supports)
        ]
