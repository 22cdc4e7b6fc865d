"""``fsmb ablation`` and ``fsmb sparsity``: studies over K and over compressed levels (table + plot)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from benchmark.cli.options import budget_of, data_args, open_track, run_args
from benchmark.contract.methods import MethodSpec
from benchmark.contract.protocol import Declared
from benchmark.run.arguments import ArgumentError, count_list, count_type, method_list, parse_shots


def cmd_ablation(args: argparse.Namespace) -> int:
    """Score methods at several K with samples, then write the ablation table and plot."""
    from benchmark.run.runner import evaluate
    from leaderboard.ablation import ablation_markdown, plot_ablation
    from leaderboard.aggregate import leaderboard_rows

    specs = [MethodSpec.parse(m) for m in method_list(args.methods)]  # checked before the corpus is built
    track = open_track(args)
    out = Path(args.out)
    for spec in specs:
        for shots in args.shots:
            evaluate(
                spec,
                track,
                shots=shots,
                n_episodes=args.episodes,
                out=out,
                budget=budget_of(args),
                models=Path(args.models),
                seed=args.seed,
                samples=args.samples,
            )
    rows = [
        r
        for r in leaderboard_rows(out, reference=args.reference)
        if r.track == track.spec.name and r.method in {s.label for s in specs} and r.shots in args.shots
    ]
    publish_study(out, "ablation", ablation_markdown(rows), lambda path: plot_ablation(rows, path))
    return 0


def publish_study(out: Path, stem: str, table: str, plot: Callable[[Path], None]) -> None:
    """Write a study's Markdown ``table`` to ``out/stem.md`` and its ``plot`` to
    ``out/stem.png``, and print the table."""
    from episodes.atomic import atomic_path

    with atomic_path(out / f"{stem}.md") as tmp:
        tmp.write_text(table)
    plot(out / f"{stem}.png")
    print(table)
    print(f"table: {out / f'{stem}.md'}, plot: {out / f'{stem}.png'}", file=sys.stderr)


def cmd_sparsity(args: argparse.Namespace) -> int:
    """Train and score compressed variants at several levels and their dense base, then
    write the accuracy-vs-size table and plot."""
    from benchmark.run.runner import evaluate
    from leaderboard.aggregate import leaderboard_rows
    from leaderboard.sparsity import (
        LEVEL,
        curve_rows,
        plot_sparsity,
        sparsity_markdown,
        with_level,
    )

    families = method_list(args.methods)
    bases = set()
    for family in families:  # the contract and the settings are checked before the corpus is built
        declared = Declared.of(MethodSpec.parse(family).method)
        if LEVEL not in declared.train_settings or declared.base_method is None:
            raise ArgumentError(
                f"--methods {family}: not a compressed variant (it needs a training setting "
                f"{LEVEL!r} and a base_method); see fsmb methods --group compressed"
            )
        bases.add(declared.base_method)
    if len(bases) != 1:
        raise ArgumentError(
            f"--methods compress different base methods ({', '.join(sorted(bases))}): sweep one base at a time"
        )
    dense = bases.pop()
    specs = [MethodSpec.parse(dense)] + [
        MethodSpec.parse(with_level(f, level / 100)) for f in families for level in args.levels
    ]
    track = open_track(args)
    out = Path(args.out)
    for spec in specs:
        evaluate(
            spec,
            track,
            shots=args.shots,
            n_episodes=args.episodes,
            out=out,
            budget=budget_of(args),
            models=Path(args.models),
            seed=args.seed,
        )
    rows = [r for r in leaderboard_rows(out, reference=dense) if r.track == track.spec.name and r.shots == args.shots]
    curves = curve_rows(rows, dense, families)
    publish_study(out, "sparsity", sparsity_markdown(curves), lambda path: plot_sparsity(curves, path))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ablation``, ``sparsity`` to the ``fsmb`` subcommands."""
    p = sub.add_parser("ablation", help="NLL, coverage and latent geometry against K (table + plot)")
    p.add_argument("--methods", required=True, help="comma-separated, e.g. gaussian-support,vae,rhvae")
    p.add_argument("--shots", type=parse_shots, default=[1, 2, 4, 8, 16], help="default: 1,2,4,8,16")
    p.add_argument(
        "--episodes", type=count_type(1), default=100, help="first N test episodes per K (default: %(default)s)"
    )
    p.add_argument("--samples", type=count_type(0), default=16, help="samples per episode (default: %(default)s)")
    p.add_argument("--out", required=True, help="results directory; ablation.md and ablation.png go there too")
    p.add_argument("--reference", default=None, help="method for paired differences (default: the modality's)")
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_ablation)
    p = sub.add_parser(
        "sparsity",
        help="accuracy against size: compressed variants at several levels, paired "
        "against their dense base (table + plot)",
    )
    p.add_argument(
        "--methods",
        required=True,
        help="comma-separated variant families, e.g. 'lstm-trim,lstm-imp,lstm-imp[reinit=true]'",
    )
    p.add_argument(
        "--levels",
        type=count_list("--levels", 1, "50,80,90,95,98"),
        default=[50, 80, 90, 95, 98],
        help="%% of the dense parameters removed (default: %(default)s; the dense base is scored too)",
    )
    p.add_argument("--shots", type=count_type(0), default=5, help="K (default: %(default)s)")
    p.add_argument("--episodes", type=count_type(1), default=None, help="first N test episodes (default: all)")
    p.add_argument("--out", required=True, help="results directory; sparsity.md and sparsity.png go there too")
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_sparsity)
