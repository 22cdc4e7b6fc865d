"""Waveform I/O for the audio tracks: every note becomes 4 s of 16 kHz mono.

`read_note` reads a WAV (or any format libsndfile reads) with ``soundfile``, mixes
it down to mono, resamples it to `SAMPLE_RATE` with ``torchaudio`` when the file
has another rate, and pads (with silence) or cuts it to `NOTE_SECONDS`.  Files
that are empty, hold NaN / infinite samples or are silent raise `SkipItem`, so the
corpus store reports and skips them; unreadable files raise ``soundfile``'s error,
which the store reports the same way.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from episodes.atomic import atomic_path
from episodes.sources.base import SkipItem

SAMPLE_RATE = 16_000
NOTE_SECONDS = 4.0
N_SAMPLES = int(SAMPLE_RATE * NOTE_SECONDS)
SILENCE_PEAK = 1e-3  # a note whose peak |amplitude| is below this is silent (-60 dBFS)


def read_note(path: Path) -> np.ndarray:
    """The first `NOTE_SECONDS` of ``path``, mono float32 at `SAMPLE_RATE`, shape
    ``(N_SAMPLES,)`` (PCM files give [-1, 1]; float files and resampling may overshoot
    it slightly).  Only those seconds are read and resampled, however long the file."""
    import soundfile

    with soundfile.SoundFile(str(path)) as fh:
        rate = fh.samplerate
        frames = math.ceil(NOTE_SECONDS * rate) + 64  # a margin for the resampling filter
        data = fh.read(frames, dtype="float32", always_2d=True)  # (frames, channels)
    if data.size == 0:
        raise SkipItem("empty audio file")
    if not np.all(np.isfinite(data)):
        raise SkipItem("audio holds NaN or infinite samples")
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = resample(mono, rate)
    mono = fit_length(mono)
    if float(np.abs(mono).max()) < SILENCE_PEAK:
        raise SkipItem(f"silent (peak below {SILENCE_PEAK:g} in the first {NOTE_SECONDS:g} s)")
    return mono


def resample(wave: np.ndarray, rate: int) -> np.ndarray:
    """``wave`` (shape ``(n,)``, at ``rate`` Hz) resampled to `SAMPLE_RATE`."""
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(np.ascontiguousarray(wave)), rate, SAMPLE_RATE).numpy()


def fit_length(wave: np.ndarray) -> np.ndarray:
    """Cut to, or pad with zeros up to, `N_SAMPLES` samples (float32)."""
    out = np.zeros(N_SAMPLES, dtype=np.float32)
    n = min(len(wave), N_SAMPLES)
    out[:n] = wave[:n]
    return out


def write_note(path: Path, wave: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono float samples as 16-bit PCM WAV, atomically."""
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), np.clip(wave, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
