"""``maml``, ``fomaml`` and ``metasgd``: model-agnostic meta-learning of the LSTM.

Meta-training starts from the fitted ``lstm`` and optimises the weights θ (and, for
Meta-SGD, per-parameter inner learning rates α) so that a few gradient steps on a
support set lower the NLL of the query songs::

    θ'_τ = θ − α ⊙ ∇θ NLL(S_τ; θ)            (``inner_steps`` times)
    meta-loss = mean_τ NLL(Q_τ; θ'_τ)

``maml`` differentiates through the inner steps (second order), ``fomaml`` treats
the inner gradients as constants (first order), ``metasgd`` learns α (Li et al.,
2017).

The meta-gradient (`meta_gradient`) is the chain rule through the inner steps written
out below: gradients of each task's NLL come from autograd through PyTorch's fused
LSTM kernel, and the Hessian-vector products of second order from forward-mode
derivatives of a hand-written backward pass (`benchmark.nn.task_lstm`), so no
autograd graph through the inner steps is ever built.  A meta-step costs several LSTM
passes, so meta-training runs ``meta_fraction`` (a quarter) of the budget's steps as
meta-steps.  Songs are cropped to ``task_tokens`` tokens in the inner loop, both in
meta-training and when adapting at test time; query songs are scored in full.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from baselines.lstm import LSTMAdapted, LSTMBaseline
from benchmark.contract.device import run_device
from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, ContractError, MetaTrainData
from benchmark.contract.settings import Range
from benchmark.nn.sequence import LSTMLM, pad_batch
from benchmark.nn.task_lstm import (
    Params,
    hessian_vector_products,
    nll_and_grads,
    nll_per_task,
    task_params,
)
from benchmark.runtime.distributed import rank_share
from benchmark.runtime.world import active_world
from benchmark.training.loop import train_loop
from benchmark.training.selection import val_nats_per_token
from episodes.types import Item

ADAPT_CHUNK = 16  # episodes adapted together at test time (bounds the memory their adapted weights take)


def inner_adapt(
    params: Params, alphas: Params, supports: torch.Tensor, steps: int
) -> tuple[list[Params], list[Params]]:
    """``steps`` gradient steps ``θ ← θ − α ⊙ ∇θ NLL(S_m; θ)`` from the shared ``params``
    (unbatched) on each task's support batch, ``supports`` ``(M, K, T)``.  Returns the
    weights before each step and after the last (``steps + 1`` sets, the first shared,
    each tensor ``(1, ...)``, the rest ``(M, ...)``) and the support gradients of each
    step (``(M, ...)``)."""
    weights, grads = [task_params(params, 1)], []
    for _ in range(steps):
        _, g = nll_and_grads(weights[-1], supports)
        grads.append(g)
        weights.append({k: w - alphas[k] * g[k] for k, w in weights[-1].items()})
    return weights, grads


def meta_loss(
    params: Params, alphas: Params, supports: torch.Tensor, queries: torch.Tensor, steps: int
) -> torch.Tensor:
    """Mean query NLL after adaptation over a meta-batch: supports ``(M, K, T_s)``,
    queries ``(M, Q, T_q)`` (the function `meta_gradient` differentiates)."""
    weights, _ = inner_adapt(params, alphas, supports, steps)
    return nll_per_task(weights[-1], queries).mean()


@dataclass(frozen=True)
class MetaGradient:
    """`meta_loss` and its gradients with respect to θ and α (each shaped as its input)."""

    loss: torch.Tensor
    params: Params
    alphas: Params


def meta_gradient(
    params: Params, alphas: Params, supports: torch.Tensor, queries: torch.Tensor, steps: int, first_order: bool
) -> MetaGradient:
    """The gradient of `meta_loss` by reverse accumulation through the inner steps
    ``θ_{k+1} = θ_k − α ⊙ g_k``: with ``v = ∂loss/∂θ_{k+1}`` per task,

        ∂loss/∂α  += −g_k ⊙ v,        ∂loss/∂θ_k = v − H_k (α ⊙ v)

    where ``H_k`` is the Hessian of the support NLL at ``θ_k`` (second order; first
    order drops the ``H_k`` term, treating ``g_k`` as constant).  ``H_k (α ⊙ v)`` is the
    forward-mode derivative of the support gradient in the direction ``α ⊙ v``."""
    tasks = supports.shape[0]
    weights, grads = inner_adapt(params, alphas, supports, steps)
    query_nll, v = nll_and_grads(weights[-1], queries)  # v: (M, ...), each task's own gradient
    d_alphas = {k: torch.zeros_like(a) for k, a in alphas.items()}
    for k in reversed(range(steps)):
        for name, a in alphas.items():
            d_alphas[name] = d_alphas[name] - (grads[k][name] * v[name]).mean(0).sum_to_size(a.shape)
        if not first_order:
            at = {n: w.expand(tasks, *w.shape[1:]).contiguous() for n, w in weights[k].items()}  # one set per task
            hvp = hessian_vector_products(at, supports, {n: alphas[n] * v[n] for n in v})
            v = {n: v[n] - hvp[n] for n in v}
    return MetaGradient(query_nll.mean(), {n: g.mean(0) for n, g in v.items()}, d_alphas)


def crop_batch(items_per_task: Sequence[Sequence[Item]], tokens: int | None) -> torch.Tensor:
    """``(M, N, T)`` PAD-padded token tensor of M tasks with N songs each, songs cut to
    their first ``tokens + 1`` tokens (``None``: whole songs)."""
    cut = None if tokens is None else tokens + 1
    flat = pad_batch([it.tokens[:cut] for items in items_per_task for it in items])
    return flat.reshape(len(items_per_task), -1, flat.shape[-1])


@register_method(group="adaptive")
class MAML(LSTMBaseline):
    """Second-order MAML on the LSTM, initialised from the fitted ``lstm``."""

    name = "maml"
    version = "1"
    first_order = False
    learn_alpha = False
    # Fitted variants, e.g. fomaml[inner_steps=3,inner_lr=0.3,meta_fraction=1.0] (four times the meta-steps);
    # benchmarks/meta_learning_gain.py compares them.
    train_settings = {
        "inner_steps": Range(1, 20),
        "inner_lr": Range(0, low_open=True),
        "meta_fraction": Range(0, 100, low_open=True),
    }

    def __init__(
        self,
        inner_steps: int = 1,
        inner_lr: float = 0.1,
        meta_lr: float = 3e-4,
        meta_batch: int = 4,
        task_tokens: int = 128,
        query_songs: int = 2,
        meta_fraction: float = 0.25,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.inner_steps, self.inner_lr, self.meta_lr = inner_steps, inner_lr, meta_lr
        self.meta_batch, self.task_tokens, self.query_songs = meta_batch, task_tokens, query_songs
        self.meta_fraction = meta_fraction
        self.alphas: Params = {}

    def init_args(self) -> dict[str, Any]:
        return {
            **super().init_args(),
            "inner_steps": self.inner_steps,
            "inner_lr": self.inner_lr,
            "meta_lr": self.meta_lr,
            "meta_batch": self.meta_batch,
            "task_tokens": self.task_tokens,
            "query_songs": self.query_songs,
            "meta_fraction": self.meta_fraction,
            "first_order": self.first_order,
            "learn_alpha": self.learn_alpha,
        }

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.alphas.items()}

    def load_extra_state(self, extra: dict[str, torch.Tensor]) -> None:
        self.alphas = {k: v.to(run_device()) for k, v in extra.items()}  # loaded on the CPU; used in computation

    def params(self) -> Params:
        return {k: v.detach() for k, v in self._model().named_parameters()}

    # ----- meta-training -----------------------------------------------------
    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        if active_world().size > self.meta_batch:
            raise ContractError(
                f"{self.name}: {active_world().size} processes share a meta-batch of "
                f"{self.meta_batch} tasks; run at most {self.meta_batch} (torchrun --nproc-per-node)"
            )
        torch.manual_seed(data.seed)
        base = data.pretrained("lstm")
        learner = MetaLearner(copy.deepcopy(base.model), self.inner_lr, learned=self.learn_alpha)
        self.model = learner.lm
        self.alphas = learner.alpha_dict()
        opt = torch.optim.Adam(learner.parameters(), lr=self.meta_lr)
        drawer = data.train_drawer(data.shots, self.query_songs)
        val = data.val_episodes(budget.val_episodes)

        def step_fn(step: int) -> torch.Tensor:  # under torchrun: this rank's share of the meta-batch
            tasks = rank_share(range(self.meta_batch))
            share = len(tasks) / self.meta_batch  # of the meta-batch's mean loss and gradient
            episodes = [data.episode(drawer.draw(step * self.meta_batch + j)) for j in tasks]
            supports = crop_batch([e.support for e in episodes], self.task_tokens)  # (M, K, T)
            queries = crop_batch([e.query for e in episodes], self.task_tokens)  # (M, Q, T)
            params = {k: v.detach() for k, v in learner.lm.named_parameters()}
            alphas = {k: v.detach() for k, v in learner.alpha_dict().items()}
            meta = meta_gradient(params, alphas, supports, queries, self.inner_steps, self.first_order)
            for name, p in learner.lm.named_parameters():
                p.grad = meta.params[name] * share
            if self.learn_alpha:
                for name, p in learner.alpha_dict().items():
                    p.grad = meta.alphas[name] * share
            return meta.loss * share

        def val_fn() -> float:
            self.alphas = learner.alpha_dict()
            return val_nats_per_token(self, val)

        meta_steps = max(1, int(budget.steps * self.meta_fraction))
        log = train_loop(
            learner,
            opt,
            step_fn,
            val_fn,
            steps=meta_steps,
            val_every=max(1, int(budget.val_every * self.meta_fraction)),
            logdir=logdir,
            desc=f"meta-train {self.name}",
            patience=budget.patience,
            lr_decays=budget.lr_decays,
            flops_cap=budget.flops,
        )
        self.model = learner.lm
        self.alphas = {k: v.detach().clone() for k, v in learner.alpha_dict().items()}
        self.train_log = {**log.to_dict(), "base": "lstm", "base_train_log": base.train_log, "meta_steps": meta_steps}

    # ----- adaptation ----------------------------------------------------------
    def adapt(self, support: Sequence[Item]) -> LSTMAdapted:
        return self.adapt_many([support])[0]

    def adapt_many(self, supports: Sequence[Sequence[Item]]) -> list[LSTMAdapted]:
        """Adapt to many support sets together (`ADAPT_CHUNK` episodes at a time, as the
        tasks of one batch; support sets of different sizes apart)."""
        model = self._model()
        if not supports or not supports[0]:
            return [LSTMAdapted(model, None) for _ in supports]
        if len({len(s) for s in supports}) != 1:
            return [self.adapt_many([s])[0] for s in supports]
        if len(supports) > ADAPT_CHUNK:
            return [
                a for i in range(0, len(supports), ADAPT_CHUNK) for a in self.adapt_many(supports[i : i + ADAPT_CHUNK])
            ]
        alphas = self.alphas or {k: torch.tensor(self.inner_lr) for k in self.params()}
        weights, _ = inner_adapt(self.params(), alphas, crop_batch(supports, self.task_tokens), self.inner_steps)
        out = []
        for e in range(len(supports)):
            lm = copy.deepcopy(model)
            lm.load_state_dict({k: v[min(e, len(v) - 1)] for k, v in weights[-1].items()})
            lm.requires_grad_(False)
            out.append(LSTMAdapted(lm, None))
        return out

    def n_params(self) -> int:
        learned = sum(v.numel() for v in self.alphas.values()) if self.learn_alpha else 0
        return super().n_params() + learned


@register_method(group="adaptive")
class FOMAML(MAML):
    """First-order MAML: inner gradients are treated as constants."""

    name = "fomaml"
    first_order = True


@register_method(group="adaptive")
class MetaSGD(MAML):
    """Meta-SGD: per-parameter inner learning rates α, meta-learned with θ (second
    order, as in Li et al., 2017)."""

    name = "metasgd"
    learn_alpha = True


class MetaLearner(nn.Module):
    """The LSTM plus its inner learning rates, so one optimiser and checkpoint hold both."""

    def __init__(self, lm: LSTMLM, inner_lr: float, *, learned: bool) -> None:
        super().__init__()
        self.lm = lm
        self.learned = learned
        rates = {k.replace(".", "__"): torch.full_like(v, inner_lr) for k, v in lm.named_parameters()}
        self.alpha = nn.ParameterDict({k: nn.Parameter(v, requires_grad=learned) for k, v in rates.items()})

    def alpha_dict(self) -> Params:
        """Inner learning rates keyed like the LSTM's parameters."""
        return {k.replace("__", "."): v for k, v in self.alpha.items()}
