"""Latency of a generation step estimated from its counted cost and a device profile: a
roofline with per-call, per-tensor and per-operator overheads,

    latency = call + tensors * per_tensor + max(2 * MACs / compute, weight bytes / bandwidth)
              + operators * per_operator

(seconds; ``compute`` in FLOP/s, ``bandwidth`` in bytes/s, the overheads in s per
step call, per input or output tensor and per operator).  A batch-1 generation step
reads every weight once, so its weights are the bytes moved (`StepCost.read_bytes`:
an int8 graph's as it stores them, else fp32).  The operators and the
overheads are those of the profile's *runtime*:

- ``"onnxruntime"``, what a device runs (`benchmark/cost/device_runner.py`): the nodes
  of the exported ONNX graph (`StepCost.graph_nodes`), each costing onnxruntime's
  per-node overhead; the fixed cost of one ``session.run`` call from Python; and its
  inputs and outputs (`StepCost.graph_tensors`), each converted across that call;
- ``"pytorch"``, eager PyTorch: the aten operators dispatched (`StepCost.operators`),
  each costing eager's per-operator overhead (no per-call or per-tensor term).

The host's numbers are *calibrated* here by microbenchmarks in the runtime itself at
the thread count asked for (for onnxruntime: ``intra_op_num_threads``, as
`device_runner` sets it), each the median of many repetitions after warm-up:

- onnxruntime, on generated graphs: the per-node overhead is the extra time of a chain
  of `CHAIN` more ``Neg`` nodes on a one-element tensor; the per-tensor overhead the
  extra time of `FAN` more one-element inputs and outputs (each through its own
  ``Neg`` node, less that node); the per-call overhead what remains of a one-node,
  one-input, one-output graph.  Compute is one ``MatMul`` node multiplying `MATRIX` x
  `MATRIX` matrices, and bandwidth one ``MatMul`` node multiplying a vector by a
  square matrix of as many bytes as the model's weights (at least `MIN_WEIGHT_BYTES`),
  run again and again as a step reads its weights again each step (a model that fits
  in the caches is read at cache speed); both less the time of the one-node graph (the
  overheads), timed in the same rounds (the median of the paired differences).  Each is one short call, as a step is: on a shared machine a long call
  is more often preempted;
- pytorch: a matrix product for compute, a matrix-vector product over as many bytes of
  weights as the model has for bandwidth, and one-element additions for the
  per-operator overhead.

Raspberry Pi profiles are fixed numbers of `devices.json`, each with its source or its
derivation (the overheads are derived once from host measurements, recorded there), so
a Pi estimate is a pure function of the counted cost: it does not depend on the machine
that computes it.  `pi_estimates` gives the estimates the leaderboard shows: for
onnxruntime when the cost has the exported graph's counts, else for eager PyTorch.
``benchmarks/cost_estimator.py`` validates the estimator against measured host latency.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

from benchmark.cost.counting import StepCost, on_cpu
from episodes.audio import NOTE_SECONDS

PROFILES = resources.files("benchmark.cost") / "devices.json"
RUNTIMES = ("onnxruntime", "pytorch")
WARMUP = 10  # untimed rounds before a calibration's timed ones
CHAIN = 200  # extra nodes (or eager additions) whose time gives the per-operator overhead
FAN = 8  # extra inputs and outputs whose time gives onnxruntime's per-tensor overhead
MATRIX = 512  # side of the square matrices whose product calibrates compute
# Fewest weight bytes the bandwidth is calibrated over: the product must stand out of the
# overheads; smaller weights are read from the same caches (the L2 of a core holds 256 KiB
# and more), and their memory term is below the overheads anyway.
MIN_WEIGHT_BYTES = 256 * 1024
OPSET = 17  # of the calibration graphs


@dataclass(frozen=True)
class DeviceProfile:
    """What the estimator needs of a device running steps in ``runtime`` (one of
    `RUNTIMES`) at some thread count."""

    name: str
    threads: int
    flops: float  # FLOP/s of fp32 matrix products
    bandwidth: float  # bytes/s at which a step's weights are read
    op_overhead_s: float  # seconds per operator of `runtime` (see `counts`)
    derived: bool  # some number is derived rather than measured or published
    runtime: str = "pytorch"
    call_overhead_s: float = 0.0  # seconds per step call, whatever its graph (onnxruntime's session.run)
    tensor_overhead_s: float = 0.0  # seconds per input or output tensor of a call (see `counts`)

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime {self.runtime!r} is none of {RUNTIMES}")

    def counts(self, cost: StepCost) -> tuple[int, int]:
        """(operators, input and output tensors) of one step of ``cost`` as `runtime`
        runs it: the exported graph's nodes and its inputs and outputs in onnxruntime;
        the aten operators in eager PyTorch, which converts no tensor (0)."""
        if self.runtime == "pytorch":
            return cost.operators, 0
        if cost.graph_nodes is None or cost.graph_tensors is None:
            raise ValueError("an onnxruntime estimate needs the exported graph's counts (onnx_export.exported_cost)")
        return cost.graph_nodes, cost.graph_tensors

    def terms_ms(self, cost: StepCost) -> dict[str, float]:
        """The terms of the estimate for one step of ``cost``, in milliseconds: the
        ``call`` overhead with its tensors', ``compute`` (2 MACs / FLOP/s) and
        ``memory`` (weight bytes / bandwidth) -- the roofline takes the larger -- and
        the ``operators``' overhead."""
        operators, tensors = self.counts(cost)
        return {
            "call": 1e3 * (self.call_overhead_s + tensors * self.tensor_overhead_s),
            "compute": 2e3 * cost.macs / self.flops,
            "memory": 1e3 * cost.read_bytes() / self.bandwidth,
            "operators": 1e3 * operators * self.op_overhead_s,
        }

    def estimate_ms(self, cost: StepCost) -> float:
        """Estimated latency of one step of ``cost`` in milliseconds: the call and the
        operators' overheads plus the larger of compute and memory (`terms_ms`)."""
        terms = self.terms_ms(cost)
        return terms["call"] + max(terms["compute"], terms["memory"]) + terms["operators"]


