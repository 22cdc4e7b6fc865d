"""The CPU against a GPU (``--device``), side by side in one run: training speed of
``lstm`` and ``transformer-icl``, and agreement of their scores.

For each method: fit it with the quick budget's first S steps on the CPU and on the
device (seconds per optimiser step from each fit's ``train_seconds``), then score the
**CPU-fitted** model on the first E test episodes on both, and compare the episodes'
NLL with `benchmark.contract.device.GPU_TOLERANCE`.

    python benchmarks/bench_device.py --device cuda --track midi/music21 --steps 50 --episodes 100
    python benchmarks/bench_device.py --device cpu ...   # a dry run of the script itself (ratios ~1)

Needs a machine with the device (prints what is missing and exits otherwise).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmark.contract.device import (
    GPU_TOLERANCE,
    DeviceError,
    on_device,
    parse_device,
)
from benchmark.contract.methods import make_method
from benchmark.contract.protocol import BUDGETS
from benchmark.run.runner import fit_or_load
from benchmark.scoring.nll import episode_nats_per_token
from episodes.tracks import Track, default_cache, track_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--track", default="midi/music21")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--methods", default="lstm,transformer-icl")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    try:
        device = parse_device(args.device)
    except DeviceError as exc:
        sys.exit(f"bench_device: {exc}")
    cpu = parse_device("cpu")
    track = Track.open(track_spec(args.track), cache_dir=default_cache(), data_dir=args.data_dir)
    budget = BUDGETS["quick"].with_steps(args.steps)
    episodes = [track.episode(s) for s in track.manifest("test", track.spec.shots).episodes[: args.episodes]]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.methods.split(","):
            fitted, per_step = {}, {}
            for where in (cpu, device):
                with on_device(where):
                    fitted[where], meta = fit_or_load(
                        make_method(name),
                        track,
                        budget=budget,
                        models=Path(tmp) / str(where),
                        seed=0,
                        log=lambda _: None,
                    )
                per_step[where] = meta["train_seconds"] / args.steps
            scores = {}
            for where in (cpu, device):
                with on_device(where):
                    method, _ = fit_or_load(
                        make_method(name), track, budget=budget, models=Path(tmp) / "cpu", seed=0, log=lambda _: None
                    )  # the CPU-fitted weights, loaded on `where`
                    scores[where] = episode_nats_per_token(method, episodes)
            rel = np.abs(scores[device] - scores[cpu]) / np.abs(scores[cpu])
            print(
                f"{name}: train {per_step[cpu] * 1e3:.1f} ms/step on the CPU, {per_step[device] * 1e3:.1f} ms/step "
                f"on {device}: {per_step[cpu] / per_step[device]:.2f}x; scores of the CPU-fitted model on "
                f"{device}: max relative difference {rel.max():.2e} over {len(rel)} episodes "
                f"({'within' if rel.max() <= GPU_TOLERANCE else 'OUTSIDE'} GPU_TOLERANCE {GPU_TOLERANCE:g})",
                flush=True,
            )


if __name__ == "__main__":
    main()
