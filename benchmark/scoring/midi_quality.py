"""Sample-quality metrics for generated MIDI: MusPy's per-song figures and distribution fit.

A model adapted to one artist generates ``samples``; the episode's query songs are the
``references``.  Both are note lists of `episodes.encoding` (time in ticks,
``TICKS_PER_QUARTER`` = 12 per quarter note).  Each song becomes a one-track
``muspy.Music`` at resolution 12 (instrument families are merged into that one non-drum
track: the encoding has no drum flag), scored with ``muspy.metrics`` where MusPy has the
metric (Dong et al. 2020); note density and the two distribution distances are computed
here.

Per-song figures are averaged over the non-empty samples for which they are defined,
and the same mean over the query songs is reported as ``<name>_reference``: more is
not better, closer to the artist's own value is.  A sample that decodes to no notes
counts in ``empty_samples`` and is left out of every other figure.  Undefined figures
are ``nan`` (no non-empty song, a song shorter than two measures for groove
consistency, ...), never a made-up value.

=======================  ==========================  =====================================
metric                   unit, range                 better
=======================  ==========================  =====================================
pitch_class_entropy      bits, 0..log2(12) = 3.585   closer to ``*_reference`` (MusPy)
scale_consistency        0..1                        closer to ``*_reference`` (MusPy)
pitch_range              semitones, 0..127           closer to ``*_reference`` (MusPy)
n_pitches_used           count, 1..128               closer to ``*_reference`` (MusPy)
n_pitch_classes_used     count, 1..12                closer to ``*_reference`` (MusPy)
polyphony                pitches per sounding tick,  closer to ``*_reference`` (MusPy)
                         >= 1
empty_beat_rate          0..1                        closer to ``*_reference`` (MusPy)
groove_consistency       0..1 (4/4 measures)         closer to ``*_reference`` (MusPy)
note_density             notes per quarter note      closer to ``*_reference``
pitch_class_js_bits      bits, 0..1                  lower (pitch classes like the artist's)
duration_js_bits         bits, 0..1                  lower (note lengths like the artist's)
empty_samples            fraction, 0..1              lower (samples with no notes)
=======================  ==========================  =====================================

Song length is counted from tick 0 (the token stream's clock start) to the end of the
last note.  The encoding has no time signature, so groove consistency uses 4/4
measures of ``MEASURE_TICKS`` = 48 ticks.  Counts (pitches used, pitch range) grow with
song length: samples drawn to the track's ``max_tokens`` compare with query songs
cropped to the same length.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from benchmark.scoring.divergence import js_bits
from episodes.encoding import MAX_DURATION, TICKS_PER_QUARTER, Note, bin_velocity

MEASURE_TICKS = 4 * TICKS_PER_QUARTER  # one 4/4 measure, for groove consistency

PER_SONG = (
    "pitch_class_entropy",
    "scale_consistency",
    "pitch_range",
    "n_pitches_used",
    "n_pitch_classes_used",
    "polyphony",
    "empty_beat_rate",
    "groove_consistency",
    "note_density",
)

DIRECTIONS = {
    **{name: f"closer to {name}_reference" for name in PER_SONG},
    "pitch_class_js_bits": "lower",
    "duration_js_bits": "lower",
    "empty_samples": "lower",
}


def to_music(notes: Sequence[Note]):
    """``notes`` as a ``muspy.Music`` with resolution ``TICKS_PER_QUARTER`` and one
    non-drum track; velocity bins become their MIDI velocities (`bin_velocity`)."""
    import muspy  # local: a second's import, only sample scoring needs it

    track = muspy.Track(
        program=0,
        is_drum=False,
        notes=[
            muspy.Note(time=n.onset, pitch=n.pitch, duration=n.duration, velocity=bin_velocity(n.velocity))
            for n in notes
        ],
    )
    return muspy.Music(resolution=TICKS_PER_QUARTER, tracks=[track])


def song_length(notes: Sequence[Note]) -> int:
    """Ticks from 0 to the end of the last note to finish; 0 for no notes."""
    return max((n.onset + n.duration for n in notes), default=0)


def note_density(notes: Sequence[Note]) -> float:
    """Notes per quarter note: ``len(notes)`` over `song_length` in quarters.

    Chord notes each count.  ``nan`` for no notes.
    """
    length = song_length(notes)
    return len(notes) * TICKS_PER_QUARTER / length if length else math.nan


def song_metrics(notes: Sequence[Note]) -> dict[str, float]:
    """Every per-song figure of :data:`PER_SONG` for one song (all ``nan`` if it has no notes).

    MusPy's metrics on `to_music`: ``pitch_class_entropy`` (bits), ``scale_consistency``
    (the best share of notes in one major or minor scale), ``pitch_range`` (semitones,
    highest - lowest), ``n_pitches_used``, ``n_pitch_classes_used``, ``polyphony`` (mean
    number of pitches on over the ticks where any is on), ``empty_beat_rate`` (share of
    quarter-note beats with no note sounding; MusPy counts beats up to and including the
    one the last note ends in, and marks the beat a note's end falls in as sounding),
    ``groove_consistency`` (1 - mean Hamming distance of neighbouring 48-tick measures'
    onset patterns, per position; MusPy counts measures up to and including the one the
    song's end tick falls in, so a song ending on a barline has an empty last measure,
    and one shorter than 48 ticks has ``nan``); and `note_density` (notes per quarter
    note).
    """
    if not notes:
        return {name: math.nan for name in PER_SONG}
    from muspy import metrics

    music = to_music(notes)
    return {
        "pitch_class_entropy": float(metrics.pitch_class_entropy(music)),
        "scale_consistency": float(metrics.scale_consistency(music)),
        "pitch_range": float(metrics.pitch_range(music)),
        "n_pitches_used": float(metrics.n_pitches_used(music)),
        "n_pitch_classes_used": float(metrics.n_pitch_classes_used(music)),
        "polyphony": float(metrics.polyphony(music)),
        "empty_beat_rate": float(metrics.empty_beat_rate(music)),
        "groove_consistency": float(metrics.groove_consistency(music, MEASURE_TICKS)),
        "note_density": note_density(notes),
    }


def mean_song_metrics(songs: Sequence[Sequence[Note]]) -> dict[str, float]:
    """Mean of each `song_metrics` figure over the non-empty ``songs`` where it is
    defined; ``nan`` where it is defined for none."""
    per_song = [song_metrics(s) for s in songs if s]
    means = {}
    for name in PER_SONG:
        defined = [m[name] for m in per_song if not math.isnan(m[name])]
        means[name] = float(np.mean(defined)) if defined else math.nan
    return means


def pitch_class_counts(songs: Sequence[Sequence[Note]]) -> np.ndarray:
    """Notes per pitch class (``pitch % 12``, C = 0) over all ``songs``, shape ``(12,)``."""
    counts = np.zeros(12, dtype=np.float64)
    for song in songs:
        for n in song:
            counts[n.pitch % 12] += 1
    return counts


def duration_counts(songs: Sequence[Sequence[Note]]) -> np.ndarray:
    """Notes per duration over all ``songs``, shape ``(MAX_DURATION,)``: bin ``d - 1``
    counts notes of ``d`` ticks, one bin per DURATION token of the encoding (1..96 ticks,
    a 1/12 quarter note to 8 quarters).  Exact tick bins, not musical classes: a dotted
    eighth (9 ticks) and an eighth (6) are as far apart as any two other lengths."""
    counts = np.zeros(MAX_DURATION, dtype=np.float64)
    for song in songs:
        for n in song:
            counts[min(max(n.duration, 1), MAX_DURATION) - 1] += 1
    return counts


def pooled_js(
    samples: Sequence[Sequence[Note]],
    references: Sequence[Sequence[Note]],
    counts: Callable[[Sequence[Sequence[Note]]], np.ndarray],
) -> float:
    """`js_bits` between the ``counts`` histograms of all samples' and all references'
    notes (pooled over songs, each note once); ``nan`` if either side has no notes."""
    return js_bits(counts(samples), counts(references))


@dataclass(frozen=True)
class MidiQuality:
    """All sample-quality figures for one set of samples; see :data:`DIRECTIONS`.

    Each per-song figure ``x`` comes with ``x_reference``, its mean over the query songs.
    """

    pitch_class_entropy: float
    pitch_class_entropy_reference: float
    scale_consistency: float
    scale_consistency_reference: float
    pitch_range: float
    pitch_range_reference: float
    n_pitches_used: float
    n_pitches_used_reference: float
    n_pitch_classes_used: float
    n_pitch_classes_used_reference: float
    polyphony: float
    polyphony_reference: float
    empty_beat_rate: float
    empty_beat_rate_reference: float
    groove_consistency: float
    groove_consistency_reference: float
    note_density: float
    note_density_reference: float
    pitch_class_js_bits: float
    duration_js_bits: float
    empty_samples: float
    n_samples: int

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict (JSON-ready apart from ``nan``)."""
        return asdict(self)


def midi_quality(samples: Sequence[Sequence[Note]], references: Sequence[Sequence[Note]]) -> MidiQuality:
    """Compute every metric of this module for ``samples`` against the query songs ``references``.

    ``empty_samples`` is the fraction of samples with no notes (``nan`` for no samples);
    those samples are left out of the per-song means (their pitch and duration
    histograms are empty anyway).
    """
    drawn, ours = mean_song_metrics(samples), mean_song_metrics(references)
    per_song = {}
    for name in PER_SONG:
        per_song[name] = drawn[name]
        per_song[f"{name}_reference"] = ours[name]
    empty = sum(1 for s in samples if not s)
    return MidiQuality(
        **per_song,
        pitch_class_js_bits=pooled_js(samples, references, pitch_class_counts),
        duration_js_bits=pooled_js(samples, references, duration_counts),
        empty_samples=empty / len(samples) if samples else math.nan,
        n_samples=len(samples),
    )
