"""fsmb reproduce: reruns from run records, MATCH when nothing changed, DIFFERS when a record was."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec
from benchmark.run.records import EpisodeRecord, RecordError
from benchmark.scoring.nll import EpisodeScore
from leaderboard.reproduce import FLOAT_DRIFT, check_run, plan, published_reruns
from tests.conftest import TEST_BUDGET
from tests.records import episode, run_record


@pytest.fixture
def published(track, tmp_path) -> Path:
    """Published results: unigram-support (K = 5, 12 episodes) and its unigram reference."""
    from benchmark.run.runner import evaluate

    out = tmp_path / "published"
    for method in ("unigram", "unigram-support"):
        evaluate(
            MethodSpec.parse(method),
            track,
            shots=5,
            n_episodes=12,
            out=out,
            budget=TEST_BUDGET,
            models=tmp_path / "m0",
            log=lambda m: None,
        )
    return out


def edit_first_episode(records: Path, delta_nats: float) -> None:
    """Change the first song's NLL of the first episode and keep the stored figures
    consistent with it (as a careful editor would)."""
    lines = records.read_text().splitlines()
    record = json.loads(lines[0])
    record["nll_nats"][0] += delta_nats
    score = EpisodeScore(tuple(record["nll_nats"]), {u: tuple(c) for u, c in record["units"].items()})
    record["nats_per_token"], record["bits_per_token"] = score.per_unit("tokens"), score.bits_per("tokens")
    record["bits_per"] = {u: score.bits_per(u) for u in record["bits_per"]}
    records.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")


def check_argv(published: Path, track, midi_root: Path, tmp_path: Path) -> list[str]:
    """``fsmb reproduce --check`` of ``published`` on the test track, rerun into ``tmp_path``."""
    return [
        "reproduce",
        "--results",
        str(published),
        "--track",
        track.spec.name,
        "--data-dir",
        str(midi_root),
        "--out",
        str(tmp_path / "rerun"),
        "--models",
        str(tmp_path / "m1"),
        "--workers",
        "1",
        "--check",
    ]


def test_reproduce_check_matches_then_catches_an_edited_record(published, track, midi_root, tmp_path, capsys):
    argv = check_argv(published, track, midi_root, tmp_path)
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("**MATCH** (bit-exact)") == 2 and "2 of 2 runs MATCH" in out
    edit_first_episode(published / "unigram-support__midi-dir__K5.jsonl", 1e-6)
    assert main(argv) == 1  # the reruns are reused: only the comparison runs again
    out = capsys.readouterr().out
    assert "**DIFFERS** (same fitted weights, 1 of 12 episodes scored differently)" in out
    assert "1 of 2 runs MATCH; DIFFERS: unigram-support on midi/dir" in out


def test_published_runs_on_your_own_data_need_it_named(published, tmp_path, capsys):
    assert main(["reproduce", "--results", str(published), "--out", str(tmp_path / "rerun")]) == 2
    err = capsys.readouterr().err
    assert "published runs on midi/dir need its data: rerun with --track midi/dir --data-dir DIR" in err
    assert not (tmp_path / "rerun").exists() or not any((tmp_path / "rerun").iterdir())  # before any work


def test_quick_subset_and_filters(published):
    quick = published_reruns([published], quick=True)
    assert sorted(r.label for r, _ in quick) == ["unigram", "unigram-support"]  # baselines without training
    assert all(r.episodes == 12 and r.budget == TEST_BUDGET and r.seed == 0 for r, _ in quick)
    only = published_reruns([published], methods=["unigram"])
    assert [r.label for r, _ in only] == ["unigram"]
    with pytest.raises(RecordError, match="no published run"):
        published_reruns([published], tracks=["lyrics/fortunes"])


def test_plan_splits_training_and_evaluation_settings():
    run = dataclasses.replace(
        run_record(), method='cache[base="lstm-trim",theta=0.3]', seed=3, budget=TEST_BUDGET.to_dict()
    )
    episodes = [episode(i, quality={"metrics": {"n_samples": 8}}) for i in range(7)]
    r = plan(run, episodes, quick=False)
    assert r.spec == 'cache[base="lstm-trim"]' and r.overrides == {"theta": 0.3}
    assert (r.episodes, r.samples, r.seed) == (7, 8, 3)
    with pytest.raises(RecordError, match="not a registered method"):
        plan(dataclasses.replace(run, method="mine"), episodes, quick=False)


def shifted(record: EpisodeRecord, nats: float) -> EpisodeRecord:
    """``record`` with every song's NLL moved by ``nats`` per token."""
    tokens = record.units["tokens"]
    nll = [x + nats * n for x, n in zip(record.nll_nats, tokens)]
    return dataclasses.replace(record, nll_nats=nll, nats_per_token=sum(nll) / sum(tokens))


