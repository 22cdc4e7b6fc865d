"""The plateau rule, the convergence verdict, and resuming a run to the same result."""

from __future__ import annotations

import pytest
import torch

from benchmark.nn.sequence import LSTMLM, LSTMConfig, lm_loss, share_of_mean_nll
from benchmark.training.convergence import Plateau, assess, summarise
from benchmark.training.loop import train_loop

# meta-val nats/token at each validation (every 5 steps) of the scripted run below
SCRIPT = {5: 3.0, 10: 2.5, 15: 2.499, 20: 2.5, 25: 2.4, 30: 2.4, 35: 2.4, 40: 2.4, 45: 2.4}


def test_plateau_halves_the_rate_then_stops():
    rule = Plateau(patience=2, lr_decays=2)
    stops = {step: rule.update(step, value) for step, value in SCRIPT.items() if step <= 45}
    # 15 (2.499) is within 0.1 % of 2.5: no improvement; 10 -> 20 stale twice: halve
    assert rule.decays_at == (20, 35)
    assert [s for s, stop in stops.items() if stop] == [45]
    assert rule.lr_scale == 0.25


class Interrupted(Exception):
    pass


def scripted_run(logdir, *, fail_at: int | None = None, steps: int = 100):
    """An LSTM with dropout trained under the plateau rule, meta-val read from `SCRIPT`;
    ``fail_at``: the step at which the process 'dies'."""
    torch.manual_seed(0)
    model = LSTMLM(LSTMConfig(vocab=20, emb=8, hidden=16, layers=1, dropout=0.3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    seen = {"step": 0, "lrs": []}

    def step_fn(step: int) -> torch.Tensor:
        if step == fail_at:
            raise Interrupted
        seen["step"], _ = step + 1, seen["lrs"].append(opt.param_groups[0]["lr"])
        batch = torch.randint(3, 20, (8, 6 + step % 5), generator=torch.Generator().manual_seed(step))
        return lm_loss(model, batch)

    log = train_loop(
        model,
        opt,
        step_fn,
        lambda: SCRIPT.get(seen["step"], 2.4),
        steps=steps,
        val_every=5,
        logdir=logdir,
        desc="test",
        patience=2,
        lr_decays=2,
    )
    return model, log, seen["lrs"]


def test_a_run_stops_at_the_plateau_and_is_judged_converged(tmp_path):
    model, log, lrs = scripted_run(tmp_path)
    assert log.steps == 45 and log.stopped == "plateau" and log.lr_decays_at == [20, 35]
    assert lrs[0] == lrs[19] == 1e-2 and lrs[20] == pytest.approx(5e-3) and lrs[35] == pytest.approx(2.5e-3)
    assert log.convergence["converged"] is True
    assert log.flops > 0 and log.best_step == 25  # the first of the equal 2.4s


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    whole, whole_log, _ = scripted_run(tmp_path / "whole")
    with pytest.raises(Interrupted):
        scripted_run(tmp_path / "cut", fail_at=28)  # after the checkpoint at 25 (and a halving at 20)
    resumed, resumed_log, lrs = scripted_run(tmp_path / "cut")
    assert lrs[0] == pytest.approx(5e-3)  # the halved rate came back with the checkpoint
    assert resumed_log.val_curve == whole_log.val_curve and resumed_log.lr_decays_at == whole_log.lr_decays_at
    assert resumed_log.flops == whole_log.flops and resumed_log.steps == whole_log.steps
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name  # dropout masks drawn after the resume are the uninterrupted ones


def test_a_fixed_length_run_whose_curve_still_falls_has_not_converged():
    # the committed `full` lstm on midi/music21, 1,500 steps
    curve = [[250, 1.366], [500, 1.243], [750, 1.162], [1000, 1.145], [1250, 1.125], [1500, 1.118]]
    verdict = assess(curve, steps=1500)
    assert not verdict.converged and "improved meta-val by 3.94 %" in verdict.reason
    flat = curve + [[1750, 1.1180], [2000, 1.1175], [2250, 1.1179]]
    assert assess(flat, steps=2250).converged  # 0.04 % over the last 3 validations


def test_a_run_cut_off_before_its_halvings_has_not_converged():
    curve = [[5, 3.0], [10, 2.9], [15, 2.9], [20, 2.9], [25, 2.9]]
    assert not assess(curve, steps=25, patience=2, lr_decays=2, decays_at=[20]).converged
    assert "1 of 2 learning-rate halvings" in assess(curve, steps=25, patience=2, lr_decays=2, decays_at=[20]).reason


def test_summaries_add_a_base_model_and_judge_both():
    budget = {"patience": 0, "lr_decays": 0}
    falling = {"val_curve": [[1, 3.0], [2, 2.5], [3, 2.0], [4, 1.5]], "steps": 4, "wall_seconds": 10.0, "flops": 100}
    flat = {
        "val_curve": [[1, 3.0], [2, 2.0], [3, 2.0], [4, 2.0], [5, 2.0]],
        "steps": 5,
        "wall_seconds": 1.0,
        "flops": 7,
    }
    finetune = summarise({"base": "lstm", "base_train_log": flat, "val_grid": []}, budget)
    assert finetune.converged is True and finetune.steps == 0 and finetune.flops == 7
    maml = summarise({**flat, "base": "lstm", "base_train_log": falling}, budget)
    assert maml.converged is False and maml.flops == 107 and maml.seconds == 11.0 and maml.steps == 5
    assert summarise({}, budget).converged is None  # closed form: no iterative training
    unrecorded = summarise({**flat, "base": "lstm"}, budget)  # a MAML row of an FSMB that did not keep its base's log
    assert unrecorded.converged is None and "not recorded" in unrecorded.reason and unrecorded.flops is None
    old = summarise({k: v for k, v in flat.items() if k != "flops"}, budget)
    assert old.flops is None  # recorded before FLOPs were counted


def test_length_groups_skip_padding_without_changing_the_loss():
    torch.manual_seed(0)
    model = LSTMLM(LSTMConfig(vocab=20, emb=8, hidden=16, layers=1, dropout=0.0))
    batch = torch.zeros(16, 40, dtype=torch.long)
    for i in range(16):
        batch[i, : 3 + 2 * i] = torch.randint(3, 20, (3 + 2 * i,), generator=torch.Generator().manual_seed(i))
    whole = share_of_mean_nll(lambda rows: model(rows[:, :-1])[0], batch, groups=1)
    grouped = share_of_mean_nll(lambda rows: model(rows[:, :-1])[0], batch)
    assert grouped.item() == pytest.approx(whole.item(), rel=1e-6)


def test_a_flops_cap_stops_after_the_step_that_reaches_it(tmp_path):
    """Compute-matched training: a run capped at half the FLOPs of a 20-step run stops,
    with a last validation, at the first step whose counted FLOPs reach the cap."""

    def run(logdir, cap):
        torch.manual_seed(0)
        model = LSTMLM(LSTMConfig(vocab=20, emb=8, hidden=16, layers=1, dropout=0.0))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)

        def step_fn(step):
            return lm_loss(
                model, torch.randint(3, 20, (8, 6 + step % 5), generator=torch.Generator().manual_seed(step))
            )

        return train_loop(
            model, opt, step_fn, lambda: 1.0, steps=20, val_every=5, logdir=logdir, desc="test", flops_cap=cap
        )

    whole = run(tmp_path / "whole", 0.0)
    capped = run(tmp_path / "capped", whole.flops / 2)
    assert capped.stopped == "flops cap" and whole.stopped == "fixed steps"
    assert 5 < capped.steps < 20 and capped.val_curve[-1][0] == capped.steps
    assert capped.flops >= whole.flops / 2 > capped.flops * (capped.steps - 1) / capped.steps - 1
