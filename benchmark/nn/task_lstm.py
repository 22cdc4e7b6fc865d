"""The LSTM language model of `benchmark.nn.sequence.LSTMLM` for meta-learning: a batch
of *tasks*, each with its own weights, their gradients and Hessian-vector products.

Meta-learning adapts one copy of the weights per task, so every parameter here has a
leading task dimension: ``M`` (one set per task) or 1 (one set for all ``M`` tasks;
`task_params` makes either from one set).  Names are ``LSTMLM``'s, so a task's weights
load straight into an ``LSTMLM``.  One LSTM layer, no dropout.

- `nll_per_task` and `nll_and_grads` run ``LSTMLM`` itself (``torch.func.functional_call``)
  with PyTorch's fused LSTM kernel (oneDNN on a CPU), one call per weight set, and
  autograd's backward pass through it: the fastest gradient on a CPU, and exactly the
  network that scores.  With torch set to ``n > 1`` threads the tasks run ``n`` at a
  time, each on one thread (`each_task`): a task's LSTM products are too small to
  share out well over cores, so tasks side by side use them better, and every task is
  computed exactly as at one thread, whatever ``n`` is.
- `hessian_vector_products` needs forward-mode derivatives of a gradient, which the
  fused kernel does not have: `_stepwise_grads` computes each task's gradient with a
  hand-written backward pass through time (BPTT) in plain tensor operations, the
  tasks' recurrences batched, each weight's gradient one batched product over all time
  steps; ``torch.func.jvp`` through it gives ``H v`` at about three gradients' cost,
  without the graph of a double backward.  Tests hold the hand-written gradient
  against autograd's.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable, TypeVar

import torch
from torch import Tensor
from torch.func import functional_call, jvp
from torch.nn import functional as F

from benchmark.nn.sequence import LSTMLM, LSTMConfig
from episodes.tokens import PAD

Params = dict[str, Tensor]
R = TypeVar("R")


def task_params(params: Params, tasks: int) -> Params:
    """``tasks`` copies of one parameter set, each tensor ``(tasks, *shape)``."""
    return {k: v.unsqueeze(0).expand(tasks, *v.shape).contiguous() for k, v in params.items()}


@lru_cache(maxsize=4)
def _pool(threads: int, pid: int) -> ThreadPoolExecutor:
    """``threads`` worker threads kept for `each_task` (one pool per process: a forked
    child does not inherit the parent's threads)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="fsmb-task")


def each_task(task: Callable[[int], R], tasks: int) -> list[R]:
    """``[task(0), ..., task(tasks - 1)]``, run ``torch.get_num_threads()`` at a time in
    threads of their own (with the caller's grad mode), torch computing on one thread
    meanwhile (restored after)."""
    threads = torch.get_num_threads()
    if threads == 1 or tasks == 1:
        return [task(m) for m in range(tasks)]
    grad = torch.is_grad_enabled()

    def run(m: int) -> R:
        with torch.set_grad_enabled(grad):
            return task(m)

    torch.set_num_threads(1)
    try:
        return list(_pool(threads, os.getpid()).map(run, range(tasks)))
    finally:
        torch.set_num_threads(threads)


@lru_cache(maxsize=16)
def _template(vocab: int, emb: int, hidden: int, thread: int) -> LSTMLM:
    """An ``LSTMLM`` of these sizes to call with other weights (its own are never used);
    one per thread, as ``functional_call`` swaps the weights in while it runs."""
    return LSTMLM(LSTMConfig(vocab=vocab, emb=emb, hidden=hidden, dropout=0.0)).eval()


def _mean_nll(w: Params, tokens: Tensor) -> Tensor:
    """Mean NLL in nats/token of ``tokens[:, 1:]`` ``(B, T+1)`` under one weight set (unbatched)."""
    vocab, emb = w["embed.weight"].shape
    lm = _template(vocab, emb, w["lstm.weight_hh_l0"].shape[-1], threading.get_ident())
    logits, _ = functional_call(lm, w, (tokens[:, :-1],))  # (B, T, V)
    return F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], ignore_index=PAD)


