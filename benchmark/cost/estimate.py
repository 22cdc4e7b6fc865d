"""Latency of a generation step estimated from its counted cost and a device profile: a
roofline with a per-operator overhead,

    latency = max(2 * MACs / compute, weight bytes / bandwidth) + operators * overhead

(seconds; ``compute`` in FLOP/s, ``bandwidth`` in bytes/s, ``overhead`` in s per aten
operator).  A batch-1 generation step reads every weight once, so its weights are
the bytes moved.

The host's three numbers are *calibrated* here by microbenchmarks at the thread count
asked for: a matrix product for compute, a matrix-vector product over as many bytes
of weights as the model has for bandwidth (a model that fits in the caches is read
at cache speed), and a loop of one-element additions for the per-operator overhead.
Raspberry Pi profiles come from published figures (`devices.json`, each with its
source); their per-operator overhead is the host's scaled by the ratio of per-core
compute (a derived number, labelled so).  ``benchmarks/cost_estimator.py`` validates
the estimator against measured host latency.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import torch

from benchmark.cost.counting import StepCost

PROFILES = resources.files("benchmark.cost") / "devices.json"


@dataclass(frozen=True)
class DeviceProfile:
    """What the estimator needs of a device at some thread count."""

    name: str
    threads: int
    flops: float  # FLOP/s of fp32 matrix products
    bandwidth: float  # bytes/s at which a step's weights are read
    op_overhead_s: float  # seconds per aten operator
    derived: bool  # some number is derived rather than measured or published

    def estimate_ms(self, cost: StepCost) -> float:
        """Estimated latency of one step of ``cost`` in milliseconds."""
        roofline = max(2 * cost.macs / self.flops, cost.bytes_fp32 / self.bandwidth)
        return 1e3 * (roofline + cost.operators * self.op_overhead_s)


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


@lru_cache(maxsize=None)
def _host_numbers(threads: int, weight_bytes: int) -> tuple[float, float, float]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            a, b = torch.randn(512, 512), torch.randn(512, 512)
            flops = 2 * 512**3 / _median_seconds(lambda: a @ b, 15)
            rows = max(64, weight_bytes // (4 * 1024))  # a (rows, 1024) fp32 matrix of the model's size
            w, x = torch.randn(rows, 1024), torch.randn(1024)
            bandwidth = rows * 1024 * 4 / _median_seconds(lambda: w @ x, 15)
            one = torch.zeros(1)
            overhead = _median_seconds(lambda: [torch.add(one, one) for _ in range(200)], 15) / 200
    finally:
        torch.set_num_threads(previous)
    return flops, bandwidth, overhead


def host_profile(threads: int, cost: StepCost) -> DeviceProfile:
    """This machine at ``threads`` threads, calibrated for a model of ``cost``'s size
    (calibrations are cached per thread count and size)."""
    flops, bandwidth, overhead = _host_numbers(threads, max(1, cost.bytes_fp32))
    return DeviceProfile("host", threads, flops, bandwidth, overhead, derived=False)


def published_devices() -> dict:
    return json.loads(PROFILES.read_text())["devices"]


def pi_profile(device: str, threads: int, cost: StepCost) -> DeviceProfile:
    """A Raspberry Pi of `devices.json` at ``threads`` threads (at most its cores): its
    published fp32 compute per core times the threads, its STREAM copy bandwidth, and
    the host's per-operator overhead scaled by the ratio of one core's compute."""
    spec = published_devices()[device]
    threads = min(threads, spec["cores"])
    per_core = spec["fp32_gflops_per_core"]["value"] * 1e9
    host_flops_1, _, host_overhead = _host_numbers(1, max(1, cost.bytes_fp32))
    return DeviceProfile(device, threads, per_core * threads, spec["stream_copy_gbps"]["value"] * 1e9,
                         host_overhead * host_flops_1 / per_core, derived=True)
