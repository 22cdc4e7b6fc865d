"""`benchmarks/transformer_ablation.py`: variants trained at one budget, paired with the
first on meta-val, written after each one, and a rerun resumes instead of retraining."""

from __future__ import annotations

import json

import numpy as np

from tests.conftest import TEST_BUDGET
from tests.scripts import load_script

ablation = load_script("transformer_ablation")

VARIANTS = [
    "transformer-icl[context=64,d_model=32,layers=1,stride=16,support_budget=32]",
    "transformer-icl[context=64,d_model=32,layers=1,lr=0.003,stride=16,support_budget=32]",
]


def test_variants_are_paired_with_the_base_and_a_rerun_keeps_them(track, tmp_path, monkeypatch):
    budget = TEST_BUDGET.with_flops(1e9)
    out = tmp_path / "out"
    first = ablation.ablate(track, VARIANTS, budget=budget, models=tmp_path / "m", out=out)
    base, other = first
    assert (base.delta_vs_base, base.delta_ci95) == (0.0, 0.0)
    assert len(other.val_scores) == len(base.val_scores) == budget.val_episodes
    paired = np.array(other.val_scores) - np.array(base.val_scores)
    assert other.delta_vs_base == np.float64(paired.mean())
    assert np.isfinite(other.delta_ci95) and other.delta_ci95 > 0
    assert 0 < base.train_flops and base.steps <= TEST_BUDGET.steps and base.params > 0
    saved = json.loads((out / "result.json").read_text())
    assert saved["budget"] == budget.name and [v["label"] for v in saved["variants"]] == VARIANTS
    assert VARIANTS[1] in (out / "result.md").read_text()

    def refit(*args, **kwargs):
        raise AssertionError("a variant already measured was fitted again")

    monkeypatch.setattr(ablation, "fit_or_load", refit)
    assert ablation.ablate(track, VARIANTS, budget=budget, models=tmp_path / "m", out=out) == first


def test_a_second_process_adds_its_variants_to_the_same_sweep(track, tmp_path, monkeypatch):
    """Two processes sharing ``out`` (the second one's list: the base, then its own
    variant) keep each other's results, and the base is trained once."""
    budget, out = TEST_BUDGET, tmp_path / "out"
    ablation.ablate(track, VARIANTS[:1], budget=budget, models=tmp_path / "m", out=out)
    fitted = []
    real = ablation.fit_or_load
    monkeypatch.setattr(ablation, "fit_or_load", lambda m, *a, **k: fitted.append(m.name) or real(m, *a, **k))
    third = "transformer-icl[context=64,d_model=32,dropout=0.0,layers=1,stride=16,support_budget=32]"
    ablation.ablate(track, [VARIANTS[0], third], budget=budget, models=tmp_path / "m", out=out)
    ablation.ablate(track, VARIANTS, budget=budget, models=tmp_path / "m", out=out)
    assert len(fitted) == 2  # the two variants; the base came from the file both times
    saved = json.loads((out / "result.json").read_text())
    assert [v["label"] for v in saved["variants"]] == [*VARIANTS, third]
    # another base is another sweep: nothing of this one is reused
    assert ablation.load_done(out / "result.json", (track.spec.name, budget.name, 0, third)) == {}
