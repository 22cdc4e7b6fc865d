"""Audio representation v2 (``logmel8``): an 8-bit quantised log-mel spectrogram.

Every audio model is scored on this representation, so it is fixed and versioned:

- input: 4 s of 16 kHz mono (`episodes.audio`), 64,000 samples;
- STFT: ``n_fft`` 1024, Hann window of 1024, hop 1000 samples (62.5 frames/s),
  centred; the first `N_FRAMES` = 64 frames are kept (0 - 4.0 s);
- mel: `N_MELS` = 64 bands (HTK scale, no area normalisation) from 0 to 8 kHz of
  the power spectrum (``torchaudio.transforms.MelSpectrogram``);
- level: ``10 log10(power)`` clipped to [`DB_MIN`, `DB_MAX`] = [-100, +60] dB
  (unnormalised STFT power: a full-scale sine is about +48 dB; 16-bit silence
  about -90 dB), quantised to `LEVELS` = 256 equal steps of 0.627 dB;
- arithmetic: float64 throughout (STFT, mel projection, log).  v1 computed in float32,
  where the FFT and matrix kernels that MKL picks for the CPU (AVX-512, AVX2, SSE4.2,
  or AMD's path) round differently: enough to move about 1 value in 25,000 across a
  level boundary, so the same notes gave a different corpus fingerprint (and manifest
  hash) on another CPU.  In float64 a kernel's rounding is ~10^-15 dB, ~10^9 times
  finer, and the levels agree on every kernel tested (`tests/episodes/test_audio_data.py`).

An item is therefore a ``(64, 64)`` array of integers in ``0..255`` (mel band x
frame) -- 4,096 *dimensions*.  A continuous density model scores it through uniform
dequantisation (`benchmark.scoring.dequantise`), which turns its density into an upper bound
on the discrete NLL, in nats per dimension: a uniform model scores ``ln 256 = 5.545``.
Models normalise inputs as they wish (e.g. with meta-train statistics); the score
does not depend on it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from episodes.audio import N_SAMPLES, SAMPLE_RATE, torch_on_cpu
from episodes.dependencies import check

ENCODING_NAME = "logmel8"
ENCODING_VERSION = 2
N_FFT = 1024
HOP = 1000
N_MELS = 64
N_FRAMES = 64
F_MIN, F_MAX = 0.0, 8000.0
DB_MIN, DB_MAX = -100.0, 60.0
LEVELS = 256
SHAPE = (N_MELS, N_FRAMES)
N_DIMS = N_MELS * N_FRAMES
DB_STEP = (DB_MAX - DB_MIN) / (LEVELS - 1)


@lru_cache(maxsize=1)
def _mel_transform():
    check(("torchaudio",))
    import torchaudio

    with torch_on_cpu():
        return torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, f_min=F_MIN, f_max=F_MAX, power=2.0
        ).double()


def log_mel_db(wave: np.ndarray) -> np.ndarray:
    """Mel power in dB, shape ``(N_MELS, N_FRAMES)`` float64, from ``wave`` (``(N_SAMPLES,)``),
    computed in float64 (machine-independent levels; see the module docstring)."""
    import torch

    if wave.shape != (N_SAMPLES,):
        raise ValueError(f"expected {N_SAMPLES} samples, got shape {wave.shape}")
    with torch.no_grad(), torch_on_cpu():
        power = _mel_transform()(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float64)))
        return (10.0 * torch.log10(power.clamp_min(1e-20)))[:, :N_FRAMES].numpy()


def quantise(db: np.ndarray) -> np.ndarray:
    """dB values -> levels ``0..LEVELS-1`` (``uint8``, same shape)."""
    return np.rint((np.clip(db, DB_MIN, DB_MAX) - DB_MIN) / DB_STEP).astype(np.uint8)


def to_db(levels: np.ndarray) -> np.ndarray:
    """Levels (any shape) -> the dB value at the centre of each level (float32)."""
    return (DB_MIN + levels.astype(np.float32) * DB_STEP).astype(np.float32)


def encode(wave: np.ndarray) -> np.ndarray:
    """A note -> its representation, flattened for the corpus store: ``uint16``, ``(N_DIMS,)``."""
    return quantise(log_mel_db(wave)).reshape(-1).astype(np.uint16)


def as_image(flat: np.ndarray) -> np.ndarray:
    """Stored values -> the ``(N_MELS, N_FRAMES)`` ``uint8`` array a model sees."""
    if flat.size != N_DIMS:
        raise ValueError(f"expected {N_DIMS} values, got {flat.size}")
    return np.asarray(flat, dtype=np.uint8).reshape(SHAPE)


@lru_cache(maxsize=1)
def _inverse_transforms():
    import torchaudio

    with torch_on_cpu():
        inverse_mel = torchaudio.transforms.InverseMelScale(
            n_stft=N_FFT // 2 + 1, n_mels=N_MELS, sample_rate=SAMPLE_RATE, f_min=F_MIN, f_max=F_MAX
        )
        griffin_lim = torchaudio.transforms.GriffinLim(n_fft=N_FFT, hop_length=HOP, power=1.0, n_iter=64)
    return inverse_mel, griffin_lim


def to_waveform(levels: np.ndarray) -> np.ndarray:
    """Levels ``(N_MELS, N_FRAMES)`` back to audio for listening: mel power -> linear
    spectrogram (least squares, ``InverseMelScale``) -> phase by Griffin-Lim (64
    iterations).  Float32, ``(N_SAMPLES,)``, peak-normalised to 0.9 unless silent.
    Lossy by construction (64 bands, no phase): for listening, never for scoring."""
    import torch

    inverse_mel, griffin_lim = _inverse_transforms()
    with torch.no_grad(), torch_on_cpu():
        power = torch.from_numpy(10.0 ** (to_db(levels) / 10.0))  # (mels, frames)
        power = torch.cat([power, power[:, -1:]], dim=1)  # the 65th frame the STFT had
        magnitude = inverse_mel(power).clamp_min(0.0).sqrt()
        wave = griffin_lim(magnitude).numpy()
    out = np.zeros(N_SAMPLES, dtype=np.float32)
    out[: min(len(wave), N_SAMPLES)] = wave[:N_SAMPLES]
    peak = float(np.abs(out).max())
    return out * (0.9 / peak) if peak > 1e-6 else out
