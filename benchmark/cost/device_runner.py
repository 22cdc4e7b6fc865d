"""Time an exported generation step on a device: needs only Python 3, numpy and
onnxruntime (what a Raspberry Pi has), not FSMB.  Copy this file and the ``.onnx``
file written by ``fsmb export`` to the device and run

    python3 device_runner.py lstm.onnx --threads 1,2,4 --runs 200 --out pi4-lstm.json

It runs the step single stream -- feeding each output ``X_out`` back as input ``X``
(a streaming LSTM's state), as generation does -- 20 times to warm up, then times
``--runs`` steps at each thread count (onnxruntime intra-op threads) and writes the
p50 and p90 in milliseconds with the device's details.  ``fsmb latency ingest`` reads
the JSON.

``--outputs steps.npz`` also records what the step computes, to check that the device
computes what the host does: `check_outputs` runs ``--check-steps`` steps on fixed
inputs -- tokens ``3, 4, ...`` cycling below the vocabulary, and every float input (a
streaming LSTM's state, a decoder's latent code) drawn by numpy's PCG64 from seed 0,
the same numbers on every platform -- and saves every output of every step.  Each
step gets fresh inputs: no state is carried, since in an int8 graph a float rounding
difference of 1e-7 in a carried state can move a dynamically quantised activation by
one step, after which two correct runtimes follow different trajectories.
``benchmarks/arm64_check.py`` compares two such files (an emulated arm64 run, or a
Pi's, against the host's).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import onnxruntime as ort

FORMAT = 1
WARMUP = 20
BOS = 1  # episodes.tokens.BOS: the first token of a streamed sequence
# Largest |device - host| that `compare` allows, relative to the output's largest
# magnitude.  fp32 kernels differ between NEON and AVX-512 in their summation order
# (~1e-7 relative).  An int8 graph's integer products are exact, but its dynamic
# activation scale is a float computation, so a rounding there can move a quantised
# activation by one step (measured under arm64 emulation, ``benchmarks/arm64_check.py``:
# 2.8e-4 of an int8 LSTM's cell state).
RTOL = 1e-3


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo ("Model" on a Raspberry Pi), else platform's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("Model", "model name", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def first_inputs(session: ort.InferenceSession) -> dict[str, np.ndarray]:
    """Inputs of the first step: token BOS, zero state, zero latent code."""
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        dtype = np.int64 if "int64" in arg.type else np.float32
        feeds[arg.name] = np.full(shape, BOS if arg.name == "token" else 0, dtype=dtype)
    return feeds


def time_steps(session: ort.InferenceSession, runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` consecutive steps after `WARMUP` untimed ones."""
    feeds = first_inputs(session)
    outputs = [o.name for o in session.get_outputs()]
    carried = {name: name[: -len("_out")] for name in outputs if name.endswith("_out") and name[:-4] in feeds}
    times = []
    for i in range(WARMUP + runs):
        started = time.perf_counter_ns()
        result = session.run(None, feeds)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        for name, value in zip(outputs, result):
            if name in carried:
                feeds[carried[name]] = value
        if i >= WARMUP:
            times.append(elapsed)
    return times


def check_outputs(session: ort.InferenceSession, steps: int) -> dict[str, np.ndarray]:
    """Every output of ``steps`` steps on fixed inputs (see the module docstring),
    stacked per output name: ``name -> (steps, *shape)``."""
    shapes = first_inputs(session)
    vocab = next((o.shape[-1] for o in session.get_outputs() if o.name == "logits"), None)
    rng = np.random.Generator(np.random.PCG64(0))
    outputs = [o.name for o in session.get_outputs()]
    recorded: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
    for i in range(steps):
        feeds = {}
        for name, x in shapes.items():
            if x.dtype == np.int64:
                feeds[name] = np.full_like(x, 3 + i % (vocab - 3) if isinstance(vocab, int) else BOS)
            else:
                feeds[name] = rng.standard_normal(x.shape).astype(np.float32)
        for name, value in zip(outputs, session.run(None, feeds)):
            recorded[name].append(value)
    return {name: np.stack(values) for name, values in recorded.items()}


@dataclass(frozen=True)
class Comparison:
    """Per output name: the largest |device - host| and the host output's largest magnitude."""

    worst: dict[str, tuple[float, float]]

    @property
    def matches(self) -> bool:
        return all(d <= RTOL * max(scale, 1e-12) for d, scale in self.worst.values())

    def line(self) -> str:
        parts = ", ".join(f"{k} max|Δ| {d:.2e} (of {s:.3g})" for k, (d, s) in self.worst.items())
        return f"{'MATCH' if self.matches else 'DIFFERS'}  {parts}"


def compare(host: dict[str, np.ndarray], device: dict[str, np.ndarray]) -> Comparison:
    """`Comparison` of two `device_runner.check_outputs` results; a missing output or
    another shape is a `ValueError`."""
    if set(host) != set(device) or any(host[k].shape != device[k].shape for k in host):
        raise ValueError(
            f"the outputs differ in names or shapes: host {[(k, v.shape) for k, v in host.items()]}, "
            f"device {[(k, v.shape) for k, v in device.items()]}"
        )
    return Comparison({k: (float(np.abs(host[k] - device[k]).max()), float(np.abs(host[k]).max())) for k in host})


def session_at(model: str, threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session of the ``.onnx`` file ``model`` at ``threads`` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description="time an exported FSMB generation step (onnxruntime + numpy only)")
    parser.add_argument("model", help="the .onnx file written by fsmb export")
    parser.add_argument("--threads", default="1,2,4", help="intra-op thread counts (default: 1,2,4)")
    parser.add_argument("--runs", type=int, default=200, help="timed steps per thread count (default: 200)")
    parser.add_argument("--out", required=True, help="the JSON report to write")
    parser.add_argument("--outputs", help="also write the outputs of --check-steps fixed steps to this .npz file")
    parser.add_argument("--check-steps", type=int, default=16, help="steps recorded by --outputs (default: 16)")
    args = parser.parse_args()
    with open(args.model, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    latency = []
    for threads in (int(t) for t in args.threads.split(",")):
        times = time_steps(session_at(args.model, threads), args.runs)
        latency.append(
            {
                "threads": threads,
                "runs": len(times),
                "p50_ms": float(np.percentile(times, 50)),
                "p90_ms": float(np.percentile(times, 90)),
                "mean_ms": float(np.mean(times)),
            }
        )
    report = {
        "format": FORMAT,
        "kind": "device-latency",
        "model_file": os.path.basename(args.model),
        "model_sha256": digest,
        "latency": latency,
        "device": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "machine": platform.machine(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
        },
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if args.outputs:
        recorded = check_outputs(session_at(args.model, 1), args.check_steps)
        with open(args.outputs + ".partial", "wb") as f:
            np.savez(f, **recorded)
        os.replace(args.outputs + ".partial", args.outputs)
        report["outputs"] = {"file": os.path.basename(args.outputs), "steps": args.check_steps}
    tmp = args.out + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    os.replace(tmp, args.out)
    print(json.dumps(latency, indent=1))


if __name__ == "__main__":
    main()
