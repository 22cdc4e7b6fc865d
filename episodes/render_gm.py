"""Render General MIDI instruments' isolated notes into NSynth's on-disk format.

The soundfont is the ``TimGM6mb.sf2`` that ships inside the ``pretty_midi`` wheel;
``pyfluidsynth`` drives Debian's ``libfluidsynth3``.  One synth renders every note
(soundfont loaded once, reverb and chorus off, gain 1.0, one discarded warm-up note
because a synth's first note differs slightly from later identical ones).

Each note is NSynth-like: 4 s at 16 kHz mono, held for 3 s then released for 1 s,
16-bit PCM.  The grid is fixed (`PITCHES` x `VELOCITIES`): the soundfont transposes
its samples to any pitch, so the grid is not each instrument's natural range; notes
that come out silent (peak < -60 dBFS; some presets have holes) are left out and
listed in ``render_report.json``.

The "artist" of a note is its instrument (GM program).  Programs are mapped to
NSynth's instrument families and sources (`PROGRAMS`); unpitched percussion
(113, 115-127), sound effects (96-103) and the orchestra hit (55) are excluded, and
so is the drum kit (channel 10).  Pads (88-95) have no NSynth family and are
labelled ``synth_lead``.

Output (``examples.json`` is written last, so its presence means a finished render)::

    <root>/examples.json       note_str -> NSynth record (+ ``gm_program``, ``gm_name``)
    <root>/audio/<note_str>.wav
    <root>/render_report.json  versions, counts, silent notes left out, seconds, bytes
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from episodes.atomic import write_json
from episodes.audio import N_SAMPLES, SAMPLE_RATE, SILENCE_PEAK, write_note
from episodes.dependencies import fluidsynth, fluidsynth_version
from episodes.sources.base import DataError
from episodes.timing import Rate

RENDER_VERSION = 1
FAMILIES = ("bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal")
SOURCES = ("acoustic", "electronic", "synthetic")
PITCHES = tuple(range(36, 97, 3))  # C2 .. C7 in minor thirds: 21 pitches
VELOCITIES = (50, 100)
HOLD_SECONDS = 3.0
RENDER_RATE = Rate(0.0043, "note", "measured on an idle core: 19 s for the 4,410 notes of the full grid")


def _programs() -> dict[int, tuple[str, str]]:
    """GM program (0-based) -> (NSynth family, NSynth source) for every rendered program."""
    table: list[tuple[range | tuple[int, ...], str, str]] = [
        ((0, 1, 3, 6), "keyboard", "acoustic"),
        ((2, 4, 5, 7), "keyboard", "electronic"),
        (range(8, 16), "mallet", "acoustic"),
        ((16, 17, 18), "organ", "electronic"),
        ((19, 20), "organ", "acoustic"),
        ((21, 22, 23), "reed", "acoustic"),
        ((24, 25), "guitar", "acoustic"),
        (range(26, 32), "guitar", "electronic"),
        ((32,), "bass", "acoustic"),
        (range(33, 38), "bass", "electronic"),
        ((38, 39), "bass", "synthetic"),
        (range(40, 47), "string", "acoustic"),
        ((47,), "mallet", "acoustic"),
        ((48, 49), "string", "acoustic"),
        ((50, 51), "string", "synthetic"),
        ((52, 53), "vocal", "acoustic"),
        ((54,), "vocal", "synthetic"),
        (range(56, 62), "brass", "acoustic"),
        ((62, 63), "brass", "synthetic"),
        (range(64, 72), "reed", "acoustic"),
        (range(72, 80), "flute", "acoustic"),
        (range(80, 96), "synth_lead", "synthetic"),
        ((104, 105, 106, 107), "guitar", "acoustic"),
        ((108, 112, 114), "mallet", "acoustic"),
        ((109, 111), "reed", "acoustic"),
        ((110,), "string", "acoustic"),
    ]
    return {p: (family, source) for programs, family, source in table for p in programs}


PROGRAMS = _programs()


def soundfont_path() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


def render_key() -> str:
    """Changes with anything that changes the rendered audio: this renderer, the
    FluidSynth library and the soundfont."""
    sf2 = hashlib.sha256(soundfont_path().read_bytes()).hexdigest()
    return hashlib.sha256(f"{RENDER_VERSION}\x00{fluidsynth_version()}\x00{sf2}".encode()).hexdigest()[:16]


def note_record(program: int, pitch: int, velocity: int, note_id: int) -> dict:
    """The NSynth ``examples.json`` record of one note (qualities are left all zero)."""
    import pretty_midi

    family, source = PROGRAMS[program]
    instrument_str = f"{family}_{source}_{program:03d}"
    return {
        "note": note_id,
        "note_str": f"{instrument_str}-{pitch:03d}-{velocity:03d}",
        "instrument": program,
        "instrument_str": instrument_str,
        "instrument_family": FAMILIES.index(family),
        "instrument_family_str": family,
        "instrument_source": SOURCES.index(source),
        "instrument_source_str": source,
        "pitch": pitch,
        "velocity": velocity,
        "sample_rate": SAMPLE_RATE,
        "qualities": [0] * 10,
        "qualities_str": [],
        "gm_program": program,
        "gm_name": pretty_midi.program_to_instrument_name(program),
    }


class NoteRenderer:
    """One FluidSynth synth with the GM soundfont loaded, rendering one note at a time."""

    def __init__(self) -> None:
        self.synth = fluidsynth().Synth(gain=1.0, samplerate=float(SAMPLE_RATE))
        self.synth.setting("synth.reverb.active", 0)
        self.synth.setting("synth.chorus.active", 0)
        self.sfid = self.synth.sfload(str(soundfont_path()))
        if self.sfid < 0:
            raise DataError(f"FluidSynth could not load the soundfont {soundfont_path()}")
        self.render(0, 60, 100)  # warm-up: a synth's first note differs from later ones

    def render(self, program: int, pitch: int, velocity: int) -> np.ndarray:
        """One note, float32 mono in [-1, 1], shape ``(N_SAMPLES,)``."""
        hold = int(HOLD_SECONDS * SAMPLE_RATE)
        self.synth.program_select(0, self.sfid, 0, program)
        self.synth.noteon(0, pitch, velocity)
        held = self.synth.get_samples(hold)  # int16, stereo interleaved: shape (2 * hold,)
        self.synth.noteoff(0, pitch)
        released = self.synth.get_samples(N_SAMPLES - hold)
        self.synth.all_sounds_off(0)
        self.synth.get_samples(1024)  # flush the tail before the next note
        stereo = np.concatenate([held, released]).reshape(-1, 2).astype(np.float32) / 32768.0
        return stereo.mean(axis=1)

    def close(self) -> None:
        self.synth.delete()


def render_corpus(
    root: Path,
    *,
    programs: tuple[int, ...] | None = None,
    pitches: tuple[int, ...] = PITCHES,
    velocities: tuple[int, ...] = VELOCITIES,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Render the grid into ``root`` (NSynth format) unless it is already there.

    The render runs in a fresh process: FluidSynth seeds its 16-bit dither from the C
    library's ``rand()`` when its first synth is made, so in a process where anything
    has called ``rand()`` before, every note differs by a least significant bit or two
    (and the corpus fingerprint with them).  Returns the render report.
    """
    root = Path(root)
    if (root / "examples.json").exists():
        return json.loads((root / "render_report.json").read_text())
    programs = tuple(sorted(PROGRAMS)) if programs is None else programs
    log(RENDER_RATE.line("render gm-notes", len(programs) * len(pitches) * len(velocities)))
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        report = pool.submit(_render_grid, root, programs, pitches, velocities, progress).result()
    log(
        f"rendered {report['notes_written']} notes of {len(programs)} GM programs into {root} "
        f"({report['bytes'] / 1e6:.0f} MB, {report['seconds']:.0f} s; {len(report['silent_left_out'])} silent notes "
        "left out)"
    )
    return report


