"""Who this process is among torchrun's processes (`World`), which ranks work together
now (`active_world`), and `main_first` -- the part of `benchmark.runtime.distributed`
that needs no torch until there are several processes, so that commands which never
train (``fsmb data build``, ``fsmb leaderboard``) do not import it."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    """This process's ``rank`` among ``size`` processes (``SOLO``: one process)."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes every shared file (models, checkpoints, results)."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.size > 1:  # under torchrun, where torch is loaded
            import torch.distributed as dist

            dist.barrier()


SOLO = World()
_ACTIVE: ContextVar[World] = ContextVar("fsmb_active_world", default=SOLO)


def active_world() -> World:
    """The ranks that work together now: torchrun's process world at the top of a
    command (`benchmark.run.launch`), `SOLO` inside a fit that rank 0 does alone."""
    return _ACTIVE.get()


@contextlib.contextmanager
def active_in(world: World) -> Iterator[World]:
    """Make ``world`` the `active_world` inside the block."""
    token = _ACTIVE.set(world)
    try:
        yield world
    finally:
        _ACTIVE.reset(token)


def main_first(make: Callable[[], T]) -> T:
    """``make()`` on rank 0, then on the other ranks once rank 0 is done: for work that
    writes a shared cache (building a corpus) and that the others then only read."""
    world = active_world()
    if world.is_main:
        value = make()
        world.barrier()
        return value
    world.barrier()
    return make()
