"""Retrain the published neural rows of ``results/main`` to convergence, one row at a time.

    python benchmarks/converge_references.py [--methods lstm,cache] [--tracks midi/music21] [--dry-run] [--threads N]
    python benchmarks/converge_references.py --results shots   # a derived study's rows, from the converged models
    python benchmarks/converge_references.py --compare [--results shots]   # each retrained row against its full row

For each published run of a method that trains (or starts from a model that trains),
in dependency order (`ORDER`: the ``lstm`` before what starts from it), this reruns its
recorded configuration -- method and settings, track, K, episodes, samples, seed, as
`leaderboard.reproduce.plan` reads it -- at the ``converge`` budget
(`benchmark.training.convergence`), with the models in ``results/models`` (committed, so
that training resumes across sessions from a fresh clone and derived rows start from
the committed bases).  A row is scored into ``results/converging/main/``; once complete, the
row it replaces is moved to ``results/full/`` (with ``git mv``), so that the record of
the under-trained row is kept, and the new one into ``results/main/``.  ``--results
NAME`` does the same for another folder of published rows, ``results/NAME`` (a derived
study: the shots curves, the sample-quality runs), keeping its replaced rows in
``results/full-NAME/``; its models are the same committed ones, so a study's rows are
scored from the converged bases without training them again.

Resumable at every point: a row already at ``converge`` is skipped; a row in
``results/full/`` with neither a row of its own in ``results/main/`` nor a staged rerun
was superseded by hand (``transformer-icl``'s 1,024-token defaults, replaced by its
256-token variant) and is left; an interrupted
training resumes from its checkpoint, an interrupted evaluation from its last episode.
Rows of methods without training (the unigram, Gaussian and PPCA baselines) are left.
The checkpoints of finished models are deleted (`drop_finished_checkpoints`), those of
unfinished trainings kept: commit ``results/models`` at the end of a session.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import torch

from benchmark.contract.methods import MethodSpec
from benchmark.contract.protocol import BUDGETS
from benchmark.run.records import file_stem
from benchmark.run.runner import evaluate
from benchmark.training.loop import CHECKPOINT_FILE
from episodes.tracks import TRACKS, Track, default_cache
from leaderboard.aggregate import paired_delta
from leaderboard.reading import load_run
from leaderboard.reproduce import needs_training, published_reruns

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
MODELS = RESULTS / "models"
STAGE = RESULTS / "converging"  # STAGE/NAME: a row of results/NAME being scored, moved there when complete
# the lstm first: its compressed variants, the adaptive methods and the MAML family start
# from it (and cache/finetune[base="lstm-trim"] from its trimmed variant); each VAE before
# its compressed variants; the lottery ticket, a full retraining per round, last
ORDER = (
    "lstm",
    "lstm-trim",
    "lstm-int8",
    "cache",
    "dyneval",
    "finetune",
    "fomaml",
    "maml",
    "metasgd",
    "lstm-concat",
    "transformer-icl",
    "vae",
    "vae-trim",
    "vae-int8",
    "rhvae",
    "lstm-imp",
)


def move(stem: str, source: Path, target: Path) -> None:
    """Move ``source/<stem>.*`` (a row's records, run record and previews) to ``target``
    (``git mv`` what git tracks)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob(f"{stem}.*")) + sorted(source.glob(f"{stem}/")):
        tracked = (
            subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], cwd=ROOT, capture_output=True).returncode
            == 0
        )
        if tracked:
            subprocess.run(["git", "mv", "-k", str(path), str(target / path.name)], cwd=ROOT, check=True)
        else:
            shutil.move(str(path), target / path.name)


def drop_finished_checkpoints() -> None:
    """Delete the training checkpoints of the finished models in ``results/models`` (each
    is model, optimiser and best weights, 8 MB for an ``lstm``, and nothing needs it once
    ``meta.json`` is written); those of unfinished trainings stay, to be committed and
    resumed."""
    for checkpoint in MODELS.rglob(CHECKPOINT_FILE):
        folder = next(p for p in checkpoint.parents if p.name == "logs").parent
        if (folder / "meta.json").exists():
            checkpoint.unlink()


