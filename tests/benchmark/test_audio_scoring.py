"""Audio tracks: NSynth-format data, the rendered GM corpus, representation v1 and
the Gaussian baselines (closed forms, dequantisation bound)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from baselines.gaussian import (
    DiagonalGaussian,
)
from benchmark.contract.methods import MethodSpec
from benchmark.run.runner import evaluate
from episodes import audio_encoding
from episodes.types import Item
from tests.conftest import TEST_BUDGET


def quiet(_msg: str) -> None:
    pass


def item_of(levels: np.ndarray, item_id: str = "x") -> Item:
    return Item(item_id, "a", levels.astype(np.uint8).reshape(audio_encoding.SHAPE))


def test_dequantised_score_bounds_the_exact_discrete_likelihood():
    """E_u[log p(x)] - D log L <= log P(q) (Jensen); P(q) integrates p over each cell."""
    rng = np.random.default_rng(1)
    mean, sd = rng.uniform(0.3, 0.7, audio_encoding.N_DIMS), rng.uniform(0.005, 0.1, audio_encoding.N_DIMS)
    levels = np.clip(np.floor((mean + sd * rng.standard_normal(mean.size)) * 256), 0, 255)
    cells = stats.norm.cdf((levels + 1) / 256, mean, sd) - stats.norm.cdf(levels / 256, mean, sd)
    exact = np.log(cells).sum()
    model = DiagonalGaussian(mean, sd**2)
    bound = np.mean([model.log_prob([item_of(levels, f"draw{k}")])[0] for k in range(20)])
    assert bound <= exact and bound > exact - 0.05 * audio_encoding.N_DIMS


def test_kernel_statistics_are_unbiased_and_see_a_shift():
    from benchmark.scoring.audio_quality import unbiased_mmd2

    rng = np.random.default_rng(2)

    def rbf(a, b):
        return np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / 2)

    same, shifted = [], []
    for _ in range(300):
        x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
        same.append(unbiased_mmd2(rbf(x, x), rbf(y, y), rbf(x, y)))
        shifted.append(unbiased_mmd2(rbf(x, x), rbf(y + 1.5, y + 1.5), rbf(x, y + 1.5)))
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(300)  # zero in expectation
    assert np.mean(shifted) > 10 * np.std(same) / np.sqrt(300)
    brute = np.mean([rbf(x[i : i + 1], x[j : j + 1])[0, 0] for i in range(6) for j in range(6) if i != j])
    k = rbf(x, x)
    assert (k.sum() - np.trace(k)) / 30 == pytest.approx(brute)


def test_coverage_and_recall_see_mode_collapse():
    from benchmark.scoring.audio_quality import audio_quality

    refs = [np.full(audio_encoding.SHAPE, 50 * i) for i in range(6)]  # six well-separated notes
    perfect = audio_quality(refs, refs)
    assert perfect.precision == perfect.recall == perfect.coverage == 1.0 and perfect.kid < 0.01
    collapsed = audio_quality([refs[0]] * 6, refs)
    assert collapsed.recall < 0.5 and collapsed.coverage <= 0.5 and collapsed.mmd_rbf > perfect.mmd_rbf


def test_audio_samples_are_scored_and_reproducible(audio_track, tmp_path):
    paths = [
        evaluate(
            MethodSpec.parse("gaussian-support"),
            audio_track,
            shots=5,
            n_episodes=3,
            out=tmp_path / out,
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            samples=6,
            log=quiet,
        )
        for out in ("a", "b")
    ]
    first, second = ([json.loads(line) for line in p.read_text().splitlines()] for p in paths)
    metrics = first[0]["quality"]["metrics"]
    assert set(metrics) == {"kid", "mmd_rbf", "precision", "recall", "coverage", "n_samples"}
    assert 0 <= metrics["coverage"] <= 1 and metrics["n_samples"] == 6
    assert [r["quality"] for r in first] == [r["quality"] for r in second]