def _weight_set(w: Params, task: int) -> Params:
    """Task ``task``'s weights (the shared set when there is one)."""
    return {k: v[min(task, v.shape[0] - 1)] for k, v in w.items()}


def nll_per_task(w: Params, tokens: Tensor) -> Tensor:
    """Mean NLL ``(M,)`` in nats/token of each task's ``tokens[m, :, 1:]`` given the tokens
    before them, under its weights (each ``(M, ...)``, or ``(1, ...)`` shared);
    ``tokens`` ``(M, N, T+1)`` long, PAD ignored; every song from the zero state."""
    return torch.stack(each_task(lambda m: _mean_nll(_weight_set(w, m), tokens[m]), tokens.shape[0]))


def nll_and_grads(w: Params, tokens: Tensor) -> tuple[Tensor, Params]:
    """`nll_per_task` ``(M,)`` and the gradient of each task's NLL with respect to its
    weights (each ``(M, ...)``), by autograd through the fused kernel, a task per thread."""

    def task(m: int) -> tuple[Tensor, tuple[Tensor, ...]]:
        live = {k: v.detach().requires_grad_() for k, v in _weight_set(w, m).items()}
        with torch.enable_grad():
            loss = _mean_nll(live, tokens[m])
            return loss.detach(), torch.autograd.grad(loss, list(live.values()))

    done = each_task(task, tokens.shape[0])
    grads = [g for _, g in done]
    return torch.stack([loss for loss, _ in done]), {k: torch.stack([g[i] for g in grads]) for i, k in enumerate(w)}


def hessian_vector_products(w: Params, tokens: Tensor, vectors: Params) -> Params:
    """``H_m v_m`` for each task m (each ``(M, ...)``): the Hessian of task m's NLL at its
    weights ``w`` (each ``(M, ...)``) times its vector ``vectors[·][m]``."""
    return jvp(lambda weights: _stepwise_grads(weights, tokens), (w,), (vectors,))[1]