def row_state(kept_aside: bool, current: Path, staged: Path, budget: str) -> str:
    """``done`` when the published run record ``current`` is at ``budget``; ``superseded``
    when the planned row was read from the replaced rows' folder (``kept_aside``) and has
    neither a published record nor a staged rerun ``staged`` (its design was replaced by
    hand: the row moved there is not an interrupted rerun); else ``todo``."""
    if current.exists():
        return "done" if json.loads(current.read_text())["budget"]["name"] == budget else "todo"
    return "superseded" if kept_aside and not staged.exists() else "todo"


def folders(name: str) -> tuple[Path, Path]:
    """The folder of published rows called ``name`` and where its replaced rows are kept
    (``results/full`` for ``main``, else ``results/full-NAME``: beside it, not inside,
    since a folder's rows are read recursively)."""
    return RESULTS / name, RESULTS / ("full" if name == "main" else f"full-{name}")


def compare(name: str) -> None:
    """Print, for every retrained row of ``results/NAME``, its ``full`` row's mean nats
    per token (per dimension on audio, whose tokens are dimensions), its converged one's,
    and their paired difference."""
    published, full = folders(name)
    for run_path in sorted(full.glob("*.run.json")):
        new_path = published / run_path.name
        if not new_path.exists():
            continue
        (_, old), (_, new) = load_run(run_path), load_run(new_path)
        unit = "nats/dim" if "dims" in old[0].units else "nats/token"
        delta, ci, n = paired_delta(new, old)
        means = [sum(e.nats_per_token for e in eps) / len(eps) for eps in (old, new)]
        print(
            f"{run_path.name[: -len('.run.json')]}: full {means[0]:.4f} -> converge {means[1]:.4f}, "
            f"paired {delta:+.4f} ± {ci:.4f} {unit} ({n} episodes)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", help="comma-separated base method names (default: all of ORDER)")
    parser.add_argument("--tracks", help="comma-separated track names (default: all published)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and what is done, run nothing")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--results", default="main", help="the folder of published rows under results/ (default: %(default)s)"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="print each retrained row against the full row it replaced (paired), run nothing",
    )
    args = parser.parse_args()
    published, full = folders(args.results)
    if not published.is_dir() or args.results in ("models", "converging") or args.results.startswith("full"):
        parser.error(f"--results {args.results}: not a folder of published rows under {RESULTS}")
    if args.compare:
        compare(args.results)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = args.methods.split(",") if args.methods else list(ORDER)
    unknown = sorted(set(wanted) - set(ORDER))
    if unknown:
        parser.error(f"--methods {','.join(unknown)}: not retrained here; choose from {','.join(ORDER)}")
    tracks = args.tracks.split(",") if args.tracks else None
    budget = BUDGETS["converge"]
    sources = [published] + ([full] if full.is_dir() else [])  # a row moved aside whose rerun was interrupted
    reruns = [r for r, _ in published_reruns(sources, tracks=tracks) if r.published.budget["name"] != budget.name]
    plan = sorted(
        (r for r in reruns if r.spec.split("[")[0] in wanted and needs_training(r.spec.split("[")[0])),
        key=lambda r: (ORDER.index(r.spec.split("[")[0]), r.track, r.label),
    )
    opened: dict[str, Track] = {}
    for r in plan:
        stem = file_stem(r.label, r.track, r.shots)
        current = published / f"{stem}.run.json"
        state = row_state(r.folder == full.name, current, STAGE / args.results / current.name, budget.name)
        if state == "superseded":
            print(
                f"superseded: {r.label} on {r.track} (K={r.shots}): kept in {full.name}/ with no row of its "
                f"own in {published.name}/ and no rerun staged (a replaced design, not an interrupted rerun)"
            )
            continue
        print(
            f"{state}: {r.label} on {r.track} (K={r.shots}, {r.episodes} episodes"
            + (f", {r.samples} samples" if r.samples else "")
            + f"; was {r.published.budget['name']})"
        )
        if state == "done" or args.dry_run:
            continue
        track = opened.setdefault(r.track, Track.open(TRACKS[r.track], cache_dir=default_cache()))
        evaluate(
            MethodSpec.parse(r.spec, r.overrides),
            track,
            shots=r.shots,
            n_episodes=r.episodes,
            out=STAGE / args.results,
            budget=budget,
            models=MODELS,
            seed=r.seed,
            samples=r.samples,
        )
        if current.exists():
            move(stem, published, full)  # the under-trained row, kept for the record
        move(stem, STAGE / args.results, published)
        drop_finished_checkpoints()


if __name__ == "__main__":
    main()