def test_reruns_with_other_weights_are_judged_by_the_paired_ci(published):
    ((r, episodes),) = published_reruns([published], methods=["unigram-support"])
    run_path = published / "unigram-support__midi-dir__K5.run.json"
    other = dataclasses.replace(r, published=dataclasses.replace(r.published, train={"state_sha256": "other weights"}))
    noise = np.random.default_rng(0).normal(scale=0.01, size=len(episodes))
    near = check_run(other, [shifted(e, x) for e, x in zip(episodes, noise)], run_path)
    assert near.verdict == "MATCH" and near.how.startswith("within CI; weights differ")
    assert abs(near.delta - -noise.mean()) < 1e-3 and near.delta_ci95 > abs(near.delta)
    far = check_run(other, [shifted(e, x + 0.05) for e, x in zip(episodes, noise)], run_path)
    assert far.verdict == "DIFFERS" and far.how.startswith("outside the paired 95% CI (12 of 12")
    assert check_run(r, [shifted(e, x) for e, x in zip(episodes, noise)], run_path).verdict == "DIFFERS"


def test_a_consistent_shift_below_float_drift_matches_and_one_above_differs(published):
    ((r, episodes),) = published_reruns([published], methods=["unigram-support"])
    run_path = published / "unigram-support__midi-dir__K5.run.json"
    other = dataclasses.replace(r, published=dataclasses.replace(r.published, train={"state_sha256": "other weights"}))
    nll = np.mean([e.nats_per_token for e in episodes])
    tiny = check_run(other, [shifted(e, 0.5 * FLOAT_DRIFT * nll) for e in episodes], run_path)
    assert tiny.delta_ci95 < abs(tiny.delta)  # every episode shifted alike: the CI alone would say DIFFERS
    assert tiny.verdict == "MATCH" and tiny.how.startswith("float drift")
    small = check_run(other, [shifted(e, 2 * FLOAT_DRIFT * nll) for e in episodes], run_path)
    assert small.verdict == "DIFFERS"


def test_a_reproduction_record_marks_rows_matched_on_another_machine(published, track, midi_root, tmp_path, capsys):
    from leaderboard.aggregate import leaderboard_rows
    from leaderboard.render import fmt_reproduced
    from leaderboard.reproductions import Reproduction, read_reproduction, read_reproductions, write_reproduction

    argv = check_argv(published, track, midi_root, tmp_path)
    assert main([*argv, "--record"]) == 2  # who ran it is part of the record
    assert "--record needs --by NAME" in capsys.readouterr().err
    assert main(["reproduce", "--results", str(published), "--record", "--by", "x"]) == 2
    assert "--record writes what --check finds: add --check" in capsys.readouterr().err
    assert not (published / "reproductions").exists()  # both refused before any work

    assert main([*argv, "--record", "--by", "Ada"]) == 0
    [path] = (published / "reproductions").glob("*.json")
    assert f"reproduction record: {path}" in capsys.readouterr().out
    record = read_reproduction(path)
    assert record.by == "Ada" and record.command[:2] == ["fsmb", "reproduce"] and record.env["torch_threads"] >= 1
    assert sorted((c.label, c.verdict, c.how) for c in record.checks) == [
        ("unigram", "MATCH", "bit-exact"),
        ("unigram-support", "MATCH", "bit-exact"),
    ]
    rows = leaderboard_rows(published)
    assert all(r.reproduced is None for r in rows)  # the machine that scored them: no badge

    other = Reproduction(
        **{**record.body(), "checks": record.checks, "by": "Grace", "env": {**record.env, "cpu": "Some Other CPU"}}
    )
    second = write_reproduction(published, other)
    rows = {r.method: r for r in leaderboard_rows(published)}
    assert [m["by"] for m in rows["unigram-support"].reproduced] == ["Grace"]
    assert fmt_reproduced(rows["unigram"]).startswith("✓ by Grace on Some Other CPU, ")
    assert fmt_reproduced(rows["unigram"]).endswith("(12 episodes)")

    second.write_text(second.read_text().replace('"Grace"', '"Mallory"'))  # edited after it was written
    assert [r.by for r in read_reproductions([published])] == ["Ada"]
    assert "sha256 does not match the record's content" in capsys.readouterr().err
    assert all(r.reproduced is None for r in leaderboard_rows(published))
