"""``lstm-trim``: variants named with training settings, trained along one shared trajectory."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from benchmark.compress.trim import n_params
from benchmark.contract.methods import make_method
from benchmark.contract.overrides import checked_overrides, trained_label
from benchmark.contract.settings import SettingError
from benchmark.nn.sequence import LSTMLM, LSTMConfig, distilled_lm_loss, lm_loss
from benchmark.run.runner import model_dir
from benchmark.scoring.nll import mean_nats_per_token, score_episodes
from episodes.tokens import PAD
from tests.conftest import TEST_BUDGET


def test_training_settings_are_named_with_the_method_and_checked_before_any_work():
    method = make_method('lstm-trim[removed=0.5,criterion="magnitude"]')
    assert (method.removed, method.criterion) == (0.5, "magnitude")
    assert trained_label(method) == 'lstm-trim[criterion="magnitude",removed=0.5]'
    assert trained_label(make_method("lstm-trim[removed=0.9]")) == "lstm-trim"  # the default is the method itself
    for spec, message in [
        ("lstm-trim[removed=1.5]", r"must be in \(0, 1\)"),
        ("lstm-trim[criterion=random]", "must be one of magnitude, activation"),
        ("lstm-trim[width=3]", "no training setting 'width'"),
        ("lstm-trim[removed=0.5", "expected NAME or NAME"),
        ("finetune[steps=3]", "evaluation-time setting: give it as --set"),
    ]:
        with pytest.raises(SettingError, match=message):
            make_method(spec)
    with pytest.raises(SettingError, match=r"training setting: name it in the method, e.g. 'lstm-trim\[removed=0.5\]'"):
        checked_overrides(make_method("lstm-trim"), {"removed": 0.5})


def test_trim_variants_share_one_trajectory_and_are_smaller(track, tmp_path, fit_on_track):
    models, fit = tmp_path / "models", fit_on_track
    dense, _ = fit("lstm")
    half, half_meta = fit("lstm-trim[removed=0.5]")
    further, _ = fit("lstm-trim[removed=0.8]")
    assert half_meta["method"] == "lstm-trim[removed=0.5]"
    assert model_dir(models, "lstm-trim[removed=0.5]", track, TEST_BUDGET, 0).joinpath("meta.json").exists()
    dense_params = dense.n_params()
    assert half.n_params() == n_params(half.model.cfg) <= 0.5 * dense_params
    assert further.n_params() <= 0.2 * dense_params
    # the 0.8 variant continued the 0.5 variant's rounds: its log holds them, then its own
    assert further.train_log["base"] == "lstm-trim[removed=0.5]"
    assert further.train_log["rounds"][: len(half.train_log["rounds"])] == half.train_log["rounds"]
    assert len(further.train_log["rounds"]) > len(half.train_log["rounds"])
    assert [r["removed"] for r in further.train_log["rounds"]] == sorted(
        r["removed"] for r in further.train_log["rounds"]
    )
    step = further.inference_step()
    assert step is not None and step.module.model.cfg.hidden == further.model.cfg.hidden
    # the adaptation methods built on the lstm can start from the trimmed one instead
    cached, cache_meta = fit('cache[base="lstm-trim"]')
    trim, _ = fit("lstm-trim")
    assert cache_meta["method"] == 'cache[base="lstm-trim"]' and cached.train_log["base"] == "lstm-trim"
    assert cached.model.cfg == trim.model.cfg and cached.n_params() == trim.n_params() <= 0.1 * dense_params
    # it is a language model that learnt something: better than uniform over the vocabulary
    episodes = [track.episode(e) for e in track.manifest("val", track.spec.shots).episodes[:4]]
    nats = mean_nats_per_token(score_episodes(further, episodes))
    assert np.isfinite(nats) and nats < np.log(further.model.cfg.vocab)


def test_sparsity_command_writes_the_curve_of_each_family(midi_root, tmp_path, capsys):
    from benchmark.cli.main import main

    args = [
        "sparsity",
        "--track",
        "midi/dir",
        "--data-dir",
        str(midi_root),
        "--cache-dir",
        str(tmp_path / "c"),
        "--workers",
        "1",
        "--methods",
        "lstm-trim,lstm-imp[reinit=true]",
        "--levels",
        "50,80",
        "--budget",
        "tiny",
        "--episodes",
        "4",
        "--out",
        str(tmp_path / "sp"),
        "--models",
        str(tmp_path / "m"),
    ]
    assert main(args) == 0
    table = (tmp_path / "sp" / "sparsity.md").read_text()
    assert table in capsys.readouterr().out
    lines = [line.split("|")[1:4] for line in table.splitlines() if line.startswith("| lstm")]
    assert [cells[0].strip() for cells in lines] == [
        "lstm",
        "lstm-trim",
        "lstm-trim",
        "lstm-imp[reinit=true]",
        "lstm-imp[reinit=true]",
    ]
    removed = [float(cells[1].strip().rstrip("%")) for cells in lines]
    assert (
        removed[0] == 0 and 50 <= removed[1] < 55 and 80 <= removed[2] < 85
    )  # trimmed: whole units, at most the level
    assert removed[3] == pytest.approx(50, abs=0.1) and removed[4] == pytest.approx(80, abs=0.1)  # masked: exactly
    assert (tmp_path / "sp" / "sparsity.png").read_bytes()[:4] == b"\x89PNG"
    # the ticket the control copies its mask from was trained along the way, under its own label
    assert [p.name for p in (tmp_path / "m").rglob("lstm-imp")] == ["lstm-imp"]  # the default level: 0.8
    for bad, message in [("unigram", "not a compressed variant"), ("lstm-trim[removed=2]", "must be in")]:
        assert main([*args[:10], bad, *args[11:]]) == 2
        assert message in capsys.readouterr().err


def test_distillation_mixes_the_data_nll_with_the_teachers_distribution():
    torch.manual_seed(0)
    student, teacher = LSTMLM(LSTMConfig(vocab=12, emb=4, hidden=6)), LSTMLM(LSTMConfig(vocab=12, emb=8, hidden=10))
    batch = torch.tensor([[1, 4, 5, 6, 7, 3], [1, 8, 9, 3, PAD, PAD]])
    student.eval()  # no dropout: the losses compare exactly
    assert distilled_lm_loss(student, teacher, batch, 0.0).item() == pytest.approx(lm_loss(student, batch).item())
    # weight 1: the cross-entropy to the teacher's distribution, averaged over the 7 non-PAD targets
    with torch.no_grad():
        p = torch.softmax(teacher(batch[:, :-1])[0], -1)
        log_q = torch.log_softmax(student(batch[:, :-1])[0], -1)
    soft = -(p * log_q).sum(-1)[batch[:, 1:] != PAD].mean()
    assert distilled_lm_loss(student, teacher, batch, 1.0).item() == pytest.approx(soft.item(), rel=1e-5)
    # a student equal to its teacher sits at the soft term's minimum: no gradient from it
    twin = copy.deepcopy(teacher)
    twin.eval()
    distilled_lm_loss(twin, teacher, batch, 1.0).backward()
    assert max(p.grad.abs().max().item() for p in twin.parameters() if p.grad is not None) < 1e-6
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is not trained


def test_a_distilled_trim_is_its_own_variant_and_trains(fit_on_track):
    method, meta = fit_on_track("lstm-trim[removed=0.5,distill=0.5]")
    assert meta["method"] == "lstm-trim[distill=0.5,removed=0.5]" and method.distill == 0.5
    assert trained_label(make_method("lstm-trim[distill=0]")) == "lstm-trim"
    assert all(np.isfinite(r["val_nats_per_token"]) for r in method.train_log["rounds"])
    with pytest.raises(SettingError, match=r"must be in \[0, 1\)"):
        make_method("lstm-trim[distill=1]")
