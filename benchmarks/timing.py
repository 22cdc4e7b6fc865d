"""Helpers shared by the benchmark scripts: set-up and timing."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

from episodes.tracks import TRACKS, Track, default_cache


def median_seconds(fn: Callable[[], object], repeats: int, *, warmup: bool = True) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls (after one warm-up call)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def music21_track(threads: int) -> Track:
    """Set torch's ``threads`` and seed, and open the built ``midi/music21`` track (the
    corpus most benchmark scripts measure on)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    return Track.open(TRACKS["midi/music21"], cache_dir=default_cache())
