"""Sample quality of audio models: generated notes against the held-out query notes.

Both sets are mapped to a fixed 128-d feature space (`features`): the level
spectrum averaged over time (64 mel bands: timbre and pitch) and the level envelope
averaged over bands (64 frames: attack, decay, release), in units of levels / 255.
On those features:

| figure | meaning | better |
|---|---|---|
| ``kid`` | unbiased MMD^2 with the cubic polynomial kernel ``(a.b / d + 1)^3`` (KID, Binkowski et al. 2018); can be < 0 | lower |
| ``mmd_rbf`` | unbiased MMD^2 with a Gaussian kernel, bandwidth the median pairwise distance of both sets | lower |
| ``precision`` | share of samples inside the query notes' k-NN balls (Kynkaanniemi et al. 2019) | higher |
| ``recall`` | share of query notes inside the samples' k-NN balls; mode collapse shows as low recall | higher |
| ``coverage`` | share of query notes whose k-NN ball holds a sample (Naeem et al. 2020) | higher |

k = min(3, m - 1) for m notes in a set; with few query notes these figures are
coarse per episode and meaningful as means over many episodes.  Unbiased kernel
statistics are used because Frechet distances are biased at a few samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from episodes.audio_encoding import LEVELS

DIRECTIONS = {"kid": "lower", "mmd_rbf": "lower", "precision": "higher", "recall": "higher", "coverage": "higher"}
NEIGHBOURS = 3


def features(levels: Sequence[np.ndarray]) -> np.ndarray:
    """``(n, 128)`` features of level arrays of shape ``(n_mels, n_frames)``."""
    x = np.stack([np.asarray(a, dtype=np.float64) for a in levels]) / (LEVELS - 1)  # (n, mels, frames)
    return np.concatenate([x.mean(2), x.mean(1)], axis=1)


def unbiased_mmd2(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 from kernel matrices (Gretton et al. 2012); needs >= 2 points per set."""
    m, n = len(kxx), len(kyy)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0.0)


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of ``x`` to its k-th nearest other row."""
    d = np.sqrt(_sq_dists(x, x))
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


@dataclass(frozen=True)
class AudioQuality:
    kid: float
    mmd_rbf: float
    precision: float
    recall: float
    coverage: float
    n_samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def audio_quality(samples: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> AudioQuality:
    """Quality figures of generated level arrays against reference ones (>= 2 of each)."""
    if len(samples) < 2 or len(references) < 2:
        raise ValueError("audio quality needs at least 2 samples and 2 references")
    y, x = features(samples), features(references)
    d = x.shape[1]
    poly = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731 - the KID kernel
    kid = unbiased_mmd2(poly(x, x), poly(y, y), poly(x, y))
    both = np.concatenate([x, y])
    sq = _sq_dists(both, both)
    bandwidth2 = max(float(np.median(sq[np.triu_indices(len(both), 1)])), 1e-12)
    rbf = np.exp(-sq / (2 * bandwidth2))
    m = len(x)
    mmd = unbiased_mmd2(rbf[:m, :m], rbf[m:, m:], rbf[:m, m:])
    rx, ry = _knn_radius(x, min(NEIGHBOURS, m - 1)), _knn_radius(y, min(NEIGHBOURS, len(y) - 1))
    dxy = np.sqrt(_sq_dists(x, y))  # (m, n)
    return AudioQuality(
        kid=kid,
        mmd_rbf=mmd,
        precision=float((dxy <= rx[:, None]).any(0).mean()),
        recall=float((dxy <= ry[None, :]).any(1).mean()),
        coverage=float((dxy.min(1) < rx).mean()),
        n_samples=len(samples),
    )
