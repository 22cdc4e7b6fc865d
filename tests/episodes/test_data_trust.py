"""Environment failures are never cached, one input costs a bounded amount, a damaged
store is never read, fitted models are kept per dataset, and bad arguments are
refused before any work (issue 11)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile

from benchmark.cli.main import main
from episodes import dependencies
from episodes.audio import SAMPLE_RATE, read_note, resample_ratio
from episodes.limits import MAX_RESAMPLE_TERMS
from episodes.sources.base import DataError, SkipItem
from episodes.sources.midi_dir import MidiDirSource
from episodes.sources.nsynth import NSynthSource
from episodes.store import BuildError, open_store, store_dir
from episodes.synthetic import make_midi_corpus, make_nsynth_corpus


def quiet(_msg: str) -> None:
    pass


@pytest.fixture
def broken(monkeypatch):
    """Make library ``name`` fail its check, as a torchaudio that does not load against torch."""

    def breaks(name: str) -> None:
        def probe() -> None:
            raise OSError("libtorchaudio.so: undefined symbol: torch_exception_get_what_without_backtrace")

        monkeypatch.setitem(dependencies.CHECKS, name, (probe, dependencies.CHECKS[name][1]))
        dependencies._check_one.cache_clear()

    yield breaks
    dependencies._check_one.cache_clear()


def long_gap_midi(path: Path, delta: int = 0x0FFFFFFF) -> Path:
    """One note after ``delta`` ticks at one tick per quarter note (36 bytes)."""
    vlq = []
    while True:
        vlq.insert(0, (delta & 0x7F) | (0x80 if vlq else 0))
        delta >>= 7
        if not delta:
            break
    events = bytes(vlq) + bytes([0x90, 60, 64, 0x00, 60, 0x00, 0x00, 0xFF, 0x2F, 0x00])
    path.write_bytes(b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1) + b"MTrk" + struct.pack(">I", len(events)) + events)
    return path


def write_sine(path: Path, rate: int, seconds: float = 1.0, channels: int = 1) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * 440 * t)
    soundfile.write(str(path), np.repeat(wave[:, None], channels, axis=1), rate, subtype="PCM_16")
    return path


def test_a_broken_torchaudio_fails_the_build_in_one_line_and_caches_nothing(tmp_path, broken, capsys):
    root = make_nsynth_corpus(tmp_path / "nsynth", n_instruments=2, notes=3)
    broken("torchaudio")
    argv = [
        "data",
        "build",
        "--track",
        "audio/nsynth",
        "--data-dir",
        str(root),
        "--cache-dir",
        str(tmp_path / "c"),
        "--workers",
        "1",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "torchaudio" in err and "undefined symbol" in err
    assert "pip install torch==2.11.0 torchaudio==2.11.0" in err
    assert not list((tmp_path / "c").rglob("meta.json")) and not list((tmp_path / "c").rglob("parts"))
    dependencies.CHECKS["torchaudio"] = (dependencies._torchaudio, dependencies.PINNED_PAIR)  # fixed
    dependencies._check_one.cache_clear()
    store = open_store(NSynthSource(root), tmp_path / "c", workers=1, progress=False, log=quiet)
    assert len(store) == 6 and store.report()["n_skipped"] == 0  # nothing stale was kept


def test_doctor_names_the_library_that_does_not_work(broken, capsys):
    assert main(["doctor"]) == 0
    assert "ok    torchaudio" in capsys.readouterr().out
    broken("torchaudio")
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  torchaudio" in out and "undefined symbol" in out and "ok    symusic" in out


def test_an_import_error_while_parsing_stops_the_build_and_is_not_cached(tmp_path, monkeypatch):
    source = MidiDirSource(make_midi_corpus(tmp_path / "midi", n_artists=2, songs=3))
    monkeypatch.setattr(MidiDirSource, "read", lambda self, ref: (_ for _ in ()).throw(ImportError("no symusic")))
    with pytest.raises(ImportError):
        open_store(source, tmp_path / "c", workers=1, progress=False, log=quiet)
    assert not (store_dir(source, tmp_path / "c") / "meta.json").exists()


def test_most_pieces_unreadable_for_one_reason_is_suspected_as_the_environment(tmp_path, monkeypatch):
    source = MidiDirSource(make_midi_corpus(tmp_path / "midi", n_artists=4, songs=4))
    monkeypatch.setattr(MidiDirSource, "read", lambda self, ref: (_ for _ in ()).throw(RuntimeError("codec missing")))
    with pytest.raises(BuildError, match="16 of 16 pieces are unreadable for one reason"):
        open_store(source, tmp_path / "c", workers=1, progress=False, log=quiet)
    root = store_dir(source, tmp_path / "c")
    assert not (root / "meta.json").exists() and not (root / "parts").exists()
    monkeypatch.undo()
    assert len(open_store(source, tmp_path / "c", workers=1, progress=False, log=quiet)) == 16


def test_library_versions_key_the_store(tmp_path, monkeypatch):
    source = MidiDirSource(make_midi_corpus(tmp_path / "midi", n_artists=1, songs=1))
    before = store_dir(source, tmp_path)
    real = dependencies.version
    monkeypatch.setattr(dependencies, "version", lambda name: "0.0.1" if name == "symusic" else real(name))
    assert store_dir(source, tmp_path) != before


def test_a_damaged_store_is_rebuilt_never_read(tmp_path):
    source = MidiDirSource(make_midi_corpus(tmp_path / "midi", n_artists=2, songs=3))
    store = open_store(source, tmp_path / "c", workers=1, progress=False, log=quiet)
    tokens = store.root / "tokens.u16"
    raw = bytearray(tokens.read_bytes())
    raw[10] ^= 0xFF
    tokens.write_bytes(bytes(raw))
    with pytest.raises(Exception, match="damaged"):
        open_store(source, tmp_path / "c", build=False)
    said = []
    rebuilt = open_store(source, tmp_path / "c", workers=1, progress=False, log=said.append)
    assert any("damaged" in s for s in said) and rebuilt.damage() is None
    assert rebuilt.fingerprint == store.fingerprint


def test_a_long_silence_in_a_tiny_midi_is_skipped_with_the_cap_in_the_report(tmp_path):
    root = make_midi_corpus(tmp_path / "midi", n_artists=2, songs=3)
    long_gap_midi(root / "Artist 00" / "gap.mid")
    long_gap_midi(root / "Artist 00" / "short-gap.mid", delta=100)  # 100 quarters: fine
    store = open_store(MidiDirSource(root), tmp_path / "c", workers=1, progress=False, log=quiet)
    reasons = {s["item_id"]: s["reason"] for s in store.report()["skipped"]}
    assert "over the cap of 1,024 quarter notes" in reasons["Artist 00/gap.mid"]
    assert "Artist 00/short-gap.mid" in store.index
    assert max(m.n_tokens for m in store.items) < 1000


@pytest.mark.parametrize("rate", [16_001, 44_101, 12_345, 44_100, 7_999])
def test_any_sample_rate_resamples_with_a_bounded_filter_and_keeps_the_pitch(tmp_path, rate):
    ratio = resample_ratio(rate)
    assert max(ratio.numerator, ratio.denominator) <= MAX_RESAMPLE_TERMS
    assert abs(float(ratio) * rate / SAMPLE_RATE - 1) < 2e-4
    wave = read_note(write_sine(tmp_path / "x.wav", rate))
    spectrum = np.abs(np.fft.rfft(wave[: SAMPLE_RATE // 2]))
    assert abs(np.argmax(spectrum) * 2 - 440) <= 2  # 2 Hz bins over half a second


def test_sample_rates_and_channel_counts_outside_the_caps_are_skipped(tmp_path):
    with pytest.raises(SkipItem, match="sample rate"):
        read_note(write_sine(tmp_path / "slow.wav", 500))
    with pytest.raises(SkipItem, match="samples to read"):
        read_note(write_sine(tmp_path / "wide.wav", 96_000, seconds=0.01, channels=64))
    raw = bytearray((tmp_path / "slow.wav").read_bytes())
    raw[24:28] = struct.pack("<I", 2**31 - 1)  # a header claiming 2 GHz
    (tmp_path / "huge.wav").write_bytes(bytes(raw))
    with pytest.raises(SkipItem):
        read_note(tmp_path / "huge.wav")


def test_nsynth_names_that_cannot_be_files_are_left_out_and_escaping_links_skipped(tmp_path):
    root = make_nsynth_corpus(tmp_path / "n", n_instruments=2, notes=2)
    examples = json.loads((root / "examples.json").read_text())
    for bad in ("../../etc/passwd", "a\x00b", "\ud800", "..", "x/y"):
        examples[bad] = {"instrument_str": "mallet_electronic_000"}
    (root / "examples.json").write_text(json.dumps(examples))
    outside = write_sine(tmp_path / "outside.wav", SAMPLE_RATE)
    (root / "audio" / "mallet_electronic_001-050-100.wav").unlink()
    (root / "audio" / "mallet_electronic_001-050-100.wav").symlink_to(outside)
    (root / "audio" / "mallet_electronic_001-048-064.wav").unlink()
    (root / "audio" / "mallet_electronic_001-048-064.wav").symlink_to("mallet_electronic_001-048-064.wav")  # a loop
    store = open_store(NSynthSource(root), tmp_path / "c", workers=1, progress=False, log=quiet)
    report = store.report()
    assert report["source_listing"]["records_with_unusable_names"] == 5
    reasons = {s["item_id"]: s["reason"] for s in report["skipped"]}
    assert "escapes the dataset root" in reasons["mallet_electronic_001-050-100"]
    assert "cannot be resolved" in reasons["mallet_electronic_001-048-064"]
    assert len(store) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"a": {"instrument_str": "x", "pitch": 1' + b"9" * 5000 + b"}}", None),
    ],
)
def test_nsynth_metadata_that_breaks_json_parsers_is_one_data_error(tmp_path, content, message):
    (tmp_path / "examples.json").write_bytes(content)
    source = NSynthSource(tmp_path)
    if message is None:  # a 5,000-digit number is not an error: only instrument_str is read
        assert [p.item_id for p in source.list_pieces()] == ["a"]
        return
    with pytest.raises(DataError, match=message):
        source.list_pieces()
