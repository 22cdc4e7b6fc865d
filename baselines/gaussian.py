"""Gaussian baselines for audio tracks, on dequantised log-mel levels (`benchmark.scoring.dequantise`).

- ``gaussian-global``: a diagonal Gaussian fit on every meta-train note; ignores the
  support set.
- ``gaussian-support``: a diagonal Gaussian on the support set, shrunk toward the
  global one with ``kappa`` pseudo-notes (the normal-inverse-gamma posterior mean)::

      mean = (sum_i x_i + kappa m_g) / (K + kappa)
      var  = (sum_i (x_i - mean)^2 + kappa (v_g + (m_g - mean)^2)) / (K + kappa)

- ``ppca-support``: the same shrinkage applied to full covariances, with a global
  probabilistic PCA (rank ``rank``; Tipping & Bishop) as the prior::

      cov = a (W W^T + s2 I + d d^T) + b sum_i (x_i - mean)(x_i - mean)^T,
      a = kappa / (K + kappa), b = 1 / (K + kappa), d = m_g - mean

  i.e. isotropic noise plus a low-rank factor (``rank + 1 + K`` columns), scored with
  the Woodbury identity in ``O(D (rank + K)^2)``.

``kappa`` (and ``rank``) are chosen on meta-val.  Inputs ``x`` live in ``[0, 1)^D``;
scores are bounds on the discrete NLL in nats.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.scoring.dequantise import dequantised, discrete_log_prob, quantised
from benchmark.training.selection import grid, select_on_val
from benchmark.training.state import load_arrays, require_fitted, save_arrays
from episodes.audio_encoding import LEVELS, SHAPE
from episodes.types import Item

KAPPA_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 128.0, 512.0)
RANK_GRID = (16, 64, 256, 512)
LOG_2PI = math.log(2 * math.pi)


class DiagonalGaussian:
    """An adapted model: independent dims, ``mean`` and ``var`` of shape ``(D,)``."""

    def __init__(self, mean: np.ndarray, var: np.ndarray) -> None:
        self.mean, self.var = mean, var

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """``log p(x)`` for rows of ``x`` (``(n, D)``), shape ``(n,)``."""
        return -0.5 * (((x - self.mean) ** 2 / self.var).sum(1) + np.log(self.var).sum() + x.shape[1] * LOG_2PI)

    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        return discrete_log_prob(self.log_density(dequantised(items)), len(self.mean))

    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        return quantised(self.mean + np.sqrt(self.var) * generator.standard_normal((n, len(self.mean))), SHAPE)


class LowRankGaussian:
    """An adapted model with covariance ``noise * I + U U^T`` (``U``: ``(D, m)``)."""

    def __init__(self, mean: np.ndarray, noise: float, factor: np.ndarray) -> None:
        self.mean, self.noise, self.factor = mean, noise, factor

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """``log p(x)`` for rows of ``x`` (``(n, D)``) by Woodbury and the determinant lemma."""
        d, (dims, m) = x - self.mean, self.factor.shape
        inner = self.noise * np.eye(m) + self.factor.T @ self.factor  # (m, m)
        chol = np.linalg.cholesky(inner)
        proj = np.linalg.solve(chol, self.factor.T @ d.T)  # (m, n): L^-1 U^T d
        quad = ((d**2).sum(1) - (proj**2).sum(0)) / self.noise
        logdet = (dims - m) * math.log(self.noise) + 2 * np.log(np.diag(chol)).sum()
        return -0.5 * (quad + logdet + dims * LOG_2PI)

    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        return discrete_log_prob(self.log_density(dequantised(items)), len(self.mean))

    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        dims, m = self.factor.shape
        x = (
            self.mean
            + math.sqrt(self.noise) * generator.standard_normal((n, dims))
            + generator.standard_normal((n, m)) @ self.factor.T
        )
        return quantised(x, SHAPE)


@register_method(group="baseline")
class GaussianGlobal:
    """A diagonal Gaussian fit on meta-train notes; ignores the support set."""

    name: ClassVar[str] = "gaussian-global"
    version: ClassVar[str] = "1"
    modalities: ClassVar[tuple[str, ...]] = ("audio",)

    def __init__(self) -> None:
        self.state: dict[str, np.ndarray] = {}

    def hparams(self) -> dict[str, Any]:
        return {}

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        x = dequantised(data.train_items())  # (n, D)
        self.state = {"mean": x.mean(0), "var": x.var(0)}
        self.fit_prior(x)
        self.select(data.val_episodes(budget.val_episodes))

    def fit_prior(self, x: np.ndarray) -> None:
        """Extra meta-train statistics (subclasses)."""

    def select(self, episodes: list) -> None:
        """Choose hyper-parameters on meta-val episodes (subclasses)."""

    def _fitted(self) -> dict[str, np.ndarray]:
        return require_fitted(self.state, self.name)

    def adapt(self, support: Sequence[Item]) -> DiagonalGaussian:
        s = self._fitted()
        return DiagonalGaussian(s["mean"], s["var"])

    def save(self, path: Path) -> None:
        save_arrays(path, self._fitted(), self.hparams())

    def load(self, path: Path) -> None:
        self.state, settings = load_arrays(path)
        self.__dict__.update(settings)

    def n_params(self) -> int:
        return int(sum(v.size for v in self._fitted().values()))


@register_method(group="baseline", reference_for=("audio",))
class GaussianSupport(GaussianGlobal):
    """A diagonal Gaussian on the support set, shrunk toward the global one."""

    name = "gaussian-support"

    def __init__(self, kappa: float = 4.0) -> None:
        super().__init__()
        self.kappa = kappa

    def hparams(self) -> dict[str, Any]:
        return {"kappa": self.kappa}

    def select(self, episodes: list) -> None:
        select_on_val(self, grid({"kappa": KAPPA_GRID}), episodes)

    def shrunk_mean(self, x: np.ndarray) -> np.ndarray:
        """The support mean shrunk toward the global one (``x``: support, ``(K, D)``)."""
        return (x.sum(0) + self.kappa * self._fitted()["mean"]) / (len(x) + self.kappa)

    def adapt(self, support: Sequence[Item]) -> DiagonalGaussian:
        s = self._fitted()
        if not support:
            return DiagonalGaussian(s["mean"], s["var"])
        x = dequantised(support)
        mean = self.shrunk_mean(x)
        var = (((x - mean) ** 2).sum(0) + self.kappa * (s["var"] + (s["mean"] - mean) ** 2)) / (len(x) + self.kappa)
        return DiagonalGaussian(mean, var)


@register_method(group="baseline")
class PPCASupport(GaussianSupport):
    """Full-covariance shrinkage toward a global probabilistic PCA."""

    name = "ppca-support"
    version = "3"  # 2: rank grid up to 128 (v1 chose 64, its edge); 3: up to 512 (v2 chose 128)

    def __init__(self, kappa: float = 4.0, rank: int = 32) -> None:
        super().__init__(kappa)
        self.rank = rank

    def hparams(self) -> dict[str, Any]:
        return {"kappa": self.kappa, "rank": self.rank}

    def fit_prior(self, x: np.ndarray) -> None:
        """The leading principal directions and eigenvalues of the meta-train
        covariance (randomised SVD, seeded), and its trace."""
        torch.manual_seed(0)
        # on the CPU whatever the run's device: the SVD's random draws are then the CPU generator's
        centred = torch.from_numpy((x - x.mean(0)).astype(np.float32))
        _, sv, v = torch.svd_lowrank(centred, q=min(max(RANK_GRID) + 16, *centred.shape), niter=4)
        self.state["eigvals"] = (sv[: max(RANK_GRID)].double() ** 2 / len(x)).numpy()  # (max rank,), descending
        self.state["directions"] = v[:, : max(RANK_GRID)].double().numpy().copy()  # (D, max rank)
        self.state["total_var"] = np.array([x.var(0).sum()])

    def select(self, episodes: list) -> None:
        select_on_val(self, grid({"rank": RANK_GRID, "kappa": KAPPA_GRID}), episodes)

    def prior(self) -> tuple[np.ndarray, float]:
        """PPCA's maximum-likelihood ``W`` (``(D, rank)``) and noise variance."""
        s = self._fitted()
        r = min(self.rank, len(s["eigvals"]))  # fewer meta-train notes than the rank: all of them
        dims = s["directions"].shape[0]
        # at least the variance of the dequantisation noise itself, 1 / (12 L^2)
        noise = max(float((s["total_var"][0] - s["eigvals"][:r].sum()) / (dims - r)), 1.0 / (12 * LEVELS**2))
        return s["directions"][:, :r] * np.sqrt(np.maximum(s["eigvals"][:r] - noise, 0.0)), noise

    def adapt(self, support: Sequence[Item]) -> LowRankGaussian:
        s = self._fitted()
        w, noise = self.prior()
        x = dequantised(support) if support else np.zeros((0, len(s["mean"])))
        mean = self.shrunk_mean(x)
        a, b = self.kappa / (len(x) + self.kappa), 1.0 / (len(x) + self.kappa)
        factor = np.concatenate(
            [math.sqrt(a) * w, math.sqrt(a) * (s["mean"] - mean)[:, None], math.sqrt(b) * (x - mean).T], axis=1
        )
        return LowRankGaussian(mean, a * noise, factor)
