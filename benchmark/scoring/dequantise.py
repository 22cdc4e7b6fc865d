"""Scoring continuous densities on quantised audio (`episodes.audio_encoding`).

An audio item is ``q`` in ``{0..L-1}^D`` (``L`` = 256 levels, ``D`` = 4,096 dims).
A continuous density ``p`` on ``x = (q + u) / L`` (``u`` uniform on ``[0, 1)^D``)
defines a discrete model ``P(q) = L^-D E_u[p((q + u) / L)]``, and by Jensen::

    -log P(q) <= D log L - E_u[log p((q + u) / L)]

`dequantised` draws ``u`` once per item, seeded by its id, so the bound is estimated
the same way on every machine and rerun; `discrete_log_prob` turns ``log p(x)``
into that (lower) bound on ``log P(q)``.  A uniform density scores ``log L`` =
5.545 nats per dimension.
"""

from __future__ import annotations

import math
import zlib
from typing import Sequence

import numpy as np

from episodes.audio_encoding import LEVELS
from episodes.types import Item

LOG_LEVELS = math.log(LEVELS)


def dequantised(items: Sequence[Item]) -> np.ndarray:
    """Items as points of ``[0, 1)^D`` (noise seeded by item id), shape ``(len(items), D)`` float64."""
    out = np.empty((len(items), items[0].tokens.size) if items else (0, 0), dtype=np.float64)
    for row, item in zip(out, items):
        row[:] = jittered(item.tokens.reshape(-1), np.random.default_rng(zlib.crc32(item.item_id.encode())))
    return out


def jittered(levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Levels (any shape) plus fresh uniform noise, scaled to ``[0, 1)`` (float64): for training."""
    return (levels.astype(np.float64) + rng.random(levels.shape)) / LEVELS


def discrete_log_prob(log_density: np.ndarray, n_dims: int) -> np.ndarray:
    """Lower bound on ``log P(q)`` in nats from ``log p(x)`` at the dequantised points."""
    return np.asarray(log_density, dtype=np.float64) - n_dims * LOG_LEVELS


def quantised(x: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    """Points of ``[0, 1)^D`` (rows of ``x``) back to levels: ``uint8`` arrays of ``shape``."""
    q = np.clip(np.floor(np.asarray(x) * LEVELS), 0, LEVELS - 1).astype(np.uint8)
    return [row.reshape(shape) for row in q]
