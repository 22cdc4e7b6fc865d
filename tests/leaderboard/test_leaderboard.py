"""Leaderboard: aggregation with confidence intervals and the three formats."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import numpy as np
import pytest
from scipy import stats

from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec
from benchmark.run.records import RecordError
from leaderboard.aggregate import leaderboard_rows
from leaderboard.render import render
from leaderboard.significance import mean_ci95
from tests.conftest import TEST_BUDGET


def test_mean_ci95_matches_scipy():
    x = np.random.default_rng(0).normal(size=37)
    mean, half = mean_ci95(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert np.isclose(mean, x.mean()) and np.isclose(half, (hi - lo) / 2)


def test_leaderboard_rows_and_formats(track, tmp_path, capsys):
    from benchmark.run.runner import evaluate

    for method in ("unigram", "unigram-support"):
        evaluate(
            MethodSpec.parse(method),
            track,
            shots=5,
            n_episodes=30,
            out=tmp_path / "r",
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            log=lambda m: None,
        )
    rows = leaderboard_rows(tmp_path / "r")
    assert [r.method for r in rows] == ["unigram-support", "unigram"]
    assert all(r.episodes == 30 and r.manifest_episodes == 600 and r.ci95 > 0 for r in rows)
    assert all(r.eval_tokens_per_s > 0 for r in rows)
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    required = {
        "method",
        "track",
        "shots",
        "episodes",
        "nll_nats_per_token",
        "ci95",
        "unit",
        "bits_per_unit",
        "params",
        "manifest_sha256",
    }
    assert all(required <= set(row) for row in data)
    table = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert float(table[0]["nll_nats_per_token"]) == rows[0].nll_nats_per_token
    md = render(rows, "md")
    assert "| unigram-support | 5 | 30 of 600 |" in md and "bits/note (±95% CI)" in md
    assert all(r.unit == "notes" and r.bits_per_unit > 0 for r in rows)


def test_missing_results_dir_is_a_clear_error(tmp_path):
    try:
        leaderboard_rows(tmp_path / "nope")
    except RecordError as exc:
        assert "no such directory" in str(exc)
    else:
        raise AssertionError("expected RecordError")


def test_paired_difference_and_shots_plot(track, tmp_path, capsys):
    from benchmark.run.records import read_episode_records
    from benchmark.run.runner import evaluate

    paths = {}
    for method in ("unigram", "unigram-support"):
        for k in (0, 2, 5):
            paths[method, k] = evaluate(
                MethodSpec.parse(method),
                track,
                shots=k,
                n_episodes=25,
                out=tmp_path / "r",
                budget=TEST_BUDGET,
                models=tmp_path / "m",
                log=lambda m: None,
            )
    rows = leaderboard_rows(tmp_path / "r", reference="unigram")
    row = next(r for r in rows if r.method == "unigram-support" and r.shots == 5)
    a = read_episode_records(paths["unigram-support", 5])
    b = {e.episode_id: e.nats_per_token for e in read_episode_records(paths["unigram", 5])}
    diffs = [e.nats_per_token - b[e.episode_id] for e in a]
    assert row.paired_episodes == 25 and np.isclose(row.delta_vs_reference, np.mean(diffs))
    assert row.delta_vs_reference + row.delta_ci95 < 0  # significantly better, paired
    assert (
        np.isclose(
            row.delta_p_value, stats.ttest_rel([e.nats_per_token for e in a], [b[e.episode_id] for e in a]).pvalue
        )
        and row.delta_q_value == row.delta_p_value
    )  # one paired row per (track, K) table
    assert all(r.delta_p_value is None and r.delta_q_value is None for r in rows if r.method == "unigram")
    zero = next(r for r in rows if r.method == "unigram-support" and r.shots == 0)
    assert np.isclose(zero.delta_vs_reference, 0.0)  # K = 0: no support, same model as unigram
    from leaderboard.aggregate import with_q_values  # BH over one table: 3 rows of p 0.01, 0.04, 0.03

    table = [dataclasses.replace(zero, run_key=str(i), delta_p_value=p) for i, p in enumerate((0.01, 0.04, 0.03))]
    assert [r.delta_q_value for r in with_q_values(table)] == pytest.approx([0.03, 0.04, 0.04])
    png = tmp_path / "shots.png"
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--reference", "unigram", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_published_records_render():
    """The committed results (written by earlier FSMB versions too) still aggregate."""
    from pathlib import Path

    results = Path(__file__).resolve().parents[2] / "results" / "main"
    rows = leaderboard_rows(results)
    lstm = next(r for r in rows if r.method == "lstm" and r.track == "midi/music21")
    assert lstm.episodes == 600 and lstm.unit == "notes"
    assert all(r.paired_episodes == r.episodes for r in rows if r.track == "midi/music21")


def test_compressed_variants_are_paired_with_their_dense_base_by_default():
    from leaderboard.aggregate import reference_of

    assert reference_of("vae-trim[removed=0.8]", "audio", None) == "vae"
    assert reference_of("vae-int8", "audio", None) == "vae"
    assert reference_of("vae", "audio", None) == "gaussian-support"
    assert reference_of("vae-trim", "audio", "gaussian-global") == "gaussian-global"  # asked for
    for label in ("my_methods.x:Compressed", "lstm-trim[removed=", "unknown[a=1]"):  # never imported
        assert reference_of(label, "midi", None) == "lstm"


def test_rows_carry_convergence_and_training_compute(track, tmp_path, capsys):
    """A neural row states its steps, seconds, counted FLOPs and whether it converged (a
    fixed 30-step run has not); a closed-form row has no training; a comparison against
    a reference that did not converge says so."""
    from benchmark.run.runner import evaluate

    for method in ("lstm", "unigram"):
        evaluate(
            MethodSpec.parse(method),
            track,
            shots=5,
            n_episodes=12,
            out=tmp_path / "r",
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            log=lambda m: None,
        )
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--format", "json"]) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)}
    lstm, unigram = rows["lstm"], rows["unigram"]
    assert lstm["converged"] is False and "2 validations, too few to judge" in lstm["convergence"]
    assert lstm["train_steps"] == TEST_BUDGET.steps and lstm["train_seconds"] > 0 and lstm["train_flops"] > 1e8
    assert unigram["converged"] is None and unigram["train_steps"] is None
    assert unigram["reference"] == "lstm" and unigram["reference_converged"] is False
    md = render(leaderboard_rows(tmp_path / "r"), "md")
    assert "✗ not converged" in md and "⚠ reference not converged" in md and "FLOP" in md


def test_adaptation_cost_is_counted_per_episode(track, tmp_path):
    """``lstm`` ignores the support set (no adaptation FLOPs) and scores a token for about
    its generation step's FLOPs; ``lstm-concat`` reads the support set; ``finetune``
    takes gradient steps on it, at several times the reading's cost."""
    from benchmark.run.runner import evaluate

    for method in ("lstm", "lstm-concat", "finetune"):
        evaluate(
            MethodSpec.parse(method),
            track,
            shots=5,
            n_episodes=8,
            out=tmp_path / "r",
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            log=lambda m: None,
        )
    rows = {r.method: r for r in leaderboard_rows(tmp_path / "r")}
    lstm, concat, finetune = rows["lstm"], rows["lstm-concat"], rows["finetune"]
    assert lstm.adapt_flops_per_episode == 0 and concat.adapt_flops_per_episode > 0
    assert finetune.adapt_flops_per_episode > 3 * concat.adapt_flops_per_episode
    step = 2 * lstm.cost["macs"]
    assert step <= lstm.score_flops_per_token < 1.5 * step  # padding of the scoring batches on top
    md = render(list(rows.values()), "md")
    assert "cost of adaptation, per episode" in md and "| finetune | 5 |" in md


