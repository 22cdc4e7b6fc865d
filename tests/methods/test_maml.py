"""MAML family: the functional LSTM, meta-gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import grad

from benchmark.nn.functional_lstm import lm_nll, lstm_logits
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from methods.maml import inner_adapt, meta_loss


def tiny(dtype=torch.float64):
    torch.manual_seed(0)
    lm = LSTMLM(LSTMConfig(vocab=9, emb=3, hidden=4, dropout=0.0)).to(dtype).eval()
    params = {k: v.detach() for k, v in lm.named_parameters()}
    tasks = torch.randint(3, 9, (2, 5, 6))  # 2 tasks x (3 support + 2 query songs) x 6 tokens
    tasks[0, 1, 4:] = 0  # some padding
    return lm, params, tasks[:, :3], tasks[:, 3:]


def test_functional_lstm_matches_the_module():
    lm, params, support, _ = tiny()
    logits, _ = lm(support[0])
    assert torch.allclose(lstm_logits(params, support[0]), logits, atol=1e-10)


def finite_difference(fn, params, name, index, eps=1e-6):
    plus = {k: v.clone() for k, v in params.items()}
    minus = {k: v.clone() for k, v in params.items()}
    plus[name].view(-1)[index] += eps
    minus[name].view(-1)[index] -= eps
    return (fn(plus) - fn(minus)).item() / (2 * eps)


@pytest.mark.parametrize("steps", [1, 2])
def test_second_order_meta_gradient_matches_finite_differences(steps):
    _, params, support, query = tiny()
    alphas = {k: torch.tensor(0.5, dtype=torch.float64) for k in params}
    fn = lambda p: meta_loss(p, alphas, support, query, steps, False)  # noqa: E731
    g = grad(fn)(params)
    rng = np.random.default_rng(0)
    for name in ("lstm.weight_hh_l0", "embed.weight", "out.bias", "lstm.bias_ih_l0"):
        for index in rng.integers(params[name].numel(), size=3):
            assert np.isclose(g[name].view(-1)[index].item(), finite_difference(fn, params, name, int(index)),
                              rtol=1e-5, atol=1e-8)


def test_first_order_gradient_is_the_query_gradient_at_adapted_weights():
    _, params, support, query = tiny()
    alphas = {k: torch.tensor(0.5, dtype=torch.float64) for k in params}
    g = grad(lambda p: meta_loss(p, alphas, support, query, 1, True))(params)
    expected = {k: torch.zeros_like(v) for k, v in params.items()}
    for t in range(2):
        adapted = inner_adapt(params, alphas, support[t], 1, True)
        for k, v in grad(lm_nll)(adapted, query[t]).items():
            expected[k] += v / 2
    assert all(torch.allclose(g[k], expected[k], atol=1e-12) for k in params)


def test_metasgd_learning_rate_gradient_matches_finite_differences():
    _, params, support, query = tiny()
    alphas = {k: torch.full_like(v, 0.3) for k, v in params.items()}
    fn = lambda a: meta_loss(params, a, support, query, 1, False)  # noqa: E731
    g = grad(fn)(alphas)
    for name in ("lstm.weight_ih_l0", "out.weight"):
        assert np.isclose(g[name].view(-1)[2].item(), finite_difference(fn, alphas, name, 2), rtol=1e-5, atol=1e-9)


def test_meta_training_runs_and_adaptation_is_per_episode(track, tmp_path):
    from benchmark.contract.protocol import Budget
    from benchmark.run.runner import fit_or_load
    from benchmark.scoring.nll import score_episodes

    budget = Budget("test", steps=8, batch_size=4, val_every=8, val_episodes=3, size="small")
    method, meta = fit_or_load("metasgd", track, budget=budget, models=tmp_path, seed=0, log=lambda m: None)
    assert meta["train_log"]["meta_steps"] == 2 and len(meta["train_log"]["val_curve"]) == 1
    assert not all(torch.allclose(a, torch.tensor(0.1)) for a in method.alphas.values())  # α was learned
    assert method.hparams()["inner_steps"] == 1 and method.hparams()["meta_batch"] == 4
    episodes = [track.episode(s) for s in track.manifest("test").episodes[:3]]
    before = {k: v.clone() for k, v in method.model.state_dict().items()}
    batched = score_episodes(method, episodes, chunk=3)
    single = [score_episodes(method, [e], chunk=1)[0] for e in episodes]
    assert np.allclose([s.nll_nats for s in batched], [s.nll_nats for s in single], rtol=1e-4)
    assert all(torch.equal(v, method.model.state_dict()[k]) for k, v in before.items())
    zero_shot = method.adapt([]).log_prob(episodes[0].query)
    assert not np.allclose(zero_shot, -np.array(single[0].nll_nats))