def _stepwise_grads(w: Params, tokens: Tensor) -> Params:
    """`nll_and_grads`'s gradients by the hand-written BPTT below (weights ``(M, ...)``)."""
    tasks, songs, steps = tokens.shape[0], tokens.shape[1], tokens.shape[2] - 1
    table, w_ih, w_hh = w["embed.weight"], w["lstm.weight_ih_l0"], w["lstm.weight_hh_l0"]  # (M,V,E) (M,4H,E) (M,4H,H)
    hidden = w_hh.shape[-1]
    inputs = tokens[..., :-1].reshape(tasks, songs * steps)  # (M, N*T)
    # Forward.  The input term x W_ih^T + b per vocabulary word when there are fewer
    # words than tokens (then gathered), else per token.
    bias = (w["lstm.bias_ih_l0"] + w["lstm.bias_hh_l0"]).unsqueeze(1)  # (M, 1, 4H)
    per_word = table.shape[1] <= inputs.shape[1]
    x = None if per_word else _gather_rows(table, inputs)  # (M, N*T, E)
    gates_x = (
        _gather_rows(torch.baddbmm(bias, table, w_ih.transpose(1, 2)), inputs)
        if per_word
        else torch.baddbmm(bias, x, w_ih.transpose(1, 2))
    )
    gates_x = gates_x.view(tasks, songs, steps, 4 * hidden)
    w_hh_t = w_hh.transpose(1, 2).contiguous()  # (M, H, 4H)
    h = c = table.new_zeros(tasks, songs, hidden)  # (M, N, H)
    hs, acts, cells, tanh_cells = [], [], [], []
    for t in range(steps):
        pre = torch.baddbmm(gates_x[:, :, t], h, w_hh_t)  # (M, N, 4H), order i f g o
        act = torch.cat(
            (
                torch.sigmoid(pre[..., : 2 * hidden]),
                torch.tanh(pre[..., 2 * hidden : 3 * hidden]),
                torch.sigmoid(pre[..., 3 * hidden :]),
            ),
            -1,
        )
        i, f, g, o = act.chunk(4, -1)
        c = torch.addcmul(f * c, i, g)
        tanh_c = torch.tanh(c)
        h = o * tanh_c
        hs.append(h), acts.append(act), cells.append(c), tanh_cells.append(tanh_c)
    hs_t = torch.stack(hs, 2)  # (M, N, T, H)
    flat_hs = hs_t.view(tasks, songs * steps, hidden)
    logits = torch.baddbmm(w["out.bias"].unsqueeze(1), flat_hs, w["out.weight"].transpose(1, 2))  # (M, N*T, V)
    # Softmax cross-entropy, each task's mean over its non-PAD targets:
    # d nll / d logits = (softmax - onehot(target)) * weight.
    targets = tokens[..., 1:].reshape(tasks, songs * steps)
    mask = (targets != PAD).to(logits.dtype)
    weight = (mask / mask.sum(1, keepdim=True).clamp(min=1.0)).unsqueeze(-1)  # (M, N*T, 1)
    d_logits = torch.softmax(logits, -1).scatter_add(-1, targets.unsqueeze(-1), -torch.ones_like(weight)) * weight
    grads = {"out.weight": d_logits.transpose(1, 2) @ flat_hs, "out.bias": d_logits.sum(1)}
    d_hs = (d_logits @ w["out.weight"]).view(tasks, songs, steps, hidden)  # (M, N, T, H)
    # Backward through time.  Per step, with dc the cell state's gradient:
    #   dc = dc_next + dh * o * (1 - tanh(c)^2),  d pre = (dc*g, dc*c_prev, dc*i, dh*tanh(c)) * act'
    i, f, g, o = torch.stack(acts, 2).chunk(4, -1)  # each (M, N, T, H)
    c_all, tanh_c_all = torch.stack(cells, 2), torch.stack(tanh_cells, 2)
    c_prev = torch.cat((torch.zeros_like(c_all[:, :, :1]), c_all[:, :, :-1]), 2)
    dc_from_dh = o * (1 - tanh_c_all**2)
    scale = torch.cat((g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g**2), tanh_c_all * o * (1 - o)), -1)
    dh = dc = torch.zeros_like(d_hs[:, :, 0])  # (M, N, H): gradients flowing from step t+1
    d_pre = []
    for t in reversed(range(steps)):
        dh = d_hs[:, :, t] + dh
        dc = torch.addcmul(dc, dh, dc_from_dh[:, :, t])
        d = torch.cat((dc, dc, dc, dh), -1) * scale[:, :, t]  # (M, N, 4H)
        d_pre.append(d)
        dh = d @ w_hh  # (M, N, H)
        dc = dc * f[:, :, t]
    d_pre_t = torch.stack(d_pre[::-1], 2).view(tasks, songs * steps, 4 * hidden)  # (M, N*T, 4H)
    h_prev = torch.cat((torch.zeros_like(hs_t[:, :, :1]), hs_t[:, :, :-1]), 2).view(tasks, songs * steps, hidden)
    if per_word:  # sum each word's gradients first
        d_word = d_pre_t.new_zeros(tasks, table.shape[1], 4 * hidden).scatter_add(
            1, inputs.unsqueeze(-1).expand_as(d_pre_t), d_pre_t
        )  # (M, V, 4H)
        grads |= {"lstm.weight_ih_l0": d_word.transpose(1, 2) @ table, "embed.weight": d_word @ w_ih}
    else:
        d_x = d_pre_t @ w_ih  # (M, N*T, E)
        grads |= {
            "lstm.weight_ih_l0": d_pre_t.transpose(1, 2) @ x,
            "embed.weight": torch.zeros_like(table).scatter_add(1, inputs.unsqueeze(-1).expand_as(d_x), d_x),
        }
    d_bias = d_pre_t.sum(1)
    grads |= {
        "lstm.weight_hh_l0": d_pre_t.transpose(1, 2) @ h_prev,
        "lstm.bias_ih_l0": d_bias,
        "lstm.bias_hh_l0": d_bias,
    }
    return {k: grads[k] for k in w}


def _gather_rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[m, index[m, r]]`` for a table ``(M, V, D)`` and an index ``(M, R)`` -> ``(M, R, D)``."""
    return table.gather(1, index.unsqueeze(-1).expand(*index.shape, table.shape[-1]))
