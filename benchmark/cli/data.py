"""``fsmb tracks``, ``fsmb doctor`` and ``fsmb data``: the tracks, the native libraries, a track's corpus."""

from __future__ import annotations

import argparse
import json
import sys

from benchmark.cli.options import data_args, open_track
from episodes.dependencies import doctor
from episodes.tracks import TRACKS


def cmd_tracks(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([s.to_dict() for s in TRACKS.values()], indent=1))
        return 0
    for spec in TRACKS.values():
        extra = " [needs --data-dir]" if spec.needs_data_dir else ""
        extra += " [stand-in data]" if spec.stand_in else ""
        print(f"{spec.name:16s} v{spec.version}  K={spec.shots} Q={spec.query_size}  {spec.description}{extra}")
    return 0


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
        print(
            json.dumps(
                {
                    "track": track.spec.name,
                    "store": str(track.store.root),
                    "fingerprint": track.store.fingerprint,
                    "items": len(track.store),
                    "skipped": report["n_skipped"],
                    "build_seconds": report["build_seconds"],
                    "source_listing": report.get("source_listing"),
                    "splits": track.summary(),
                },
                indent=1,
            )
        )
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


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``tracks``, ``doctor``, ``data`` to the ``fsmb`` subcommands."""
    p = sub.add_parser("tracks", help="list tracks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tracks)
    p = sub.add_parser("doctor", help="check that the native libraries (torchaudio, FluidSynth, ...) load and work")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("data", help="build or verify a track's corpus and manifests")
    p.add_argument("action", choices=["build", "verify"])
    data_args(p)
    p.set_defaults(func=cmd_data)
