"""Fixtures: tracks over the small synthetic corpora of `episodes.synthetic`, one per
modality, each built once per test session in its own cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.contract.methods import make_method
from benchmark.contract.protocol import Budget
from episodes.synthetic import make_lyrics_corpus, make_midi_corpus, make_nsynth_corpus
from episodes.tracks import TRACKS, Track

# Tests that look at what methods learn train a little longer than `fsmb check`'s "tiny".
TEST_BUDGET = Budget("test", steps=30, batch_size=8, val_every=15, val_episodes=6, size="small")


@pytest.fixture(scope="session")
def midi_root(tmp_path_factory) -> Path:
    return make_midi_corpus(tmp_path_factory.mktemp("midi"))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def track(midi_root, cache_dir) -> Track:
    return Track.open(TRACKS["midi/dir"], cache_dir=cache_dir, data_dir=midi_root, workers=1, progress=False)


@pytest.fixture
def fit_on_track(track, tmp_path):
    """``spec -> (method, meta)``: fit (or load) a method, with its training settings, on
    ``track`` at `TEST_BUDGET`, in this test's own model folder ``tmp_path / "models"``."""
    from benchmark.run.runner import fit_or_load

    return lambda spec: fit_or_load(
        make_method(spec), track, budget=TEST_BUDGET, models=tmp_path / "models", seed=0, log=lambda _: None
    )


def corpus_track(tmp_path_factory, name: str, make_corpus) -> Track:
    """Track ``name`` over a corpus that ``make_corpus(root)`` writes, with its own cache."""
    root = make_corpus(tmp_path_factory.mktemp(name.replace("/", "-")))
    return Track.open(
        TRACKS[name], cache_dir=tmp_path_factory.mktemp("cache"), data_dir=root, workers=1, progress=False
    )


@pytest.fixture(scope="session")
def lyrics_track(tmp_path_factory) -> Track:
    return corpus_track(tmp_path_factory, "lyrics/dir", make_lyrics_corpus)


@pytest.fixture(scope="session")
def audio_track(tmp_path_factory) -> Track:
    return corpus_track(tmp_path_factory, "audio/nsynth", make_nsynth_corpus)
