"""Environment failures are never cached, one input costs a bounded amount, a damaged
store is never read, fitted models are kept per dataset, and bad arguments are
refused before any work (issue 11)."""

from __future__ import annotations

import json

import pytest

from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec, make_method
from benchmark.run.records import RecordError, file_stem, results_lock
from benchmark.run.runner import evaluate, fit_or_load, model_dir
from benchmark.training.identity import state_identity
from episodes.synthetic import make_midi_corpus
from episodes.tracks import TRACKS, Track
from tests.conftest import TEST_BUDGET


def quiet(_msg: str) -> None:
    pass


def test_two_datasets_sharing_models_keep_their_own_fitted_models(tmp_path):
    models, said = tmp_path / "models", []
    tracks = [
        Track.open(
            TRACKS["midi/dir"],
            cache_dir=tmp_path / "c",
            data_dir=make_midi_corpus(tmp_path / name, n),
            workers=1,
            progress=False,
        )
        for name, n in (("a", 12), ("b", 13))
    ]
    metas = [
        fit_or_load(make_method("unigram"), t, budget=TEST_BUDGET, models=models, seed=0, log=said.append)[1]
        for t in tracks
    ]
    assert tracks[0].data_key != tracks[1].data_key
    said.clear()
    again = fit_or_load(make_method("unigram"), tracks[0], budget=TEST_BUDGET, models=models, seed=0, log=said.append)[
        1
    ]
    assert said and said[0].startswith("loaded") and again["state_sha256"] == metas[0]["state_sha256"]
    assert all(model_dir(models, "unigram", t, TEST_BUDGET, 0).joinpath("meta.json").exists() for t in tracks)


def test_a_retrained_identical_model_has_the_same_identity(track, tmp_path):
    first = fit_or_load(make_method("unigram"), track, budget=TEST_BUDGET, models=tmp_path / "m1", seed=0, log=quiet)[1]
    second = fit_or_load(make_method("unigram"), track, budget=TEST_BUDGET, models=tmp_path / "m2", seed=0, log=quiet)[
        1
    ]
    assert first["state_sha256"] == second["state_sha256"]
    where = model_dir(tmp_path / "m1", "unigram", track, TEST_BUDGET, 0)
    assert state_identity(where, {"other": "settings"}) != first["state_sha256"]


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--episodes", "0"], "--episodes: 0 is below the minimum 1"),
        (["--episodes", "-5"], "--episodes: -5 is below the minimum 1"),
        (["--samples", "-3"], "--samples: -3 is below the minimum 0"),
        (["--workers", "0"], "--workers: 0 is below the minimum 1"),
        (["--set", "theta=1e309"], "1e309 is not a finite number"),
        (["--set", "theta=NaN"], "NaN is not a finite number"),
        (["--shots", "5,5"], "distinct"),
    ],
)
def test_bad_arguments_are_refused_in_one_line_before_any_work(midi_root, tmp_path, capsys, extra, expected):
    argv = [
        "eval",
        "--method",
        "cache",
        "--track",
        "midi/dir",
        "--data-dir",
        str(midi_root),
        "--out",
        str(tmp_path / "out"),
        "--models",
        str(tmp_path / "models"),
        "--cache-dir",
        str(tmp_path / "c"),
        *extra,
    ]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert expected in err[-1]
    assert not (tmp_path / "models").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize("option", ["--out", "--models", "--cache-dir"])
def test_an_unwritable_folder_is_refused_before_training(midi_root, tmp_path, capsys, option):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    paths = {"--out": tmp_path / "out", "--models": tmp_path / "models", "--cache-dir": tmp_path / "c"}
    paths[option] = blocker / "sub"
    argv = [
        "eval",
        "--method",
        "lstm",
        "--track",
        "midi/dir",
        "--data-dir",
        str(midi_root),
        *[str(x) for kv in paths.items() for x in kv],
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{option} {blocker / 'sub'}: cannot write there" in err
    assert not list(tmp_path.rglob("meta.json"))  # no corpus built, no model trained


def test_a_second_writer_of_a_results_file_is_refused_before_training(track, tmp_path):
    out, models = tmp_path / "out", tmp_path / "models"
    records = out / f"{file_stem('unigram', track.spec.name, 5)}.jsonl"
    with results_lock(records):  # another writer (flock is per open file: this process counts as another)
        with pytest.raises(RecordError, match="being written by another fsmb process"):
            evaluate(
                MethodSpec.parse("unigram"),
                track,
                shots=5,
                n_episodes=2,
                out=out,
                budget=TEST_BUDGET,
                models=models,
                log=quiet,
            )
    assert not models.exists()
    evaluate(
        MethodSpec.parse("unigram"), track, shots=5, n_episodes=2, out=out, budget=TEST_BUDGET, models=models, log=quiet
    )
    assert [json.loads(line)["episode_id"] for line in records.read_text().splitlines()] == ["test-00000", "test-00001"]
