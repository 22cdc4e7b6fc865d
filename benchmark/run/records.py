"""Result records and their files.

Per (method, track, K) an evaluation writes ``<out>/<stem>.jsonl`` -- one
`EpisodeRecord` per line, appended and fsynced as each episode finishes -- and
``<out>/<stem>.run.json``, the `RunRecord` summary, written atomically.  Aggregates
are always recomputed from the episode records.  One process at a time writes a
results file (`results_lock`, on the hidden sidecar ``<out>/.<stem>.jsonl.lock``).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, TypeVar

from episodes.atomic import write_json
from episodes.types import track_slug

RECORD_FORMAT = 1


@dataclass(frozen=True)
class EpisodeRecord:
    """The scores of one episode.  ``nll_nats`` and ``units`` are per query item."""

    run_key: str
    method: str
    track: str
    shots: int
    split: str
    episode_id: str
    artist: str
    manifest_sha256: str
    support_ids: list[str]
    query_ids: list[str]
    nll_nats: list[float]
    units: dict[str, list[int]]
    nats_per_token: float
    bits_per_token: float
    bits_per: dict[str, float]
    adapt_seconds: float
    score_seconds: float
    quality: dict | None = None  # sample metrics and samples (`benchmark.scoring.quality`), if asked for
    kind: str = "episode"
    # FLOPs per episode of adapting to the support set and of scoring the query set, counted
    # (`benchmark.cost.flops`; the chunk's over its episodes) in the run's first chunk; else None
    adapt_flops: int | None = None
    score_flops: int | None = None
    format: int = RECORD_FORMAT


@dataclass
class RunRecord:
    """Everything needed to reproduce and interpret one evaluation run."""

    run_key: str
    method: str
    method_version: str
    hparams: dict[str, Any]
    budget: dict[str, Any]
    train: dict[str, Any]
    track: str
    track_version: int
    track_spec: dict[str, Any]
    stand_in: bool
    source_version: str
    encoding: str
    encoding_version: int
    corpus_fingerprint: str
    split: str
    shots: int
    query_size: int
    manifest_sha256: str
    manifest_episodes: int
    split_key: str  # the artist split (`episodes.tracks.Track.split_key`)
    data_key: str  # corpus and split together (`Track.data_key`), which keys fitted models
    method_target: str  # ``module:Class`` of the method whose ``name`` is ``method``
    method_code: dict[str, str]  # `benchmark.training.identity.code_identity` of that class
    episodes_evaluated: int
    params: int
    seed: int
    git_sha: str
    env: dict[str, Any]
    started: str
    finished: str = ""
    wall_seconds: float = 0.0
    eval_seconds: float = 0.0
    kind: str = "run"
    format: int = RECORD_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] | None = None  # one generation step, counted (`benchmark.cost`); None: not deployable


class RecordError(ValueError):
    """A results file that cannot be read or does not fit the run being resumed."""


def safe_name(name: str) -> str:
    """``name`` with anything but letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def file_stem(method: str, track: str, shots: int) -> str:
    """A safe file name stem for (method, track, K), e.g. ``lstm__midi-music21__K5``."""
    return f"{safe_name(method)}__{safe_name(track_slug(track))}__K{shots}"


def lock_path(records_path: Path) -> Path:
    """The hidden sidecar that `results_lock` locks: ``.<records file name>.lock`` beside it
    (no results glob, ``*.jsonl`` or ``*.run.json``, matches it)."""
    return records_path.with_name(f".{records_path.name}.lock")


@contextmanager
def results_lock(records_path: Path) -> Iterator[None]:
    """Hold the one-writer lock of ``records_path`` (on `lock_path`) for the ``with``
    block; `RecordError` naming the holder if another process holds it."""
    with exclusive_lock(
        lock_path(Path(records_path)),
        f"{records_path} is being written by another fsmb process ({{holder}}); "
        "wait for it to finish or pass another --out",
    ):
        yield


