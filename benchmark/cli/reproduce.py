"""``fsmb reproduce``: rerun published rows from their run records, and check them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.cli.options import data_args, device_arg, open_track
from benchmark.run.arguments import ArgumentError, method_list
from episodes.tracks import Track, track_spec


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Rerun published rows from their run records; with --check, compare each rerun."""
    from leaderboard.reproduce import check_run, checks_table, published_reruns, rerun

    results = [Path(r) for r in args.results]
    if args.record and not args.check:
        raise ArgumentError("--record writes what --check finds: add --check")
    if args.record and not (args.by or "").strip():
        raise ArgumentError("--record needs --by NAME (who ran the reproduction, e.g. your name or handle)")
    if args.track:
        track_spec(args.track)  # an unknown track fails before any work
    chosen = published_reruns(
        results,
        tracks=[args.track] if args.track else None,
        methods=method_list(args.methods) if args.methods else None,
        quick=args.quick,
    )
    for name in sorted({r.track for r, _ in chosen}):
        if track_spec(name).needs_data_dir and not (args.track == name and args.data_dir):
            raise ArgumentError(
                f"published runs on {name} need its data: rerun with --track {name} "
                "--data-dir DIR (and the source options the runs used)"
            )
    tracks: dict[str, Track] = {}
    print(
        f"fsmb reproduce: {len(chosen)} published runs to rerun into {args.out}"
        + (f" ({'first %d episodes, ' % chosen[0][0].episodes}baselines without training)" if args.quick else ""),
        file=sys.stderr,
    )
    started = now()
    checks = []
    for r, published in chosen:
        print(
            f"== {r.label} on {r.track}, K = {r.shots}: {r.episodes} episodes, budget {r.budget.name}, "
            f"seed {r.seed}" + (f", {r.samples} samples" if r.samples else ""),
            file=sys.stderr,
        )
        if r.track not in tracks:
            tracks[r.track] = open_track(argparse.Namespace(**{**vars(args), "track": r.track}))
        run_path = rerun(r, tracks[r.track], out=Path(args.out), models=Path(args.models))
        if args.check:
            checks.append(check_run(r, published, run_path))
    if not args.check:
        print(f"reruns: {args.out} (fsmb leaderboard --results {args.out})")
        return 0
    print(checks_table(checks))
    if args.record:
        for path in record_checks(args, chosen, checks, started):
            print(f"reproduction record: {path}")
    differs = [c for c in checks if c.verdict != "MATCH"]
    print(
        f"{len(checks) - len(differs)} of {len(checks)} runs MATCH"
        + (f"; DIFFERS: {', '.join(f'{c.label} on {c.track}' for c in differs)}" if differs else "")
    )
    return 1 if differs else 0


def now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_checks(args: argparse.Namespace, chosen: list, checks: list, started: str) -> list[Path]:
    """Write one reproduction record per published folder (`leaderboard.reproductions`)."""
    from benchmark.run.env import environment, git_sha
    from leaderboard.reproductions import Reproduction, reproduced_row, write_reproduction

    command = [
        "fsmb",
        "reproduce",
        "--results",
        *args.results,
        *(["--methods", args.methods] if args.methods else []),
        *(["--track", args.track] if args.track else []),
        *(["--quick"] if args.quick else []),
        "--check",
    ]
    finished, env, sha = now(), environment(), git_sha()
    paths = []
    for source in dict.fromkeys(r.source for r, _ in chosen):
        rows = [
            reproduced_row(
                r.published,
                label=c.label,
                episodes=c.episodes,
                verdict=c.verdict,
                how=c.how,
                delta=c.delta,
                delta_ci95=c.delta_ci95,
            )
            for (r, _), c in zip(chosen, checks)
            if r.source == source
        ]
        record = Reproduction(
            by=args.by.strip(), started=started, finished=finished, git_sha=sha, env=env, command=command, checks=rows
        )
        paths.append(write_reproduction(Path(source), record))
    return paths


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``reproduce`` to the ``fsmb`` subcommands."""
    p = sub.add_parser(
        "reproduce",
        help="rerun published rows from their run records (budget, seed, settings); "
        "--check compares each rerun with its published row",
    )
    p.add_argument(
        "--results", nargs="+", default=["results/main"], help="published result folders (default: %(default)s)"
    )
    p.add_argument("--methods", help="only these method labels (comma-separated, as in the leaderboard)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="the documented subset: first 50 test episodes of the baselines that need no training",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="print published vs reproduced NLL, the paired difference and MATCH/DIFFERS; exit 1 on DIFFERS",
    )
    p.add_argument(
        "--record",
        action="store_true",
        help="with --check: write a reproduction record (who, machine, versions, verdict per row) into "
        "each published folder's reproductions/; the site marks rows MATCHed on another machine",
    )
    p.add_argument("--by", help="with --record: who ran it (a name or handle, recorded)")
    p.add_argument("--out", default="runs/reproduce", help="where the reruns are written (default: %(default)s)")
    p.add_argument("--models", default="runs/models", help="where fitted methods are kept (default: %(default)s)")
    device_arg(p, "cpu")  # the published rows were computed on the CPU: bit-exact there
    data_args(p, track_required=False)
    p.set_defaults(func=cmd_reproduce)
