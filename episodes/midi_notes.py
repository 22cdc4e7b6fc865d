"""Standard MIDI files -> quantised note lists (encoding v1), through symusic.

symusic is a C++ parser, chosen over the pure-Python readers for collections of
tens of thousands of files (Lakh MIDI).
"""

from __future__ import annotations

from pathlib import Path

from episodes.encoding import Note, canonical, quantise
from episodes.sources.base import SkipItem


def read_midi_notes(path: str | Path) -> list[Note]:
    """Read a ``.mid``/``.midi`` file as a canonical quantised note list.

    Times are converted from the file's ticks to quarter notes with its own
    ticks-per-quarter, so the result is tempo-independent.  Drum tracks are dropped.

    Raises:
        SkipItem: the file holds no pitched notes (empty or drum-only).
        Exception: whatever symusic raises for a corrupt file.
    """
    from symusic import Score  # local: keeps `import episodes` light

    score = Score(str(path))  # tick time base
    tpq = float(score.ticks_per_quarter)
    notes: list[Note] = []
    had_drums = False
    for track in score.tracks:
        if track.is_drum:
            had_drums = had_drums or len(track.notes) > 0
            continue
        program = int(track.program)
        for n in track.notes:
            notes.append(
                quantise(n.time / tpq, n.duration / tpq, n.pitch, n.velocity, program)
            )
    if not notes:
        raise SkipItem("drum-only" if had_drums else "no notes")
    return canonical(notes)

