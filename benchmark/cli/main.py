"""The ``fsmb`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from benchmark.calibration.jsb import add_parser as add_calibrate_jsb
from benchmark.contract.device import DEVICE_CHOICES, DeviceError
from benchmark.contract.methods import (
    GROUPS,
    METHODS,
    make_method,
    names_in,
    registration,
)
from benchmark.contract.overrides import (
    SettingError,
    apply_overrides,
    parse_setting,
    settings_dict,
    trained_label,
)
from benchmark.contract.protocol import (
    BUDGETS,
    MODALITIES,
    Budget,
    ContractError,
    Method,
)
from benchmark.contract.registry import RegistryError
from benchmark.cost.counting import InferenceStep
from benchmark.run.arguments import (
    ArgumentError,
    count_list,
    count_type,
    float_type,
    method_list,
    parse_shots,
    writable_dir,
)
from benchmark.run.launch import launched
from benchmark.run.records import RecordError, safe_name
from benchmark.runtime.distributed import main_first
from episodes.dependencies import DependencyError, doctor
from episodes.dependencies import check as check_dependencies
from episodes.manifest import ManifestError
from episodes.sources.base import DataError
from episodes.tracks import TRACKS, Track, default_cache, track_spec

USER_ERRORS = (DataError, ManifestError, RegistryError, RecordError, SettingError, ArgumentError, DependencyError,
               ContractError, DeviceError)


def open_track(args: argparse.Namespace, *, build: bool = True) -> Track:
    """The track ``args`` name, with its source options and pinned split; warns (stderr)
    about split-file artists the data lacks."""
    spec = track_spec(args.track)
    artist_from = getattr(args, "artist_from", None)
    options: dict | None = None
    if spec.source == "table":
        options = {name: getattr(args, name, None) for name in ("artist_column", "text_column", "title_column")}
        options["split"] = getattr(args, "hf_split", None)
    elif spec.source == "audio-folder":
        options = {"artist_column": getattr(args, "artist_column", None)}
    elif spec.source in ("midi-dir", "text-dir"):
        options = {"artist_from": artist_from}
    if artist_from is not None and spec.source not in ("midi-dir", "text-dir"):
        raise DataError(f"--artist-from reads artists from file names of midi/dir and lyrics/dir, not {spec.name}")
    track = main_first(lambda: Track.open(  # under torchrun rank 0 builds, the others then open the built cache
        spec, cache_dir=Path(args.cache_dir), data_dir=getattr(args, "data_dir", None), source_options=options,
        workers=args.workers, build=build, split_file=getattr(args, "split_file", None)))
    if track.unlisted_warning():
        print(f"fsmb: warning: --split-file {args.split_file}: {track.unlisted_warning()}", file=sys.stderr)
    return track


def budget_of(args: argparse.Namespace) -> Budget:
    """``--budget``, with ``--steps`` and ``--flops`` if given."""
    return BUDGETS[args.budget].with_steps(getattr(args, "steps", None)).with_flops(getattr(args, "flops", None))


# ----- commands -----------------------------------------------------------------
def cmd_tracks(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([s.to_dict() for s in TRACKS.values()], indent=1))
        return 0
    for spec in TRACKS.values():
        extra = " [needs --data-dir]" if spec.needs_data_dir else ""
        extra += " [stand-in data]" if spec.stand_in else ""
        print(f"{spec.name:16s} v{spec.version}  K={spec.shots} Q={spec.query_size}  {spec.description}{extra}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    """The registered methods (of ``--group``, modelling ``--modality``)."""
    names = names_in(args.group, args.modality)
    if args.names:  # for shell loops: run.sh derives its method lists from this
        print(" ".join(names))
        return 0
    rows = [{"name": n, "target": METHODS.target(n), "group": registration(n).group,
             "modalities": list(getattr(METHODS.get(n), "modalities", ())),
             "reference_for": list(registration(n).reference_for)} for n in names]
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
    print(f"{args.method}: {'FAILED ' + failed[0].rule if failed else 'passed'} "
          f"({sum(r.ok for r in results)} checks passed, {time.perf_counter() - started:.0f} s)")
    return 1 if failed else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Load and exercise every native library FSMB builds corpora with."""
    problems = 0
    for name, ver, problem in doctor():
        print(f"{'FAIL' if problem else 'ok':4s}  {name:12s} {ver:14s} {problem or ''}".rstrip())
        problems += problem is not None
    print("all libraries work" if not problems else f"{problems} libraries do not work: see the fixes above")
    return 1 if problems else 0


