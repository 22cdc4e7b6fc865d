"""Baselines: closed-form unigram scores, adaptation helps, LSTMs train, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.lstm import LSTMBaseline, LSTMConcat
from baselines.unigram import Unigram, UnigramSupport, token_counts
from benchmark.contract.protocol import MetaTrainData
from benchmark.scoring.nll import episode_nats_per_token, mean_nats_per_token, score_episodes
from episodes.encoding import VOCAB_SIZE
from episodes.tokens import BOS, PAD
from tests.conftest import TEST_BUDGET


@pytest.fixture(scope="module")
def data(track):
    return MetaTrainData(track, seed=0)


@pytest.fixture(scope="module")
def test_episodes(track):
    return [track.episode(s) for s in track.manifest("test").episodes[:40]]


def test_unigram_matches_closed_form(data, tmp_path):
    method = Unigram()
    method.fit(data, budget=TEST_BUDGET, logdir=tmp_path)
    counts = token_counts(data.train_items(), VOCAB_SIZE) + 0.5
    counts[[PAD, BOS]] = 0
    item = data.train_items()[0]
    expected = np.log(counts[item.tokens[1:]] / counts.sum()).sum()
    assert np.isclose(method.adapt([]).log_prob([item])[0], expected)


def test_episode_nats_per_token_is_each_episodes_total_nats_over_its_tokens(data, test_episodes, tmp_path):
    method = Unigram()
    method.fit(data, budget=TEST_BUDGET, logdir=tmp_path)
    episodes = test_episodes[:5]
    expected = [
        -method.adapt(e.support).log_prob(e.query).sum() / sum(it.units["tokens"] for it in e.query) for e in episodes
    ]
    assert episode_nats_per_token(method, episodes) == pytest.approx(expected)


def test_unigram_support_beats_unigram_and_picks_alpha_on_val(data, test_episodes, tmp_path):
    uni, sup = Unigram(), UnigramSupport()
    uni.fit(data, budget=TEST_BUDGET, logdir=tmp_path)
    sup.fit(data, budget=TEST_BUDGET, logdir=tmp_path)
    assert sup.hparams()["alpha"] in (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
    assert mean_nats_per_token(score_episodes(sup, test_episodes)) < mean_nats_per_token(
        score_episodes(uni, test_episodes)
    )


@pytest.mark.parametrize("cls", [LSTMBaseline, LSTMConcat])
def test_lstm_trains_saves_loads_and_is_unchanged_by_adapt(cls, data, test_episodes, tmp_path):
    method = cls()
    method.fit(data, budget=TEST_BUDGET, logdir=tmp_path / "logs")
    curve = method.train_log["val_curve"]
    assert len(curve) == 2 and all(np.isfinite(v) for _, v in curve)
    assert curve[-1][1] < np.log(VOCAB_SIZE)  # better than uniform after a few steps
    assert list((tmp_path / "logs").glob("events.out.tfevents.*"))
    before = {k: v.clone() for k, v in method.model.state_dict().items()}
    scores = score_episodes(method, test_episodes[:8])
    assert all(k_v[1].equal(method.model.state_dict()[k_v[0]]) for k_v in before.items())
    method.save(tmp_path / "m")
    loaded = cls()
    loaded.load(tmp_path / "m")
    again = score_episodes(loaded, test_episodes[:8])
    assert np.allclose([s.nll_nats for s in scores], [s.nll_nats for s in again])
    assert loaded.hparams() == method.hparams()


def test_batched_scoring_matches_one_episode_at_a_time(data, test_episodes, tmp_path):
    method = LSTMConcat()
    method.fit(data, budget=TEST_BUDGET, logdir=tmp_path)
    batched = score_episodes(method, test_episodes[:6], chunk=6)
    single = [score_episodes(method, [e], chunk=1)[0] for e in test_episodes[:6]]
    assert np.allclose([s.nll_nats for s in batched], [s.nll_nats for s in single], rtol=1e-5)
    # reading the support set changes the query scores (the state is used)
    zero_shot = method.adapt([]).log_prob(test_episodes[0].query)
    assert not np.allclose(zero_shot, -np.array(single[0].nll_nats))


def test_samples_are_token_sequences(data, tmp_path, test_episodes):
    method = LSTMConcat()
    method.fit(data, budget=TEST_BUDGET, logdir=tmp_path)
    rng = np.random.default_rng(0)
    samples = method.adapt(test_episodes[0].support).sample(3, max_len=40, generator=rng)
    assert len(samples) == 3 and all(s[0] == BOS and 1 < len(s) <= 40 for s in samples)
    assert all(PAD not in s[1:] and BOS not in s[1:] for s in samples)
    uni = Unigram()
    uni.fit(data, budget=TEST_BUDGET, logdir=tmp_path)
    assert all(s[0] == BOS and len(s) <= 40 for s in uni.adapt([]).sample(3, max_len=40, generator=rng))
