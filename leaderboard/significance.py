"""Significance of paired leaderboard comparisons: a method against a reference, episode
by episode (the same episodes, aligned), and the Benjamini-Hochberg correction over many
such comparisons.

Pure statistics (numpy and scipy); nothing here reads records.  Scores are whatever the
caller pairs, typically per-episode NLL in nats/token, so that a difference ``a - b`` is
in nats/token and negative means ``a`` is better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import stats

# The most sign entries (sign vectors x episodes) held at once by the permutation test.
CHUNK_ENTRIES = 1_000_000
# Ties in the permutation statistic: |sum(s * d)| counts as reaching the observed
# |sum(d)| when it is within this fraction of sum(|d|) below it (rounding, not data).
TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of ``a`` with ``b`` over the same episodes.

    ``delta`` and ``ci95`` are in the unit of the scores (nats/token for NLL scores);
    the p-values are two-sided, for the null hypothesis that the mean difference is 0
    (t-test) or that each difference is symmetric about 0 (sign-flip permutation test).
    """

    delta: float  # mean over episodes of a - b
    ci95: float  # half-width of the paired Student-t 95% confidence interval of delta
    episodes: int  # number of pairs
    t_p_value: float  # paired t-test (`scipy.stats.ttest_rel`); 1.0 when every difference is 0
    permutation_p_value: float  # sign-flip permutation test on the differences
    permutations: int  # random sign vectors drawn; 0: all 2**episodes were enumerated exactly


