"""The ``fsmb`` options several commands share, and the track and budget they name."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.contract.device_option import DEVICE_CHOICES
from benchmark.contract.protocol import BUDGETS, Budget
from benchmark.run.arguments import count_type, float_type
from benchmark.runtime.world import main_first
from episodes.sources.base import DataError
from episodes.tracks import Track, default_cache, track_spec


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
    track = main_first(
        lambda: Track.open(  # under torchrun rank 0 builds, the others then open the built cache
            spec,
            cache_dir=Path(args.cache_dir),
            data_dir=getattr(args, "data_dir", None),
            source_options=options,
            workers=args.workers,
            build=build,
            split_file=getattr(args, "split_file", None),
        )
    )
    if track.unlisted_warning():
        print(f"fsmb: warning: --split-file {args.split_file}: {track.unlisted_warning()}", file=sys.stderr)
    return track


def budget_of(args: argparse.Namespace) -> Budget:
    """``--budget``, with ``--steps`` and ``--flops`` if given."""
    return BUDGETS[args.budget].with_steps(getattr(args, "steps", None)).with_flops(getattr(args, "flops", None))


def data_args(p: argparse.ArgumentParser, track: bool = True, track_required: bool = True) -> None:
    """The track and corpus options (``track=False``: the corpus cache and workers only)."""
    if track:
        p.add_argument("--track", required=track_required, help="track name; see `fsmb tracks`")
        p.add_argument(
            "--data-dir",
            "--source",
            dest="data_dir",
            help="your data: a dataset root, a table file, or hf:<owner>/<name> (lyrics/hf)",
        )
        p.add_argument(
            "--artist-column",
            help="lyrics tables: artist column (default: artist); audio/folder: "
            "artist column of metadata.csv (default: artist, else instrument)",
        )
        p.add_argument("--text-column", help="lyrics tables: text column (default: lyrics, else text)")
        p.add_argument("--title-column", help="lyrics tables: title column (default: title, else song)")
        p.add_argument("--hf-split", help="lyrics/hf: dataset split (default: train)")
        p.add_argument(
            "--artist-from",
            metavar="PATTERN",
            help="midi/dir, lyrics/dir: a flat tree whose file names carry the artist, e.g. "
            '"{artist} - {title}" (files found recursively; names that do not match are counted)',
        )
        p.add_argument(
            "--split-file",
            metavar="FILE",
            help='pin the artist split: JSON {"train": [...], "val": [...], "test": [...]} or '
            "CSV/TSV with header artist,split (every artist, names exactly as in the data)",
        )
    p.add_argument("--cache-dir", default=str(default_cache()), help="corpus cache (default: %(default)s)")
    p.add_argument("--workers", type=count_type(1), default=None, help="parser processes (default: all cores)")


def run_args(p: argparse.ArgumentParser) -> None:
    """The training and scoring options: budget, steps, FLOPs cap, models, seed, threads, device."""
    p.add_argument(
        "--budget",
        choices=sorted(BUDGETS),
        default="quick",
        help="training budget: "
        + "; ".join(f"{b.name}: {b.steps} steps" for b in BUDGETS.values())
        + " (default: %(default)s)",
    )
    p.add_argument(
        "--steps",
        type=count_type(1),
        default=None,
        help="override the budget's optimiser steps; recorded as the budget NAME[steps=N] (default: the budget's)",
    )
    p.add_argument(
        "--flops",
        type=float_type(lambda x: x > 0, "> 0"),
        default=None,
        help="cap each training loop at this many counted FLOPs (a compute-matched comparison); "
        "recorded as the budget NAME[flops=F] (default: no cap)",
    )
    p.add_argument("--models", default="runs/models", help="where fitted methods are kept (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="training and sampling seed (default: %(default)s)")
    threads_arg(p)


def method_arg(p: argparse.ArgumentParser) -> None:
    """``--method``, required."""
    p.add_argument("--method", required=True, help="a registered method (fsmb methods) or your package.module:Class")


def threads_arg(p: argparse.ArgumentParser) -> None:
    """``--threads``, and ``--device`` (default auto)."""
    p.add_argument(
        "--threads",
        type=count_type(1),
        default=None,
        help="torch threads for training and scoring (default: torch's, one per core); "
        "recorded in the run record's env.torch_threads",
    )
    device_arg(p, "auto")


def device_arg(p: argparse.ArgumentParser, default: str) -> None:
    """``--device``, defaulting to ``default``."""
    p.add_argument(
        "--device",
        default=default,
        help=f"where methods train and score: {DEVICE_CHOICES} (auto: CUDA when available, else "
        "the CPU; under torchrun each process takes GPU LOCAL_RANK); recorded in the run "
        "record's env.device (default: %(default)s)",
    )
