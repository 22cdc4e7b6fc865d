"""Artist split stability and manifest determinism."""

from __future__ import annotations

import json

import pytest

from episodes.manifest import EpisodeDrawer, Manifest, ManifestError, draw_manifest
from episodes.split import split_artists, split_of


def test_split_is_stable_under_adding_and_removing_artists():
    artists = [f"artist {i}" for i in range(300)]
    before = split_artists(artists, "salt")
    after = split_artists(artists[:150] + artists[151:] + ["a newcomer"], "salt")
    for split, names in before.items():
        for name in names:
            if name != "artist 150":
                assert split_of(name, "salt") == split
                assert name in after[split]
    sizes = {s: len(v) for s, v in before.items()}
    assert 210 < sizes["train"] < 270 and sizes["val"] > 15 and sizes["test"] > 15


def test_split_normalises_artist_names():
    assert split_of("The  Beatles", "s") == split_of("the beatles", "s")


POOL = {f"a{i}": [f"a{i}/s{j}" for j in range(4 + i)] for i in range(10)}


def make(n=50, shots=3, seed=0):
    return draw_manifest(
        POOL,
        track="t",
        track_version=1,
        split="test",
        shots=shots,
        query_size=2,
        n_episodes=n,
        seed=seed,
        corpus_fingerprint="f" * 64,
    )


def test_manifest_is_deterministic_and_seed_sensitive():
    assert make().sha256 == make().sha256
    assert make().sha256 != make(seed=1).sha256
    assert make(n=20).episodes == make(n=50).episodes[:20]


def test_episodes_are_disjoint_and_respect_eligibility():
    manifest = make(shots=5)
    assert {e.artist for e in manifest.episodes} <= {a for a, ids in POOL.items() if len(ids) >= 7}
    for e in manifest.episodes:
        assert len(e.support) == 5 and len(e.query) == 2
        assert not set(e.support) & set(e.query)
        assert all(i.startswith(e.artist + "/") for i in e.support + e.query)


def test_query_fixed_and_support_nested_across_shots():
    pool = {a: ids for a, ids in POOL.items() if len(ids) >= 10}
    drawers = {k: EpisodeDrawer(pool, shots=k, query_size=2, seed=0, split="test") for k in (0, 1, 2, 4, 8)}
    for i in range(30):
        eps = {k: d.draw(i) for k, d in drawers.items()}
        assert len({e.query for e in eps.values()}) == 1
        assert eps[1].support == eps[2].support[:1] and eps[4].support == eps[8].support[:4]


def test_no_eligible_artist_is_a_clear_error():
    with pytest.raises(ManifestError, match="lower --shots"):
        make(shots=50)


def test_saved_manifest_round_trips_and_detects_edits(tmp_path):
    manifest = make()
    path = tmp_path / "m.json"
    manifest.save(path)
    assert Manifest.load(path) == manifest
    data = json.loads(path.read_text())
    data["episodes"][0]["query"][0] = "a9/s0"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="edited or corrupted"):
        Manifest.load(path)
