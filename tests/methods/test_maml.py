"""MAML family: the task-batched LSTM against the module and autograd, meta-gradients
against finite differences and autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.contract.methods import make_method
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from benchmark.nn.task_lstm import (
    _stepwise_grads,
    each_task,
    nll_and_grads,
    nll_per_task,
    task_params,
)
from episodes.tokens import PAD
from methods.maml import inner_adapt, meta_gradient, meta_loss


def tiny(dtype=torch.float64, tokens=6):
    torch.manual_seed(0)
    lm = LSTMLM(LSTMConfig(vocab=9, emb=3, hidden=4, dropout=0.0)).to(dtype).eval()
    params = {k: v.detach() for k, v in lm.named_parameters()}
    tasks = torch.randint(3, 9, (2, 5, tokens))  # 2 tasks x (3 support + 2 query songs) x tokens
    tasks[0, 1, tokens - 2 :] = PAD  # some padding
    return lm, params, tasks[:, :3], tasks[:, 3:]


def test_task_lstm_nll_is_the_modules():
    lm, params, support, _ = tiny()
    logits, _ = lm(support[0][:, :-1])
    targets = support[0][:, 1:]
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD)
    assert torch.allclose(nll_per_task(task_params(params, 2), support)[0], nll, atol=1e-12)


@pytest.mark.parametrize("tokens", [6, 3])  # the input term per vocabulary word, and per token
@pytest.mark.parametrize("tasks", [1, 2])  # one weight set for both tasks, and one each
def test_gradients_are_autograds_and_the_hand_written_ones_too(tokens, tasks):
    _, params, support, _ = tiny(tokens=tokens)
    w = {k: v.clone().requires_grad_() for k, v in task_params(params, 2).items()}
    expected = torch.autograd.grad(nll_per_task(w, support).sum(), list(w.values()))
    nll, grads = nll_and_grads(task_params(params, tasks), support)
    stepwise = _stepwise_grads(task_params(params, 2), support)
    assert torch.allclose(nll, nll_per_task(w, support))
    for (name, _), e in zip(w.items(), expected):
        assert grads[name].shape == e.shape and torch.allclose(grads[name], e, atol=1e-12), name
        assert torch.allclose(stepwise[name], e, atol=1e-12), name


def test_tasks_side_by_side_compute_what_one_thread_computes():
    """At n > 1 threads the tasks run n at a time, each on one thread: bit for bit the
    one-thread figures, in the caller's grad mode, with torch's thread count restored."""
    torch.manual_seed(1)
    lm = LSTMLM(LSTMConfig(vocab=40, emb=16, hidden=32, dropout=0.0)).eval()
    params = {k: v.detach() for k, v in lm.named_parameters()}
    tokens = torch.randint(3, 40, (4, 3, 50))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        nll_1, grads_1 = nll_and_grads(task_params(params, 1), tokens)
        torch.set_num_threads(2)
        nll_2, grads_2 = nll_and_grads(task_params(params, 1), tokens)
        assert torch.get_num_threads() == 2
        with torch.no_grad():
            scored = nll_per_task(task_params(params, 4), tokens)
        live = {k: v.clone().requires_grad_() for k, v in task_params(params, 4).items()}
        graphed = nll_per_task(live, tokens)
        threads = each_task(lambda m: torch.get_num_threads(), 4)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(nll_1, nll_2) and all(torch.equal(grads_1[k], grads_2[k]) for k in grads_1)
    assert torch.equal(scored, nll_2) and not scored.requires_grad and graphed.requires_grad
    assert threads == [1, 1, 1, 1]


def finite_difference(fn, params, name, index, eps=1e-6):
    plus = {k: v.clone() for k, v in params.items()}
    minus = {k: v.clone() for k, v in params.items()}
    plus[name].view(-1)[index] += eps
    minus[name].view(-1)[index] -= eps
    return (fn(plus) - fn(minus)).item() / (2 * eps)


@pytest.mark.parametrize("steps", [1, 2])
def test_second_order_meta_gradient_matches_finite_differences_and_autograd(steps):
    _, params, support, query = tiny()
    alphas = {k: torch.tensor(0.5, dtype=torch.float64) for k in params}
    fn = lambda p: meta_loss(p, alphas, support, query, steps)  # noqa: E731
    g = meta_gradient(params, alphas, support, query, steps, first_order=False)
    assert torch.allclose(g.loss, fn(params))
    rng = np.random.default_rng(0)
    for name in ("lstm.weight_hh_l0", "embed.weight", "out.bias", "lstm.bias_ih_l0"):
        for index in rng.integers(params[name].numel(), size=3):
            assert np.isclose(
                g.params[name].view(-1)[index].item(),
                finite_difference(fn, params, name, int(index)),
                rtol=1e-5,
                atol=1e-8,
            )
    # The clone-and-step pattern (autograd through the inner steps) agrees everywhere.
    live = {k: v.clone().requires_grad_() for k, v in params.items()}
    expected = torch.autograd.grad(clone_and_step_meta_loss(live, alphas, support, query, steps), list(live.values()))
    assert all(torch.allclose(g.params[k], e, atol=1e-12) for k, e in zip(live, expected))


def clone_and_step_meta_loss(params, alphas, support, query, steps):
    """`meta_loss` built as learn2learn builds it: per task, inner steps through autograd
    with ``create_graph=True``, so that backward through it gives second-order MAML."""
    total = 0.0
    for m in range(support.shape[0]):
        fast = dict(params)
        for _ in range(steps):
            loss = nll_per_task(task_params(fast, 1), support[m : m + 1]).sum()
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
            fast = {k: p - alphas[k] * g for (k, p), g in zip(fast.items(), grads)}
        total = total + nll_per_task(task_params(fast, 1), query[m : m + 1]).sum() / support.shape[0]
    return total


def test_first_order_gradient_is_the_query_gradient_at_adapted_weights():
    _, params, support, query = tiny()
    alphas = {k: torch.tensor(0.5, dtype=torch.float64) for k in params}
    g = meta_gradient(params, alphas, support, query, 1, first_order=True)
    expected = {k: torch.zeros_like(v) for k, v in params.items()}
    for t in range(2):
        adapted = {k: v[t].clone().requires_grad_() for k, v in inner_adapt(params, alphas, support, 1)[0][-1].items()}
        loss = nll_per_task(task_params(adapted, 1), query[t : t + 1]).sum()
        for k, v in zip(adapted, torch.autograd.grad(loss, list(adapted.values()))):
            expected[k] += v / 2
    assert all(torch.allclose(g.params[k], expected[k], atol=1e-12) for k in params)


def test_metasgd_learning_rate_gradient_matches_finite_differences():
    _, params, support, query = tiny()
    alphas = {k: torch.full_like(v, 0.3) for k, v in params.items()}
    fn = lambda a: meta_loss(params, a, support, query, 1)  # noqa: E731
    g = meta_gradient(params, alphas, support, query, 1, first_order=False)
    for name in ("lstm.weight_ih_l0", "out.weight"):
        assert np.isclose(
            g.alphas[name].view(-1)[2].item(), finite_difference(fn, alphas, name, 2), rtol=1e-5, atol=1e-9
        )


def test_meta_training_runs_and_adaptation_is_per_episode(track, tmp_path):
    from benchmark.contract.protocol import Budget
    from benchmark.run.runner import fit_or_load
    from benchmark.scoring.nll import score_episodes

    budget = Budget("test", steps=8, batch_size=4, val_every=8, val_episodes=3, size="small")
    method, meta = fit_or_load(
        make_method("metasgd"), track, budget=budget, models=tmp_path, seed=0, log=lambda m: None
    )
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


def test_meta_training_length_and_inner_steps_are_training_settings(track, tmp_path):
    from benchmark.contract.protocol import Budget
    from benchmark.run.runner import fit_or_load

    budget = Budget("test", steps=8, batch_size=4, val_every=8, val_episodes=2, size="small")
    method, meta = fit_or_load(
        make_method("fomaml[inner_steps=2,inner_lr=0.3,meta_fraction=0.5]"),
        track,
        budget=budget,
        models=tmp_path,
        seed=0,
        log=lambda m: None,
    )
    assert (method.inner_steps, method.inner_lr, method.meta_fraction) == (2, 0.3, 0.5)
    assert meta["train_log"]["meta_steps"] == 4
    assert [p.parent.parent.name for p in tmp_path.rglob("meta.json") if "fomaml" in str(p)] == [
        "fomaml_inner_lr_0.3_inner_steps_2_meta_fraction_0.5_"
    ]
