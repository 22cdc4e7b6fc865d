"""Event encoding v1: a quantised note list <-> one token stream.

Time is quantised to ``TICKS_PER_QUARTER`` = 12 ticks per quarter note, which is
exact for sixteenths, eighth-note triplets and sixteenth-note triplets.

A quantised note is ``(onset, duration, pitch, velocity_bin, family)``:

* ``onset``: ticks from the start of the piece, ``>= 0``;
* ``duration``: ticks, clipped to ``1 .. MAX_DURATION`` (96 ticks = 8 quarters);
* ``pitch``: MIDI pitch 0..127;
* ``velocity_bin``: 0..7, ``velocity_bin = min(velocity // 16, 7)``; decoding maps a
  bin back to the MIDI velocity ``16 * bin + 8``;
* ``family``: General MIDI instrument family 0..15 (``program // 8``); scores without
  instruments (the music21 corpus) use family 0.

The canonical order is lexicographic on ``(onset, family, pitch, duration, velocity)``.
A note is written as::

    [TIME_SHIFT ...] [FAMILY f] [VELOCITY v] PITCH p DURATION d

``TIME_SHIFT`` tokens (1..48 ticks each) advance the clock to the note's onset; the
family and velocity tokens appear only when they change from the previous note (the
first note always carries both).  Every item is ``BOS events... EOS``.  Decoding an
encoded canonical note list gives the same list back (the round-trip property tested
in ``tests/test_encoding.py``).  Vocabulary: 299 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from episodes.tokens import BOS, EOS, PAD, TOKEN_DTYPE

ENCODING_NAME = "midi-events"
ENCODING_VERSION = 1
TICKS_PER_QUARTER = 12
MAX_SHIFT = 48
MAX_DURATION = 96
N_FAMILIES = 16
N_VELOCITY_BINS = 8

SHIFT0 = 3  # TIME_SHIFT s  -> SHIFT0 + s - 1, s in 1..MAX_SHIFT
FAMILY0 = SHIFT0 + MAX_SHIFT  # FAMILY f -> FAMILY0 + f
VELOCITY0 = FAMILY0 + N_FAMILIES  # VELOCITY v -> VELOCITY0 + v
PITCH0 = VELOCITY0 + N_VELOCITY_BINS  # PITCH p -> PITCH0 + p
DURATION0 = PITCH0 + 128  # DURATION d -> DURATION0 + d - 1, d in 1..MAX_DURATION
VOCAB_SIZE = DURATION0 + MAX_DURATION


@dataclass(frozen=True, order=True)
class Note:
    """One quantised note; field order is the canonical sort order."""

    onset: int
    family: int
    pitch: int
    duration: int
    velocity: int  # velocity bin 0..7


class EncodingError(ValueError):
    """A token stream or note list that encoding v1 cannot represent."""


def velocity_bin(velocity: int) -> int:
    """MIDI velocity 0..127 -> bin 0..7."""
    return min(max(int(velocity), 0) // 16, N_VELOCITY_BINS - 1)


def bin_velocity(bin_: int) -> int:
    """Velocity bin 0..7 -> representative MIDI velocity."""
    return 16 * bin_ + 8


def quantise(
    onset_quarters: float,
    duration_quarters: float,
    pitch: int,
    velocity: int,
    program: int = 0,
) -> Note:
    """Build a quantised `Note` from times in quarter notes and a MIDI velocity/program."""
    onset = max(0, int(round(onset_quarters * TICKS_PER_QUARTER)))
    duration = int(round(duration_quarters * TICKS_PER_QUARTER))
    duration = min(max(duration, 1), MAX_DURATION)
    return Note(onset, int(program) // 8, int(pitch), duration, velocity_bin(velocity))


def canonical(notes: Iterable[Note]) -> list[Note]:
    """The canonical (sorted) form of a note list."""
    return sorted(notes)


def encode(notes: Iterable[Note]) -> np.ndarray:
    """Encode notes as ``BOS events... EOS``.

    Returns:
        ``uint16`` array of shape ``(n_tokens,)``.
    """
    out = [BOS]
    time, family, velocity = 0, -1, -1
    for note in canonical(notes):
        _check_note(note)
        delta = note.onset - time
        while delta > 0:
            step = min(delta, MAX_SHIFT)
            out.append(SHIFT0 + step - 1)
            delta -= step
        time = note.onset
        if note.family != family:
            out.append(FAMILY0 + note.family)
            family = note.family
        if note.velocity != velocity:
            out.append(VELOCITY0 + note.velocity)
            velocity = note.velocity
        out.append(PITCH0 + note.pitch)
        out.append(DURATION0 + note.duration - 1)
    out.append(EOS)
    return np.asarray(out, dtype=TOKEN_DTYPE)


def decode(tokens: Sequence[int] | np.ndarray, *, strict: bool = True) -> list[Note]:
    """Decode a token stream (with or without BOS/EOS) back to its note list.

    With ``strict=False`` malformed fragments (a PITCH without its DURATION, a stray
    token) are dropped instead of raising, which is what decoding *model samples* needs.
    """
    notes: list[Note] = []
    time, family, velocity, pitch = 0, 0, 0, None
    for tok in (int(t) for t in tokens):
        if tok in (PAD, BOS):
            continue
        if tok == EOS:
            break
        if pitch is not None and not DURATION0 <= tok < VOCAB_SIZE:
            if strict:
                raise EncodingError(f"PITCH token not followed by DURATION (got {tok})")
            pitch = None
        if SHIFT0 <= tok < FAMILY0:
            time += tok - SHIFT0 + 1
        elif FAMILY0 <= tok < VELOCITY0:
            family = tok - FAMILY0
        elif VELOCITY0 <= tok < PITCH0:
            velocity = tok - VELOCITY0
        elif PITCH0 <= tok < DURATION0:
            pitch = tok - PITCH0
        elif DURATION0 <= tok < VOCAB_SIZE:
            if pitch is None:
                if strict:
                    raise EncodingError("DURATION token without a preceding PITCH")
                continue
            notes.append(Note(time, family, pitch, tok - DURATION0 + 1, velocity))
            pitch = None
        elif strict:
            raise EncodingError(f"token {tok} outside vocabulary of size {VOCAB_SIZE}")
    return notes


def note_ends(tokens: np.ndarray) -> np.ndarray:
    """Boolean mask, shape ``(n_tokens,)``: True where a token closes a note (DURATION)."""
    return tokens >= DURATION0


def crop(tokens: np.ndarray, max_tokens: int) -> np.ndarray:
    """Crop ``BOS events... EOS`` to at most ``max_tokens`` tokens from the start.

    A sequence that fits is returned whole (with its EOS).  A longer one is cut after
    the last complete note that fits and gets *no* EOS: it is scored as a prefix, whose
    probability is well defined under any autoregressive model.
    """
    if len(tokens) <= max_tokens:
        return tokens
    ends = np.flatnonzero(note_ends(tokens[:max_tokens]))
    if len(ends) == 0:
        return tokens[:max_tokens]
    return tokens[: ends[-1] + 1]


def token_name(tok: int) -> str:
    """Human-readable name of a token, e.g. ``PITCH_60``."""
    if tok == PAD:
        return "PAD"
    if tok == BOS:
        return "BOS"
    if tok == EOS:
        return "EOS"
    for start, stop, name, offset in (
        (SHIFT0, FAMILY0, "SHIFT", 1),
        (FAMILY0, VELOCITY0, "FAMILY", 0),
        (VELOCITY0, PITCH0, "VELOCITY", 0),
        (PITCH0, DURATION0, "PITCH", 0),
        (DURATION0, VOCAB_SIZE, "DURATION", 1),
    ):
        if start <= tok < stop:
            return f"{name}_{tok - start + offset}"
    raise EncodingError(f"token {tok} outside vocabulary of size {VOCAB_SIZE}")


def write_midi(notes: Iterable[Note], path: str | Path, *, tempo_qpm: float = 120.0) -> None:
    """Write notes to a standard MIDI file at ``TICKS_PER_QUARTER`` ticks per beat.

    One track per instrument family (program ``8 * family``); times are exact ticks,
    so reading the file back and quantising gives the same note list.
    """
    import miditoolkit  # local: only export needs it

    midi = miditoolkit.MidiFile(ticks_per_beat=TICKS_PER_QUARTER)
    midi.tempo_changes = [miditoolkit.TempoChange(tempo_qpm, 0)]
    tracks: dict[int, miditoolkit.Instrument] = {}
    for note in canonical(notes):
        inst = tracks.get(note.family)
        if inst is None:
            inst = tracks[note.family] = miditoolkit.Instrument(
                program=8 * note.family, is_drum=False, name=f"family-{note.family}"
            )
        inst.notes.append(
            miditoolkit.Note(
                velocity=bin_velocity(note.velocity),
                pitch=note.pitch,
                start=note.onset,
                end=note.onset + note.duration,
            )
        )
    midi.instruments = [tracks[f] for f in sorted(tracks)]
    midi.dump(str(path))


def _check_note(note: Note) -> None:
    if not (
        note.onset >= 0
        and 1 <= note.duration <= MAX_DURATION
        and 0 <= note.pitch < 128
        and 0 <= note.velocity < N_VELOCITY_BINS
        and 0 <= note.family < N_FAMILIES
    ):
        raise EncodingError(f"note outside encoding v1 ranges: {note}")
