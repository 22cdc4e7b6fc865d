"""Scoring episodes: adapt on support, score queries, turn nats into normalised figures."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from benchmark.contract.protocol import Adapted, BatchAdapts, BatchScores, Method
from benchmark.cost.flops import count_flops
from episodes.types import Episode, Item

LN2 = math.log(2.0)


def adapt_all(method: Method, supports: Sequence[Sequence[Item]]) -> list[Adapted]:
    """Adapt to many support sets, batched when the method offers ``adapt_many``."""
    if not isinstance(method, BatchAdapts):
        return [method.adapt(s) for s in supports]
    adapted = list(method.adapt_many(supports))
    if len(adapted) != len(supports):
        raise ValueError(
            f"{type(method).__name__}: adapt_many returned {len(adapted)} models for {len(supports)} support sets"
        )
    return adapted


def log_prob_problem(scores: np.ndarray, n_items: int) -> str | None:
    """What is wrong with ``scores`` as ``log_prob`` of ``n_items`` items, or ``None``:
    they must be finite log-probabilities in nats, each ``<= 0``, shape ``(n_items,)``."""
    if scores.shape != (n_items,):
        return f"log_prob of {n_items} items returned shape {scores.shape}; expected ({n_items},)"
    if not np.all(np.isfinite(scores)):
        return f"log_prob returned non-finite values {scores.tolist()}"
    if np.any(scores > 1e-6):
        return (
            f"log_prob returned values > 0 nats (max {scores.max():.4g}): it must return log-probabilities "
            "(<= 0), not negative log-likelihoods"
        )
    return None


def log_prob_all(method: Method, adapted: Sequence[Adapted], queries: Sequence[Sequence[Item]]) -> list[np.ndarray]:
    """Per-item nats for each (adapted model, query set), batched when possible."""
    if isinstance(method, BatchScores):
        out = [np.asarray(s, dtype=np.float64) for s in method.log_prob_many(adapted, queries)]
    else:
        out = [np.asarray(a.log_prob(q), dtype=np.float64) for a, q in zip(adapted, queries)]
    if len(out) != len(queries):
        raise ValueError(f"{type(method).__name__}: {len(out)} score arrays for {len(queries)} query sets")
    for scores, query in zip(out, queries):
        problem = log_prob_problem(scores, len(query))
        if problem:
            raise ValueError(f"{type(method).__name__}: {problem}")
    return out


@dataclass(frozen=True)
class EpisodeScore:
    """Scores of one episode.  ``nll_nats``: per query item, total nats (>= 0)."""

    nll_nats: tuple[float, ...]
    units: dict[str, tuple[int, ...]]

    def per_unit(self, unit: str) -> float:
        """Episode nats per ``unit``: total nats over all query items / total units."""
        return sum(self.nll_nats) / max(1, sum(self.units[unit]))

    def bits_per(self, unit: str) -> float:
        return self.per_unit(unit) / LN2


def episode_score(query: Sequence[Item], log_probs: np.ndarray) -> EpisodeScore:
    units = {u: tuple(int(it.units[u]) for it in query) for u in query[0].units}
    return EpisodeScore(tuple(float(-x) for x in log_probs), units)


@dataclass(frozen=True)
class ScoredEpisode:
    """One episode scored: its adapted model, per-query-item nats (shape ``(Q,)``), the
    figures, the wall time per episode of adapting and of scoring (seconds, the mean
    over the episode's chunk) and, when counted, their FLOPs per episode (the chunk's
    FLOPs over its episodes; `benchmark.cost.flops`)."""

    episode: Episode
    adapted: Adapted
    log_probs: np.ndarray
    score: EpisodeScore
    adapt_seconds: float
    score_seconds: float
    adapt_flops: int | None = None
    score_flops: int | None = None


def scored_chunks(
    method: Method, chunks: Iterable[Sequence[Episode]], *, count: bool = False
) -> Iterator[list[ScoredEpisode]]:
    """Adapt to and score each chunk of episodes (one batch per chunk when the method
    offers the batched hooks); the one episode loop of FSMB.  ``count``: also count the
    FLOPs of adapting (the support pass, fine-tuning steps, inner steps, a cache's
    memory) and of scoring (with whatever a method does per scored token: dynamic
    evaluation's updates, the cache's lookups), in a second, untimed pass over the chunk
    (the counter slows some methods 1.3-2x; the recorded times stay the uncounted ones)."""
    for part in chunks:
        t0 = time.perf_counter()
        adapted = adapt_all(method, [e.support for e in part])
        t1 = time.perf_counter()
        scores = log_prob_all(method, adapted, [e.query for e in part])
        t2 = time.perf_counter()
        flops: tuple[int | None, int | None] = (None, None)
        if count:
            with count_flops() as adapting:
                again = adapt_all(method, [e.support for e in part])
            with count_flops() as scoring:
                log_prob_all(method, again, [e.query for e in part])
            flops = (adapting.flops // len(part), scoring.flops // len(part))
        yield [
            ScoredEpisode(e, a, s, episode_score(e.query, s), (t1 - t0) / len(part), (t2 - t1) / len(part), *flops)
            for e, a, s in zip(part, adapted, scores)
        ]


def score_episodes(method: Method, episodes: Sequence[Episode], *, chunk: int = 32) -> list[EpisodeScore]:
    """Adapt and score every episode (chunks of ``chunk`` episodes share one batch)."""
    chunks = (episodes[start : start + chunk] for start in range(0, len(episodes), chunk))
    return [s.score for part in scored_chunks(method, chunks) for s in part]


def episode_nats_per_token(method: Method, episodes: Sequence[Episode]) -> np.ndarray:
    """Each episode's NLL in nats/token, shape ``(E,)`` (the figures a paired Δ compares)."""
    return np.array([s.per_unit("tokens") for s in score_episodes(method, episodes)])


def mean_nats_per_token(scores: Sequence[EpisodeScore]) -> float:
    """Mean over episodes of episode nats/token (the model-selection criterion)."""
    return float(np.mean([s.per_unit("tokens") for s in scores]))
