"""``fsmb methods`` and ``fsmb check``: the registered methods, and the contract's mock run."""

from __future__ import annotations

import argparse
import json
import time

from benchmark.cli.options import budget_of, threads_arg
from benchmark.contract.methods import GROUPS, METHODS, modalities_of, names_in, registration
from benchmark.contract.protocol import BUDGETS, MODALITIES
from benchmark.run.arguments import count_type


def cmd_methods(args: argparse.Namespace) -> int:
    """The registered methods (of ``--group``, modelling ``--modality``)."""
    names = names_in(args.group, args.modality)
    if args.names:  # for shell loops: run.sh derives its method lists from this
        print(" ".join(names))
        return 0
    rows = [
        {
            "name": n,
            "target": METHODS.target(n),
            "group": registration(n).group,
            "modalities": list(modalities_of(n)),
            "reference_for": list(registration(n).reference_for),
        }
        for n in names
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['name']:18s} {r['group']:9s} {'/'.join(r['modalities']):12s} {r['target']}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """The mock run of `benchmark.run.check`: every rule of the contract, on tiny tracks."""
    from benchmark.run.check import check_method

    started = time.perf_counter()
    results = check_method(args.method, modalities=args.modality and [args.modality], budget=budget_of(args))
    failed = [r for r in results if not r.ok]
    print(
        f"{args.method}: {'FAILED ' + failed[0].rule if failed else 'passed'} "
        f"({sum(r.ok for r in results)} checks passed, {time.perf_counter() - started:.0f} s)"
    )
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``methods``, ``check`` to the ``fsmb`` subcommands."""
    p = sub.add_parser("methods", help="list the registered methods")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--group", choices=GROUPS, help="only baselines, adaptive methods or compressed variants (default: all)"
    )
    p.add_argument("--modality", choices=MODALITIES, help="only methods that model this modality (default: all)")
    p.add_argument("--names", action="store_true", help="print the names only, space-separated")
    p.set_defaults(func=cmd_methods)
    p = sub.add_parser(
        "check",
        help="mock run: check a method against every rule of the contract on tiny generated tracks (about a minute)",
    )
    p.add_argument(
        "method",
        help="a registered method or your package.module:Class (importable from the current folder or PYTHONPATH)",
    )
    p.add_argument("--modality", choices=MODALITIES, help="check on this modality only (default: all it declares)")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="tiny", help="training budget (default: %(default)s)")
    p.add_argument(
        "--steps",
        type=count_type(1),
        default=None,
        help="override the budget's optimiser steps (default: the budget's)",
    )
    threads_arg(p)
    p.set_defaults(func=cmd_check)
