"""One process against torchrun's processes on this machine, side by side in one run.

For each repeat (the order of the two set-ups alternates), on a built track:

- ``fsmb train --method lstm --budget quick --steps S``: one process with N torch
  threads, against ``torchrun --nproc-per-node N`` with one thread each (data-parallel);
  seconds per optimiser step from the fitted model's ``train_seconds`` (process start
  and corpus loading excluded);
- ``fsmb eval`` of the one-process model on the first E test episodes: the same two
  set-ups; ``eval_seconds`` from the run record.

Prints the medians and the ratios (one process / N processes: > 1 means torchrun is
faster), and checks that both set-ups wrote the same episode scores.

    python benchmarks/bench_torchrun.py --track midi/music21 --steps 30 --episodes 256 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fsmb(args: list[str], *, processes: int, threads: int) -> None:
    """``fsmb ARGS --threads threads`` in one process, or under torchrun."""
    launcher = (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            "-m",
            "benchmark",
        ]
        if processes > 1
        else [sys.executable, "-m", "benchmark"]
    )
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [*launcher, *args, "--threads", str(threads), "--device", "cpu"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"bench_torchrun: {' '.join(args[:3])} failed:\n{done.stderr[-2000:]}")


def train_seconds(models: Path, track: list[str], *, processes: int, threads: int, steps: int) -> float:
    """Seconds per optimiser step of ``fsmb train --method lstm`` into ``models``."""
    fsmb(
        ["train", "--method", "lstm", *track, "--budget", "quick", "--steps", str(steps), "--models", str(models)],
        processes=processes,
        threads=threads,
    )
    (meta,) = models.rglob("meta.json")
    return json.loads(meta.read_text())["train_seconds"] / steps


def eval_seconds(
    models: Path, out: Path, track: list[str], *, processes: int, threads: int, steps: int, episodes: int
) -> tuple[float, list]:
    """(seconds per episode of ``fsmb eval`` of the lstm in ``models``, the episode scores)."""
    fsmb(
        [
            "eval",
            "--method",
            "lstm",
            *track,
            "--budget",
            "quick",
            "--steps",
            str(steps),
            "--models",
            str(models),
            "--episodes",
            str(episodes),
            "--out",
            str(out),
        ],
        processes=processes,
        threads=threads,
    )
    (run,) = out.glob("*.run.json")
    (records,) = out.glob("*.jsonl")
    scores = [json.loads(line)["nll_nats"] for line in records.read_text().splitlines() if '"episode"' in line]
    return json.loads(run.read_text())["eval_seconds"] / episodes, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--track", default="midi/music21")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2, help="N (default: the cores)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    track = ["--track", args.track, *(["--data-dir", args.data_dir] if args.data_dir else [])]
    n = args.processes
    setups = {"one process": (1, n), f"torchrun x{n}": (n, 1)}
    train: dict[str, list[float]] = {k: [] for k in setups}
    score: dict[str, list[float]] = {k: [] for k in setups}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = list(setups) if repeat % 2 == 0 else list(reversed(setups))
            scores = {}
            for name in order:
                processes, threads = setups[name]
                where = Path(tmp) / f"{repeat}-{processes}"
                train[name].append(
                    train_seconds(where / "models", track, processes=processes, threads=threads, steps=args.steps)
                )
            for name in order:  # both score the one-process model: the same scores expected
                processes, threads = setups[name]
                per_episode, scores[name] = eval_seconds(
                    Path(tmp) / f"{repeat}-1" / "models",
                    Path(tmp) / f"{repeat}-{processes}" / "out",
                    track,
                    processes=processes,
                    threads=threads,
                    steps=args.steps,
                    episodes=args.episodes,
                )
                score[name].append(per_episode)
            for name in setups:
                print(
                    f"repeat {repeat}: {name:14s} train {train[name][-1] * 1e3:8.1f} ms/step   "
                    f"eval {score[name][-1] * 1e3:7.2f} ms/episode",
                    flush=True,
                )
            same = len(set(json.dumps(s) for s in scores.values())) == 1
            print(f"repeat {repeat}: episode scores identical in both set-ups: {same}")
    one, many = setups
    for what, table, unit in (("train lstm", train, "ms/step"), ("eval lstm", score, "ms/episode")):
        a, b = statistics.median(table[one]), statistics.median(table[many])
        print(
            f"{what}: {one} ({n} threads) {a * 1e3:.2f} {unit}, {many} (1 thread each) {b * 1e3:.2f} {unit}: "
            f"{a / b:.2f}x"
        )


if __name__ == "__main__":
    main()
