"""Unstructured magnitude masks, as iterative magnitude pruning (the lottery ticket,
Frankle & Carbin 2019) uses them.

The weights pruned are every matrix of the network (``dim >= 2``: embedding, LSTM and
output weights); biases stay.  A round removes a fraction of the weights still alive,
the smallest by magnitude over the whole network at once (global pruning).  A masked
weight is held at zero during training by zeroing its gradient (`hold_masked`): with
no gradient and no weight decay, Adam never moves it, so it stays exactly zero and the
saved weights carry their mask (``weight != 0``).

`torch.nn.utils.prune` computes the same global masks but re-parametrises each weight
as ``weight_orig * mask`` behind a forward hook, which ``nn.LSTM``'s flat weight buffer
does not follow reliably; masks held by gradients need no hook on the forward pass.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

Masks = dict[str, Tensor]  # parameter name -> bool tensor of its shape, True = alive


def prunable(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights magnitude pruning may remove: every parameter with ``dim >= 2``."""
    return {name: p for name, p in model.named_parameters() if p.dim() >= 2}


def masks_of(model: nn.Module) -> Masks:
    """The masks that ``model``'s weights carry: alive where non-zero."""
    return {name: p.detach() != 0 for name, p in prunable(model).items()}


def prune_globally(model: nn.Module, masks: Masks, keep: int) -> Masks:
    """New masks keeping the ``keep`` largest-magnitude weights alive under ``masks``
    (over all `prunable` weights at once; ties broken by position)."""
    names = list(masks)
    scores = torch.cat([torch.where(masks[n], prunable(model)[n].detach().abs(), -1.0).flatten() for n in names])
    alive = int(sum(int(m.sum()) for m in masks.values()))
    if not 0 <= keep <= alive:
        raise ValueError(f"cannot keep {keep} weights of {alive} alive")
    order = torch.sort(scores, descending=True, stable=True).indices
    flat = torch.zeros_like(scores, dtype=torch.bool)
    flat[order[:keep]] = True
    out, start = {}, 0
    for name in names:
        n = masks[name].numel()
        out[name] = flat[start : start + n].view_as(masks[name])
        start += n
    return out


def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Zero ``model``'s weights outside ``masks`` (in place)."""
    params = prunable(model)
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask)


@contextlib.contextmanager
def hold_masked(model: nn.Module, masks: Masks) -> Iterator[None]:
    """While active, gradients of the weights outside ``masks`` are zero (see the module
    docstring)."""
    params = prunable(model)
    handles = [params[name].register_hook(lambda grad, mask=mask: grad * mask) for name, mask in masks.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def sparsity_schedule(targets: Sequence[float], fraction: float = 0.2) -> list[tuple[float, float | None]]:
    """Rounds from dense to each of ``targets`` (fractions removed, ascending): the
    fraction kept after each round and the target it lands on (else ``None``).  Between
    targets the rounds are equal, each removing at most ``fraction`` of what is alive,
    as few as that allows."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), not {fraction}")
    if list(targets) != sorted(set(targets)) or any(not 0 < t < 1 for t in targets):
        raise ValueError(f"targets must be distinct fractions in (0, 1), ascending, not {list(targets)}")
    rounds: list[tuple[float, float | None]] = []
    kept = 1.0
    for target in targets:
        n = math.ceil(math.log((1 - target) / kept) / math.log(1 - fraction) - 1e-9)
        per_round = ((1 - target) / kept) ** (1 / n)
        rounds += [(kept * per_round ** (i + 1), None) for i in range(n - 1)] + [(1 - target, target)]
        kept = 1 - target
    return rounds