def cmd_data(args: argparse.Namespace) -> int:
    from episodes.verify import verify_track

    track = open_track(args, build=args.action == "build")
    if args.action == "build":
        report = track.store.report()
        print(json.dumps({"track": track.spec.name, "store": str(track.store.root),
                          "fingerprint": track.store.fingerprint, "items": len(track.store),
                          "skipped": report["n_skipped"], "build_seconds": report["build_seconds"],
                          "source_listing": report.get("source_listing"),
                          "splits": track.summary()}, indent=1))
        print("\n".join(track.split_report()))
        if track.few_test_warning():
            print(f"fsmb: warning: {track.few_test_warning()}", file=sys.stderr)
        for split in ("val", "test"):
            m = track.manifest(split)
            print(f"{split} manifest K={m.shots} Q={m.query_size}: {len(m.episodes)} episodes, sha256 {m.sha256}")
        return 0
    problems = verify_track(track, log=print)
    if problems:
        for p in problems:
            print(f"FAIL: {p}", file=sys.stderr)
        return 1
    print(f"{track.spec.name}: all checks passed")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.contract.overrides import trained_label
    from benchmark.run.runner import fit_or_load, has_checkpoint, model_dir
    from benchmark.training.convergence import summarise

    method = make_method(args.method)  # the contract is checked before the corpus is built
    budget = budget_of(args)
    track = open_track(args)
    where = model_dir(Path(args.models), trained_label(method), track, budget, args.seed)
    if args.resume and (not has_checkpoint(where) or (where / "meta.json").exists()):
        raise ArgumentError(f"--resume: no interrupted training of {trained_label(method)} at {where} "
                            f"(finished: {(where / 'meta.json').exists()}); leave out --resume to train")
    _, meta = fit_or_load(args.method, track, budget=budget, models=Path(args.models),
                          seed=args.seed, retrain=args.retrain)
    training = summarise(meta.get("train_log"), meta["budget"])
    print(json.dumps({**{k: meta[k] for k in ("method", "hparams", "budget", "train_seconds")},
                      "training": training.to_dict()}, indent=1))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from benchmark.run.runner import evaluate
    from leaderboard.aggregate import leaderboard_rows
    from leaderboard.render import render

    overrides = settings_dict(args.settings)
    apply_overrides(make_method(args.method), overrides)  # contract and settings, before the corpus
    track = open_track(args)
    for k in args.shots or [track.spec.shots]:
        path = evaluate(args.method, track, shots=k, n_episodes=args.episodes, out=Path(args.out),
                        budget=budget_of(args), models=Path(args.models), seed=args.seed,
                        samples=args.samples, overrides=overrides)
        print(f"records: {path}")
    print(render(leaderboard_rows(Path(args.out)), "md"))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from leaderboard.aggregate import leaderboard_rows
    from leaderboard.render import render

    if (args.format == "html") != (args.out is not None):
        raise ArgumentError("--format html writes a site and needs --out SITE/; --out is only for --format html "
                            "(md, json and csv print to stdout)")
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


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Rerun published rows from their run records; with --check, compare each rerun."""
    from leaderboard.reproduce import check_run, checks_table, published_reruns, rerun

    results = [Path(r) for r in args.results]
    if args.track:
        track_spec(args.track)  # an unknown track fails before any work
    chosen = published_reruns(results, tracks=[args.track] if args.track else None,
                              methods=method_list(args.methods) if args.methods else None, quick=args.quick)
    for name in sorted({r.track for r, _ in chosen}):
        if track_spec(name).needs_data_dir and not (args.track == name and args.data_dir):
            raise ArgumentError(f"published runs on {name} need its data: rerun with --track {name} "
                                "--data-dir DIR (and the source options the runs used)")
    tracks: dict[str, Track] = {}
    print(f"fsmb reproduce: {len(chosen)} published runs to rerun into {args.out}"
          + (f" ({'first %d episodes, ' % chosen[0][0].episodes}baselines without training)" if args.quick else ""),
          file=sys.stderr)
    checks = []
    for r, published in chosen:
        print(f"== {r.label} on {r.track}, K = {r.shots}: {r.episodes} episodes, budget {r.budget.name}, "
              f"seed {r.seed}" + (f", {r.samples} samples" if r.samples else ""), file=sys.stderr)
        if r.track not in tracks:
            tracks[r.track] = open_track(argparse.Namespace(**{**vars(args), "track": r.track}))
        run_path = rerun(r, tracks[r.track], out=Path(args.out), models=Path(args.models))
        if args.check:
            checks.append(check_run(r, published, run_path))
    if not args.check:
        print(f"reruns: {args.out} (fsmb leaderboard --results {args.out})")
        return 0
    print(checks_table(checks))
    differs = [c for c in checks if c.verdict != "MATCH"]
    print(f"{len(checks) - len(differs)} of {len(checks)} runs MATCH" + (
        f"; DIFFERS: {', '.join(f'{c.label} on {c.track}' for c in differs)}" if differs else ""))
    return 1 if differs else 0


def fitted_step(args: argparse.Namespace) -> tuple[Method, Track, InferenceStep, dict]:
    """(fitted method, track, its generation step, training metadata) for ``--method`` on
    ``--track``; a method without ``inference_step`` is refused before the corpus is built."""
    from benchmark.run.runner import fit_or_load

    method = make_method(args.method)
    if not callable(getattr(method, "inference_step", None)):
        raise ContractError(f"{method.name} defines no inference_step(): FSMB cannot tell which network a device "
                            "would run (see benchmark/contract/protocol.py)")
    track = open_track(args)
    method, meta = fit_or_load(args.method, track, budget=budget_of(args), models=Path(args.models), seed=args.seed)
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
        "method": method.name, "target": target_of(type(method)), "track": track.spec.name,
        "budget": budget_of(args).name, "cost": step_cost(step).to_dict(),
        "latency": [measure_latency(step, threads=n, runs=args.runs, unit_seconds=unit_seconds).to_dict()
                    for n in args.thread_counts],
        "host": environment(), "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
    report = {"format": 1, "kind": "export", "method": label, "target": target_of(type(method)),
              "track": track.spec.name, "state_sha256": meta["state_sha256"], "unit": step.unit, "onnx": path.name,
              "onnx_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size,
              "max_abs_difference_vs_pytorch": max_difference(step, path), "steps_compared": 32}
    write_json(path.with_suffix(".export.json"), report)
    print(json.dumps(report, indent=1))
    print(f"time it on a device: python3 benchmark/cost/device_runner.py {path} --out device.json; then "
          f"fsmb latency ingest device.json --export {path.with_suffix('.export.json')} --results DIR",
          file=sys.stderr)
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    """Check a finished run against the published track and write its submission bundle."""
    from leaderboard.submission import write_bundle

    folder = write_bundle(Path(args.results), args.method, args.track, Path(args.out), trained_on=args.trained_on,
                          shots=args.shots)
    print(f"bundle: {folder}\nnext: fsmb leaderboard --results results/main {folder}; then open a pull request "
          f"adding {folder.name}/ under results/submissions/")
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    """Score methods at several K with samples, then write the ablation table and plot."""
    from benchmark.run.runner import evaluate
    from leaderboard.ablation import ablation_markdown, plot_ablation
    from leaderboard.aggregate import leaderboard_rows

    methods = method_list(args.methods)
    for method in methods:  # the contract is checked before the corpus is built
        make_method(method)
    track = open_track(args)
    out = Path(args.out)
    for method in methods:
        for shots in args.shots:
            evaluate(method, track, shots=shots, n_episodes=args.episodes, out=out, budget=budget_of(args),
                     models=Path(args.models), seed=args.seed, samples=args.samples)
    rows = [r for r in leaderboard_rows(out, reference=args.reference)
            if r.track == track.spec.name and r.method in methods and r.shots in args.shots]
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
    for spec in families:  # the contract and the settings are checked before the corpus is built
        method = make_method(spec)
        if LEVEL not in getattr(method, "train_settings", {}) or not getattr(method, "base_method", None):
            raise ArgumentError(f"--methods {spec}: not a compressed variant (it needs a training setting "
                                f"{LEVEL!r} and a base_method); see fsmb methods --group compressed")
        bases.add(method.base_method)
        for level in args.levels:
            make_method(with_level(spec, level / 100))
    if len(bases) != 1:
        raise ArgumentError(f"--methods compress different base methods ({', '.join(sorted(bases))}): sweep one base at a time")
    dense = bases.pop()
    track = open_track(args)
    out = Path(args.out)
    for spec in [dense] + [with_level(f, level / 100) for f in families for level in args.levels]:
        evaluate(spec, track, shots=args.shots, n_episodes=args.episodes, out=out, budget=budget_of(args),
                 models=Path(args.models), seed=args.seed)
    rows = [r for r in leaderboard_rows(out, reference=dense) if r.track == track.spec.name and r.shots == args.shots]
    curves = curve_rows(rows, dense, families)
    publish_study(out, "sparsity", sparsity_markdown(curves), lambda path: plot_sparsity(curves, path))
    return 0


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
        print(f"    training and scoring {len(baselines)} baselines (budget 'quick') on the first "
              f"{args.episodes} of the {track.spec.n_test} fixed test episodes, K={track.spec.shots}")
        for method in baselines:
            if estimate := run_estimate(method, name, BUDGETS["quick"], args.episodes):
                print(f"    {estimate}")
            evaluate(method, track, shots=track.spec.shots, n_episodes=args.episodes, out=out / "results",
                     budget=BUDGETS["quick"], models=out / "models", seed=args.seed)
    print(f"[{len(names) + 1}/{len(names) + 1}] leaderboard ({args.episodes} test episodes per track; quick "
          "budget -- the published full-manifest tables are in results/main/)\n")
    print(render(leaderboard_rows(out / "results"), "md"))
    print(f"done in {time.perf_counter() - started:.0f} s; records in {out / 'results'}, "
          f"TensorBoard logs: tensorboard --logdir {out / 'models'}")
    return 0


# ----- parser -------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fsmb", description="FSMB: few-shot music benchmark")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_args(p: argparse.ArgumentParser, track: bool = True, track_required: bool = True) -> None:
        if track:
            p.add_argument("--track", required=track_required, help="track name; see `fsmb tracks`")
            p.add_argument("--data-dir", "--source", dest="data_dir",
                           help="your data: a dataset root, a table file, or hf:<owner>/<name> (lyrics/hf)")
            p.add_argument("--artist-column", help="lyrics tables: artist column (default: artist); audio/folder: "
                           "artist column of metadata.csv (default: artist, else instrument)")
            p.add_argument("--text-column", help="lyrics tables: text column (default: lyrics, else text)")
            p.add_argument("--title-column", help="lyrics tables: title column (default: title, else song)")
            p.add_argument("--hf-split", help="lyrics/hf: dataset split (default: train)")
            p.add_argument("--artist-from", metavar="PATTERN",
                           help='midi/dir, lyrics/dir: a flat tree whose file names carry the artist, e.g. '
                                '"{artist} - {title}" (files found recursively; names that do not match are counted)')
            p.add_argument("--split-file", metavar="FILE",
                           help="pin the artist split: JSON {\"train\": [...], \"val\": [...], \"test\": [...]} or "
                                "CSV/TSV with header artist,split (every artist, names exactly as in the data)")
        p.add_argument("--cache-dir", default=str(default_cache()), help="corpus cache (default: %(default)s)")
        p.add_argument("--workers", type=count_type(1), default=None, help="parser processes (default: all cores)")

    def run_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--budget", choices=sorted(BUDGETS), default="quick",
                       help="training budget: " + "; ".join(f"{b.name}: {b.steps} steps" for b in BUDGETS.values())
                       + " (default: %(default)s)")
        p.add_argument("--steps", type=count_type(1), default=None,
                       help="override the budget's optimiser steps; recorded as the budget NAME[steps=N] "
                            "(default: the budget's)")
        p.add_argument("--flops", type=float_type(lambda x: x > 0, "> 0"), default=None,
                       help="cap each training loop at this many counted FLOPs (a compute-matched comparison); "
                            "recorded as the budget NAME[flops=F] (default: no cap)")
        p.add_argument("--models", default="runs/models", help="where fitted methods are kept (default: %(default)s)")
        p.add_argument("--seed", type=int, default=0, help="training and sampling seed (default: %(default)s)")
        threads_arg(p)

    def method_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--method", required=True, help="a registered method (fsmb methods) or your package.module:Class")

    def threads_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--threads", type=count_type(1), default=None,
                       help="torch threads for training and scoring (default: torch's, one per core); "
                            "recorded in the run record's env.torch_threads")
        device_arg(p, "auto")

    def device_arg(p: argparse.ArgumentParser, default: str) -> None:
        p.add_argument("--device", default=default,
                       help=f"where methods train and score: {DEVICE_CHOICES} (auto: CUDA when available, else "
                            "the CPU; under torchrun each process takes GPU LOCAL_RANK); recorded in the run "
                            "record's env.device (default: %(default)s)")

    p = sub.add_parser("tracks", help="list tracks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tracks)
    p = sub.add_parser("methods", help="list the registered methods")
    p.add_argument("--json", action="store_true")
    p.add_argument("--group", choices=GROUPS, help="only baselines, adaptive methods or compressed variants (default: all)")
    p.add_argument("--modality", choices=MODALITIES, help="only methods that model this modality (default: all)")
    p.add_argument("--names", action="store_true", help="print the names only, space-separated")
    p.set_defaults(func=cmd_methods)
    p = sub.add_parser("check", help="mock run: check a method against every rule of the contract on tiny "
                       "generated tracks (about a minute)")
    p.add_argument("method", help="a registered method or your package.module:Class (importable from the "
                   "current folder or PYTHONPATH)")
    p.add_argument("--modality", choices=MODALITIES, help="check on this modality only (default: all it declares)")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="tiny", help="training budget (default: %(default)s)")
    p.add_argument("--steps", type=count_type(1), default=None,
                   help="override the budget's optimiser steps (default: the budget's)")
    threads_arg(p)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("doctor", help="check that the native libraries (torchaudio, FluidSynth, ...) load and work")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("data", help="build or verify a track's corpus and manifests")
    p.add_argument("action", choices=["build", "verify"])
    data_args(p)
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("train", help="fit a method on a track's meta-train split")
    method_arg(p)
    p.add_argument("--retrain", action="store_true", help="train again even if a fitted model exists")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted training run from its last checkpoint, and fail if there is none "
                        "(without it an interrupted run is resumed too, and a missing one started)")
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="score a method on a track's fixed test manifest")
    method_arg(p)
    p.add_argument("--shots", type=parse_shots, default=None, help="K, or a list like 0,1,2,4,8 (default: the track's K)")
    p.add_argument("--episodes", type=count_type(1), default=None, help="first N episodes only (default: all)")
    p.add_argument("--out", required=True, help="results directory")
    p.add_argument("--samples", type=count_type(0), default=0,
                   help="also draw N samples per episode and record their quality (MIDI, lyrics and audio "
                        "tracks), keeping the first episode's as previews (.mid/.wav/text) beside the records "
                        "(default: %(default)s)")
    p.add_argument("--set", dest="settings", type=parse_setting, action="append", default=[], metavar="NAME=VALUE",
                   help="an evaluation-time setting of the fitted method (e.g. iwae_samples=16; repeatable); "
                        "recorded as the variant METHOD[NAME=VALUE]")
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("ablation", help="NLL, coverage and latent geometry against K (table + plot)")
    p.add_argument("--methods", required=True, help="comma-separated, e.g. gaussian-support,vae,rhvae")
    p.add_argument("--shots", type=parse_shots, default=[1, 2, 4, 8, 16], help="default: 1,2,4,8,16")
    p.add_argument("--episodes", type=count_type(1), default=100, help="first N test episodes per K (default: %(default)s)")
    p.add_argument("--samples", type=count_type(0), default=16, help="samples per episode (default: %(default)s)")
    p.add_argument("--out", required=True, help="results directory; ablation.md and ablation.png go there too")
    p.add_argument("--reference", default=None, help="method for paired differences (default: the modality's)")
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_ablation)
    p = sub.add_parser("sparsity", help="accuracy against size: compressed variants at several levels, paired "
                       "against their dense base (table + plot)")
    p.add_argument("--methods", required=True,
                   help="comma-separated variant families, e.g. 'lstm-trim,lstm-imp,lstm-imp[reinit=true]'")
    p.add_argument("--levels", type=count_list("--levels", 1, "50,80,90,95,98"), default=[50, 80, 90, 95, 98],
                   help="%% of the dense parameters removed (default: %(default)s; the dense base is scored too)")
    p.add_argument("--shots", type=count_type(0), default=5, help="K (default: %(default)s)")
    p.add_argument("--episodes", type=count_type(1), default=None, help="first N test episodes (default: all)")
    p.add_argument("--out", required=True, help="results directory; sparsity.md and sparsity.png go there too")
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_sparsity)
    p = sub.add_parser("latency", help="measure the host latency of a fitted method's generation step, or ingest "
                       "a device's measurement")
    p.add_argument("action", nargs="?", choices=["measure", "ingest"], default="measure",
                   help="measure here (default), or ingest FILE written by device_runner.py")
    p.add_argument("file", nargs="?", help="ingest: the device runner's JSON")
    p.add_argument("--export", help="ingest: the NAME.export.json fsmb export wrote beside the .onnx it timed")
    p.add_argument("--results", help="ingest: the results folder the leaderboard reads")
    p.add_argument("--method", help="measure: a registered method (fsmb methods) or your package.module:Class")
    p.add_argument("--thread-counts", type=count_list("--thread-counts", 1, "1,2,4"), default=[1, 2, 4],
                   help="torch thread counts to measure at (default: 1,2,4)")
    p.add_argument("--runs", type=count_type(10), default=200, help="timed runs per thread count, after 20 "
                   "warm-up runs, at most 30 s each (default: %(default)s)")
    p.add_argument("--report", help="also write the report (JSON) to this file")
    data_args(p, track_required=False)
    run_args(p)
    p.set_defaults(func=cmd_latency)
    p = sub.add_parser("export", help="write a fitted method's generation step as one ONNX file, checked "
                       "against PyTorch")
    method_arg(p)
    p.add_argument("--out", default="exported", help="folder for the .onnx file (default: %(default)s)")
    data_args(p)
    run_args(p)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("submit", help="check a finished run on a published track and write its submission bundle")
    p.add_argument("--results", required=True, help="the --out folder of your fsmb eval run")
    p.add_argument("--method", required=True, help="the method's name (its class attribute 'name')")
    p.add_argument("--track", required=True, help="a published track: midi/music21, lyrics/fortunes, audio/gm-notes")
    p.add_argument("--shots", type=int, default=None, help="K of the run (default: the track's)")
    p.add_argument("--trained-on", action="append", default=[], metavar="TEXT", required=True,
                   help="(required) data the method saw besides the track's meta-train and meta-val splits (repeatable); "
                        "'none' if nothing else")
    p.add_argument("--out", default="submissions", help="where the bundle folder is written (default: %(default)s)")
    p.set_defaults(func=cmd_submit)
    p = sub.add_parser("leaderboard", help="aggregate result records and submission bundles")
    p.add_argument("--results", required=True, nargs="+", help="result folders and/or submission bundles")
    p.add_argument("--format", choices=["md", "json", "csv", "html"], default="md",
                   help="md, json and csv print to stdout; html writes a static site to --out (default: %(default)s)")
    p.add_argument("--out", help="with --format html: the site's folder (replaced if fsmb wrote it before)")
    p.add_argument("--reference", default=None,
                   help="method for paired differences (default: lstm on MIDI and lyrics, gaussian-support on audio)")
    p.add_argument("--plot", help="also write the NLL-against-K plot to this PNG file")
    p.add_argument("--pareto", help="also write NLL against estimated Raspberry Pi 4 latency per step, with the "
                                    "Pareto frontier, to this PNG file (rows with a counted cost)")
    p.set_defaults(func=cmd_leaderboard)
    p = sub.add_parser("reproduce", help="rerun published rows from their run records (budget, seed, settings); "
                                         "--check compares each rerun with its published row")
    p.add_argument("--results", nargs="+", default=["results/main"],
                   help="published result folders (default: %(default)s)")
    p.add_argument("--methods", help="only these method labels (comma-separated, as in the leaderboard)")
    p.add_argument("--quick", action="store_true",
                   help="the documented subset: first 50 test episodes of the baselines that need no training")
    p.add_argument("--check", action="store_true",
                   help="print published vs reproduced NLL, the paired difference and MATCH/DIFFERS; exit 1 on DIFFERS")
    p.add_argument("--out", default="runs/reproduce", help="where the reruns are written (default: %(default)s)")
    p.add_argument("--models", default="runs/models", help="where fitted methods are kept (default: %(default)s)")
    device_arg(p, "cpu")  # the published rows were computed on the CPU: bit-exact there
    data_args(p, track_required=False)
    p.set_defaults(func=cmd_reproduce)
    add_calibrate_jsb(sub)
    p = sub.add_parser("quickstart", help="build midi/music21 (and lyrics/fortunes, audio/gm-notes), train and score the baselines")
    p.add_argument("--out", default="quickstart-out", help="results, fitted models and logs (default: %(default)s)")
    p.add_argument("--episodes", type=count_type(1), default=100, help="test episodes to score (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    threads_arg(p)
    data_args(p, track=False)
    p.set_defaults(func=cmd_quickstart)
    return parser


# Folders a command writes to, checked before any work: (attribute, option).
OUTPUT_DIRS = (("out", "--out"), ("models", "--models"), ("cache_dir", "--cache-dir"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.getcwd() not in sys.path:  # `--method my_pkg.module:Class` from the folder fsmb runs in, as with python -m
        sys.path.insert(0, os.getcwd())
    try:
        for attr, option in OUTPUT_DIRS:
            if getattr(args, attr, None):
                writable_dir(args.__dict__[attr], option)
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        with launched(getattr(args, "device", "cpu"), command=args.command):  # a bad --device: one line, at once
            return args.func(args)
    except USER_ERRORS as exc:
        print(f"fsmb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fsmb: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
