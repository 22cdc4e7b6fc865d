"""Consistent episode and run records for tests that read results without scoring any."""

from __future__ import annotations

import dataclasses

from benchmark.run.records import EpisodeRecord, RunRecord
from benchmark.scoring.nll import EpisodeScore

RUN_KEY = "feedfacefeedface"


def episode(i: int, run_key: str = RUN_KEY, **changes) -> EpisodeRecord:
    """A consistent record of episode ``ep-<i>`` (figures computed as the runner does)."""
    score = EpisodeScore((10.0 + i, 7.5, 3.25 * (i + 1)), {"tokens": (12, 9, 7 + i), "notes": (4, 3, 2 + i)})
    record = EpisodeRecord(
        run_key=run_key,
        method="unigram",
        track="midi/music21",
        shots=5,
        split="test",
        episode_id=f"ep-{i}",
        artist=f"artist {i}",
        manifest_sha256="ab" * 32,
        support_ids=[f"s{i}-{j}" for j in range(5)],
        query_ids=[f"q{i}-{j}" for j in range(3)],
        nll_nats=list(score.nll_nats),
        units={u: list(v) for u, v in score.units.items()},
        nats_per_token=score.per_unit("tokens"),
        bits_per_token=score.bits_per("tokens"),
        bits_per={u: score.bits_per(u) for u in score.units},
        adapt_seconds=0.01,
        score_seconds=0.02,
    )
    return dataclasses.replace(record, **changes)


def run_record(run_key: str = RUN_KEY) -> RunRecord:
    return RunRecord(
        run_key=run_key,
        method="unigram",
        method_version="1",
        hparams={},
        budget={"name": "test"},
        train={},
        track="midi/music21",
        track_version=1,
        track_spec={"modality": "midi"},
        stand_in=False,
        source_version="1",
        encoding="midi",
        encoding_version=1,
        corpus_fingerprint="c",
        split="test",
        shots=5,
        query_size=3,
        manifest_sha256="ab" * 32,
        manifest_episodes=600,
        split_key="hash-v1",
        data_key="d" * 16,
        method_target="baselines.unigram:Unigram",
        method_code={"source_file": "unigram.py", "source_sha256": "0" * 64},
        episodes_evaluated=3,
        params=299,
        seed=0,
        git_sha="0" * 40,
        env={},
        started="2025-01-01T00:00:00+00:00",
    )
