"""Submission bundles: a finished run, checked against the published track, packed with
a method card so that the leaderboard can take it from anyone.

``fsmb submit --results DIR --method NAME --track T --trained-on TEXT`` writes
``<out>/<method>__<track>__K<k>/``:

- ``<stem>.jsonl`` and ``<stem>.run.json``: the run's episode records and run record,
  as ``fsmb eval`` wrote them (so a folder of bundles is a results folder);
- ``method_card.json``: name, version, ``module:Class``, code identity (sha256 of the
  class's source file, and the version of the installed distribution it comes from),
  settings, parameters, budget, seed, fitted-model identity, and the training data
  declared -- the track's meta-train and meta-val splits it was fitted and selected
  on, and whatever else the submitter declares it saw (``--trained-on``), so that
  leakage into the test artists is visible (as MTEB's model metadata does);
- ``bundle.json``: the format and the sha256 of each file above.

A bundle is refused -- when written and whenever the leaderboard reads it -- if its
manifest sha256 or corpus fingerprint differs from the track's published manifest,
if it lacks an episode of that manifest or an episode's support/query ids differ
from it, if any figure does not recompute from the per-item nats
(`leaderboard.reading.checked_episode`), or if a file's sha256 differs from
``bundle.json``.  These checks catch mistakes and naive edits, not a determined
forger: the maintainers rerun submitted methods (docs/submitting.md).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from benchmark.run.records import (
    EpisodeRecord,
    RecordError,
    RunRecord,
    file_stem,
    read_json,
    read_numbered_records,
    read_run,
)
from episodes.atomic import write_json
from episodes.manifest import Manifest
from episodes.tracks import DATA, published_tracks, track_spec
from episodes.types import track_slug
from leaderboard.reading import checked_episode

BUNDLE_FORMAT = 1
BUNDLE_FILE, CARD_FILE = "bundle.json", "method_card.json"


class SubmissionError(RecordError):
    """A run or bundle the leaderboard cannot take; the message says why."""


def published_manifest(track: str, shots: int) -> Manifest:
    """The committed test manifest a submission on ``track`` at K = ``shots`` must use."""
    spec = track_spec(track)
    path = Path(str(DATA / track_slug(track) / "manifests" / f"test-K{shots}-Q{spec.query_size}.json"))
    if not path.is_file():
        raise SubmissionError(
            f"{track} at K={shots} has no published manifest: submissions are scored on the "
            f"test manifests of {', '.join(published_tracks())} (episodes/data/*/manifests)"
        )
    return Manifest.load(path)


def check_run(run: RunRecord, records: Sequence[tuple[int, dict]], where: Path) -> None:
    """Refuse a run that is not a complete, consistent evaluation on the published test
    manifest of its track, or that takes a built-in method's name (`SubmissionError`
    naming the first problem)."""
    from benchmark.contract.methods import registration

    if run.split != "test":
        raise SubmissionError(f"{where}: a run on the {run.split!r} split; submissions score the test split")
    known = registration(run.method.split("[", 1)[0])
    if known is not None and run.method_target != known.target:
        raise SubmissionError(
            f"{where}: method name {run.method!r} is the built-in {known.target}'s, not "
            f"{run.method_target}'s; give your class another name"
        )
    manifest = published_manifest(run.track, run.shots)
    if run.manifest_sha256 != manifest.sha256:
        raise SubmissionError(
            f"{where}: manifest sha256 {run.manifest_sha256[:12]}… is not the published "
            f"{manifest.sha256[:12]}… of {run.track} K={run.shots}: score on the default data "
            "with the default artist split (no --data-dir, no --split-file)"
        )
    if run.corpus_fingerprint != manifest.corpus_fingerprint:
        raise SubmissionError(
            f"{where}: corpus fingerprint {run.corpus_fingerprint[:12]}… is not the published "
            f"{manifest.corpus_fingerprint[:12]}…"
        )
    by_id: dict[str, EpisodeRecord] = {}
    for line, record in records:  # read_numbered_records has refused an episode recorded twice
        if record.get("run_key") != run.run_key:
            raise SubmissionError(f"{where}:{line}: a record of another run ({record.get('run_key')})")
        by_id[record["episode_id"]] = checked_episode(where, line, record)
    missing = [e.episode_id for e in manifest.episodes if e.episode_id not in by_id]
    if missing:
        raise SubmissionError(
            f"{where}: {len(missing)} of the {len(manifest.episodes)} episodes of the published "
            f"manifest are missing (first: {missing[0]}); run fsmb eval without --episodes"
        )
    for spec in manifest.episodes:
        scored = by_id[spec.episode_id]
        if tuple(scored.support_ids) != tuple(spec.support) or tuple(scored.query_ids) != tuple(spec.query):
            raise SubmissionError(f"{where}: episode {spec.episode_id} was scored on other items than the manifest's")
    if len(by_id) != len(manifest.episodes):
        raise SubmissionError(f"{where}: {len(by_id) - len(manifest.episodes)} episodes not in the manifest")


def method_card(run: RunRecord, trained_on: Sequence[str]) -> dict:
    """The method card of ``run`` (see the module docstring)."""
    return {
        "name": run.method,
        "version": run.method_version,
        "target": run.method_target,
        "code": run.method_code,  # as it was when the run was scored
        "fsmb_git_sha": run.git_sha,
        "hparams": run.hparams,
        "params": run.params,
        "budget": run.budget,
        "seed": run.seed,
        "state_sha256": run.train.get("state_sha256"),
        "training_data": {
            "track_splits": {
                "track": run.track,
                "splits": ["train", "val"],
                "split_key": run.split_key,
                "corpus_fingerprint": run.corpus_fingerprint,
            },
            "declared": list(trained_on),
        },
        "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def find_run(results: Path, method: str, track: str, shots: int | None) -> Path:
    """The run record of ``method`` on ``track`` (at K = ``shots``; default: the track's)
    in the results folder ``results``; a track or K without a published manifest fails
    first."""
    shots = track_spec(track).shots if shots is None else shots
    published_manifest(track, shots)
    path = Path(results) / f"{file_stem(method, track, shots)}.run.json"
    if not path.is_file():
        found = sorted(p.name for p in Path(results).glob("*.run.json"))
        raise SubmissionError(
            f"no run record {path.name} in {results} (found: {', '.join(found) or 'none'}); "
            f"run fsmb eval --method ... --track {track} --out {results} first"
        )
    return path


def records_of(run_path: Path) -> Path:
    return run_path.with_name(run_path.name[: -len(".run.json")] + ".jsonl")


def write_bundle(
    results: Path, method: str, track: str, out: Path, *, trained_on: Sequence[str], shots: int | None = None
) -> Path:
    """Copy the run into a fresh folder under ``out``, check the copies, add the method
    card and the hash index, and move the folder into place; returns it."""
    if not trained_on or not all(t.strip() for t in trained_on):
        raise SubmissionError(
            "declare what the method was trained on beyond the track's meta-train and "
            "meta-val splits: --trained-on none, or --trained-on 'Lakh MIDI (pretraining)'"
        )
    run_path = find_run(results, method, track, shots)
    folder = Path(out) / run_path.name[: -len(".run.json")]
    if folder.exists():
        raise SubmissionError(f"{folder} exists; remove it or pass another --out")
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=out))
    try:
        for source in (run_path, records_of(run_path)):
            shutil.copyfile(source, staging / source.name)
        run = read_run(staging / run_path.name)  # the checked bytes are the bundled bytes
        check_run(run, read_numbered_records(records_of(staging / run_path.name)), records_of(run_path))
        write_json(
            staging / CARD_FILE, method_card(run, [t.strip() for t in trained_on if t.strip().lower() != "none"])
        )
        write_json(
            staging / BUNDLE_FILE,
            {
                "format": BUNDLE_FORMAT,
                "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(staging.iterdir())},
            },
        )
        staging.chmod(0o755)
        staging.rename(folder)  # whole or not at all; a folder that appeared meanwhile is not replaced
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def is_bundle(folder: Path) -> bool:
    return (Path(folder) / BUNDLE_FILE).is_file()


def verify_bundle(folder: Path) -> dict:
    """Check a bundle's files against ``bundle.json`` and its run against the published
    manifest; returns its method card."""
    folder = Path(folder)
    index = read_json(folder / BUNDLE_FILE)
    if index.get("format") != BUNDLE_FORMAT or not isinstance(index.get("sha256"), dict):
        raise SubmissionError(f"{folder / BUNDLE_FILE}: not a bundle index of format {BUNDLE_FORMAT}")
    present = sorted(p.name for p in folder.iterdir() if p.name != BUNDLE_FILE)
    runs = [name for name in present if name.endswith(".run.json")]
    if (
        present != sorted(index["sha256"])
        or len(runs) != 1
        or CARD_FILE not in present
        or records_of(folder / runs[0]).name not in present
    ):
        raise SubmissionError(
            f"{folder}: holds {present}; a bundle holds exactly its {CARD_FILE}, one run record "
            f"and its records, as listed in {BUNDLE_FILE}"
        )
    for name, digest in index["sha256"].items():
        if not (folder / name).is_file() or hashlib.sha256((folder / name).read_bytes()).hexdigest() != digest:
            raise SubmissionError(
                f"{folder / name}: sha256 differs from {BUNDLE_FILE}: the file was changed after fsmb submit wrote it"
            )
    run_path = folder / runs[0]
    check_run(read_run(run_path), read_numbered_records(records_of(run_path)), records_of(run_path))
    return read_json(folder / CARD_FILE)
