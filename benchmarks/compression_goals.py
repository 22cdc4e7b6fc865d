"""Issue 13's goals for the compressed LSTMs, checked from the committed results and
measured side by side in one run:

- a trimmed ``lstm`` with at most 10% of the dense parameters within 0.03 nats/token
  of the dense ``lstm`` (paired, every test episode) and at least 4x faster per
  generated token in measured host latency;
- ``lstm-int8`` within 0.01 nats/token of its base and faster per token.

Accuracy comes from the run records under ``--results`` (paired differences to the
dense ``lstm`` of the same folder, as the leaderboard computes them).  Latency is
measured here: each variant's streaming token step, built at the shape its run record
gives (random weights: a dense step's latency does not depend on their values; the
masked ``lstm-imp`` runs at the dense shape and cost, so it is not timed), timed with
`benchmark.cost.latency.measure_latency` against the dense step in the same round,
at 1 and 2 threads; the table shows medians over ``--rounds`` rounds of each p50 and
of the per-round ratio (dense / variant: above 1, the variant is faster).

    python benchmarks/compression_goals.py [--results results/compressed] [--runs 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from benchmark.cost.latency import measure_latency
from benchmark.cost.steps import network_step
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from leaderboard.aggregate import leaderboard_rows, load_runs
from methods.int8 import quantised

TRACK, DENSE = "midi/music21", "lstm"


def step_of(hparams: dict, int8: bool):
    """The streaming step of an LSTM of the recorded shape (random weights)."""
    cfg = LSTMConfig(**{k: hparams[k] for k in ("vocab", "emb", "hidden", "layers")})
    model = LSTMLM(cfg).eval()
    return network_step(quantised(model) if int8 else model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/compressed")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = {r.method: r for r in leaderboard_rows(Path(args.results), reference=DENSE) if r.track == TRACK}
    hparams = {run["method"]: run["hparams"] for run, _ in load_runs(Path(args.results)) if run["track"] == TRACK}
    timed = [m for m in rows if m.startswith(("lstm-trim", "lstm-int8"))]
    dense_step = step_of(hparams[DENSE], int8=False)
    steps = {m: step_of(hparams[m], int8=m.startswith("lstm-int8")) for m in timed}
    print(f"{TRACK}, K = {rows[DENSE].shots}, {rows[DENSE].episodes} test episodes; latency: median over "
          f"{args.rounds} rounds of the p50 of {args.runs} runs, side by side with the dense step")
    print(f"{'method':26s} {'params':>8s} {'% dense':>8s} {'Δ nats/token':>16s} {'thr':>3s} {'dense p50':>10s} "
          f"{'p50':>9s} {'speed-up':>8s}")
    speedups: dict[tuple[str, int], float] = {}
    for threads in (1, 2):
        p50: dict[str, list[float]] = {m: [] for m in [DENSE, *timed]}
        ratios: dict[str, list[float]] = {m: [] for m in timed}
        for _ in range(args.rounds):
            dense_ms = measure_latency(dense_step, threads=threads, runs=args.runs).p50_ms
            p50[DENSE].append(dense_ms)
            for m in timed:
                ms = measure_latency(steps[m], threads=threads, runs=args.runs).p50_ms
                p50[m].append(ms)
                ratios[m].append(dense_ms / ms)
        for m in timed:
            r = rows[m]
            speedups[m, threads] = statistics.median(ratios[m])
            print(f"{m:26s} {r.cost['params']:8,d} {100 * r.cost['params'] / rows[DENSE].cost['params']:7.1f}% "
                  f"{r.delta_vs_reference:+.4f} ± {r.delta_ci95:.4f} {threads:3d} {statistics.median(p50[DENSE]):8.4f}ms "
                  f"{statistics.median(p50[m]):7.4f}ms {speedups[m, threads]:7.2f}x")
    dense_params = rows[DENSE].cost["params"]
    small = [m for m in timed if m.startswith("lstm-trim") and rows[m].cost["params"] <= 0.1 * dense_params]
    for m in small:
        d, s = rows[m].delta_vs_reference, speedups[m, 1]
        print(f"goal: {m} ({rows[m].cost['params'] / dense_params:.1%} of the parameters) within 0.03 nats/token: "
              f"{d:+.4f} -> {'met' if d <= 0.03 else 'NOT met'}; >= 4x faster at 1 thread: {s:.2f}x -> "
              f"{'met' if s >= 4 else 'NOT met'}")
    for m in (m for m in timed if m.startswith("lstm-int8")):
        d, s = rows[m].delta_vs_reference, speedups[m, 1]
        print(f"goal: {m} within 0.01 nats/token: {d:+.4f} -> {'met' if abs(d) <= 0.01 else 'NOT met'}; faster at "
              f"1 thread: {s:.2f}x -> {'met' if s > 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
