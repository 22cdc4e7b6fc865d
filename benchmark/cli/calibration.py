"""``fsmb calibrate-jsb``: the JSB Chorales calibration (`benchmark.calibration.jsb`), a
subcommand like the others."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

from benchmark.calibration.jsb_settings import DEFAULTS, PUBLISHED, RESOLUTIONS, Settings
from benchmark.run.arguments import ArgumentError, count_type, float_type
from episodes.atomic import write_json, write_text


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``calibrate-jsb`` to the ``fsmb`` subcommands."""
    d = DEFAULTS
    p = sub.add_parser(
        "calibrate-jsb",
        help="calibration, not a track: train the piano-roll LSTM on JSB Chorales and compare "
        "its frame-level test NLL with published numbers",
    )
    p.add_argument(
        "--data-dir",
        required=True,
        help="folder holding jsb-chorales-<resolution>.json (github.com/czhuang/JSB-Chorales-dataset)",
    )
    p.add_argument(
        "--resolution",
        choices=RESOLUTIONS,
        default="quarter",
        help="which file; published numbers are for quarter (default: %(default)s)",
    )
    p.add_argument("--steps", type=count_type(1), default=d.steps, help="optimiser steps (default: %(default)s)")
    p.add_argument("--hidden", type=count_type(1), default=d.hidden, help="LSTM width (default: %(default)s)")
    p.add_argument("--layers", type=count_type(1), default=d.layers, help="LSTM layers (default: %(default)s)")
    p.add_argument(
        "--dropout",
        type=float_type(lambda x: 0.0 <= x < 1.0, "in [0, 1)"),
        default=d.dropout,
        help="dropout before the output layer (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size", type=count_type(1), default=d.batch_size, help="pieces per step (default: %(default)s)"
    )
    p.add_argument(
        "--lr",
        type=float_type(lambda x: 0.0 < x < math.inf, "a positive number"),
        default=d.lr,
        help="Adam learning rate (default: %(default)s)",
    )
    p.add_argument(
        "--val-every",
        type=count_type(1),
        default=d.val_every,
        help="score valid every N steps; the best is kept (default: %(default)s)",
    )
    p.add_argument(
        "--seed", type=count_type(0), default=0, help="initial weights, batches and dropout (default: %(default)s)"
    )
    p.add_argument(
        "--out",
        default="results/jsb",
        help="result.json, result.md and TensorBoard logs (logs/) "
        "go here; rerunning the same command resumes (default: %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=count_type(1),
        default=1,
        help="torch threads; the per-frame products are small, so more threads rarely help and they "
        "oversubscribe a shared machine (default: %(default)s)",
    )
    p.set_defaults(func=cmd_calibrate_jsb)


def cmd_calibrate_jsb(args: argparse.Namespace) -> int:
    """``fsmb calibrate-jsb``: train, score, write ``result.json`` and ``result.md``."""
    import torch

    from benchmark.calibration.jsb import data_file, load_jsb, markdown, train_and_score

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    path = data_file(args.data_dir, args.resolution)
    splits = load_jsb(path)
    settings = Settings(
        steps=args.steps,
        hidden=args.hidden,
        layers=args.layers,
        dropout=args.dropout,
        batch_size=args.batch_size,
        lr=args.lr,
        val_every=args.val_every,
    )
    data = {"file": path.name, "resolution": args.resolution, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    out = Path(args.out)
    logdir = out / "logs"
    run_key = {"settings": settings.to_dict(), "seed": args.seed, "data_sha256": data["sha256"]}
    key_file = logdir / "run.json"
    if (logdir / "train-state.pt").exists():
        previous = json.loads(key_file.read_text()) if key_file.is_file() else None
        if previous != run_key:
            raise ArgumentError(
                f"--out {out}: {logdir} holds a checkpoint of a run with other settings, seed or "
                f"data; pass another --out, or delete {logdir} to start over"
            )
        print(f"fsmb: resuming from {logdir / 'train-state.pt'}", file=sys.stderr)
    write_json(key_file, run_key)
    result = train_and_score(splits, settings, seed=args.seed, logdir=logdir, data=data)
    write_json(out / "result.json", {"task": "jsb-chorales", "published": list(PUBLISHED), **result.to_dict()})
    write_text(out / "result.md", markdown(result, args.resolution))
    nll = result.nll_nats_per_frame
    published = "  (published, quarter: LSTM 8.45, TCN 8.10)" if args.resolution == "quarter" else ""
    print(
        f"JSB Chorales {args.resolution}: NLL nats/frame train {nll['train']:.3f}  valid {nll['valid']:.3f}  "
        f"test {nll['test']:.3f}{published}; {result.wall_seconds:.0f} s"
    )
    print(f"wrote {out / 'result.json'} and {out / 'result.md'}; TensorBoard: tensorboard --logdir {logdir}")
    return 0
