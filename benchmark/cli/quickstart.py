"""``fsmb quickstart``: build the embedded tracks, train and score the baselines."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmark.cli.options import data_args, open_track, threads_arg
from benchmark.contract.methods import MethodSpec, names_in
from benchmark.contract.protocol import BUDGETS
from benchmark.run.arguments import count_type
from episodes.dependencies import DependencyError
from episodes.dependencies import check as check_dependencies


def cmd_quickstart(args: argparse.Namespace) -> int:
    from benchmark.run.durations import run_estimate
    from benchmark.run.runner import evaluate
    from episodes.sources.fortunes import DEFAULT_ROOT
    from leaderboard.aggregate import leaderboard_rows
    from leaderboard.render import render

    started = time.perf_counter()
    out = Path(args.out)
    names = ["midi/music21"]
    if DEFAULT_ROOT.is_dir():
        names.append("lyrics/fortunes")
    else:
        print(f"(lyrics/fortunes skipped: no fortune files in {DEFAULT_ROOT}; apt-get install fortunes)")
    try:
        check_dependencies(("pyfluidsynth",))
        names.append("audio/gm-notes")
    except DependencyError as exc:
        print(f"(audio/gm-notes skipped: {exc})")
    for step, name in enumerate(names, 1):
        args.track = name
        print(f"[{step}/{len(names) + 1}] {name}: corpus (built once, then cached in {args.cache_dir})")
        track = open_track(args)
        baselines = names_in("baseline", track.spec.modality)
        print(
            f"    training and scoring {len(baselines)} baselines (budget 'quick') on the first "
            f"{args.episodes} of the {track.spec.n_test} fixed test episodes, K={track.spec.shots}"
        )
        for method in baselines:
            if estimate := run_estimate(method, name, BUDGETS["quick"], args.episodes):
                print(f"    {estimate}")
            evaluate(
                MethodSpec.parse(method),
                track,
                shots=track.spec.shots,
                n_episodes=args.episodes,
                out=out / "results",
                budget=BUDGETS["quick"],
                models=out / "models",
                seed=args.seed,
            )
    print(
        f"[{len(names) + 1}/{len(names) + 1}] leaderboard ({args.episodes} test episodes per track; quick "
        "budget -- the published full-manifest tables are in results/main/)\n"
    )
    print(render(leaderboard_rows(out / "results"), "md"))
    print(
        f"done in {time.perf_counter() - started:.0f} s; records in {out / 'results'}, "
        f"TensorBoard logs: tensorboard --logdir {out / 'models'}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``quickstart`` to the ``fsmb`` subcommands."""
    p = sub.add_parser(
        "quickstart", help="build midi/music21 (and lyrics/fortunes, audio/gm-notes), train and score the baselines"
    )
    p.add_argument("--out", default="quickstart-out", help="results, fitted models and logs (default: %(default)s)")
    p.add_argument("--episodes", type=count_type(1), default=100, help="test episodes to score (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    threads_arg(p)
    data_args(p, track=False)
    p.set_defaults(func=cmd_quickstart)
