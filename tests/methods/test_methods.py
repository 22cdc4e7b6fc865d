"""Adaptation methods: causality of dyneval and cache, base model untouched, fit paths."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from baselines.lstm import LSTMBaseline
from benchmark.contract.methods import MethodSpec
from benchmark.contract.protocol import MetaTrainData
from benchmark.run.runner import evaluate
from benchmark.scoring.nll import score_episodes
from episodes.types import Item
from methods.cache import NeuralCache
from methods.dyneval import DynEval
from methods.finetune import FineTune
from tests.conftest import TEST_BUDGET


@pytest.fixture(scope="module")
def base(track, tmp_path_factory):
    method = LSTMBaseline()
    method.fit(MetaTrainData(track, seed=0), budget=TEST_BUDGET, logdir=tmp_path_factory.mktemp("lstm"))
    return method


@pytest.fixture(scope="module")
def episode(track):
    return track.episode(track.manifest("test").episodes[0])


def with_base(cls, base, **kwargs):
    method = cls(**kwargs)
    method.model = base.model
    return method


def altered_after(item: Item, p: int, seed: int = 0) -> Item:
    """``item`` with every token after position ``p`` replaced at random."""
    rng = np.random.default_rng(seed)
    tokens = item.tokens.copy()
    tokens[p + 1 :] = rng.integers(3, 299, size=len(tokens) - p - 1)
    return Item(item.item_id, item.artist, tokens, item.units)


@pytest.mark.parametrize("p", [5, 16, 40])
def test_dyneval_never_uses_a_token_before_scoring_it(base, episode, p):
    method = with_base(DynEval, base, dyn_lr=0.05, decay=0.01, segment=8)
    adapted = method.adapt(episode.support)
    item = episode.query[0]
    a, b = adapted.token_nll(item), adapted.token_nll(altered_after(item, p))
    assert np.allclose(a[:p], b[:p], atol=1e-5)  # NLL of tokens 1..p: unchanged
    assert not np.allclose(a[p:], b[p:])  # later tokens (and updates) do change
    # the dynamic updates matter: scores differ from the static support-adapted model
    static = with_base(DynEval, base, dyn_lr=0.0, decay=0.0, segment=8).adapt(episode.support).token_nll(item)
    assert not np.allclose(a, static)


@pytest.mark.parametrize("p", [3, 20, 45])
def test_cache_never_reads_query_tokens_it_has_not_scored(base, episode, p):
    adapted = with_base(NeuralCache, base, theta=1.0, lam=0.3).adapt(episode.support)
    item = episode.query[1]
    a, b = adapted.token_nll(item), adapted.token_nll(altered_after(item, p, seed=1))
    assert np.allclose(a[:p], b[:p], atol=1e-6)
    assert not np.allclose(a[p:], b[p:])
    plain = -LSTMBaseline.log_prob_many(base, [base.adapt([])], [[item]])[0][0]
    assert not np.isclose(a.sum(), plain)  # the cache changes the likelihood
    assert np.isclose(
        with_base(NeuralCache, base, theta=1.0, lam=1e-12).adapt([]).token_nll(item).sum(), plain, rtol=1e-4
    )


def test_cache_scores_its_meta_val_grid_in_one_pass_exactly_as_setting_by_setting(base, track):
    from benchmark.scoring.nll import score_episodes
    from benchmark.training.selection import grid, select_on_val

    episodes = [track.episode(s) for s in track.manifest("val").episodes[:4]]
    method = with_base(NeuralCache, base)
    settings = grid(method.grid)
    at_once = method.score_grid(settings, episodes)
    for setting, scores in zip(settings, at_once):
        one = score_episodes(with_base(NeuralCache, base, **setting), episodes)
        assert [s.nll_nats for s in scores] == [s.nll_nats for s in one]  # the same floats
    table = select_on_val(method, settings, episodes)
    best = min(table, key=lambda row: row["val_nats_per_token"])
    assert (method.theta, method.lam) == (best["theta"], best["lam"]) and len(table) == len(settings) == 12


@pytest.mark.parametrize(
    "cls,kwargs", [(FineTune, {"steps": 3, "adapt_lr": 3e-3}), (DynEval, {"dyn_lr": 0.05}), (NeuralCache, {})]
)
def test_adapt_leaves_the_base_model_unchanged(cls, kwargs, base, track):
    method = with_base(cls, base, **kwargs)
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    episodes = [track.episode(s) for s in track.manifest("test").episodes[:3]]
    first = score_episodes(method, episodes)
    assert all(torch.equal(v, base.model.state_dict()[k]) for k, v in before.items())
    again = score_episodes(method, episodes)  # and nothing leaks from one episode into the next
    assert np.allclose([s.nll_nats for s in first], [s.nll_nats for s in again])


def test_finetuning_fits_the_support_set(base, episode):
    method = with_base(FineTune, base, steps=10, adapt_lr=3e-3)
    before = -base.adapt([]).log_prob(episode.support).sum()
    after = -method.adapt(episode.support).log_prob(episode.support).sum()
    assert after < before


def test_methods_fit_from_the_shared_lstm_through_the_runner(track, tmp_path):
    for name in ("cache", "finetune"):
        evaluate(
            MethodSpec.parse(name),
            track,
            shots=5,
            n_episodes=4,
            out=tmp_path / "r",
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            log=lambda m: None,
        )
    assert len(list((tmp_path / "m").rglob("lstm/*/state.pt"))) == 1  # trained once, shared
    run = json.loads(next((tmp_path / "r").glob("cache__*.run.json")).read_text())
    grid = run["train"]["train_log"]["val_grid"]
    assert len(grid) == 12 and {"theta", "lam", "val_nats_per_token"} <= set(grid[0])
    assert run["hparams"]["theta"] == min(grid, key=lambda r: r["val_nats_per_token"])["theta"]
