"""Audio tracks: NSynth-format data, the rendered GM corpus, representation v1 and
the Gaussian baselines (closed forms, dequantisation bound)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from baselines.gaussian import (
    RANK_GRID,
    DiagonalGaussian,
    GaussianSupport,
    LowRankGaussian,
    PPCASupport,
)
from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec
from benchmark.contract.registry import RegistryError
from benchmark.run.runner import evaluate
from benchmark.scoring.dequantise import LOG_LEVELS, dequantised, discrete_log_prob
from episodes import audio_encoding
from episodes.tracks import Track
from episodes.types import Item
from tests.conftest import TEST_BUDGET


def quiet(_msg: str) -> None:
    pass


def item_of(levels: np.ndarray, item_id: str = "x") -> Item:
    return Item(item_id, "a", levels.astype(np.uint8).reshape(audio_encoding.SHAPE))


def _meta_train(track: Track):
    from benchmark.contract.protocol import MetaTrainData

    return MetaTrainData(track, seed=0)


def test_diagonal_and_low_rank_gaussians_match_closed_forms():
    rng = np.random.default_rng(0)
    items = [item_of(rng.integers(0, 256, audio_encoding.N_DIMS), f"i{k}") for k in range(3)]
    x = dequantised(items)
    assert x.min() >= 0 and x.max() < 1 and np.all(np.floor(x * 256) == np.stack([i.tokens.ravel() for i in items]))
    mean, var = rng.random(x.shape[1]), rng.uniform(0.01, 0.2, x.shape[1])
    expected = stats.norm.logpdf(x, mean, np.sqrt(var)).sum(1) - x.shape[1] * math.log(256)
    assert DiagonalGaussian(mean, var).log_prob(items) == pytest.approx(expected, rel=1e-10)
    # low rank + isotropic, checked densely on a small dimension
    small = rng.random((4, 12))
    factor, noise, centre = rng.normal(size=(12, 3)), 0.05, rng.random(12)
    dense = stats.multivariate_normal(centre, noise * np.eye(12) + factor @ factor.T).logpdf(small)
    assert LowRankGaussian(centre, noise, factor).log_density(small) == pytest.approx(dense, rel=1e-9)
    assert discrete_log_prob(np.zeros(2), 10).tolist() == [-10 * LOG_LEVELS] * 2  # uniform: ln 256 per dim


def test_support_shrinkage_limits(audio_track):
    method = PPCASupport(kappa=1e9)
    method.fit(_meta_train(audio_track), budget=TEST_BUDGET, logdir=audio_track.store.root / "unused")
    episode = audio_track.episode(audio_track.manifest("test").episodes[0])
    global_model = GaussianSupport.adapt(method, [])  # the diagonal global model
    diag = GaussianSupport(kappa=1e9)
    diag.state = method.state
    assert diag.adapt(episode.support).log_prob(episode.query) == pytest.approx(
        global_model.log_prob(episode.query), rel=1e-6
    )
    diag.kappa = 1e-9  # no prior: the support's own mean and variance
    x = dequantised(episode.support)
    assert diag.adapt(episode.support).mean == pytest.approx(x.mean(0))
    assert method.rank in RANK_GRID


def test_audio_baselines_run_through_the_runner_and_adapting_helps(audio_track, tmp_path, capsys):
    for method in ("gaussian-global", "gaussian-support", "ppca-support"):
        evaluate(
            MethodSpec.parse(method),
            audio_track,
            shots=5,
            n_episodes=20,
            out=tmp_path / "r",
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            log=quiet,
        )
    record = json.loads((tmp_path / "r" / "ppca-support__audio-nsynth__K5.jsonl").read_text().splitlines()[0])
    assert record["units"]["dims"] == [audio_encoding.N_DIMS] * 4
    assert 0 < record["nats_per_token"] < LOG_LEVELS
    run = json.loads((tmp_path / "r" / "ppca-support__audio-nsynth__K5.run.json").read_text())
    assert run["encoding"] == "logmel8" and run["hparams"]["rank"] in RANK_GRID
    from leaderboard.aggregate import leaderboard_rows

    rows = {r.method: r for r in leaderboard_rows(tmp_path / "r")}
    assert rows["gaussian-global"].reference == "gaussian-support" and rows["gaussian-global"].unit == "dims"
    assert rows["ppca-support"].nll_nats_per_token < rows["gaussian-global"].nll_nats_per_token  # adapting helps
    assert rows["ppca-support"].delta_vs_reference < 0
    assert main(["leaderboard", "--results", str(tmp_path / "r")]) == 0
    assert "bits/dim (±95% CI)" in capsys.readouterr().out


def test_methods_refuse_tracks_of_another_modality(audio_track, track, tmp_path):
    with pytest.raises(RegistryError, match="models midi/lyrics tracks, not audio.*gaussian-support"):
        evaluate(
            MethodSpec.parse("lstm"),
            audio_track,
            shots=5,
            n_episodes=1,
            out=tmp_path,
            budget=TEST_BUDGET,
            models=tmp_path,
        )
    with pytest.raises(RegistryError, match="models audio tracks, not midi"):
        evaluate(
            MethodSpec.parse("gaussian-global"),
            track,
            shots=5,
            n_episodes=1,
            out=tmp_path,
            budget=TEST_BUDGET,
            models=tmp_path,
        )
