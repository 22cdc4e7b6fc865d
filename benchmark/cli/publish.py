"""``fsmb leaderboard`` and ``fsmb submit``: tables, plots and the site from result records; submission bundles."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.run.arguments import ArgumentError


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from leaderboard.aggregate import leaderboard_rows
    from leaderboard.render import render

    if (args.format == "html") != (args.out is not None):
        raise ArgumentError(
            "--format html writes a site and needs --out SITE/; --out is only for --format html "
            "(md, json and csv print to stdout)"
        )
    results = [Path(r) for r in args.results]
    rows = leaderboard_rows(results, reference=args.reference)
    if args.format == "html":
        from leaderboard.site import write_site

        for line in write_site(rows, results, Path(args.out)):
            print(f"fsmb: warning: skipped sample previews: {line}", file=sys.stderr)
        print(f"site: {Path(args.out) / 'index.html'}")
    else:
        print(render(rows, args.format))
    if args.plot:
        from leaderboard.plot import plot_shots

        plot_shots(rows, Path(args.plot))
        print(f"shots curve: {args.plot}", file=sys.stderr)
    if args.pareto:
        from leaderboard.pareto import plot_pareto

        plot_pareto(rows, Path(args.pareto))
        print(f"NLL against estimated Pi 4 latency: {args.pareto}", file=sys.stderr)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Check a finished run against the published track and write its submission bundle."""
    from leaderboard.submission import write_bundle

    folder = write_bundle(
        Path(args.results), args.method, args.track, Path(args.out), trained_on=args.trained_on, shots=args.shots
    )
    print(
        f"bundle: {folder}\nnext: fsmb leaderboard --results results/main {folder}; then open a pull request "
        f"adding {folder.name}/ under results/submissions/"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Two rows of one track, paired episode by episode, with their p-values."""
    from leaderboard.compare import compare

    if args.permutations < 1:
        raise ArgumentError(f"--permutations {args.permutations}: give 1 or more (default 10000)")
    print(
        compare(
            [Path(r) for r in args.results],
            args.a,
            args.b,
            args.track,
            args.shots,
            permutations=args.permutations,
            seed=args.seed,
        ).text()
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``leaderboard``, ``compare``, ``submit`` to the ``fsmb`` subcommands."""
    p = sub.add_parser("leaderboard", help="aggregate result records and submission bundles")
    p.add_argument("--results", required=True, nargs="+", help="result folders and/or submission bundles")
    p.add_argument(
        "--format",
        choices=["md", "json", "csv", "html"],
        default="md",
        help="md, json and csv print to stdout; html writes a static site to --out (default: %(default)s)",
    )
    p.add_argument("--out", help="with --format html: the site's folder (replaced if fsmb wrote it before)")
    p.add_argument(
        "--reference",
        default=None,
        help="method for paired differences (default: lstm on MIDI and lyrics, gaussian-support on audio)",
    )
    p.add_argument("--plot", help="also write the NLL-against-K plot to this PNG file")
    p.add_argument(
        "--pareto",
        help="also write NLL against estimated Raspberry Pi 4 latency per step, with the "
        "Pareto frontier, to this PNG file (rows with a counted cost)",
    )
    p.set_defaults(func=cmd_leaderboard)
    p = sub.add_parser("compare", help="two rows of one track paired episode by episode: Δ, its 95%% CI, p-values")
    p.add_argument("a", help="a method as its rows name it, e.g. 'lstm-trim[removed=0.5]'")
    p.add_argument("b", help="the method it is compared with")
    p.add_argument("--track", required=True, help="the track both were scored on")
    p.add_argument("--shots", type=int, default=None, help="K (default: the one K both were scored at)")
    p.add_argument(
        "--results",
        nargs="+",
        default=["results/main"],
        help="result folders and/or submission bundles (default: %(default)s)",
    )
    p.add_argument(
        "--permutations",
        type=int,
        default=10_000,
        help="random sign flips of the permutation test (exact when 2^episodes is fewer; default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sign flips (default: %(default)s)")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("submit", help="check a finished run on a published track and write its submission bundle")
    p.add_argument("--results", required=True, help="the --out folder of your fsmb eval run")
    p.add_argument("--method", required=True, help="the method's name (its class attribute 'name')")
    p.add_argument("--track", required=True, help="a published track: midi/music21, lyrics/fortunes, audio/gm-notes")
    p.add_argument("--shots", type=int, default=None, help="K of the run (default: the track's)")
    p.add_argument(
        "--trained-on",
        action="append",
        default=[],
        metavar="TEXT",
        required=True,
        help="(required) data the method saw besides the track's meta-train and meta-val splits (repeatable); "
        "'none' if nothing else",
    )
    p.add_argument("--out", default="submissions", help="where the bundle folder is written (default: %(default)s)")
    p.set_defaults(func=cmd_submit)
