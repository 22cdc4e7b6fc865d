"""Waveform I/O for the audio tracks: every note becomes 4 s of 16 kHz mono.

`read_note` reads a WAV (or any format libsndfile reads) with ``soundfile``, mixes
it down to mono, resamples it to `SAMPLE_RATE` with ``torchaudio`` when the file
has another rate, and pads (with silence) or cuts it to `NOTE_SECONDS`.  Files
that are empty, hold NaN / infinite samples or are silent raise `SkipItem`; files
``soundfile`` cannot read raise `UnreadableItem`; so the corpus store reports and
skips them.  What one file may cost is bounded (`episodes.limits`): its sample rate
must lie in 1 kHz .. 768 kHz, at most 2^24 samples (frames x channels) are read, and
the resampling ratio is a fraction whose terms are at most 1,024 (see `resample`).
"""

from __future__ import annotations

import contextlib
import math
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from episodes.atomic import atomic_path
from episodes.dependencies import check
from episodes.limits import (
    MAX_READ_SAMPLES,
    MAX_RESAMPLE_TERMS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    check_cap,
)
from episodes.sources.base import SkipItem, UnreadableItem

SAMPLE_RATE = 16_000
NOTE_SECONDS = 4.0
N_SAMPLES = int(SAMPLE_RATE * NOTE_SECONDS)
SILENCE_PEAK = 1e-3  # a note whose peak |amplitude| is below this is silent (-60 dBFS)


def read_note(path: Path) -> np.ndarray:
    """The first `NOTE_SECONDS` of ``path``, mono float32 at `SAMPLE_RATE`, shape
    ``(N_SAMPLES,)`` (PCM files give [-1, 1]; float files and resampling may overshoot
    it slightly).  Only those seconds are read and resampled, however long the file."""
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as fh:
            rate, channels = fh.samplerate, fh.channels
            if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
                raise SkipItem(
                    f"sample rate {rate} Hz is outside {MIN_SAMPLE_RATE:,}..{MAX_SAMPLE_RATE:,} Hz (episodes.limits)"
                )
            frames = math.ceil(NOTE_SECONDS * rate) + 64  # a margin for the resampling filter
            check_cap("samples to read (frames x channels)", frames * channels, MAX_READ_SAMPLES)
            data = fh.read(frames, dtype="float32", always_2d=True)  # (frames, channels)
    except (soundfile.LibsndfileError, RuntimeError, EOFError, ValueError) as exc:
        raise UnreadableItem(f"not a readable audio file ({type(exc).__name__}: {exc})") from None
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


def resample_ratio(rate: int) -> Fraction:
    """``SAMPLE_RATE / rate`` as a fraction whose numerator and denominator are at most
    `MAX_RESAMPLE_TERMS`.

    A polyphase resampler's filter bank has ``numerator x denominator`` taps (in
    lowest terms): 16,001 Hz -> 16,000 Hz is 16,000 x 16,001, gigabytes.  Every common
    rate (8, 11.025, 22.05, 24, 32, 44.1, 48, 88.2, 96, 192 kHz) is exact within the
    cap; any other is replaced by the nearest fraction within it, which changes the
    rate by at most about 1 part in 10^4 near 16 kHz (16,001 Hz is read as 16,000 Hz:
    a pitch error of 0.1 cent).
    """
    exact = Fraction(SAMPLE_RATE, rate)
    if max(exact.numerator, exact.denominator) <= MAX_RESAMPLE_TERMS:
        return exact
    if exact < 1:
        return exact.limit_denominator(MAX_RESAMPLE_TERMS)
    return 1 / (1 / exact).limit_denominator(MAX_RESAMPLE_TERMS)


@contextlib.contextmanager
def torch_on_cpu() -> Iterator[None]:
    """Corpus audio is computed on the CPU (its bytes are benchmark data): inside a run on
    a GPU, where torch's default device is the GPU, torch's factories are pointed back
    at the CPU for the block; otherwise nothing is switched."""
    import torch

    with torch.device("cpu") if torch.get_default_device().type != "cpu" else contextlib.nullcontext():
        yield


def resample(wave: np.ndarray, rate: int) -> np.ndarray:
    """``wave`` (shape ``(n,)``, at ``rate`` Hz) resampled to `SAMPLE_RATE` by the
    ratio `resample_ratio` (bounded memory and time for any rate)."""
    check(("torchaudio",))
    import torch
    import torchaudio.functional as AF

    ratio = resample_ratio(rate)
    if ratio == 1:
        return np.ascontiguousarray(wave, dtype=np.float32)
    wave_t = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    with torch_on_cpu():
        return AF.resample(wave_t, ratio.denominator, ratio.numerator).numpy()


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
