"""Standard MIDI files -> quantised note lists (encoding v1), through symusic.

symusic is a C++ parser, chosen over the pure-Python readers for collections of
tens of thousands of files (Lakh MIDI).  Every file is checked against the caps of
`episodes.limits` (size, notes, silences) before its notes are encoded, so no input
costs more than a few megabytes however its ticks are set.
"""

from __future__ import annotations

from pathlib import Path

from episodes.encoding import TICKS_PER_QUARTER, Note, canonical, quantise
from episodes.limits import MAX_GAP_QUARTERS, MAX_MIDI_BYTES, MAX_NOTES, check_cap
from episodes.sources.base import SkipItem, UnreadableItem


def read_midi_notes(path: str | Path) -> list[Note]:
    """Read a ``.mid``/``.midi`` file as a canonical quantised note list.

    Times are converted from the file's ticks to quarter notes with its own
    ticks-per-quarter, so the result is tempo-independent.  Drum tracks are dropped.

    Raises:
        SkipItem: the file holds no pitched notes (empty or drum-only), or is over a
            cap of `episodes.limits`: its size, its number of notes, or a silence
            longer than ``MAX_GAP_QUARTERS`` quarter notes (before the first note too).
        UnreadableItem: symusic cannot parse it (corrupt or not MIDI).
    """
    from symusic import Score  # local: keeps `import episodes` light

    check_cap("file size", Path(path).stat().st_size, MAX_MIDI_BYTES, " bytes")
    try:
        score = Score(str(path))  # tick time base
    except Exception as exc:  # noqa: BLE001 - symusic raises plain RuntimeError/ValueError on bad bytes
        raise UnreadableItem(f"not a readable MIDI file ({type(exc).__name__}: {exc})") from None
    tpq = float(score.ticks_per_quarter)
    if tpq <= 0:
        raise UnreadableItem(f"not a readable MIDI file (ticks per quarter {tpq:g})")
    check_cap("note count", score.note_num(), MAX_NOTES)
    notes: list[Note] = []
    had_drums = False
    for track in score.tracks:
        if track.is_drum:
            had_drums = had_drums or len(track.notes) > 0
            continue
        program = int(track.program)
        for n in track.notes:
            notes.append(quantise(n.time / tpq, n.duration / tpq, n.pitch, n.velocity, program))
    if not notes:
        raise SkipItem("drum-only" if had_drums else "no notes")
    notes = canonical(notes)
    onsets = [0] + [n.onset for n in notes]
    longest = max(b - a for a, b in zip(onsets, onsets[1:]))
    check_cap("a silence of", longest / TICKS_PER_QUARTER, MAX_GAP_QUARTERS, " quarter notes")
    return notes
