"""Published records read back, never trusted: every episode's figures recomputed
from its per-item nats and unit counts (`checked_episode`), a run's episodes read with
it (`load_run`).  The layer under both the leaderboard's aggregation
(`leaderboard.aggregate`) and the submission check (`leaderboard.submission`)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from benchmark.run.records import EpisodeRecord, RecordError, RunRecord, parse_record, read_numbered_records, read_run
from benchmark.scoring.nll import EpisodeScore

# How far a stored figure may be from the one recomputed from nll_nats and units:
# float summation noise only.
REL_TOL, ABS_TOL = 1e-9, 1e-12
EDITED = "the record was edited or corrupted — delete that line and rerun `fsmb eval` to score it again"


def load_run(run_path: Path) -> tuple[RunRecord, list[EpisodeRecord]]:
    """One run record and its checked episode records (`checked_episode`), in file order."""
    run = read_run(run_path)
    episodes_path = run_path.with_name(run_path.name[: -len(".run.json")] + ".jsonl")
    episodes = []
    for line, r in read_numbered_records(episodes_path):
        if r.get("run_key") != run.run_key:
            continue
        episodes.append(checked_episode(episodes_path, line, r))
    return run, episodes


def checked_episode(path: Path, line: int, data: dict) -> EpisodeRecord:
    """The episode record ``data`` (as read from JSON) as an `EpisodeRecord`, its
    nats_per_token, bits_per_token and bits_per recomputed from its ``nll_nats`` and
    ``units`` as `benchmark.scoring.nll.EpisodeScore` computes them.

    Refuses (`RecordError` naming ``path:line``) a record whose lists do not line up
    with its query items, whose nats are not finite numbers, or whose stored figure
    differs from the recomputed one beyond float summation noise.
    """
    record = parse_record(EpisodeRecord, data, f"{path}:{line}")
    where = f"{path}:{line}: episode {record.episode_id}"
    nll_nats, units, queries = record.nll_nats, record.units, len(record.query_ids)
    if not (isinstance(nll_nats, list) and isinstance(units, dict) and isinstance(record.bits_per, dict)):
        raise RecordError(f"{where}: nll_nats is not a list or units or bits_per not a mapping; {EDITED}")
    if not all(is_number(x) and math.isfinite(x) for x in nll_nats):
        raise RecordError(f"{where}: nll_nats holds a value that is not a finite number; {EDITED}")
    if "tokens" not in units or not set(record.bits_per) <= set(units):
        raise RecordError(
            f"{where}: units {sorted(units)} lack tokens or a unit of bits_per {sorted(record.bits_per)}; {EDITED}"
        )
    for unit, counts in units.items():
        if not len(nll_nats) == queries == len(counts):
            raise RecordError(
                f"{where}: {len(nll_nats)} nll_nats, {queries} query_ids and "
                f"{len(counts)} units[{unit}] do not line up; {EDITED}"
            )
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise RecordError(f"{where}: units[{unit}] holds a value that is not a count; {EDITED}")
    score = EpisodeScore(tuple(nll_nats), {u: tuple(c) for u, c in units.items()})
    figures = {
        "nats_per_token": score.per_unit("tokens"),
        "bits_per_token": score.bits_per("tokens"),
        **{f"bits_per[{u}]": score.bits_per(u) for u in units},
    }
    stored = {
        "nats_per_token": record.nats_per_token,
        "bits_per_token": record.bits_per_token,
        **{f"bits_per[{u}]": v for u, v in record.bits_per.items()},
    }
    for name, value in stored.items():
        if not (is_number(value) and math.isclose(value, figures[name], rel_tol=REL_TOL, abs_tol=ABS_TOL)):
            raise RecordError(
                f"{where}: stored {name} {value!r} != {figures[name]!r} recomputed from nll_nats and units; {EDITED}"
            )
    return dataclasses.replace(
        record,
        nats_per_token=figures["nats_per_token"],
        bits_per_token=figures["bits_per_token"],
        bits_per={u: score.bits_per(u) for u in record.bits_per},
    )


def is_number(x: object) -> bool:
    """A JSON number (``true``/``false`` are not)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)