def mean_ci95(values: Sequence[float] | NDArray[np.float64]) -> tuple[float, float]:
    """Mean of ``values`` and the half-width of its 95% Student-t confidence interval
    (n - 1 degrees of freedom), in the unit of the values; the half-width is NaN for
    fewer than 2 values, and the mean too for none."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float(x.mean()) if len(x) else math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(x) - 1)) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return float(x.mean()), half


def paired_test(a: Sequence[float], b: Sequence[float], *, permutations: int = 10_000, seed: int = 0) -> PairedTest:
    """Paired t-test and sign-flip permutation test of per-episode scores ``a`` against ``b``.

    ``a`` and ``b``: 1-D, the same length n >= 2, aligned (element i of both is episode i),
    finite; differences ``d = a - b`` are in their unit (nats/token for NLL).

    The t-test is `scipy.stats.ttest_rel` (t = mean(d) / (sd(d) / sqrt(n)), n - 1 degrees
    of freedom), except that all-zero differences give p = 1 where scipy gives NaN.

    The permutation test's statistic is |mean(d)|; under the null each d_i is as likely
    to have had the other sign.  If ``2**n <= permutations`` all 2**n sign vectors s are
    enumerated and p is the fraction with |mean(s * d)| >= |mean(d)| (exact; the field
    ``permutations`` is then 0).  Otherwise ``permutations`` sign vectors are drawn, sign
    i of draw j being + when the (j * n + i)-th value of
    ``numpy.random.default_rng(seed).random()`` is < 0.5, and p = (1 + count) /
    (1 + permutations) (Phipson & Smyth 2010: never 0, the observed signs count once).
    "Reaches" allows `TIE_TOLERANCE` x sum(|d|) for rounding.  All-zero differences give
    p = 1.  Memory is bounded by `CHUNK_ENTRIES` sign entries at a time; the result does
    not depend on it.
    """
    x = _scores(a, "a")
    y = _scores(b, "b")
    if len(x) != len(y):
        raise ValueError(f"paired_test: a has {len(x)} episodes, b has {len(y)}; pairs must be aligned")
    n = len(x)
    if n < 2:
        raise ValueError(f"paired_test: {n} pair(s); a paired test needs at least 2")
    if permutations < 1:
        raise ValueError(f"paired_test: permutations={permutations}; at least 1 is needed")
    d = x - y
    delta, ci95 = mean_ci95(d)
    if not d.any():
        return PairedTest(
            delta=0.0,
            ci95=0.0,
            episodes=n,
            t_p_value=1.0,
            permutation_p_value=1.0,
            permutations=0 if (1 << n) <= permutations else permutations,
        )
    t_p = t_p_value(d)
    if (1 << n) <= permutations:
        return PairedTest(delta, ci95, n, t_p, _exact_sign_flip_p(d), 0)
    return PairedTest(delta, ci95, n, t_p, _random_sign_flip_p(d, permutations, seed), permutations)


def t_p_value(differences: Sequence[float] | NDArray[np.float64]) -> float:
    """The two-sided p-value of the paired t-test on per-episode ``differences`` (n >= 2;
    t = mean / (sd / sqrt(n)), n - 1 degrees of freedom): `scipy.stats.ttest_rel`'s,
    except that all-zero differences give 1 where scipy gives NaN."""
    d = np.asarray(differences, dtype=np.float64)
    if len(d) < 2:
        raise ValueError(f"t_p_value: {len(d)} difference(s); a paired test needs at least 2")
    if not d.any():
        return 1.0
    delta, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(len(d))
    t = delta / se if se > 0 else math.copysign(math.inf, delta)
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order of ``p_values``.

    ``p_values``: 1-D, each in [0, 1] or NaN.  With the m non-NaN values sorted,
    p_(1) <= ... <= p_(m), q_(k) = min over j >= k of min(1, m * p_(j) / j); so q is
    monotone in p and capped at 1, and rejecting q <= alpha is the BH step-up procedure
    at false discovery rate alpha.  Equals ``scipy.stats.false_discovery_control(p,
    method="bh")``.  NaN inputs stay NaN and do not count in m.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"benjamini_hochberg: p_values must be 1-D, got shape {p.shape}")
    known = ~np.isnan(p)
    if np.any((p[known] < 0) | (p[known] > 1)):
        raise ValueError("benjamini_hochberg: p-values must lie in [0, 1] (or be NaN)")
    q = np.full(len(p), np.nan)
    values = p[known]
    m = len(values)
    if m:
        order = np.argsort(values, kind="stable")
        scaled = values[order] * m / np.arange(1, m + 1)
        adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
        out = np.empty(m)
        out[order] = adjusted
        q[known] = out
    return [float(v) for v in q]


def _scores(values: Sequence[float], name: str) -> NDArray[np.float64]:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"paired_test: {name} must be 1-D (one score per episode), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"paired_test: {name} holds non-finite scores")
    return x


def _reaches(d: NDArray[np.float64]) -> float:
    """The threshold |sum(s * d)| must reach to count as extreme as the observed |sum(d)|."""
    return abs(float(d.sum())) - TIE_TOLERANCE * float(np.abs(d).sum())


def _exact_sign_flip_p(d: NDArray[np.float64]) -> float:
    """Fraction of all 2**n sign vectors s with |sum(s * d)| reaching |sum(d)|; ``d``: (n,)."""
    n = len(d)
    total = 1 << n
    threshold = _reaches(d)
    bits = np.arange(n, dtype=np.int64)
    rows = max(1, CHUNK_ENTRIES // n)
    count = 0
    for start in range(0, total, rows):
        codes = np.arange(start, min(start + rows, total), dtype=np.int64)
        signs = np.where((codes[:, None] >> bits) & 1, -1.0, 1.0)  # (rows, n); code 0: the observed signs
        count += int(np.count_nonzero(np.abs(signs @ d) >= threshold))
    return count / total


def _random_sign_flip_p(d: NDArray[np.float64], permutations: int, seed: int) -> float:
    """(1 + count) / (1 + permutations) over ``permutations`` random sign vectors; ``d``: (n,)."""
    n = len(d)
    rng = np.random.default_rng(seed)
    threshold = _reaches(d)
    rows = max(1, CHUNK_ENTRIES // n)
    count = 0
    for start in range(0, permutations, rows):
        k = min(rows, permutations - start)
        signs = np.where(rng.random((k, n)) < 0.5, 1.0, -1.0)  # (k, n), row-major: chunking keeps the stream
        count += int(np.count_nonzero(np.abs(signs @ d) >= threshold))
    return (1 + count) / (1 + permutations)
