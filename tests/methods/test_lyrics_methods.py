"""Lyrics: text encoding, normalisation, the fortunes / folder / table sources and their
build reports, and lyrics tracks through the runner and leaderboard."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec
from benchmark.contract.protocol import Budget
from benchmark.run.runner import evaluate
from leaderboard.aggregate import leaderboard_rows
from tests.conftest import TEST_BUDGET


def quiet(message: str) -> None:
    pass


def test_lyrics_track_scores_bits_per_character(lyrics_track, tmp_path, capsys):
    for method in ("unigram", "unigram-support", "lstm-concat"):
        evaluate(
            MethodSpec.parse(method),
            lyrics_track,
            shots=5,
            n_episodes=12,
            out=tmp_path / "r",
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            log=quiet,
        )
    record = json.loads((tmp_path / "r" / "unigram__lyrics-dir__K5.jsonl").read_text().splitlines()[0])
    chars = sum(record["units"]["characters"])
    assert record["bits_per"]["characters"] == pytest.approx(sum(record["nll_nats"]) / chars / np.log(2))
    run = json.loads((tmp_path / "r" / "unigram__lyrics-dir__K5.run.json").read_text())
    assert run["encoding"] == "text-bytes" and run["encoding_version"] == 1
    rows = {r.method: r for r in leaderboard_rows(tmp_path / "r", reference="unigram")}
    assert rows["unigram"].unit == "characters" and rows["unigram-support"].delta_vs_reference < 0
    assert main(["leaderboard", "--results", str(tmp_path / "r")]) == 0
    assert "bits/char (±95% CI)" in capsys.readouterr().out


def test_sample_quality_is_recorded_and_reproducible(lyrics_track, tmp_path, capsys):
    paths = [
        evaluate(
            MethodSpec.parse("lstm-concat"),
            lyrics_track,
            shots=5,
            n_episodes=3,
            out=tmp_path / out,
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            samples=4,
            log=quiet,
        )
        for out in ("a", "b")
    ]
    first, second = ([json.loads(line) for line in p.read_text().splitlines()] for p in paths)
    quality = first[0]["quality"]
    assert len(quality["samples"]) == 4 and all(isinstance(s, str) for s in quality["samples"])
    assert {"distinct_1", "distinct_2", "self_bleu", "rhyme_density", "word_js_bits"} <= set(quality["metrics"])
    assert 0 <= quality["metrics"]["word_js_bits"] <= 1
    assert [r["quality"] for r in first] == [r["quality"] for r in second]  # seeded per episode
    assert main(["leaderboard", "--results", str(tmp_path / "a")]) == 0
    assert "sample quality" in capsys.readouterr().out


def test_every_method_runs_on_a_lyrics_track_unchanged(lyrics_track, tmp_path):
    from benchmark.contract.methods import MethodSpec, names_in

    micro = Budget("micro", steps=8, batch_size=4, val_every=8, val_episodes=2, size="small")
    assert {"lstm", "maml", "cache", "transformer-icl"} <= set(names_in(modality="lyrics"))
    for name in names_in(modality="lyrics"):
        path = evaluate(
            MethodSpec.parse(name),
            lyrics_track,
            shots=2,
            n_episodes=2,
            out=tmp_path / "r",
            budget=micro,
            models=tmp_path / "m",
            log=quiet,
        )
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(records) == 2 and all(r["bits_per"]["characters"] > 0 for r in records), name
