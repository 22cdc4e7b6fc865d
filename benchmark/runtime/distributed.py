"""Training and scoring over torchrun's processes: who this process is, and the few
collectives FSMB needs.

Under ``torchrun --nproc-per-node N -m benchmark ...`` (`benchmark.run.launch` starts
the process group) every process is a *rank* of a `World` (`benchmark.runtime.world`).
Outside torchrun the world is `SOLO` and every helper here is the identity, so
single-process code pays nothing.

Data-parallel training (a method that declares ``data_parallel = True``, see
`benchmark.contract.protocol`): every rank draws the same global batch from the same
seed, computes the loss of its share of it (`rank_rows`, `rank_share`) divided by the
size of the *whole* batch, and `benchmark.training.loop.train_loop` sums gradients and
losses over ranks (`sum_gradients`, `sum_over_ranks`).  The sum of the shares is the
single-process loss, so a 2-process run follows a 1-process run's loss curve to float
rounding.  (This is what DistributedDataParallel does, done once after the backward
pass instead of overlapped with it: DDP only synchronises gradients of losses computed
through the wrapped module's ``forward``, which the MAML family's hand-written
meta-gradients and the VAEs' objectives are not.)
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Any, Iterable, Iterator, Sequence, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from benchmark.runtime.world import SOLO, World, active_world

T = TypeVar("T")


def process_world() -> World:
    """The world of torchrun's process group, or `SOLO` when there is none."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return SOLO


def rank_share(items: Sequence[T]) -> Sequence[T]:
    """This rank's share of ``items``: ``items[rank::size]`` (all of them when alone)."""
    world = active_world()
    return items[world.rank :: world.size]


def rank_rows(batch: torch.Tensor) -> torch.Tensor:
    """This rank's rows of a ``(B, ...)`` batch, ``batch[rank::size]``."""
    world = active_world()
    return batch if world.size == 1 else batch[world.rank :: world.size]


_GLOBAL_ROWS: ContextVar[int | None] = ContextVar("fsmb_global_rows", default=None)


@contextlib.contextmanager
def rows_of_batch(rows: int) -> Iterator[None]:
    """Inside the block, this rank's forward pass computes `rank_rows` of a batch of
    ``rows`` rows (what `BatchDropout` needs to draw the whole batch's masks)."""
    token = _GLOBAL_ROWS.set(rows)
    try:
        yield
    finally:
        _GLOBAL_ROWS.reset(token)


def batch_rows() -> int | None:
    """The rows of the whole batch inside `rows_of_batch`, else ``None``."""
    return _GLOBAL_ROWS.get()


def seed_per_rank(seed: int) -> None:
    """Give each active rank its own stream of torch's global generator (alone: nothing
    changes), for dropout drawn inside fused kernels (attention), whose masks cannot be
    drawn for the whole batch as `BatchDropout` draws them: the ranks' rows then get
    independent masks, as one process's rows do, not the same mask on every rank."""
    world = active_world()
    if world.size > 1:
        torch.manual_seed(int(np.random.SeedSequence([seed, world.rank]).generate_state(1)[0]))


def sum_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """``value`` summed over the active ranks (a new tensor; ``value`` itself alone)."""
    if active_world().size == 1:
        return value
    total = value.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def sum_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Replace each parameter's ``.grad`` by its sum over the active ranks, in one
    all-reduce of a flat buffer (a parameter without a gradient counts as zeros)."""
    if active_world().size == 1:
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    start = 0
    for p in params:
        p.grad.copy_(flat[start : start + p.numel()].view_as(p.grad))
        start += p.numel()


def gather(value: T) -> list[T]:
    """Every active rank's ``value`` (picklable), in rank order, on every rank."""
    world = active_world()
    if world.size == 1:
        return [value]
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def gather_shares(mine: Sequence[Any], total: int) -> list[Any]:
    """Every rank's ``mine`` (this rank's share ``[rank::size]``, `rank_share`, of a list
    of ``total`` picklable values) put back into one list in the original order, on
    every rank."""
    shares = gather(list(mine))
    merged: list[Any] = [None] * total
    for rank, share in enumerate(shares):
        merged[rank :: len(shares)] = share
    return merged


def broadcast_from_main(value: T) -> T:
    """Rank 0's ``value`` on every rank (picklable values)."""
    if active_world().size == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
