"""Reproduction records: who reran which published rows, on what machine, with what verdict.

``fsmb reproduce --check --record --by NAME`` writes one record per published results
folder it reran rows of, into ``<folder>/reproductions/<started>-<digest>.json``::

    {"kind": "reproduction", "format": 1, "by": "...", "started": ISO, "finished": ISO,
     "git_sha": "...", "env": {... `benchmark.run.env.environment` ...},
     "command": ["fsmb", "reproduce", ...],
     "checks": [{"run_key", "label", "track", "shots", "episodes", "verdict", "how",
                 "delta", "delta_ci95", "published_machine"}, ...],
     "sha256": "<of the canonical JSON of everything else>"}

The ``sha256`` makes an edited record visible (a reader recomputes it and refuses a
mismatch); it is a checksum, not a signature: whoever can write the file can rewrite
the digest too.  What makes a record worth a badge is that maintainers can rerun it.

A row earns the leaderboard's *reproduced* mark (`independent_matches`) from a check
with verdict MATCH made on **another machine** than the one that scored the row:
`machine_of` its run record's ``env`` differs from the reproduction's (CPU model,
architecture and OS platform string; two identical machines cannot be told apart).
"""

from __future__ import annotations

import hashlib
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from benchmark.run.records import RecordError, RunRecord, read_json
from episodes.atomic import canonical_json, write_json

FOLDER = "reproductions"
FORMAT = 1


@dataclass(frozen=True)
class ReproducedRow:
    """One published row's check inside a reproduction record."""

    run_key: str  # of the published run
    label: str
    track: str
    shots: int
    episodes: int  # episodes both the published run and the rerun scored
    verdict: str  # "MATCH" or "DIFFERS" (`leaderboard.reproduce.check_run`)
    how: str
    delta: float | None  # rerun - published, nats/token (None: undefined)
    delta_ci95: float | None
    published_machine: str  # `machine_of` the published run's env


@dataclass(frozen=True)
class Reproduction:
    """A signed-off reproduction of published rows (module docstring)."""

    by: str
    started: str
    finished: str
    git_sha: str
    env: dict
    command: list[str]
    checks: list[ReproducedRow] = field(default_factory=list)
    kind: str = "reproduction"
    format: int = FORMAT

    @property
    def machine(self) -> str:
        return machine_of(self.env)

    def body(self) -> dict:
        """The record's fields without its digest, as written."""
        return asdict(self)

    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.body())).hexdigest()


def machine_of(env: dict) -> str:
    """``CPU model (architecture, platform)`` from a run record's or reproduction's ``env``."""
    return f"{env.get('cpu', '?')} ({env.get('machine', '?')}, {env.get('platform', '?')})"


def reproduced_row(
    run: RunRecord, *, label: str, episodes: int, verdict: str, how: str, delta: float, delta_ci95: float
) -> ReproducedRow:
    """The check of published ``run`` as a record entry (NaN figures become ``None``)."""

    def finite(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return ReproducedRow(
        run_key=run.run_key,
        label=label,
        track=run.track,
        shots=run.shots,
        episodes=episodes,
        verdict=verdict,
        how=how,
        delta=finite(delta),
        delta_ci95=finite(delta_ci95),
        published_machine=machine_of(run.env),
    )


def write_reproduction(folder: Path, record: Reproduction) -> Path:
    """Write ``record`` (with its ``sha256``) into ``folder/reproductions/`` atomically;
    returns its path.  The name (start time, digest) never collides with another record."""
    if record.by.strip() == "":
        raise RecordError("a reproduction record needs --by NAME: who ran it")
    digest = record.digest()
    stamp = record.started.replace(":", "").replace("-", "").split(".")[0].split("+")[0]
    path = Path(folder) / FOLDER / f"{stamp}-{digest[:12]}.json"
    write_json(path, {**record.body(), "sha256": digest})
    return path


def read_reproduction(path: Path) -> Reproduction:
    """One record, refused (`RecordError`, naming ``path``) unless it parses, is a
    reproduction of a known format, and its ``sha256`` matches its content."""
    data = read_json(path)
    if data.get("kind") != "reproduction":
        raise RecordError(f"{path}: not a reproduction record")
    if data.get("format") != FORMAT:
        raise RecordError(f"{path}: reproduction format {data.get('format')!r}; this FSMB reads format {FORMAT}")
    stored = data.pop("sha256", None)
    try:
        checks = [ReproducedRow(**c) for c in data.pop("checks")]
        record = Reproduction(**data, checks=checks)
    except (KeyError, TypeError) as exc:
        raise RecordError(f"{path}: malformed reproduction record ({exc})") from None
    if stored != record.digest():
        raise RecordError(f"{path}: sha256 does not match the record's content (edited after it was written?)")
    return record


def read_reproductions(folders: Sequence[Path]) -> list[Reproduction]:
    """Every valid record under ``folders``' ``reproductions/``; invalid ones are skipped
    and reported on stderr, one line each."""
    found = []
    for folder in folders:
        for path in sorted((Path(folder) / FOLDER).glob("*.json")):
            try:
                found.append(read_reproduction(path))
            except RecordError as exc:
                print(f"fsmb: skipped a reproduction record: {exc}", file=sys.stderr)
    return found


@dataclass(frozen=True)
class Reproduced:
    """A MATCH of one row from another machine: what the leaderboard's badge shows."""

    by: str
    cpu: str  # the reproducing machine's CPU model
    machine: str  # `machine_of` it
    date: str  # YYYY-MM-DD of the reproduction's start
    episodes: int
    how: str


def independent_matches(records: Sequence[Reproduction], run: RunRecord) -> list[Reproduced]:
    """The MATCH checks of ``run`` (by run key) from machines other than the one that scored it."""
    scored_on = machine_of(run.env)
    return [
        Reproduced(
            by=r.by, cpu=r.env.get("cpu", "?"), machine=r.machine, date=r.started[:10], episodes=c.episodes, how=c.how
        )
        for r in records
        if r.machine != scored_on
        for c in r.checks
        if c.run_key == run.run_key and c.verdict == "MATCH"
    ]
