"""Result records and their files.

Per (method, track, K) an evaluation writes ``<out>/<stem>.jsonl`` -- one
`EpisodeRecord` per line, appended and fsynced as each episode finishes -- and
``<out>/<stem>.run.json``, the `RunRecord` summary, written atomically.  Aggregates
are always recomputed from the episode records.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from episodes.atomic import write_json

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
    quality: dict | None = None  # sample metrics and samples (`benchmark.quality`), if asked for
    kind: str = "episode"
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


class RecordError(ValueError):
    """A results file that cannot be read or does not fit the run being resumed."""


def safe_name(name: str) -> str:
    """``name`` with anything but letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def file_stem(method: str, track: str, shots: int) -> str:
    """A safe file name stem for (method, track, K), e.g. ``lstm__midi-music21__K5``."""
    return f"{safe_name(method)}__{safe_name(track)}__K{shots}"


def append_record(path: Path, record: EpisodeRecord) -> None:
    """Append one JSON line and fsync it: a crash loses at most the line being written."""
    line = json.dumps(asdict(record), sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_episode_records(path: Path, *, repair: bool = False) -> list[dict]:
    """Read a ``.jsonl`` results file.

    A last line cut short by an interruption is dropped (and, with ``repair``,
    truncated away so that appending can continue); a bad line elsewhere is an error.
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
            records.append(json.loads(line))
            good_bytes += len(line) + 1
        except json.JSONDecodeError:
            if number == len(lines):  # unterminated last line: an interrupted write
                if repair:
                    with open(path, "r+b") as fh:
                        fh.truncate(min(good_bytes, len(raw)))
                break
            raise RecordError(f"{path}:{number}: not valid JSON; fix or remove that line") from None
    return records


def write_run(path: Path, record: RunRecord) -> None:
    write_json(path, asdict(record))


def read_run(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: unreadable run record ({exc})") from exc


def _required(cls: type) -> frozenset[str]:
    """Fields without defaults: every record must have them (later additions have
    defaults, so records written before them still load)."""
    return frozenset(f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING)


EPISODE_FIELDS = _required(EpisodeRecord)
RUN_FIELDS = _required(RunRecord)
