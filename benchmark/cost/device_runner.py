"""Time an exported generation step on a device: needs only Python 3, numpy and
onnxruntime (what a Raspberry Pi has), not FSMB.  Copy this file and the ``.onnx``
file written by ``fsmb export`` to the device and run

    python3 device_runner.py lstm.onnx --threads 1,2,4 --runs 200 --out pi4-lstm.json

It runs the step single stream -- feeding each output ``X_out`` back as input ``X``
(a streaming LSTM's state), as generation does -- 20 times to warm up, then times
``--runs`` steps at each thread count (onnxruntime intra-op threads) and writes the
p50 and p90 in milliseconds with the device's details.  ``fsmb latency ingest`` reads
the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from datetime import datetime, timezone

import numpy as np
import onnxruntime as ort

FORMAT = 1
WARMUP = 20
BOS = 1  # episodes.tokens.BOS: the first token of a streamed sequence


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
    tmp = args.out + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    os.replace(tmp, args.out)
    print(json.dumps(latency, indent=1))


if __name__ == "__main__":
    main()
