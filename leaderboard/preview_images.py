"""Pictures of sample previews for the leaderboard site: a MIDI piano roll and an audio
log-mel spectrogram, as small PNG files (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from episodes.atomic import atomic_path

PITCH_MARGIN = 2  # semitones shown above and below the sample's range


def piano_roll(tokens: np.ndarray) -> tuple[np.ndarray, int]:
    """The piano roll of MIDI event ``tokens`` (decoded leniently): ``(roll, lowest)``
    where ``roll[p - lowest, t]`` is the velocity (0..127) of pitch ``p`` sounding at
    tick ``t`` (12 ticks per quarter note); an empty sample gives a ``(1, 1)`` zero roll."""
    from episodes.encoding import bin_velocity, decode

    notes = decode(tokens, strict=False)
    if not notes:
        return np.zeros((1, 1), dtype=np.uint8), 60
    lowest = max(0, min(n.pitch for n in notes) - PITCH_MARGIN)
    highest = min(127, max(n.pitch for n in notes) + PITCH_MARGIN)
    end = max(n.onset + n.duration for n in notes)
    roll = np.zeros((highest - lowest + 1, end), dtype=np.uint8)
    for n in notes:
        row = roll[n.pitch - lowest, n.onset : n.onset + n.duration]
        np.maximum(row, bin_velocity(n.velocity), out=row)
    return roll, lowest


def piano_roll_png(tokens: np.ndarray, path: Path) -> None:
    """Draw `piano_roll` of ``tokens`` (pitch up, time in quarter notes) to ``path``."""
    from episodes.encoding import TICKS_PER_QUARTER

    roll, lowest = piano_roll(tokens)
    _image(
        roll,
        path,
        extent=(0, roll.shape[1] / TICKS_PER_QUARTER, lowest - 0.5, lowest + roll.shape[0] - 0.5),
        xlabel="quarter notes",
        ylabel="MIDI pitch",
        cmap="Greys",
    )


def spectrogram_png(levels: np.ndarray, path: Path) -> None:
    """Draw audio ``levels`` ``(64 mel bands, 64 frames)`` (`episodes.audio_encoding`) to ``path``."""
    from episodes.audio import NOTE_SECONDS

    _image(
        levels, path, extent=(0, NOTE_SECONDS, 0, levels.shape[0]), xlabel="seconds", ylabel="mel band", cmap="magma"
    )


def _image(values: np.ndarray, path: Path, *, extent: tuple, xlabel: str, ylabel: str, cmap: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.0, 2.2), dpi=90)
    ax.imshow(values, origin="lower", aspect="auto", interpolation="nearest", extent=extent, cmap=cmap)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
