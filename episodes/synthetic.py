"""Small deterministic corpora, one per modality, in the layouts FSMB's folder sources
read: for `fsmb check`'s mock run and for the tests.

Each artist (or instrument) has its own style -- scale, register, rhythm and
velocity for MIDI; vocabulary, line length and refrain for lyrics; harmonic profile
and decay for audio -- so that a method which adapts to the support set can beat
one that does not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from episodes.encoding import Note, write_midi

N_ARTISTS = 30
SONGS_PER_ARTIST = 12


def artist_song(artist: int, song: int) -> list[Note]:
    """A deterministic song in the style of ``artist``."""
    rng = np.random.default_rng([artist, song])
    style = np.random.default_rng([artist, 10_000])
    scale = np.sort(style.choice(12, size=5, replace=False))
    root = 36 + 12 * int(style.integers(3))
    step = int(style.choice([3, 6, 12]))
    velocity = int(style.integers(8))
    family = int(style.integers(3))
    notes, t = [], 0
    for _ in range(int(rng.integers(20, 40))):
        pitch = root + int(scale[rng.integers(5)]) + 12 * int(rng.integers(2))
        notes.append(Note(t, family, pitch, step, velocity))
        t += step
    return notes


def make_midi_corpus(root: Path, n_artists: int = N_ARTISTS, songs: int = SONGS_PER_ARTIST) -> Path:
    for a in range(n_artists):
        folder = root / f"Artist {a:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for s in range(songs):
            write_midi(artist_song(a, s), folder / f"song{s:02d}.mid")
    return root


SYLLABLES = ["la", "na", "do", "re", "mi", "ko", "ta", "shi", "ven", "lor", "ash", "qui", "zu", "pe", "ri", "mo"]


def artist_text(artist: int, song: int) -> str:
    """A deterministic 'song' in the style of ``artist``: its own small vocabulary,
    line length and refrain."""
    style = np.random.default_rng([artist, 20_000])
    vocab = [
        "".join(style.choice(SYLLABLES, size=int(style.integers(1, 4)))) for _ in range(int(style.integers(6, 12)))
    ]
    refrain = " ".join(style.choice(vocab, size=4))
    rng = np.random.default_rng([artist, song, 1])
    lines = []
    for i in range(int(rng.integers(4, 9))):
        lines.append(refrain if i % 3 == 2 else " ".join(rng.choice(vocab, size=int(style.integers(3, 7)))))
    return "\n".join(lines).capitalize()


def make_lyrics_corpus(root: Path, n_artists: int = N_ARTISTS, songs: int = SONGS_PER_ARTIST) -> Path:
    for a in range(n_artists):
        folder = root / f"Singer {a:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for s in range(songs):
            (folder / f"song{s:02d}.txt").write_text(artist_text(a, s), encoding="utf-8")
    return root


def instrument_note(instrument: int, pitch: int, velocity: int) -> np.ndarray:
    """A deterministic 4 s note of ``instrument``: its own harmonic profile and decay."""
    from episodes.audio import N_SAMPLES, SAMPLE_RATE

    style = np.random.default_rng([instrument, 30_000])
    harmonics = style.random(8) ** 2
    decay = float(style.uniform(0.3, 3.0))
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    wave = sum(a * np.sin(2 * np.pi * f0 * (h + 1) * t) for h, a in enumerate(harmonics) if f0 * (h + 1) < 7900)
    envelope = np.exp(-t / decay) * (t < 3.0) + np.exp(-3.0 / decay - (t - 3.0) * 8) * (t >= 3.0)
    return (0.5 * velocity / 127 * wave * envelope / max(1e-9, np.abs(wave).max())).astype(np.float32)


def make_nsynth_corpus(root: Path, n_instruments: int = N_ARTISTS, notes: int = SONGS_PER_ARTIST) -> Path:
    """An NSynth-format folder (``examples.json`` + ``audio/``) of synthetic instruments."""
    from episodes.atomic import write_json
    from episodes.audio import write_note

    examples = {}
    for i in range(n_instruments):
        instrument_str = f"mallet_electronic_{i:03d}"
        for n in range(notes):
            pitch, velocity = 48 + 2 * n, (64, 100)[n % 2]
            note_str = f"{instrument_str}-{pitch:03d}-{velocity:03d}"
            write_note(root / "audio" / f"{note_str}.wav", instrument_note(i, pitch, velocity))
            examples[note_str] = {
                "note_str": note_str,
                "instrument_str": instrument_str,
                "pitch": pitch,
                "velocity": velocity,
                "sample_rate": 16000,
                "instrument": i,
            }
    write_json(root / "examples.json", examples)
    return root
