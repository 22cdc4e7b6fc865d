"""transformer-icl: support-block truncation, sliding-window indexing, batched scoring,
training through the runner, save/load, samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.contract.methods import MethodSpec, make_method
from benchmark.contract.overrides import trained_label
from benchmark.contract.settings import SettingError
from benchmark.nn.sequence import token_nll
from benchmark.nn.transformer import KVCache, TransformerConfig, TransformerLM
from benchmark.run.runner import evaluate
from benchmark.scoring.nll import score_episodes
from episodes.encoding import VOCAB_SIZE
from episodes.tokens import BOS, EOS, PAD
from episodes.types import Item
from methods.transformer_icl import (
    ICLAdapted,
    TransformerICL,
    fair_shares,
    lr_factor,
    query_windows,
    support_block,
)
from tests.conftest import TEST_BUDGET


def song(n: int, seed: int = 0) -> Item:
    rng = np.random.default_rng(seed)
    tokens = np.concatenate([[BOS], rng.integers(3, VOCAB_SIZE, size=n - 2), [EOS]]).astype(np.uint16)
    return Item(f"s{seed}", "a", tokens, {"tokens": n - 1})


@pytest.fixture(scope="module")
def tiny_model() -> TransformerLM:
    torch.manual_seed(0)
    return TransformerLM(TransformerConfig(VOCAB_SIZE, d_model=32, layers=2, heads=2, ff=64, context=64, dropout=0.0))


@given(st.lists(st.integers(1, 300), max_size=9), st.integers(0, 600))
@settings(max_examples=200, deadline=None)
def test_fair_shares_keep_short_songs_whole_and_split_the_rest_evenly(lengths, budget):
    shares = fair_shares(lengths, budget)
    assert all(0 <= s <= n for s, n in zip(shares, lengths)) and sum(shares) <= budget
    if sum(lengths) <= budget:
        assert shares == lengths
    cut = [s for s, n in zip(shares, lengths) if s < n]
    if cut:  # every truncated song gets at least as much as any other song, minus rounding
        assert min(cut) >= max(shares) - 1 and budget - sum(shares) < len(lengths)


def test_support_block_is_the_songs_in_order_cut_to_their_shares():
    support = [song(10, 1), song(300, 2), song(40, 3)]
    block = support_block(support, 100)
    assert len(block) == 100
    # 10 and 40 fit in equal shares of 100 and are kept whole; the long song gets the other 50
    assert np.array_equal(block[:10], support[0].tokens) and np.array_equal(block[60:], support[2].tokens)
    assert np.array_equal(block[10:60], support[1].tokens[:50])
    assert len(support_block([], 100)) == 0


@pytest.mark.parametrize(
    "prefix,n,context,stride",
    [(0, 50, 64, 16), (20, 30, 64, 16), (20, 200, 64, 16), (40, 61, 64, 8), (10, 2, 64, 30), (30, 35, 64, 33)],
)
def test_query_windows_score_each_token_once_with_enough_context(prefix, n, context, stride):
    block = np.arange(1000, 1000 + prefix)
    tokens = np.arange(n)  # token j has value j, so a window's content shows its positions
    windows = query_windows(block, tokens, context=context, stride=stride)
    scored = []
    width = context - prefix
    for w in windows:
        assert len(w.tokens) <= context and np.array_equal(w.tokens[:prefix], block)
        body = w.tokens[prefix:]
        assert np.array_equal(body, np.arange(body[0], body[0] + len(body)))  # a contiguous query slice
        for i in range(w.lo, w.hi):
            j = int(w.tokens[i + 1])  # the query token predicted at position i
            scored.append(j)
            seen = j - int(body[0])  # query tokens before j inside this window
            assert seen >= min(j, width - stride)
    assert sorted(scored) == list(range(1, n))


@pytest.mark.parametrize("train", [False, True])
def test_the_transformer_is_causal(tiny_model, train):
    x = torch.randint(3, VOCAB_SIZE, (2, 40))
    y = x.clone()
    y[:, 25:] = torch.randint(3, VOCAB_SIZE, (2, 15))
    tiny_model.train(train)  # dropout is 0: train and eval modes take different attention paths
    a, b = tiny_model(x), tiny_model(y)
    tiny_model.eval()
    assert torch.allclose(a[:, :25], b[:, :25], atol=1e-5) and not torch.allclose(a[:, 25:], b[:, 25:])


def test_windowed_scores_match_one_full_pass_when_the_song_fits(tiny_model):
    block = support_block([song(12, 1), song(30, 2)], 24)
    item = song(35, 3)
    got = ICLAdapted(tiny_model, block, stride=8).log_prob([item])[0]
    seq = torch.from_numpy(np.concatenate([block, item.tokens]).astype(np.int64))[None]  # (1, 59)
    targets = seq[:, 1:].clone()
    targets[:, : len(block)] = PAD  # only the query's tokens after BOS are scored
    expected = -token_nll(tiny_model.eval()(seq[:, :-1]), targets).sum().item()
    assert np.isclose(got, expected, rtol=1e-5)


def test_batched_scoring_matches_one_query_at_a_time(tiny_model):
    method = TransformerICL(context=64, support_budget=24, stride=8)
    method.model = tiny_model
    supports = [[song(20, 1), song(9, 2)], [], [song(50, 3)]]
    queries = [[song(90, 4), song(5, 5)], [song(64, 6)], [song(30, 7)]]
    adapted = method.adapt_many(supports)
    batched = method.log_prob_many(adapted, queries)
    single = [np.array([a.log_prob([it])[0] for it in q]) for a, q in zip(adapted, queries)]
    assert all(np.allclose(b, s, rtol=1e-5) for b, s in zip(batched, single))
    assert not np.isclose(batched[0][0], method.adapt([]).log_prob([queries[0][0]])[0])  # the support is read


def test_samples_slide_past_the_context(tiny_model):
    adapted = ICLAdapted(tiny_model, support_block([song(100, 1)], 48), stride=8)
    samples = adapted.sample(3, max_len=40, generator=np.random.default_rng(0))  # 48 + 40 > 64
    assert len(samples) == 3 and all(s[0] == BOS and 1 < len(s) <= 40 for s in samples)
    assert all(PAD not in s[1:] and BOS not in s[1:] for s in samples)


def test_kv_cache_logits_equal_full_forward_passes(tiny_model):
    tiny_model.eval()
    seq = torch.randint(3, VOCAB_SIZE, (3, 64))
    full = tiny_model(seq)  # (3, 64, V)
    cache = KVCache(tiny_model)
    assert torch.allclose(cache.prefill(seq[:, :20]), full[:, 19], atol=1e-5)
    for t in range(20, 64):
        assert torch.allclose(cache.step(seq[:, t : t + 1]), full[:, t], atol=1e-5)
    assert cache.length == 64
    with pytest.raises(ValueError, match="whole 64-token context"):
        cache.step(seq[:, :1])


def test_cached_sampling_draws_what_full_passes_would(tiny_model, monkeypatch):
    """Without sliding, the cached sampler draws the same tokens as one that reruns the
    whole window every step (same generator, same logits to rounding)."""
    import benchmark.nn.transformer as tr

    prefix = support_block([song(20, 1)], 16)
    cached = tr.sample_transformer(tiny_model, prefix, 4, max_len=40, generator=np.random.default_rng(5))

    class Uncached(tr.KVCache):
        def step(self, tokens):
            self.seen = torch.cat([self.seen, tokens], dim=1)
            return self.model(self.seen)[:, -1]

        def prefill(self, tokens):
            self.seen = tokens
            return self.model(tokens)[:, -1]

    monkeypatch.setattr(tr, "KVCache", Uncached)
    full = tr.sample_transformer(tiny_model, prefix, 4, max_len=40, generator=np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(cached, full))


def test_learning_rate_warms_up_then_decays_to_a_tenth():
    factors = [lr_factor(s, warmup=10, steps=100) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:])) and factors[-1] == pytest.approx(0.1, abs=1e-3)


def test_transformer_icl_trains_through_the_runner_and_reloads(track, tmp_path):
    evaluate(
        MethodSpec.parse("transformer-icl"),
        track,
        shots=5,
        n_episodes=6,
        out=tmp_path / "r",
        budget=TEST_BUDGET,
        models=tmp_path / "m",
        log=lambda m: None,
    )
    run = json.loads(next((tmp_path / "r").glob("transformer-icl__*.run.json")).read_text())
    assert {"context", "support_budget", "stride", "d_model"} <= set(run["hparams"])
    curve = run["train"]["train_log"]["val_curve"]
    assert len(curve) == 2 and curve[-1][1] < np.log(VOCAB_SIZE)
    where = next((tmp_path / "m").rglob("transformer-icl/*/state.pt")).parent
    assert list((where / "logs").glob("events.out.tfevents.*"))
    loaded = TransformerICL()
    loaded.load(where)
    assert loaded.hparams() == run["hparams"]
    episodes = [track.episode(s) for s in track.manifest("test").episodes[:6]]
    records = [json.loads(line) for line in next((tmp_path / "r").glob("transformer-icl__*.jsonl")).open()]
    recorded = {r["episode_id"]: r["nll_nats"] for r in records}
    rescored = score_episodes(loaded, episodes)
    assert all(np.allclose(s.nll_nats, recorded[e.episode_id], rtol=1e-5) for s, e in zip(rescored, episodes))


def test_window_settings_train_a_variant_and_refuse_what_leaves_no_room():
    method = make_method("transformer-icl[context=256,support_budget=128,stride=64]")
    assert (method.context, method.support_budget, method.stride) == (256, 128, 64)
    assert trained_label(method) == "transformer-icl[context=256,stride=64,support_budget=128]"
    with pytest.raises(SettingError, match="leaves -256 of the 256-token context"):
        make_method("transformer-icl[context=256]")
    with pytest.raises(SettingError, match="stride 256 must be below"):
        make_method("transformer-icl[context=512,support_budget=256]")


def test_shape_settings_train_that_network_and_reload_it(track, tmp_path):
    spec = MethodSpec.parse("transformer-icl[layers=1,d_model=64,dropout=0.0]")
    evaluate(spec, track, shots=5, n_episodes=2, out=tmp_path / "r", budget=TEST_BUDGET, models=tmp_path / "m")
    run = json.loads(next((tmp_path / "r").glob("transformer-icl_*.run.json")).read_text())
    assert run["method"] == "transformer-icl[d_model=64,dropout=0.0,layers=1]"
    assert {k: run["hparams"][k] for k in ("layers", "d_model", "heads", "ff", "dropout")} == {
        "layers": 1,
        "d_model": 64,
        "heads": 2,
        "ff": 256,
        "dropout": 0.0,
    }
    loaded = make_method("transformer-icl")
    loaded.load(next((tmp_path / "m").rglob("state.pt")).parent)
    assert loaded.model.cfg.d_model == 64 and len(loaded.model.blocks.layers) == 1
    assert loaded.hparams() == run["hparams"]
    # the default configuration's settings (and so its records' run keys) carry no shape keys
    assert not {"layers", "d_model", "dropout"} & set(TransformerICL().init_args())
    with pytest.raises(SettingError, match="d_model 48 must be a multiple of 32"):
        make_method("transformer-icl[d_model=48]")