def counted_runtime(cost: StepCost) -> str:
    """The runtime whose operators ``cost`` counts best: onnxruntime when it has the
    exported graph's counts, else eager PyTorch (aten operators)."""
    return "onnxruntime" if cost.graph_nodes is not None and cost.graph_tensors is not None else "pytorch"


def _medians(fns: Sequence[Callable[[], object]], repeats: int) -> list[float]:
    """Median seconds of one call of each of ``fns`` over ``repeats`` rounds, after
    `WARMUP` untimed ones; a round calls each in turn, so that a change in the
    machine's load affects each alike."""
    times: list[list[float]] = [[] for _ in fns]
    for round_ in range(WARMUP + repeats):
        for fn, seconds in zip(fns, times):
            started = time.perf_counter()
            fn()
            if round_ >= WARMUP:
                seconds.append(time.perf_counter() - started)
    return [float(np.median(seconds)) for seconds in times]


def _excess_seconds(fn: Callable[[], object], baseline: Callable[[], object], repeats: int, attempts: int = 4) -> float:
    """Median over rounds of the seconds ``fn`` takes beyond ``baseline``, the two called
    in turn in each round so that a change in the machine's load affects both alike.
    A busy machine can make the median difference of a short call non-positive; the
    measurement is then repeated (up to ``attempts`` times, twice as many rounds each
    time) rather than returned as a negative time.

    Raises:
        RuntimeError: when no attempt measured a positive difference.
    """
    for _ in range(attempts):
        times: list[tuple[float, float]] = []
        for round_ in range(WARMUP + repeats):
            started = time.perf_counter()
            fn()
            middle = time.perf_counter()
            baseline()
            if round_ >= WARMUP:
                times.append((middle - started, time.perf_counter() - middle))
        excess = float(np.median([a - b for a, b in times]))
        if excess > 0:
            return excess
        repeats *= 2
    raise RuntimeError(
        "calibration failed: the machine is too busy to time a short call against its baseline; "
        "rerun when it is quieter"
    )


