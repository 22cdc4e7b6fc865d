"""Audio tracks: NSynth-format data, the rendered GM corpus, the representation (v2) and
the Gaussian baselines (closed forms, dequantisation bound)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile

from episodes import audio_encoding
from episodes.audio import N_SAMPLES, SAMPLE_RATE, read_note, write_note
from episodes.sources.audio_folder import AudioFolderSource
from episodes.sources.base import DataError
from episodes.sources.nsynth import NSynthSource
from episodes.store import open_store
from episodes.synthetic import instrument_note, make_nsynth_corpus


def quiet(_msg: str) -> None:
    pass


def test_representation_places_a_tone_in_its_mel_band_and_quantises_to_half_a_step():
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    low, high = (0.5 * np.sin(2 * np.pi * f * t).astype(np.float32) for f in (200.0, 3000.0))
    db_low, db_high = audio_encoding.log_mel_db(low), audio_encoding.log_mel_db(high)
    assert db_low.shape == audio_encoding.SHAPE
    assert db_low.mean(1).argmax() < db_high.mean(1).argmax()  # higher tone, higher band
    q = audio_encoding.quantise(db_low)
    inside = (db_low > audio_encoding.DB_MIN) & (db_low < audio_encoding.DB_MAX)
    assert np.abs(audio_encoding.to_db(q) - db_low)[inside].max() <= audio_encoding.DB_STEP / 2 + 1e-4
    assert audio_encoding.quantise(np.array([-500.0, 500.0])).tolist() == [0, 255]


def test_griffin_lim_rendering_keeps_spectrum_and_envelope():
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    wave = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-t)).astype(np.float32)
    original = audio_encoding.log_mel_db(wave)
    rendered = audio_encoding.log_mel_db(audio_encoding.to_waveform(audio_encoding.quantise(original)))
    assert original.mean(1).argmax() == rendered.mean(1).argmax()
    assert np.corrcoef(original.mean(1), rendered.mean(1))[0, 1] > 0.85  # spectrum over bands
    assert np.corrcoef(original.mean(0), rendered.mean(0))[0, 1] > 0.85  # envelope over time


def test_wav_round_trip_resampling_and_bad_files(tmp_path):
    wave = instrument_note(3, 60, 100)
    write_note(tmp_path / "a.wav", wave)
    assert np.abs(read_note(tmp_path / "a.wav") - wave).max() < 1e-4  # 16-bit PCM
    soundfile.write(tmp_path / "b.wav", wave[::2].copy(), 8000)  # another rate: resampled, still 4 s
    assert read_note(tmp_path / "b.wav").shape == (N_SAMPLES,)
    soundfile.write(tmp_path / "silent.wav", np.zeros(N_SAMPLES, np.float32), SAMPLE_RATE)
    nan = wave.copy()
    nan[100] = np.nan
    soundfile.write(tmp_path / "nan.wav", nan, SAMPLE_RATE, subtype="FLOAT")
    for name, reason in (("silent.wav", "silent"), ("nan.wav", "NaN")):
        with pytest.raises(Exception, match=reason):
            read_note(tmp_path / name)
    # only the first 4 s are read and resampled: what comes after (here NaN) is never seen
    long = np.full(44_100 * 60, np.nan, np.float32)
    long[: 44_100 * 5] = np.resize(wave, 44_100 * 5)
    soundfile.write(tmp_path / "long.wav", long, 44_100, subtype="FLOAT")
    assert np.isfinite(read_note(tmp_path / "long.wav")).all()


def test_nsynth_build_reports_bad_files_and_keeps_the_rest(tmp_path):
    root = make_nsynth_corpus(tmp_path / "ns", n_instruments=3, notes=4)
    examples = json.loads((root / "examples.json").read_text())
    (root / "audio" / "mallet_electronic_000-048-064.wav").write_bytes(b"RIFF not really a wav")
    soundfile.write(root / "audio" / "mallet_electronic_001-048-064.wav", np.zeros(N_SAMPLES), SAMPLE_RATE)
    (root / "audio" / "mallet_electronic_002-048-064.wav").unlink()
    examples["orphan-000-000"] = {"pitch": 60}  # no instrument_str
    (root / "examples.json").write_text(json.dumps(examples))
    store = open_store(NSynthSource(root), tmp_path / "c", workers=1, progress=False, log=quiet)
    report = store.report()
    reasons = {s["item_id"].split("-")[0][-3:]: s["reason"] for s in report["skipped"]}
    assert len(store) == 9 and report["n_skipped"] == 3
    assert "unreadable" in reasons["000"] and "silent" in reasons["001"] and "unreadable" in reasons["002"]
    assert report["source_listing"]["records_without_instrument"] == 1
    assert {m.artist for m in store.items} == {f"mallet_electronic_{i:03d}" for i in range(3)}


def test_nsynth_split_folders_pool_and_bad_json_is_explained(tmp_path):
    make_nsynth_corpus(tmp_path / "ns" / "nsynth-valid", n_instruments=2, notes=2)
    (tmp_path / "ns" / "nsynth-test" / "audio").mkdir(parents=True)
    (tmp_path / "ns" / "nsynth-test" / "examples.json").write_text("{}")
    pieces = NSynthSource(tmp_path / "ns").list_pieces()
    assert len(pieces) == 4 and pieces[0].path.startswith("nsynth-valid/audio/")
    (tmp_path / "ns" / "nsynth-test" / "examples.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        NSynthSource(tmp_path / "ns").list_pieces()
    with pytest.raises(DataError, match="no examples.json"):
        NSynthSource(tmp_path).list_pieces()


def test_audio_folder_metadata_columns_and_escaping_paths(tmp_path):
    write_note(tmp_path / "clips" / "x.wav", instrument_note(0, 60, 100))
    (tmp_path / "metadata.csv").write_text("file_name,instrument\nclips/x.wav,Oboe\n,Oboe\n")
    source = AudioFolderSource(tmp_path)
    assert [(p.item_id, p.artist) for p in source.list_pieces()] == [("clips/x.wav", "Oboe")]
    assert source.listing() == {"artist_column": "instrument", "rows_without_file_or_artist": 1}
    assert source.read(source.list_pieces()[0]).shape == (N_SAMPLES,)
    (tmp_path / "metadata.csv").write_text("path,label\nx.wav,a\n")
    with pytest.raises(DataError, match="needs columns file_name and artist or instrument"):
        AudioFolderSource(tmp_path).list_pieces()
    (tmp_path / "metadata.csv").write_text("file_name,artist\n../../etc/passwd,a\n")
    with pytest.raises(DataError, match="escapes"):
        AudioFolderSource(tmp_path).list_pieces()
    # one file under two spellings would be two items, possibly support and query of one episode
    (tmp_path / "metadata.csv").write_text("file_name,artist\nclips/x.wav,a\n./clips/x.wav,b\n")
    with pytest.raises(DataError, match="clips/x.wav is listed twice"):
        AudioFolderSource(tmp_path).list_pieces()
    # the corpus cache notices an audio file rewritten in place (the CSV untouched)
    (tmp_path / "metadata.csv").write_text("file_name,artist\nclips/x.wav,a\n")
    before = AudioFolderSource(tmp_path).cache_key()
    write_note(tmp_path / "clips" / "x.wav", instrument_note(1, 62, 100))
    os.utime(tmp_path / "clips" / "x.wav", ns=(1, 1))
    assert AudioFolderSource(tmp_path).cache_key() != before


def test_gm_notes_render_in_nsynth_format_deterministically(tmp_path):
    import subprocess
    import sys

    from episodes.render_gm import FAMILIES, PROGRAMS, render_corpus

    assert 55 not in PROGRAMS and not set(range(96, 104)) & set(PROGRAMS) and 0 in PROGRAMS
    render_corpus(tmp_path / "a", programs=(0, 40), pitches=(48, 60), velocities=(100,), progress=False, log=quiet)
    # FluidSynth seeds its dither from rand() at its first synth: a process that called rand() first renders the same
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import ctypes, sys; ctypes.CDLL(None).rand(); "
            "from episodes.render_gm import render_corpus; render_corpus(sys.argv[1], programs=(0, 40), "
            "pitches=(48, 60), velocities=(100,), progress=False)",
            str(tmp_path / "b"),
        ],
        check=True,
    )
    examples = json.loads((tmp_path / "a" / "examples.json").read_text())
    assert sorted(examples) == [
        "keyboard_acoustic_000-048-100",
        "keyboard_acoustic_000-060-100",
        "string_acoustic_040-048-100",
        "string_acoustic_040-060-100",
    ]
    record = examples["string_acoustic_040-060-100"]
    assert FAMILIES[record["instrument_family"]] == record["instrument_family_str"] == "string"
    assert record["pitch"] == 60 and record["sample_rate"] == SAMPLE_RATE and record["gm_name"] == "Violin"
    for name in examples:
        data, rate = soundfile.read(tmp_path / "a" / "audio" / f"{name}.wav")
        assert rate == SAMPLE_RATE and data.shape == (N_SAMPLES,) and np.abs(data).max() > 1e-3
        assert (tmp_path / "a" / "audio" / f"{name}.wav").read_bytes() == (
            tmp_path / "b" / "audio" / f"{name}.wav"
        ).read_bytes()
    assert len(NSynthSource(tmp_path / "a").list_pieces()) == 4


ENCODE_DIGEST = """
import hashlib, sys
from pathlib import Path
from episodes.audio import read_note
from episodes.audio_encoding import encode
notes = sorted(Path(sys.argv[1]).glob("*.wav"))
print(len(notes), hashlib.sha256(b"".join(encode(read_note(p)).tobytes() for p in notes)).hexdigest())
"""


def test_representation_levels_do_not_depend_on_the_cpu_kernels(tmp_path):
    """The same rendered notes give the same levels whichever instruction set MKL's FFT
    and matrix kernels use: v1 (float32) moved 59 of 1.8 M levels of 439 GM notes between
    the default (AVX-512) kernels and AVX2 ones, and 69 with SSE4.2; v2 computes in float64."""
    import subprocess
    import sys

    from episodes.render_gm import render_corpus

    render_corpus(
        tmp_path,
        programs=(0, 19, 40, 56, 73, 81),
        pitches=(36, 48, 60, 72, 84),
        velocities=(50, 100),
        progress=False,
        log=quiet,
    )
    digests = set()
    for isa in (None, "AVX2", "SSE4_2"):
        env = {k: v for k, v in os.environ.items() if k != "MKL_ENABLE_INSTRUCTIONS"}
        env |= {"MKL_ENABLE_INSTRUCTIONS": isa} if isa else {}
        out = subprocess.run(
            [sys.executable, "-c", ENCODE_DIGEST, str(tmp_path / "audio")],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        assert out[0] == "60"
        digests.add(out[1])
    assert len(digests) == 1


def test_audio_items_are_level_images_counted_in_dims(audio_track):
    item = audio_track.episode(audio_track.manifest("test").episodes[0]).query[0]
    assert item.tokens.shape == audio_encoding.SHAPE and item.tokens.dtype == np.uint8
    assert item.units == {"tokens": audio_encoding.N_DIMS, "dims": audio_encoding.N_DIMS}
