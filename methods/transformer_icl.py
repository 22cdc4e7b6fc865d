"""``transformer-icl``: a decoder-only transformer that adapts purely in context.

Meta-training sequences are episodes laid out as the support songs, then a query
song (K drawn uniformly from ``0 .. max_shots``, as for ``lstm-concat``)::

    BOS s_1 EOS BOS s_2 EOS ... BOS s_K EOS BOS q_1 q_2 ...

with the next-token loss on every position.  At test time ``adapt`` only builds the
support block; the weights never change.

**Support sets longer than the context.**  The window holds ``context`` tokens.  The
support block gets at most ``support_budget`` of them, shared max-min fairly between
the songs (`fair_shares`): songs shorter than an equal share are kept whole, the
others keep their first tokens up to an equal share of what is left (a truncated
song loses its ending, EOS included).  Songs keep their support-set order.

**Query songs longer than the rest of the window** (``W = context - len(block)``
tokens, at least ``context - support_budget``) are scored with a sliding window
(`query_windows`): the first window scores tokens ``1 .. W-1``; each next window
moves ``stride`` tokens on and rereads the support block plus the ``W - stride``
query tokens before the ones it scores.  Every query token is thus scored given the
whole support block and at least ``W - stride`` preceding query tokens (all of them
when the song fits).  In training, a query longer than ``W`` contributes a ``W``-token
segment from a random offset, so the model also learns windows that start mid-song.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.contract.methods import register_method
from benchmark.contract.overrides import changed_train_settings
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.contract.settings import Range
from benchmark.nn.sequence import share_of_mean_nll
from benchmark.nn.transformer import (
    TRANSFORMER_SIZES,
    TransformerConfig,
    TransformerLM,
    Window,
    sample_transformer,
    score_windows,
)
from benchmark.runtime.distributed import seed_per_rank
from benchmark.training.neural import NeuralMethod, episode_batches
from episodes.types import Episode, Item


def fair_shares(lengths: Sequence[int], budget: int) -> list[int]:
    """Max-min fair split of ``budget`` tokens: ``shares[i] <= lengths[i]``, short songs
    whole, the longer ones equal shares of the rest (rounded down)."""
    shares = [0] * len(lengths)
    left = budget
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    for rank, i in enumerate(order):
        shares[i] = min(lengths[i], left // (len(lengths) - rank))
        left -= shares[i]
    return shares


def support_block(support: Sequence[Item], budget: int) -> np.ndarray:
    """The support songs, each cut to its `fair_shares` share, concatenated: ``(P,)``
    int64 with ``P <= budget``."""
    shares = fair_shares([len(it.tokens) for it in support], budget)
    parts = [it.tokens[:share].astype(np.int64) for it, share in zip(support, shares)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def query_windows(block: np.ndarray, tokens: np.ndarray, *, context: int, stride: int) -> list[Window]:
    """Windows that score ``tokens[1:]`` once each, given ``block`` (see the module doc)."""
    prefix, n = len(block), len(tokens)
    width = context - prefix
    if not 0 < stride < width:
        raise ValueError(f"stride {stride} must be in (0, {width}): the query window left by the support block")
    windows, scored_to = [], 1  # tokens[1:scored_to] are scored
    end = min(n, width)
    while scored_to < n:
        start = end - width if end > width else 0
        body = np.concatenate([block, tokens[start:end].astype(np.int64)])
        # tokens[j] is predicted at window position prefix + j - 1 - start
        windows.append(Window(body, prefix + scored_to - 1 - start, prefix + end - 1 - start))
        scored_to, end = end, min(n, end + stride)
    return windows


class ICLAdapted:
    """The meta-trained transformer with a support block as its prompt."""

    def __init__(self, model: TransformerLM, block: np.ndarray, stride: int) -> None:
        self.model, self.block, self.stride = model, block, stride

    def windows(self, items: Sequence[Item]) -> tuple[list[Window], list[int]]:
        """All scoring windows of ``items`` and, for each, the index of its item."""
        windows, owner = [], []
        for i, it in enumerate(items):
            ws = query_windows(self.block, it.tokens, context=self.model.cfg.context, stride=self.stride)
            windows += ws
            owner += [i] * len(ws)
        return windows, owner

    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        windows, owner = self.windows(items)
        return -np.bincount(owner, weights=score_windows(self.model, windows), minlength=len(items))

    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        return sample_transformer(self.model, self.block, n, max_len=max_len, generator=generator)


@register_method(group="adaptive")
class TransformerICL(NeuralMethod):
    """Decoder-only transformer meta-trained on support-then-query sequences."""

    name = "transformer-icl"
    data_parallel = True  # under torchrun each rank computes its rows' share of a step's loss
    version = "2"  # 2: training skips padding (length-grouped sub-batches); plateau budgets
    net_cls = TransformerLM
    config_cls = TransformerConfig
    # Fitted variants for the ablations, e.g. transformer-icl[context=512,support_budget=256,stride=128];
    # ``layers`` and ``d_model`` 0: the budget's size (`TRANSFORMER_SIZES`); a ``d_model`` of its own
    # gets d_model / 32 heads and a 4 * d_model MLP
    train_settings = {
        "context": Range(16, 8192),
        "support_budget": Range(0, 8192),
        "stride": Range(1, 8192),
        "lr": Range(0, low_open=True),
        "max_shots": Range(0, 64),
        "warmup": Range(0, 100000),
        "layers": Range(0, 32),
        "d_model": Range(0, 2048),
        "dropout": Range(0, 1, high_open=True),
    }

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        max_shots: int = 8,
        context: int = 1024,
        support_budget: int = 512,
        stride: int = 256,
        warmup: int = 100,
        layers: int = 0,
        d_model: int = 0,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.max_shots, self.context, self.support_budget = max_shots, context, support_budget
        self.stride, self.warmup = stride, warmup
        self.layers, self.d_model, self.dropout = layers, d_model, dropout

    def init_args(self) -> dict[str, Any]:
        return {
            **super().init_args(),
            "max_shots": self.max_shots,
            "context": self.context,
            "support_budget": self.support_budget,
            "stride": self.stride,
            "warmup": self.warmup,
            # the shape settings only where changed: the default configuration's records keep their keys
            **{k: getattr(self, k) for k in changed_train_settings(self) if k in ("layers", "d_model", "dropout")},
        }

    def check_settings(self) -> None:
        """The support block must leave the query room in the context, and a scoring
        window must move on by less than that room."""
        room = self.context - self.support_budget
        if room < 2:
            raise ValueError(
                f"support_budget {self.support_budget} leaves {room} of the {self.context}-token "
                "context to the query; give a smaller support_budget or a larger context"
            )
        if not 0 < self.stride < room:
            raise ValueError(
                f"stride {self.stride} must be below the query's room, context - support_budget = "
                f"{room}; give a smaller stride"
            )
        if self.d_model % 32:
            raise ValueError(f"d_model {self.d_model} must be a multiple of 32 (one attention head per 32 dimensions)")

    # ----- training ------------------------------------------------------------
    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        torch.manual_seed(data.seed)
        cfg = TransformerConfig(vocab=data.vocab_size, context=self.context, **self.shape(budget))
        self.model = TransformerLM(cfg)
        seed_per_rank(data.seed)  # under torchrun: the same weights, each rank its own dropout masks
        batches = self.training_batches(data, budget)

        def loss(step: int) -> torch.Tensor:  # (this rank's share of) the batch's mean NLL
            return share_of_mean_nll(lambda rows: self.model(rows[:, :-1]), batches(step))

        # linear warm-up, then cosine decay to lr / 10 over a fixed budget; over an early-stopping
        # budget (whose steps are a cap) warm-up only: the plateau rule anneals
        decay_steps = None if budget.early_stopping else budget.steps
        self.train_network(
            data, budget, logdir, loss, lr_factor=lambda step: lr_factor(step, warmup=self.warmup, steps=decay_steps)
        )

    def shape(self, budget: Budget) -> dict[str, Any]:
        """The network's `TransformerConfig` fields other than vocabulary and context:
        the budget's size, with the ``layers``, ``d_model`` and ``dropout`` settings."""
        shape: dict[str, Any] = {**TRANSFORMER_SIZES[budget.size], "dropout": self.dropout}
        if self.layers:
            shape["layers"] = self.layers
        if self.d_model:
            shape.update(d_model=self.d_model, heads=self.d_model // 32, ff=4 * self.d_model)
        return shape

    def training_batches(self, data: MetaTrainData, budget: Budget):
        """``step -> (B, T <= context)`` batch of support-block-then-query-segment
        sequences (see `episode_batches`)."""

        def layout(episode: Episode, rng: np.random.Generator) -> np.ndarray:
            block = support_block(episode.support, self.support_budget)
            query = episode.query[0].tokens.astype(np.int64)
            width = self.context - len(block)
            offset = int(rng.integers(max(0, len(query) - width) + 1))
            return np.concatenate([block, query[offset : offset + width]])

        return episode_batches(data, budget, max_shots=self.max_shots, salt=2, layout=layout)

    # ----- adaptation ----------------------------------------------------------
    def adapt(self, support: Sequence[Item]) -> ICLAdapted:
        return ICLAdapted(self._model(), support_block(support, self.support_budget), self.stride)

    def adapt_many(self, supports: Sequence[Sequence[Item]]) -> list[ICLAdapted]:
        return [self.adapt(s) for s in supports]

    def log_prob_many(self, adapted: Sequence[ICLAdapted], queries: Sequence[Sequence[Item]]) -> list[np.ndarray]:
        """Every window of every episode in one length-sorted batched pass (when the
        adapted models share this method's weights; else one episode at a time)."""
        if any(a.model is not self._model() for a in adapted):
            return [a.log_prob(q) for a, q in zip(adapted, queries)]
        windows, owner, offset = [], [], 0
        for a, q in zip(adapted, queries):
            ws, own = a.windows(q)
            windows += ws
            owner += [offset + o for o in own]
            offset += len(q)
        nll = np.bincount(owner, weights=score_windows(self._model(), windows), minlength=offset)
        bounds = np.cumsum([0] + [len(q) for q in queries])
        return [-nll[a:b] for a, b in zip(bounds, bounds[1:])]


def lr_factor(step: int, *, warmup: int, steps: int | None) -> float:
    """Learning-rate multiplier: linear warm-up over ``warmup`` steps, then cosine from 1 to
    0.1 at ``steps`` (``None``: 1 after the warm-up)."""
    if step < warmup:
        return (step + 1) / warmup
    if steps is None:
        return 1.0
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress)))