@lru_cache(maxsize=None)
def _host_numbers(threads: int, weight_bytes: int) -> tuple[float, float, float]:
    """(FLOP/s, bytes/s, seconds per aten operator) of eager PyTorch on this machine at
    ``threads`` threads, bandwidth over ``weight_bytes`` bytes of weights."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode(), on_cpu():  # the host's CPU, whatever the run's device
            a, b = torch.randn(MATRIX, MATRIX), torch.randn(MATRIX, MATRIX)
            (product,) = _medians([lambda: a @ b], 51)
            rows = max(64, weight_bytes // (4 * 1024))  # a (rows, 1024) fp32 matrix of the model's size
            w, x = torch.randn(rows, 1024), torch.randn(1024)
            (matvec,) = _medians([lambda: w @ x], 101)
            one = torch.zeros(1)
            (adds,) = _medians([lambda: [torch.add(one, one) for _ in range(CHAIN)]], 51)
    finally:
        torch.set_num_threads(previous)
    return 2 * MATRIX**3 / product, rows * 1024 * 4 / matvec, adds / CHAIN


def _ort_run(
    nodes: Sequence[onnx.NodeProto],
    inputs: dict[str, tuple[int, ...]],
    outputs: Sequence[str],
    threads: int,
    weights: dict[str, np.ndarray] | None = None,
) -> Callable[[], object]:
    """One onnxruntime run, at ``threads`` intra-op threads, of a graph of ``nodes``
    fed fp32 ones of the ``inputs``' shapes, ``weights`` its initializers."""
    graph = helper.make_graph(
        list(nodes),
        "calibration",
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, list(shape)) for name, shape in inputs.items()],
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in outputs],
        initializer=[numpy_helper.from_array(w, name) for name, w in (weights or {}).items()],
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1  # as device_runner
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feeds = {name: np.ones(shape, np.float32) for name, shape in inputs.items()}
    return lambda: session.run(None, feeds)


def _neg_chain(nodes: int, threads: int) -> Callable[[], object]:
    """A graph of ``nodes`` chained ``Neg`` nodes from one one-element input to one output."""
    names = ["x", *(f"t{i}" for i in range(1, nodes)), "y"]
    return _ort_run(
        [helper.make_node("Neg", [names[i]], [names[i + 1]]) for i in range(nodes)], {"x": (1,)}, ["y"], threads
    )


def _neg_fan(tensors: int, threads: int) -> Callable[[], object]:
    """A graph of ``tensors`` one-element inputs, each through its own ``Neg`` node to its own output."""
    return _ort_run(
        [helper.make_node("Neg", [f"x{i}"], [f"y{i}"]) for i in range(tensors)],
        {f"x{i}": (1,) for i in range(tensors)},
        [f"y{i}" for i in range(tensors)],
        threads,
    )


@lru_cache(maxsize=None)
def _ort_profile(threads: int, weight_bytes: int) -> DeviceProfile:
    """onnxruntime on this machine at ``threads`` intra-op threads, bandwidth over
    ``weight_bytes`` bytes of weights (see the module docstring)."""
    one, chain, fan = _medians(
        [_neg_chain(1, threads), _neg_chain(1 + CHAIN, threads), _neg_fan(1 + FAN, threads)], 301
    )
    node = (chain - one) / CHAIN
    baseline = _neg_chain(1, threads)
    tensor = (fan - one - FAN * node) / (2 * FAN)
    rng = np.random.default_rng(0)

    def product_seconds(rows: int, side: int, repeats: int) -> float:
        """Seconds of a one-node graph multiplying (rows, side) by (side, side), less
        the overheads as calibrated (the time of the one-node ``Neg`` graph): what the
        product adds, including what its data passing through the caches costs the
        overheads' code, as a step's weights cost it too."""
        weight = {"w": rng.standard_normal((side, side)).astype(np.float32)}
        product = _ort_run([helper.make_node("MatMul", ["x", "w"], ["y"])], {"x": (rows, side)}, ["y"], threads, weight)
        return _excess_seconds(product, baseline, repeats)

    side = round(math.sqrt(max(weight_bytes, MIN_WEIGHT_BYTES) / 4))  # a square fp32 matrix of the model's size
    return DeviceProfile(
        "host",
        threads,
        2 * MATRIX**3 / product_seconds(MATRIX, MATRIX, 101),
        4 * side**2 / product_seconds(1, side, 201),
        node,
        derived=False,
        runtime="onnxruntime",
        call_overhead_s=one - node - 2 * tensor,
        tensor_overhead_s=tensor,
    )


