"""Caps on what one input may cost to read and encode.

A 36-byte MIDI file can hold one note after 2^28 ticks (tens of millions of
``TIME_SHIFT`` tokens), and a WAV header can claim any sample rate or channel count.
Every reader checks its input against these caps *before* the expensive step, and an
item over a cap is skipped with the cap named in the build report (`SkipItem`).
No real collection comes near them: a Lakh MIDI file holds at most a few tens of
thousands of notes, and tracks crop items to 1,024 or 2,048 tokens when scoring.
"""

from __future__ import annotations

from episodes.sources.base import SkipItem

# Any modality: tokens of one stored item (2^20 = 1,048,576, 2 MB in the store).
MAX_ITEM_TOKENS = 2**20
# MIDI: file size, pitched notes, and the silence before any note (a gap in quarter
# notes: 1,024 quarters is 256 bars of 4/4; at most 256 TIME_SHIFT tokens).
MAX_MIDI_BYTES = 16 * 2**20
MAX_NOTES = 2**17
MAX_GAP_QUARTERS = 1024
# Text: bytes of one lyrics file or table cell (1 MiB; a long song is ~5 KB).
MAX_TEXT_BYTES = 2**20
# Audio: sample rates read, samples (frames x channels) read per note, and the
# numerator and denominator of the rational resampling ratio (see `episodes.audio`).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 768_000
MAX_READ_SAMPLES = 2**24
MAX_RESAMPLE_TERMS = 1024


def check_cap(what: str, value: float, cap: float, unit: str = "") -> None:
    """Raise `SkipItem` ("<what> <value> is over the cap of <cap>") when ``value > cap``."""
    if value > cap:
        raise SkipItem(f"{what} {value:,.0f}{unit} is over the cap of {cap:,.0f}{unit} (episodes.limits)")
