"""Host latency of one generation step (`benchmark.cost.counting.InferenceStep`),
measured: single stream (one request at a time, as a device generating for one
listener), after warm-up, the 50th and 90th percentiles over many runs (MLPerf's
single-stream metric is the 90th percentile), at a given number of torch threads.

Sampling from the logits and, for audio, turning the decoded log-mel image into a
waveform are not part of the step.  The machine is shared and noisy: compare
percentiles measured side by side in one run, not across runs.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from benchmark.cost.counting import InferenceStep, on_cpu_step


@dataclass(frozen=True)
class Latency:
    """Latency of one step in milliseconds at ``threads`` torch threads, over ``runs``
    timed runs; ``real_time_factor``: p50 seconds per second of generated audio
    (notes only; below 1 is faster than real time)."""

    unit: str
    threads: int
    runs: int
    p50_ms: float
    p90_ms: float
    mean_ms: float
    real_time_factor: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@on_cpu_step
def measure_latency(
    step: InferenceStep,
    *,
    threads: int,
    runs: int = 200,
    warmup: int = 20,
    max_seconds: float = 30.0,
    unit_seconds: float | None = None,
) -> Latency:
    """Time ``step`` ``runs`` times (fewer if ``max_seconds`` runs out first, at least
    10) after ``warmup`` untimed runs, with ``threads`` torch threads (restored after).
    ``unit_seconds``: the audio duration one step generates, for the real-time factor.
    A CPU measurement: a step on another device is timed on a CPU copy (`on_cpu_step`)."""
    previous = torch.get_num_threads()
    was_training = step.module.training
    torch.set_num_threads(threads)
    step.module.eval()
    times: list[float] = []
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                step.module(*step.inputs)
            deadline = time.perf_counter() + max_seconds
            while len(times) < runs and (len(times) < 10 or time.perf_counter() < deadline):
                started = time.perf_counter_ns()
                step.module(*step.inputs)
                times.append((time.perf_counter_ns() - started) / 1e6)
    finally:
        torch.set_num_threads(previous)
        step.module.train(was_training)
    p50, p90 = (float(np.percentile(times, q)) for q in (50, 90))
    return Latency(
        step.unit,
        threads,
        len(times),
        round(p50, 4),
        round(p90, 4),
        round(float(np.mean(times)), 4),
        p50 / 1e3 / unit_seconds if unit_seconds else None,
    )