def host_profile(threads: int, cost: StepCost, runtime: str = "onnxruntime") -> DeviceProfile:
    """This machine running ``runtime`` at ``threads`` threads, calibrated for a model of
    ``cost``'s size (calibrations are cached per runtime, thread count and size)."""
    weight_bytes = max(1, cost.read_bytes())
    if runtime == "onnxruntime":
        return _ort_profile(threads, weight_bytes)
    flops, bandwidth, overhead = _host_numbers(threads, weight_bytes)
    return DeviceProfile("host", threads, flops, bandwidth, overhead, derived=False, runtime=runtime)


def published_devices() -> dict:
    return json.loads(PROFILES.read_text())["devices"]


def pi_profile(device: str, threads: int, runtime: str = "pytorch") -> DeviceProfile:
    """A Raspberry Pi of `devices.json` running ``runtime`` at ``threads`` threads (at
    most its cores): its fp32 compute per core times the threads, its STREAM copy
    bandwidth, and its overheads in that runtime (derived numbers among them, hence
    ``derived``)."""
    spec = published_devices()[device]
    threads = min(threads, spec["cores"])
    flops, bandwidth = spec["fp32_gflops_per_core"]["value"] * 1e9 * threads, spec["stream_copy_gbps"]["value"] * 1e9
    if runtime == "onnxruntime":
        call, tensor, node = (spec[f"ort_{what}_overhead_us"]["value"] * 1e-6 for what in ("call", "tensor", "node"))
        return DeviceProfile(
            device,
            threads,
            flops,
            bandwidth,
            node,
            derived=True,
            runtime=runtime,
            call_overhead_s=call,
            tensor_overhead_s=tensor,
        )
    return DeviceProfile(
        device, threads, flops, bandwidth, spec["op_overhead_us"]["value"] * 1e-6, derived=True, runtime=runtime
    )


PI_DEVICES = {"raspberry-pi-4": "Pi 4", "raspberry-pi-5": "Pi 5"}  # devices.json key -> short label
PI_THREADS = (1, 4)  # one core, and all four


@dataclass(frozen=True)
class Estimate:
    """Estimated latency of one generation step on a device at a thread count."""

    device: str  # a key of `PI_DEVICES`
    threads: int
    latency_ms: float  # milliseconds per step
    real_time_factor: float | None  # seconds of compute per second of audio generated; notes only


def pi_estimates(cost: StepCost) -> list[Estimate]:
    """Estimated latency of one step of ``cost`` on each of `PI_DEVICES` at each of
    `PI_THREADS` threads, in that order, in the runtime ``cost`` counts
    (`counted_runtime`); a note step (audio, `episodes.audio.NOTE_SECONDS` of sound)
    also gets its real-time factor.  Depends on ``cost`` and `devices.json` only."""
    unit_seconds = NOTE_SECONDS if cost.unit == "note" else None
    out = []
    for device in PI_DEVICES:
        for threads in PI_THREADS:
            ms = pi_profile(device, threads, counted_runtime(cost)).estimate_ms(cost)
            out.append(Estimate(device, threads, ms, ms / 1e3 / unit_seconds if unit_seconds else None))
    return out


def pi_compute_seconds(flops: float) -> dict[str, float]:
    """Seconds ``flops`` of matrix products take on each of `PI_DEVICES` at each of
    `PI_THREADS` threads at its fp32 compute (``"raspberry-pi-4/1"`` -> s): the
    compute-bound floor of a batched computation such as adapting to a support set
    (whole sequences through the network, large matrix products; no per-step overhead)."""
    return {
        f"{device}/{threads}": flops / pi_profile(device, threads).flops
        for device in PI_DEVICES
        for threads in PI_THREADS
    }
