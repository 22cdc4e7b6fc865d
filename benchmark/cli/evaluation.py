"""``fsmb train`` and ``fsmb eval``: fit a method, score it on a track's test manifest."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark.cli.options import budget_of, data_args, method_arg, open_track, run_args
from benchmark.contract.methods import MethodSpec, make_method
from benchmark.contract.overrides import trained_label
from benchmark.contract.settings import parse_setting, settings_dict
from benchmark.run.arguments import ArgumentError, count_type, parse_shots


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.run.runner import fit_or_load, has_checkpoint, model_dir
    from benchmark.training.convergence import summarise

    method = make_method(args.method)  # the contract is checked before the corpus is built
    budget = budget_of(args)
    track = open_track(args)
    where = model_dir(Path(args.models), trained_label(method), track, budget, args.seed)
    if args.resume and (not has_checkpoint(where) or (where / "meta.json").exists()):
        raise ArgumentError(
            f"--resume: no interrupted training of {trained_label(method)} at {where} "
            f"(finished: {(where / 'meta.json').exists()}); leave out --resume to train"
        )
    _, meta = fit_or_load(method, track, budget=budget, models=Path(args.models), seed=args.seed, retrain=args.retrain)
    training = summarise(meta.get("train_log"), meta["budget"])
    print(
        json.dumps(
            {**{k: meta[k] for k in ("method", "hparams", "budget", "train_seconds")}, "training": training.to_dict()},
            indent=1,
        )
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from benchmark.run.runner import evaluate
    from leaderboard.aggregate import leaderboard_rows
    from leaderboard.render import render

    spec = MethodSpec.parse(args.method, settings_dict(args.settings))  # contract and settings, before the corpus
    track = open_track(args)
    for k in args.shots or [track.spec.shots]:
        path = evaluate(
            spec,
            track,
            shots=k,
            n_episodes=args.episodes,
            out=Path(args.out),
            budget=budget_of(args),
            models=Path(args.models),
            seed=args.seed,
            samples=args.samples,
        )
        print(f"records: {path}")
    print(render(leaderboard_rows(Path(args.out)), "md"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``eval`` to the ``fsmb`` subcommands."""
    p = sub.add_parser("train", help="fit a method on a track's meta-train split")
    method_arg(p)
    p.add_argument("--retrain", action="store_true", help="train again even if a fitted model exists")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted training run from its last checkpoint, and fail if there is none "
        "(without it an interrupted run is resumed too, and a missing one started)",
    )
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="score a method on a track's fixed test manifest")
    method_arg(p)
    p.add_argument(
        "--shots", type=parse_shots, default=None, help="K, or a list like 0,1,2,4,8 (default: the track's K)"
    )
    p.add_argument("--episodes", type=count_type(1), default=None, help="first N episodes only (default: all)")
    p.add_argument("--out", required=True, help="results directory")
    p.add_argument(
        "--samples",
        type=count_type(0),
        default=0,
        help="also draw N samples per episode and record their quality (MIDI, lyrics and audio "
        "tracks), keeping the first episode's as previews (.mid/.wav/text) beside the records "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--set",
        dest="settings",
        type=parse_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an evaluation-time setting of the fitted method (e.g. iwae_samples=16; repeatable); "
        "recorded as the variant METHOD[NAME=VALUE]",
    )
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_eval)