@contextmanager
def exclusive_lock(path: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` for the ``with`` block.

    A non-blocking ``flock`` on ``path`` (created, with its folder, if need be), which
    then names the holder (pid, host, start time).  If another process holds it, raises
    `RecordError` with ``busy``, its ``{holder}`` filled in.  The lock file stays in place
    on release (unlinking a flock file races with a process about to lock it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecordError(busy.format(holder=lock_holder(fd))) from None
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # a stale holder is never reported
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_holder(fd: int) -> str:
    """``pid N on HOST since TIME`` from a held lock file, as far as it is written yet."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"
    except (OSError, ValueError, TypeError, KeyError):  # the holder is between locking and writing
        return "holder not yet recorded"


def append_record(path: Path, record: EpisodeRecord) -> None:
    """Append one JSON line and fsync it: a crash loses at most the line being written.

    A file whose last line lacks its newline gets one first, so a record is never
    glued onto the line before it.
    """
    line = (json.dumps(asdict(record), sort_keys=True) + "\n").encode()
    with open(path, "a+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end:
            fh.seek(end - 1)
            if fh.read(1) != b"\n":
                line = b"\n" + line
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_episode_records(path: Path, *, repair: bool = False) -> list[EpisodeRecord]:
    """The `EpisodeRecord` of every line of a ``.jsonl`` results file, in file order (see
    `read_numbered_records`; a line that is not an episode record is `RecordError`)."""
    return [
        parse_record(EpisodeRecord, record, f"{path}:{line}")
        for line, record in read_numbered_records(path, repair=repair)
    ]


def read_numbered_records(path: Path, *, repair: bool = False) -> list[tuple[int, dict]]:
    """(line number, record) for every record of a ``.jsonl`` results file.

    A last line cut short by an interruption is dropped (and, with ``repair``,
    truncated away so that appending can continue); a complete last line without its
    newline is kept (and, with ``repair``, gets the newline).  A bad line elsewhere,
    or an episode recorded twice for one run, is an error.
    """
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records, good_bytes = [], 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            good_bytes += len(line) + 1
            continue
        try:
            records.append((number, json.loads(line)))
            good_bytes += len(line) + 1
        except json.JSONDecodeError:
            if number == len(lines):  # unterminated last line: an interrupted write
                if repair:
                    with open(path, "r+b") as fh:
                        fh.truncate(min(good_bytes, len(raw)))
                break
            raise RecordError(f"{path}:{number}: not valid JSON; fix or remove that line") from None
        if not isinstance(records[-1][1], dict):
            raise RecordError(f"{path}:{number}: not a JSON object; fix or remove that line")
    if repair and records and records[-1][0] == len(lines) and lines[-1].strip():
        with open(path, "ab") as fh:  # a complete last record whose newline was lost
            fh.write(b"\n")
    check_unique(path, records)
    return records


def check_unique(path: Path, records: list[tuple[int, dict]]) -> None:
    """Refuse an episode recorded twice for the same run in one results file."""
    seen: dict[tuple[Any, Any], int] = {}
    for number, record in records:
        key = (record.get("run_key"), record.get("episode_id"))
        if key[1] is not None and key in seen:
            raise RecordError(
                f"{path}: episode {key[1]} is recorded twice (lines {seen[key]} and {number}) "
                "for the same run; remove one of the lines"
            )
        seen.setdefault(key, number)


def write_run(path: Path, record: RunRecord) -> None:
    write_json(path, asdict(record))


def read_run(path: Path) -> RunRecord:
    """The `RunRecord` stored at ``path`` (`RecordError` if it is unreadable or not a run record)."""
    return parse_record(RunRecord, read_json(path), str(path))


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object stored at ``path``: `RecordError` if it is unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: unreadable record ({exc})") from exc
    if not isinstance(data, dict):
        raise RecordError(f"{path}: not a JSON object")
    return data


R = TypeVar("R", EpisodeRecord, RunRecord)


def parse_record(cls: type[R], data: dict[str, Any], where: str) -> R:
    """``data`` (a record as read from JSON) as the dataclass ``cls``.

    `RecordError` naming ``where`` if a field without a default is missing, a field is
    unknown, or the record's format is newer than this FSMB's (`RECORD_FORMAT`).
    """
    kind = "run" if cls is RunRecord else "episode"
    missing = sorted(REQUIRED[cls] - set(data))
    if missing:
        raise RecordError(
            f"{where}: not {'a' if cls is RunRecord else 'an'} {kind} record of this FSMB "
            f"(missing {', '.join(missing)}); rerun `fsmb eval` to rewrite it"
        )
    unknown = sorted(set(data) - KNOWN[cls])
    if unknown:
        raise RecordError(
            f"{where}: {kind} record with unknown fields {', '.join(unknown)}; "
            "written by another FSMB version? upgrade FSMB or rerun `fsmb eval`"
        )
    found, version = data.get("kind", kind), data.get("format", RECORD_FORMAT)
    if found != kind or not isinstance(version, int) or version > RECORD_FORMAT:
        raise RecordError(
            f"{where}: a record of kind {found!r} and format {version!r}, "
            f"not {'a' if cls is RunRecord else 'an'} {kind} record of format <= {RECORD_FORMAT}; upgrade FSMB or rerun `fsmb eval`"
        )
    return cls(**data)


def _required(cls: type) -> frozenset[str]:
    """Fields without defaults: every record must have them (later additions have
    defaults, so records written before them still load)."""
    return frozenset(f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)


REQUIRED: dict[type, frozenset[str]] = {EpisodeRecord: _required(EpisodeRecord), RunRecord: _required(RunRecord)}
KNOWN: dict[type, frozenset[str]] = {cls: frozenset(f.name for f in fields(cls)) for cls in (EpisodeRecord, RunRecord)}
