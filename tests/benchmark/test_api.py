"""The Python entry point runs what `fsmb eval` runs and returns the records."""

from __future__ import annotations

import json

import pytest

from baselines.unigram import UnigramSupport
from benchmark.run.api import simple_evaluate
from benchmark.run.arguments import ArgumentError


def test_simple_evaluate_takes_a_class_or_an_instance_and_returns_the_records(track, tmp_path):
    kwargs = dict(episodes=3, budget="tiny", out=tmp_path / "r", models=tmp_path / "m", log=lambda _: None)
    records = simple_evaluate(UnigramSupport, track, **kwargs)
    assert [r.episode_id for r in records] == [e.episode_id for e in track.manifest("test").episodes[:3]]
    assert all(r.method == "unigram-support" and r.nats_per_token > 0 for r in records)
    again = simple_evaluate(UnigramSupport(), track, **kwargs)  # resumes: nothing rescored
    assert again == records
    run = json.loads((tmp_path / "r" / "unigram-support__midi-dir__K5.run.json").read_text())
    assert run["method_target"] == "baselines.unigram:UnigramSupport" and run["budget"]["name"] == "tiny"
    assert simple_evaluate(UnigramSupport, track, **{**kwargs, "episodes": 2}) == records[:2]  # the first 2 only
    steps = simple_evaluate("unigram-support", track, steps=7, **{**kwargs, "out": tmp_path / "s"})
    run = json.loads((tmp_path / "s" / "unigram-support__midi-dir__K5.run.json").read_text())
    assert run["budget"]["name"] == "tiny[steps=7]" and run["budget"]["steps"] == 7 and len(steps) == 3


def test_simple_evaluate_refuses_what_it_cannot_load(track, tmp_path):
    class Local(UnigramSupport):
        name = "local"

    with pytest.raises(ArgumentError, match="defined inside a function"):
        simple_evaluate(Local, track, out=tmp_path)
    tuned = UnigramSupport()
    tuned.alpha = 5.0
    with pytest.raises(ArgumentError, match="other than a new one's"):
        simple_evaluate(tuned, track, out=tmp_path)
    with pytest.raises(ArgumentError, match="budget 'huge'"):
        simple_evaluate("unigram", track, budget="huge", out=tmp_path)
