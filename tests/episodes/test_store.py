"""Corpus store: build report for bad files, caching, fingerprints, path safety."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from episodes.encoding import Note, decode, write_midi
from episodes.sources.base import DataError, safe_join
from episodes.sources.midi_dir import MidiDirSource
from episodes.store import CorpusStore, build_store, open_store, store_dir
from episodes.synthetic import artist_song, make_midi_corpus
from episodes.tracks import TRACKS, Track


def write_drum_only(path):
    import miditoolkit

    midi = miditoolkit.MidiFile(ticks_per_beat=12)
    drums = miditoolkit.Instrument(program=0, is_drum=True)
    drums.notes = [miditoolkit.Note(velocity=90, pitch=36, start=0, end=6)]
    midi.instruments = [drums]
    midi.dump(str(path))


def test_bad_files_are_skipped_and_reported(tmp_path):
    root = make_midi_corpus(tmp_path / "data", n_artists=3, songs=3)
    (root / "Artist 00" / "corrupt.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage" + os.urandom(50))
    (root / "Artist 00" / "zero.mid").write_bytes(b"")
    write_midi([], root / "Artist 01" / "empty.mid")
    write_drum_only(root / "Artist 02" / "drums.midi")
    (root / "Artist 02" / "notes.txt").write_text("not midi")
    store = open_store(MidiDirSource(root), tmp_path / "cache", workers=1, progress=False, log=lambda m: None)
    assert len(store) == 9
    reasons = {s["path"]: s["reason"] for s in store.report()["skipped"]}
    assert set(reasons) == {
        "Artist 00/corrupt.mid",
        "Artist 00/zero.mid",
        "Artist 01/empty.mid",
        "Artist 02/drums.midi",
    }
    assert reasons["Artist 02/drums.midi"] == "drum-only"
    assert reasons["Artist 01/empty.mid"] == "no notes"
    assert reasons["Artist 00/corrupt.mid"].startswith("unreadable")


def test_store_round_trips_tokens_and_is_memory_mapped(track):
    store = track.store
    i = store.index["Artist 03/song05.mid"]
    assert isinstance(store.tokens, np.memmap)
    assert decode(store.tokens_of(i)) == sorted(artist_song(3, 5))
    assert store.items[i].artist == "Artist 03" and store.items[i].n_units == len(artist_song(3, 5))


def test_cache_is_reused_and_rebuilt_when_files_change(tmp_path):
    root = make_midi_corpus(tmp_path / "data", n_artists=2, songs=3)
    source = MidiDirSource(root)
    logs: list[str] = []
    first = open_store(source, tmp_path / "c", workers=1, progress=False, log=logs.append)
    assert len(logs) == 1
    second = open_store(source, tmp_path / "c", workers=1, progress=False, log=logs.append)
    assert len(logs) == 1 and second.fingerprint == first.fingerprint
    write_midi([Note(0, 0, 60, 12, 4)], root / "Artist 01" / "new.mid")
    third = open_store(MidiDirSource(root), tmp_path / "c", workers=1, progress=False, log=logs.append)
    assert len(third) == len(first) + 1 and third.fingerprint != first.fingerprint


def test_two_builds_give_the_same_fingerprint_and_manifest_sha256(tmp_path):
    a = make_midi_corpus(tmp_path / "a", n_artists=30, songs=10)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    tracks = [
        Track.open(
            TRACKS["midi/dir"], cache_dir=tmp_path / f"cache-{d.name}", data_dir=d, workers=1, progress=False, log=print
        )
        for d in (a, b)
    ]
    assert tracks[0].store.fingerprint == tracks[1].store.fingerprint
    for split in ("val", "test"):
        assert tracks[0].manifest(split).sha256 == tracks[1].manifest(split).sha256


def test_interrupted_build_resumes_from_finished_chunks(tmp_path, monkeypatch):
    import episodes.store as store_mod

    root = make_midi_corpus(tmp_path / "data", n_artists=4, songs=20)  # 80 pieces = 3 chunks
    source = MidiDirSource(root)
    target = store_dir(source, tmp_path / "c")
    calls = []
    real = store_mod.parse_chunk

    def flaky(src, refs):
        calls.append(len(refs))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(src, refs)

    monkeypatch.setattr(store_mod, "parse_chunk", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_store(source, target, workers=1, progress=False, log=print)
    assert not (target / "meta.json").exists() and len(list((target / "parts").glob("*.json"))) == 1
    calls.clear()
    monkeypatch.setattr(store_mod, "parse_chunk", real)
    logs = []
    build_store(source, target, workers=1, progress=False, log=logs.append)
    assert "resuming build: 1 of 3 chunks" in logs[0]
    assert len(CorpusStore(target)) == 80


def test_parallel_build_matches_serial(tmp_path):
    root = make_midi_corpus(tmp_path / "data", n_artists=3, songs=25)
    serial = open_store(MidiDirSource(root), tmp_path / "s", workers=1, progress=False, log=print)
    parallel = open_store(MidiDirSource(root), tmp_path / "p", workers=2, progress=False, log=print)
    assert serial.fingerprint == parallel.fingerprint


def test_missing_or_empty_data_dir_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no such directory"):
        MidiDirSource(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .mid/.midi files"):
        MidiDirSource(tmp_path / "empty").list_pieces()
    with pytest.raises(DataError, match="--data-dir"):
        Track.open(TRACKS["midi/dir"], cache_dir=tmp_path)


def test_paths_escaping_the_root_are_refused(tmp_path):
    (tmp_path / "root").mkdir()
    with pytest.raises(DataError, match="escapes"):
        safe_join(tmp_path / "root", "../etc/passwd")
    root = make_midi_corpus(tmp_path / "data", n_artists=1, songs=1)
    outside = tmp_path / "secret.mid"
    write_midi([Note(0, 0, 60, 12, 4)], outside)
    (root / "Artist 00" / "link.mid").symlink_to(outside)
    with pytest.raises(DataError, match="escapes"):
        MidiDirSource(root).list_pieces()


def test_track_items_are_cropped_with_note_counts(track):
    spec = track.spec
    item = track.item(0)
    assert item.units["tokens"] == len(item.tokens) - 1 <= spec.max_tokens - 1
    assert json.loads((track.store.root / "meta.json").read_text())["encoding_version"] == 1
