"""Tests for benchmark.scoring.midi_quality, with expected values worked out by hand."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from benchmark.contract.methods import MethodSpec
from benchmark.scoring.midi_quality import (
    DIRECTIONS,
    PER_SONG,
    MidiQuality,
    duration_counts,
    js_bits,
    mean_song_metrics,
    midi_quality,
    note_density,
    pitch_class_counts,
    pooled_js,
    song_metrics,
)
from benchmark.scoring.quality import (
    MODALITIES_WITH_QUALITY,
    directions,
    episode_quality,
)
from episodes.encoding import Note, encode
from episodes.tokens import BOS, EOS
from episodes.types import Item


def note(onset: int, pitch: int, duration: int = 12) -> Note:
    return Note(onset=onset, family=0, pitch=pitch, duration=duration, velocity=4)


# C4 D4 E4 F4 G4 A4 B4 C5 as quarter notes, one after the other: ticks 0..96
C_MAJOR = [note(12 * i, p) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])]


def test_c_major_scale_by_hand():
    m = song_metrics(C_MAJOR)
    assert m["scale_consistency"] == 1.0
    # pitch classes: C twice, six others once -> -(2/8 log2 2/8) - 6 (1/8 log2 1/8) = 0.5 + 2.25
    assert m["pitch_class_entropy"] == pytest.approx(2.75)
    assert m["pitch_range"] == 12.0
    assert m["n_pitches_used"] == 8.0 and m["n_pitch_classes_used"] == 7.0
    assert m["polyphony"] == 1.0  # one pitch at every sounding tick
    assert m["note_density"] == pytest.approx(1.0)  # 8 notes in 96 ticks = 8 quarters
    assert m["empty_beat_rate"] == 0.0
    # MusPy: 96 // 48 + 1 = 3 measures; onsets {0, 12, 24, 36} in measures 0 and 1, none in
    # the 3rd (the song ends on its barline): Hamming 0 + 4 over 48 positions x 2 pairs
    assert m["groove_consistency"] == pytest.approx(1 - 4 / 96)


def test_chromatic_notes_lower_scale_consistency():
    # C C# D: the best scale (e.g. C major, D major...) holds 2 of 3
    assert song_metrics([note(0, 60), note(12, 61), note(24, 62)])["scale_consistency"] == pytest.approx(2 / 3)


def test_a_single_repeated_pitch():
    m = song_metrics([note(12 * i, 67) for i in range(5)])
    assert m["pitch_class_entropy"] == 0.0
    assert m["pitch_range"] == 0.0 and m["n_pitches_used"] == 1.0 and m["n_pitch_classes_used"] == 1.0
    assert m["scale_consistency"] == 1.0


def test_polyphony_of_a_chord_then_a_note():
    # C-E-G for ticks 0..11 (3 pitches on), then C5 for ticks 12..23 (1 on): (36 + 12) / 24
    song = [note(0, 60), note(0, 64), note(0, 67), note(12, 72)]
    m = song_metrics(song)
    assert m["polyphony"] == pytest.approx(2.0)
    assert m["note_density"] == pytest.approx(4 / 2)  # 4 notes in 24 ticks = 2 quarters


def test_empty_beat_rate_by_hand():
    # notes in beat 0 (ticks 0..5) and beat 3 (36..41); 42 // 12 + 1 = 4 beats, 1 and 2 empty
    assert song_metrics([note(0, 60, 6), note(36, 60, 6)])["empty_beat_rate"] == pytest.approx(2 / 4)


def test_groove_consistency_by_hand():
    # two measures with onsets {0, 24}: identical patterns
    same = [note(0, 60, 6), note(24, 60, 6), note(48, 60, 6), note(72, 60, 6)]
    assert song_metrics(same)["groove_consistency"] == 1.0
    # {0, 24} then {0}: one position of 48 differs
    assert song_metrics(same[:3])["groove_consistency"] == pytest.approx(1 - 1 / 48)
    # a song inside one measure has no neighbouring pair
    assert math.isnan(song_metrics([note(0, 60)])["groove_consistency"])


def test_note_density_counts_from_tick_zero():
    # 3 notes, the last ending at tick 12 + 18 = 30 = 2.5 quarters -> 1.2 notes per quarter
    assert note_density([note(12, 60, 6), note(18, 62, 6), note(24, 64, 6)]) == pytest.approx(1.2)
    assert note_density([note(0, 60, 96)]) == pytest.approx(1 / 8)
    assert math.isnan(note_density([]))


def test_song_metrics_of_no_notes_are_nan():
    assert set(song_metrics([])) == set(PER_SONG)
    assert all(math.isnan(v) for v in song_metrics([]).values())


def test_mean_song_metrics_averages_defined_values_over_non_empty_songs():
    short = [note(0, 60)]  # pitch range 0, groove undefined
    long = [note(0, 60, 6), note(24, 72, 6), note(48, 60, 6)]  # range 12, groove 1 - 1/48
    means = mean_song_metrics([short, [], long])
    assert means["pitch_range"] == pytest.approx(6.0)
    assert means["groove_consistency"] == pytest.approx(1 - 1 / 48)  # only `long` has one
    assert math.isnan(mean_song_metrics([[], []])["pitch_range"])


def test_js_bits_by_hand():
    assert js_bits(np.array([1, 0]), np.array([0, 3])) == pytest.approx(1.0)  # disjoint
    assert js_bits(np.array([2, 4]), np.array([1, 2])) == pytest.approx(0.0)  # same shape
    # P = (1/2, 1/2), Q = (1, 0), M = (3/4, 1/4):
    # KL(P||M) = 1 - log2(3) / 2, KL(Q||M) = 2 - log2(3) -> JS = 3/2 - 3/4 log2(3)
    assert js_bits(np.array([1, 1]), np.array([5, 0])) == pytest.approx(1.5 - 0.75 * math.log2(3))
    assert math.isnan(js_bits(np.zeros(3), np.array([1, 0, 0])))


def test_pitch_class_and_duration_distributions_are_pooled():
    assert pitch_class_counts([[note(0, 60), note(0, 72)], [note(0, 61)]]).tolist() == [2, 1] + [0] * 10
    counts = duration_counts([[note(0, 60, 1), note(0, 60, 96)], [note(0, 60, 12)]])
    assert counts.shape == (96,) and counts[0] == counts[11] == counts[95] == 1 and counts.sum() == 3
    # samples: C (dur 12) | D (dur 6); references: one song with C, D (dur 6, 12): same pools
    samples = [[note(0, 60, 12)], [note(0, 62, 6)]]
    references = [[note(0, 60, 6), note(6, 62, 12)]]
    assert pooled_js(samples, references, pitch_class_counts) == 0.0
    assert pooled_js(samples, references, duration_counts) == 0.0
    # all-C samples against all-D references: disjoint pitch classes; {C, D} vs {C}: 3/2 - 3/4 log2 3
    assert pooled_js([[note(0, 60)]], [[note(0, 62)]], pitch_class_counts) == pytest.approx(1.0)
    assert pooled_js([[note(0, 60), note(0, 62)]], [[note(0, 48)]], pitch_class_counts) == pytest.approx(
        1.5 - 0.75 * math.log2(3)
    )


def test_midi_quality_fields_and_references():
    q = midi_quality([C_MAJOR], [[note(12 * i, 67) for i in range(4)]])
    names = {f.name for f in dataclasses.fields(MidiQuality)}
    assert names == set(q.to_dict())
    assert set(DIRECTIONS) | {f"{n}_reference" for n in PER_SONG} | {"n_samples"} == names
    assert q.pitch_range == 12.0 and q.pitch_range_reference == 0.0
    assert q.pitch_class_entropy_reference == 0.0 and q.scale_consistency == 1.0
    assert q.duration_js_bits == 0.0  # all quarter notes on both sides
    assert 0 < q.pitch_class_js_bits < 1
    assert q.empty_samples == 0.0 and q.n_samples == 1


def test_empty_samples_are_counted_and_left_out():
    q = midi_quality([[], C_MAJOR, []], [C_MAJOR])
    assert q.empty_samples == pytest.approx(2 / 3) and q.n_samples == 3
    assert q.pitch_class_entropy == pytest.approx(2.75) and q.note_density == pytest.approx(1.0)
    assert q.pitch_class_js_bits == 0.0 and q.duration_js_bits == 0.0

    nothing = midi_quality([[], []], [C_MAJOR]).to_dict()
    assert nothing["empty_samples"] == 1.0 and nothing["n_samples"] == 2
    assert nothing["pitch_class_entropy_reference"] == pytest.approx(2.75)
    undefined = {k for k, v in nothing.items() if isinstance(v, float) and math.isnan(v)}
    assert undefined == set(PER_SONG) | {"pitch_class_js_bits", "duration_js_bits"}
    assert math.isnan(midi_quality([], [C_MAJOR]).empty_samples)


class FakeAdapted:
    """An adapted model whose samples are fixed token arrays."""

    def __init__(self, samples: list[np.ndarray]):
        self.samples = samples
        self.calls: list[tuple[int, int]] = []

    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        self.calls.append((n, max_len))
        return [self.samples[i % len(self.samples)][:max_len] for i in range(n)]


def test_dispatcher_scores_midi_and_keeps_the_samples():
    assert "midi" in MODALITIES_WITH_QUALITY
    assert {"pitch_class_js_bits", "duration_js_bits", "empty_samples", "note_density"} <= set(directions())
    scale = encode(C_MAJOR)
    empty = np.array([BOS, EOS], dtype=scale.dtype)
    adapted = FakeAdapted([scale, empty])
    query = [Item("q0", "a", encode(C_MAJOR)), Item("q1", "a", encode([note(0, 60), note(12, 64)]))]
    record = episode_quality("midi", adapted, query, n=4, max_len=256, generator=np.random.default_rng(0))
    assert adapted.calls == [(4, 256)]
    assert record["samples"] == [scale.tolist(), empty.tolist(), scale.tolist(), empty.tolist()]
    assert all(type(t) is int for s in record["samples"] for t in s)
    metrics = record["metrics"]
    assert metrics["n_samples"] == 4 and metrics["empty_samples"] == pytest.approx(0.5)
    assert metrics["scale_consistency"] == 1.0 and metrics["pitch_class_entropy"] == pytest.approx(2.75)
    assert metrics["pitch_range_reference"] == pytest.approx((12 + 4) / 2)
    assert metrics["groove_consistency_reference"] == pytest.approx(1 - 4 / 96)  # q1 is too short for one
    json.dumps(record, allow_nan=False)  # nan stored as None, samples plain ints


def test_dispatcher_stores_undefined_midi_figures_as_none():
    empty = np.array([BOS, EOS], dtype=np.uint16)
    query = [Item("q0", "a", encode(C_MAJOR))]
    record = episode_quality("midi", FakeAdapted([empty]), query, n=2, max_len=64, generator=np.random.default_rng(0))
    metrics = record["metrics"]
    assert metrics["empty_samples"] == 1.0 and metrics["pitch_class_entropy"] is None
    assert metrics["pitch_class_js_bits"] is None and metrics["scale_consistency_reference"] == 1.0


def test_midi_samples_are_scored_through_the_runner_and_reproducible(track, tmp_path):
    from benchmark.run.runner import evaluate
    from tests.conftest import TEST_BUDGET

    paths = [
        evaluate(
            MethodSpec.parse("unigram-support"),
            track,
            shots=5,
            n_episodes=2,
            out=tmp_path / out,
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            samples=3,
            log=lambda _: None,
        )
        for out in ("a", "b")
    ]
    first, second = ([json.loads(line) for line in p.read_text().splitlines()] for p in paths)
    quality = first[0]["quality"]
    assert len(quality["samples"]) == 3 and all(isinstance(t, int) for s in quality["samples"] for t in s)
    assert set(DIRECTIONS) <= set(quality["metrics"]) and quality["metrics"]["n_samples"] == 3
    assert quality["metrics"]["scale_consistency_reference"] is not None
    assert [r["quality"] for r in first] == [r["quality"] for r in second]