def _render_grid(
    root: Path, programs: tuple[int, ...], pitches: tuple[int, ...], velocities: tuple[int, ...], progress: bool
) -> dict:
    """`render_corpus`'s work, in its fresh process: render the grid with one synth,
    write the notes, the report and ``examples.json`` (last)."""
    started = time.perf_counter()
    grid = [(p, n, v) for p in programs for n in pitches for v in velocities]
    renderer = NoteRenderer()
    examples: dict[str, dict] = {}
    silent: list[str] = []
    try:
        for program, pitch, velocity in tqdm(grid, desc="render gm-notes", unit="note", disable=not progress):
            record = note_record(program, pitch, velocity, len(examples) + len(silent))
            wave = renderer.render(program, pitch, velocity)
            if float(np.abs(wave).max()) < SILENCE_PEAK:
                silent.append(record["note_str"])
                continue
            write_note(root / "audio" / f"{record['note_str']}.wav", wave)
            examples[record["note_str"]] = record
    finally:
        renderer.close()
    report = {
        "render_version": RENDER_VERSION,
        "fluidsynth": fluidsynth_version(),
        "soundfont": str(soundfont_path()),
        "soundfont_sha256": hashlib.sha256(soundfont_path().read_bytes()).hexdigest(),
        "programs": len(programs),
        "pitches": list(pitches),
        "velocities": list(velocities),
        "notes_rendered": len(grid),
        "notes_written": len(examples),
        "silent_left_out": silent,
        "seconds": round(time.perf_counter() - started, 2),
        "bytes": sum(os.path.getsize(root / "audio" / f"{k}.wav") for k in examples),
    }
    write_json(root / "render_report.json", report)
    write_json(root / "examples.json", examples)
    return report
