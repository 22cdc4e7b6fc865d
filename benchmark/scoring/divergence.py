"""Divergences between count histograms, shared by the sample-quality metrics."""

from __future__ import annotations

import math

import numpy as np


def js_bits(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits between two count histograms on the same bins.

    ``JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2`` with ``M = (P + Q) / 2`` and base-2
    logarithms (0 log 0 = 0).  Symmetric; range 0..1 (0: same distribution, 1: disjoint
    supports).  ``nan`` if either histogram is empty.
    """
    p = np.asarray(p_counts, dtype=np.float64)
    q = np.asarray(q_counts, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return math.nan
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return float(min(1.0, max(0.0, (_kl_bits(p, m) + _kl_bits(q, m)) / 2)))


def _kl_bits(p: np.ndarray, m: np.ndarray) -> float:
    """KL(p || m) in bits, with 0 log 0 = 0; ``m`` must be positive wherever ``p`` is."""
    nz = p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / m[nz])))
