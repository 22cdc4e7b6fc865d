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
