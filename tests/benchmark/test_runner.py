"""Runner: adapt never sees query items, records, resume after interruption."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.contract.methods import MethodSpec, make_method
from benchmark.contract.overrides import checked_overrides
from benchmark.contract.settings import SettingError, parse_setting, settings_dict
from benchmark.run.records import RecordError, read_episode_records
from benchmark.run.runner import evaluate
from leaderboard.aggregate import leaderboard_rows
from tests import spy
from tests.conftest import TEST_BUDGET


def run(track, out: Path, models: Path, n=40, method="tests.spy:SpyMethod"):
    return evaluate(
        MethodSpec.parse(method),
        track,
        shots=5,
        n_episodes=n,
        out=out,
        budget=TEST_BUDGET,
        models=models,
        log=lambda m: None,
    )


def test_adapt_never_receives_query_items(track, tmp_path):
    spy.SUPPORTS.clear()
    path = run(track, tmp_path / "out", tmp_path / "models")
    records = read_episode_records(path)
    assert len(records) == 40
    supports = [r.support_ids for r in records]
    assert spy.SUPPORTS == supports[:32] * 2 + supports[32:]  # the first chunk twice: its FLOPs are counted
    for support, r in zip(supports, records):
        assert len(support) == 5 and len(r.query_ids) == track.spec.query_size
        assert not set(support) & set(r.query_ids)


def test_records_carry_scores_and_provenance(track, tmp_path):
    path = run(track, tmp_path / "out", tmp_path / "models", n=10)
    r = read_episode_records(path)[0]
    assert r.manifest_sha256 == track.manifest("test").sha256
    assert np.isclose(r.nats_per_token, sum(r.nll_nats) / sum(r.units["tokens"]))
    assert np.isclose(r.bits_per["notes"], sum(r.nll_nats) / sum(r.units["notes"]) / np.log(2))
    run_record = json.loads(path.with_name(path.name.replace(".jsonl", ".run.json")).read_text())
    assert run_record["corpus_fingerprint"] == track.store.fingerprint
    assert run_record["encoding_version"] == 1 and run_record["episodes_evaluated"] == 10
    assert run_record["env"]["torch"].startswith("2.11")


def test_interrupted_run_resumes_without_redoing_episodes(track, tmp_path):
    out, models = tmp_path / "out", tmp_path / "models"
    spy.SUPPORTS.clear()
    spy.CRASH_AT[:] = [65]  # crash in the second chunk of 32 episodes (the first is adapted twice: FLOPs)
    with pytest.raises(KeyboardInterrupt):
        run(track, out, models, n=50)
    spy.CRASH_AT.clear()
    path = next(out.glob("*.jsonl"))
    first = read_episode_records(path)
    assert len(first) == 32
    with open(path, "a") as fh:  # simulate a write cut short by the crash
        fh.write('{"run_key": "trunc')
    spy.SUPPORTS.clear()
    run(track, out, models, n=50)
    records = read_episode_records(path)
    ids = [r.episode_id for r in records]
    assert len(ids) == 50 and len(set(ids)) == 50
    assert records[:32] == first
    assert len(spy.SUPPORTS) == 18  # only the missing episodes were adapted again
    run_path = path.with_name(path.name[: -len(".jsonl")] + ".run.json")
    written = run_path.read_bytes()
    run(track, out, models, n=50)  # complete: nothing scored, and the record of the run that scored stays
    assert run_path.read_bytes() == written and len(read_episode_records(path)) == 50


def test_results_of_another_configuration_are_not_mixed(track, tmp_path):
    out, models = tmp_path / "out", tmp_path / "models"
    path = run(track, out, models, n=5)
    lines = path.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["run_key"] = "0" * 16
    path.write_text("\n".join([json.dumps(rec)] + lines[1:]) + "\n")
    with pytest.raises(RecordError, match="another configuration"):
        run(track, out, models, n=5)


def test_eval_time_setting_scores_a_labelled_variant_without_retraining(track, tmp_path):
    out, models = tmp_path / "out", tmp_path / "models"
    lstm = read_episode_records(run(track, out, models, n=6, method="lstm"))
    path = evaluate(
        MethodSpec.parse("finetune", {"steps": 0}),
        track,
        shots=5,
        n_episodes=6,
        out=out,
        budget=TEST_BUDGET,
        models=models,
        log=lambda m: None,
    )
    assert path.name.startswith("finetune_steps_0___")  # its own files: the default configuration's stay apart
    variant = read_episode_records(path)
    assert {r.method for r in variant} == {"finetune[steps=0]"}
    # zero fine-tuning steps is the lstm itself: the same NLL on every episode
    assert np.allclose([r.nll_nats for r in variant], [r.nll_nats for r in lstm], rtol=1e-6)
    run_record = json.loads(path.with_name(path.name.replace(".jsonl", ".run.json")).read_text())
    assert run_record["hparams"]["steps"] == 0 and run_record["method"] == "finetune[steps=0]"
    rows = {r.method: r for r in leaderboard_rows(out)}
    assert rows["finetune[steps=0]"].delta_vs_reference == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"lr": 0.1}, "no evaluation-time setting 'lr' .*settings: steps >= 0, adapt_lr > 0"),
        ({"steps": 1.5}, "expected a int like"),
        ({"steps": -3}, "must be >= 0"),
        ({"adapt_lr": "fast"}, "expected a float like"),
    ],
)
def test_bad_eval_time_setting_is_refused_before_any_work(track, tmp_path, settings, message):
    with pytest.raises(SettingError, match=message):
        evaluate(
            MethodSpec.parse("finetune", settings),
            track,
            shots=5,
            n_episodes=2,
            out=tmp_path / "out",
            budget=TEST_BUDGET,
            models=tmp_path / "models",
            log=lambda m: None,
        )
    assert not (tmp_path / "models").exists()


def test_set_parses_json_values_and_rejects_what_would_poison_a_run():
    assert parse_setting("iwae_samples=16") == ("iwae_samples", 16)
    assert parse_setting(" adapt_lr = 1e-4") == ("adapt_lr", 1e-4)
    with pytest.raises(argparse.ArgumentTypeError, match="NAME=VALUE"):
        parse_setting("steps")
    with pytest.raises(argparse.ArgumentTypeError, match="not a finite number"):
        parse_setting("adapt_lr=NaN")
    with pytest.raises(SettingError, match="given twice"):
        settings_dict([("steps", 1), ("steps", 5)])
    with pytest.raises(SettingError, match=r"must be in \(0, 1\)"):
        checked_overrides(make_method("cache"), {"lam": 0})  # log(0) in the mixture
    with pytest.raises(SettingError, match="must be >= 1"):
        checked_overrides(make_method("vae"), {"iwae_samples": 0})
    # the label shows the value as set: 1 and 1.0 for a float setting are one variant
    assert MethodSpec.parse("finetune", {"adapt_lr": 1}).label == "finetune[adapt_lr=1.0]"


def test_a_model_folder_is_fitted_by_one_process_at_a_time(track, tmp_path):
    """A second process asking for a model another is fitting is refused in one line
    (two trainings would interleave their checkpoints); once the first has finished,
    it loads the model."""
    from benchmark.run.records import exclusive_lock
    from benchmark.run.runner import fit_lock_path, fit_or_load, model_dir

    where = model_dir(tmp_path / "models", "unigram", track, TEST_BUDGET, 0)
    with exclusive_lock(fit_lock_path(where), "held by the test ({holder})"):  # another process, as flock sees it
        with pytest.raises(RecordError, match="is being trained by another fsmb process .pid "):
            fit_or_load(
                make_method("unigram"),
                track,
                budget=TEST_BUDGET,
                models=tmp_path / "models",
                seed=0,
                log=lambda _: None,
            )
    _, meta = fit_or_load(
        make_method("unigram"), track, budget=TEST_BUDGET, models=tmp_path / "models", seed=0, log=lambda _: None
    )
    assert (where / "meta.json").exists() and meta["method"] == "unigram"
