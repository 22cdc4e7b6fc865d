"""``fsmb latency`` and ``fsmb export``: a fitted method's generation step, timed or exported to ONNX."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.cli.options import budget_of, data_args, method_arg, open_track, run_args
from benchmark.contract.methods import make_method
from benchmark.contract.overrides import trained_label
from benchmark.contract.protocol import ContractError, Deployable, Method
from benchmark.run.arguments import ArgumentError, count_list, count_type
from benchmark.run.records import safe_name
from episodes.tracks import Track

if TYPE_CHECKING:
    from benchmark.cost.counting import InferenceStep


def fitted_step(args: argparse.Namespace) -> tuple[Method, Track, InferenceStep, dict]:
    """(fitted method, track, its generation step, training metadata) for ``--method`` on
    ``--track``; a method without ``inference_step`` is refused before the corpus is built."""
    from benchmark.run.runner import fit_or_load

    method = make_method(args.method)
    if not isinstance(method, Deployable):
        raise ContractError(
            f"{method.name} defines no inference_step(): FSMB cannot tell which network a device "
            "would run (see benchmark/contract/protocol.py)"
        )
    track = open_track(args)
    method, meta = fit_or_load(method, track, budget=budget_of(args), models=Path(args.models), seed=args.seed)
    return method, track, method.inference_step(), meta


def cmd_latency(args: argparse.Namespace) -> int:
    """Host latency of the fitted method's generation step, p50/p90 at each thread count."""
    from datetime import datetime, timezone

    from benchmark.contract.registry import target_of
    from benchmark.cost.counting import step_cost
    from benchmark.cost.latency import measure_latency
    from benchmark.run.env import environment
    from episodes.atomic import write_json
    from episodes.audio import NOTE_SECONDS

    if args.action == "ingest":
        from benchmark.run.device_latency import ingest

        if not (args.file and args.export and args.results):
            raise ArgumentError("fsmb latency ingest DEVICE.json --export NAME.export.json --results DIR")
        print(f"measured latency: {ingest(Path(args.file), Path(args.export), Path(args.results))}")
        return 0
    if not args.method or not args.track:
        raise ArgumentError("fsmb latency needs --method and --track (or: fsmb latency ingest DEVICE.json ...)")
    method, track, step, _ = fitted_step(args)
    unit_seconds = NOTE_SECONDS if step.unit == "note" else None
    report = {
        "method": method.name,
        "target": target_of(type(method)),
        "track": track.spec.name,
        "budget": budget_of(args).name,
        "cost": step_cost(step).to_dict(),
        "latency": [
            measure_latency(step, threads=n, runs=args.runs, unit_seconds=unit_seconds).to_dict()
            for n in args.thread_counts
        ],
        "host": environment(),
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    print(json.dumps(report, indent=1))
    if args.report:
        write_json(args.report, report)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The fitted method's generation step as one ONNX file, checked against PyTorch."""
    import hashlib

    from benchmark.contract.registry import target_of
    from benchmark.cost.onnx_export import export_step, max_difference
    from episodes.atomic import write_json

    method, track, step, meta = fitted_step(args)
    label = trained_label(method)
    try:
        path = export_step(step, Path(args.out) / f"{safe_name(label)}__{track.spec.slug}.onnx")
    except ValueError as exc:
        raise ContractError(f"{label}: {exc}") from None
    report = {
        "format": 1,
        "kind": "export",
        "method": label,
        "target": target_of(type(method)),
        "track": track.spec.name,
        "state_sha256": meta["state_sha256"],
        "unit": step.unit,
        "onnx": path.name,
        "onnx_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "bytes": path.stat().st_size,
        "max_abs_difference_vs_pytorch": max_difference(step, path),
        "steps_compared": 32,
    }
    write_json(path.with_suffix(".export.json"), report)
    print(json.dumps(report, indent=1))
    print(
        f"time it on a device: python3 benchmark/cost/device_runner.py {path} --out device.json; then "
        f"fsmb latency ingest device.json --export {path.with_suffix('.export.json')} --results DIR",
        file=sys.stderr,
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``latency``, ``export`` to the ``fsmb`` subcommands."""
    p = sub.add_parser(
        "latency",
        help="measure the host latency of a fitted method's generation step, or ingest a device's measurement",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["measure", "ingest"],
        default="measure",
        help="measure here (default), or ingest FILE written by device_runner.py",
    )
    p.add_argument("file", nargs="?", help="ingest: the device runner's JSON")
    p.add_argument("--export", help="ingest: the NAME.export.json fsmb export wrote beside the .onnx it timed")
    p.add_argument("--results", help="ingest: the results folder the leaderboard reads")
    p.add_argument("--method", help="measure: a registered method (fsmb methods) or your package.module:Class")
    p.add_argument(
        "--thread-counts",
        type=count_list("--thread-counts", 1, "1,2,4"),
        default=[1, 2, 4],
        help="torch thread counts to measure at (default: 1,2,4)",
    )
    p.add_argument(
        "--runs",
        type=count_type(10),
        default=200,
        help="timed runs per thread count, after 20 warm-up runs, at most 30 s each (default: %(default)s)",
    )
    p.add_argument("--report", help="also write the report (JSON) to this file")
    data_args(p, track_required=False)
    run_args(p)
    p.set_defaults(func=cmd_latency)
    p = sub.add_parser(
        "export", help="write a fitted method's generation step as one ONNX file, checked against PyTorch"
    )
    method_arg(p)
    p.add_argument("--out", default="exported", help="folder for the .onnx file (default: %(default)s)")
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_export)