def test_rows_indistinguishable_from_the_best_are_marked():
    """Three rows on one manifest: "best" (lowest NLL), "close" (a tiny, noisy gap: q > 0.05)
    and "far" (a clear gap); a fourth on another manifest is its own table's best."""
    from leaderboard.aggregate import is_indistinguishable_from_best, make_row, with_best_marks
    from leaderboard.render import fmt_best
    from tests.records import episode, run_record

    rng = np.random.default_rng(0)
    base = rng.normal(2.0, 0.3, 40)
    per_episode = {
        "best": base,
        "close": base + rng.normal(0.0, 0.05, 40) + 0.002,
        "far": base + 0.2 + rng.normal(0.0, 0.05, 40),
        "other": base + 1.0,
    }
    episodes = {
        name: [dataclasses.replace(episode(i, run_key=name), nats_per_token=float(v)) for i, v in enumerate(values)]
        for name, values in per_episode.items()
    }
    rows = [
        dataclasses.replace(
            make_row(run_record(name), [episode(0, run_key=name)]),
            method=name,
            nll_nats_per_token=float(per_episode[name].mean()),
            manifest_sha256="cd" * 32 if name == "other" else "ab" * 32,
        )
        for name in per_episode
    ]
    marked = {r.method: r for r in with_best_marks(rows, episodes)}
    assert marked["best"].best and marked["other"].best  # each manifest is its own table
    assert marked["best"].vs_best_q_value is None and not is_indistinguishable_from_best(marked["best"])
    p = {name: stats.ttest_rel(per_episode[name], base).pvalue for name in ("close", "far")}
    assert p["far"] < 1e-10 < 0.05 < p["close"]
    # Benjamini-Hochberg over two p-values p1 < p2: q1 = min(2 p1, p2), q2 = p2
    assert marked["far"].vs_best_q_value == pytest.approx(min(2 * p["far"], p["close"]), rel=1e-9, abs=0)
    assert marked["close"].vs_best_q_value == pytest.approx(p["close"], rel=1e-9)
    assert is_indistinguishable_from_best(marked["close"]) and not is_indistinguishable_from_best(marked["far"])
    assert fmt_best(marked["best"]) == "best" and fmt_best(marked["close"]).startswith("≈ (q ")
    assert fmt_best(marked["far"]).startswith("worse (q ")
