"""Issue 13's goals for the compressed LSTMs, checked from the committed results and
measured side by side in one run:

- a trimmed ``lstm`` with at most 10% of the dense parameters within 0.03 nats/token
  of the dense ``lstm`` (paired, every test episode) and at least 4x faster per
  generated token in measured host latency;
- ``lstm-int8`` within 0.01 nats/token of its base and faster per token (in ONNX Runtime).

Accuracy comes from the run records under ``--results`` (paired differences to the
dense ``lstm`` of the same folder, as the leaderboard computes them).  Latency is
measured here: each variant's streaming token step, built at the shape its run record
gives (random weights: a dense step's latency does not depend on their values; the
masked ``lstm-imp`` runs at the dense shape and cost, so it is not timed), timed
against the dense step in the same round, at 1 and 2 threads, in PyTorch eager
(`benchmark.cost.latency.measure_latency`) and in ONNX Runtime, the deployment
runtime (the exported step timed as `benchmark/cost/device_runner.py` times it;
``lstm-int8`` is an int8 graph of ONNX Runtime, `methods.int8.int8_step`, so it is
timed there only); the table shows medians over ``--rounds`` rounds of each p50
and of the per-round ratio (dense / variant: above 1, the variant is faster).

    python benchmarks/compression_goals.py [--results results/compressed] [--runs 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmark.cost.counting import InferenceStep
from benchmark.cost.device_runner import session_at, time_steps
from benchmark.cost.latency import measure_latency
from benchmark.cost.onnx_export import export_step
from benchmark.cost.steps import network_step
from benchmark.nn.onnx_module import OnnxModule
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from leaderboard.aggregate import leaderboard_rows, load_runs
from methods.int8 import int8_step

TRACK, DENSE = "midi/music21", "lstm"


def step_of(hparams: dict, int8: bool) -> InferenceStep:
    """The streaming step of an LSTM of the recorded shape (random weights); ``int8``:
    its int8 graph."""
    cfg = LSTMConfig(**{k: hparams[k] for k in ("vocab", "emb", "hidden", "layers")})
    step = network_step(LSTMLM(cfg).eval())
    assert step is not None
    return InferenceStep(int8_step(step.module.model), step.inputs, step.unit) if int8 else step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/compressed")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = {r.method: r for r in leaderboard_rows(Path(args.results), reference=DENSE) if r.track == TRACK}
    hparams = {run.method: run.hparams for run, _ in load_runs(Path(args.results)) if run.track == TRACK}
    timed = [m for m in rows if m.startswith(("lstm-trim", "lstm-int8"))]
    steps = {m: step_of(hparams[m], int8=m.startswith("lstm-int8")) for m in [DENSE, *timed]}
    folder = Path(tempfile.mkdtemp(prefix="fsmb-goals-"))
    exported = {m: str(export_step(step, folder / f"{i}.onnx")) for i, (m, step) in enumerate(steps.items())}
    runtimes = {
        "eager": lambda m, threads: measure_latency(steps[m], threads=threads, runs=args.runs).p50_ms,
        "onnxruntime": lambda m, threads: float(
            np.percentile(time_steps(session_at(exported[m], threads), args.runs), 50)
        ),
    }
    print(
        f"{TRACK}, K = {rows[DENSE].shots}, {rows[DENSE].episodes} test episodes; latency: median over "
        f"{args.rounds} rounds of the p50 of {args.runs} runs, side by side with the dense step"
    )
    print(
        f"{'method':24s} {'params':>8s} {'% dense':>8s} {'Δ nats/token':>16s} {'runtime':>11s} {'thr':>3s} "
        f"{'dense p50':>10s} {'p50':>9s} {'speed-up':>8s}"
    )
    speedups: dict[tuple[str, str, int], float] = {}
    for runtime, time_ms in runtimes.items():
        for threads in (1, 2):
            names = [m for m in timed if runtime != "eager" or not isinstance(steps[m].module, OnnxModule)]
            p50: dict[str, list[float]] = {m: [] for m in [DENSE, *names]}
            for _ in range(args.rounds):
                for m in [DENSE, *names]:
                    p50[m].append(time_ms(m, threads))
            for m in names:
                r = rows[m]
                speedups[m, runtime, threads] = statistics.median(d / v for d, v in zip(p50[DENSE], p50[m]))
                print(
                    f"{m:24s} {r.cost['params']:8,d} {100 * r.cost['params'] / rows[DENSE].cost['params']:7.1f}% "
                    f"{r.delta_vs_reference:+.4f} ± {r.delta_ci95:.4f} {runtime:>11s} {threads:3d} "
                    f"{statistics.median(p50[DENSE]):8.4f}ms {statistics.median(p50[m]):7.4f}ms "
                    f"{speedups[m, runtime, threads]:7.2f}x"
                )
    dense_params = rows[DENSE].cost["params"]
    small = [m for m in timed if m.startswith("lstm-trim") and rows[m].cost["params"] <= 0.1 * dense_params]
    for m in small:
        d = rows[m].delta_vs_reference
        fast = {runtime: speedups.get((m, runtime, 1)) for runtime in runtimes}
        print(
            f"goal: {m} ({rows[m].cost['params'] / dense_params:.1%} of the parameters) within 0.03 nats/token: "
            f"{d:+.4f} -> {'met' if d <= 0.03 else 'NOT met'}; >= 4x faster at 1 thread: "
            + "; ".join(f"{runtime} {x:.2f}x -> {'met' if x >= 4 else 'NOT met'}" for runtime, x in fast.items())
        )
    for m in (m for m in timed if m.startswith("lstm-int8")):
        d, s = rows[m].delta_vs_reference, speedups[m, "onnxruntime", 1]
        print(
            f"goal: {m} within 0.01 nats/token: {d:+.4f} -> {'met' if abs(d) <= 0.01 else 'NOT met'}; faster in "
            f"ONNX Runtime at 1 thread: {s:.2f}x -> {'met' if s > 1 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
