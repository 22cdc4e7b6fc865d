"""Dropout whose masks do not depend on how data-parallel training shares out a batch."""

from __future__ import annotations

import torch

from benchmark.runtime.distributed import batch_rows
from benchmark.runtime.world import active_world


class BatchDropout(torch.nn.Dropout):
    """``nn.Dropout`` whose masks do not depend on how a batch is shared out: under
    data-parallel training (inside `rows_of_batch`) every rank draws the mask of the
    whole batch as one process would, and keeps its rows; alone it is ``nn.Dropout``.

    One process's CPU ``F.dropout`` fills ``empty_like(x).bernoulli_(1 - p)`` in the
    memory order of ``x`` (an LSTM's batch-first output is time-major in memory), so the
    whole batch's mask is drawn in the same order of dimensions (outermost = largest
    stride; on a tie, as when a rank holds one row, the later dimension)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, world = batch_rows(), active_world()
        if not self.training or self.p == 0 or world.size == 1 or rows is None:
            return super().forward(x)
        shape = (rows, *x.shape[1:])
        order = sorted(range(x.dim()), key=lambda d: (-x.stride(d), -d))  # x's dimensions, outermost first
        mask = x.new_empty([shape[d] for d in order]).bernoulli_(1 - self.p).div_(1 - self.p)
        mask = mask.permute([order.index(d) for d in range(x.dim())])  # back to x's dimension order
        return x * mask[world.rank :: world.size]
