"""The music21 core corpus as an artist-grouped source (offline default MIDI data).

Grouping rule (source version ``m21-v1``), applied to ``music21.corpus.getCorePaths()``:

* **Art music**: the artist is the composer folder (``bach``, ``palestrina``,
  ``monteverdi``, ``beethoven``, ...).  Each file is one piece; a multi-movement
  work stored as one file per movement gives one piece per movement.  The
  ``trecento`` folder holds many composers; it is split by its PMFC volume
  (*Polyphonic Music of the Fourteenth Century*, whose volumes are organised by
  composer and genre): ``trecento/PMFC-12``.
* **Folk collections** (ABC files, many tunes per file; every tune is a piece):
  ``essenFolksong`` by region file with trailing digits removed (``ballad10`` ..
  ``ballad80`` -> ``essenFolksong/ballad``); ``ryansMammoth`` by tune type, the
  last word of the file name when it is a dance type (Reel, Jig, Hornpipe,
  Strathspey, Clog, Fling, Slipjig), else ``ryansMammoth/other``; ``airdsAirs`` by
  book; ``miscFolk`` by file; ``oneills1850`` and ``nottingham-dataset`` as one
  artist each.
* **Excluded**: ``demos`` and ``theoryExercises`` (test material, not repertoire),
  ``leadSheet`` (two unrelated songs), and Roman-numeral analyses (``.rntxt``).
* **Cap**: at most ``MAX_PER_ARTIST`` = 100 pieces per artist, the ones with the
  smallest ``sha256("m21-v1:" + item_id)`` -- a uniform, stable subset.  From
  per-piece parse times, parsing all ~13k folk tunes and 1.3k Palestrina files would
  take roughly 20 minutes on two cores (an estimate); capped, a cold build takes about
  two.  Episodes draw at most K + Q pieces per artist, so the cap costs little
  diversity.

Every note of every part is kept (ties merged); scores carry no instruments, so
every note is instrument family 0, and no velocities, so every note has the
default MIDI velocity 64 unless the score marks one.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from episodes.encoding import Note, canonical, quantise
from episodes.sources.base import PieceRef, SkipItem, safe_join
from episodes.timing import Rate

if TYPE_CHECKING:
    from music21.stream import Stream

MAX_PER_ARTIST = 100
EXCLUDED_FOLDERS = frozenset({"demos", "theoryExercises", "leadSheet"})
SCORE_SUFFIXES = frozenset({".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid", ".midi"})
FOLK_FOLDERS = frozenset(
    {"essenFolksong", "ryansMammoth", "airdsAirs", "miscFolk", "oneills1850", "nottingham-dataset"}
)
DANCE_TYPES = frozenset({"Reel", "Jig", "Hornpipe", "Strathspey", "Clog", "Fling", "Slipjig"})
_TUNE_START = re.compile(r"^X:", re.MULTILINE)
_TITLE = re.compile(r"^T:\s*(.*)$", re.MULTILINE)


class Music21CorpusSource:
    """The music21 core corpus, grouped into artists as documented in this module."""

    name = "music21"
    version = "m21-v1"
    codec, dedupe, parallel = "midi-events", False, True
    dependencies = ("music21",)
    parse_rate = Rate(0.068, "piece", "measured on 2 idle cores: 105 s for the 3,087 capped pieces")

    def __init__(self) -> None:
        import music21

        self.music21_version = music21.__version__
        self.root = Path(music21.__file__).parent / "corpus"

    def cache_key(self) -> str:
        return f"music21-{self.music21_version}-{self.version}"

    def list_pieces(self) -> list[PieceRef]:
        from music21 import corpus

        by_artist: dict[str, list[PieceRef]] = defaultdict(list)
        for path in sorted(corpus.getCorePaths()):
            rel = path.relative_to(self.root).as_posix()
            folder = rel.split("/")[0]
            if folder in EXCLUDED_FOLDERS or path.suffix not in SCORE_SUFFIXES:
                continue
            artist = artist_of(rel)
            if path.suffix == ".abc":
                for index, title in enumerate(abc_titles(read_text(path))):
                    ref = PieceRef(f"{rel}#{index:04d}", artist, title or path.stem, rel, index)
                    by_artist[artist].append(ref)
            else:
                by_artist[artist].append(PieceRef(rel, artist, path.stem, rel))
        pieces: list[PieceRef] = []
        for refs in by_artist.values():
            refs.sort(key=lambda r: hashlib.sha256(f"{self.version}:{r.item_id}".encode()).digest())
            pieces.extend(refs[:MAX_PER_ARTIST])
        return sorted(pieces, key=lambda r: r.item_id)

    def read(self, ref: PieceRef) -> list[Note]:
        from music21 import converter

        path = safe_join(self.root, ref.path)
        if ref.part is None:
            score = converter.parse(path, forceSource=True)  # no music21 pickle cache
        else:
            score = parse_abc(abc_tunes(str(path))[ref.part])
        return score_notes(score)


def artist_of(rel: str) -> str:
    """The artist of a corpus file, from its path relative to the corpus root."""
    parts = rel.split("/")
    folder, stem = parts[0], Path(rel).stem
    if folder == "essenFolksong":
        return "essenFolksong/" + re.sub(r"\d+$", "", stem)
    if folder == "ryansMammoth":
        words = re.findall(r"[A-Z][a-z]*", stem)
        kind = words[-1] if words and words[-1] in DANCE_TYPES else "other"
        return f"ryansMammoth/{kind}"
    if folder in ("airdsAirs", "miscFolk"):
        return f"{folder}/{stem}"
    if folder == "trecento":
        match = re.match(r"PMFC_(\d+)", stem)
        return f"trecento/PMFC-{match.group(1)}" if match else "trecento/other"
    return folder


def read_text(path: Path) -> str:
    """Text of a corpus file: UTF-8 where valid, else Latin-1 (older ABC files)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def abc_titles(text: str) -> list[str]:
    """The title (first ``T:`` field, or empty) of each tune of an ABC file."""
    return [(m.group(1).strip() if (m := _TITLE.search(t)) else "") for t in _split_abc(text)[1]]


@functools.lru_cache(maxsize=8)
def abc_tunes(path: str) -> list[str]:
    """Each tune of an ABC file as a stand-alone ABC text (file header prepended)."""
    header, tunes = _split_abc(read_text(Path(path)))
    return [header + tune for tune in tunes]


def _split_abc(text: str) -> tuple[str, list[str]]:
    starts = [m.start() for m in _TUNE_START.finditer(text)]
    if not starts:
        return "", []
    bounds = starts + [len(text)]
    return text[: starts[0]], [text[a:b] for a, b in zip(bounds, bounds[1:])]


def parse_abc(text: str) -> Stream:
    """One ABC tune as a music21 score, without the beams music21's ABC reader adds
    (``Stream.makeBeams``, notation only: it changes no onset, duration or pitch).
    Beaming took about 30% of the time of parsing the corpus; the corpus fingerprint
    is the same without it."""
    from unittest import mock

    from music21 import converter, stream

    with mock.patch.object(stream.Stream, "makeBeams", _no_beams):
        return converter.parse(text, format="abc")


def _no_beams(self, **_options) -> None:
    """Stands in for ``Stream.makeBeams`` while `parse_abc` reads a tune."""


def score_notes(score) -> list[Note]:
    """All notes of a music21 stream (every part, chords expanded, ties merged).

    Offsets are in quarter notes from the start of the stream.  Ties are merged here,
    per part and pitch, rather than with ``Stream.stripTies``, which is quadratic in
    the length of a part and takes minutes on a long string-quartet movement.
    """
    from music21 import stream

    if isinstance(score, stream.Opus):
        raise SkipItem("file holds several pieces (an Opus); not split by this source")
    notes: list[Note] = []
    for part in score.parts if score.hasPartLikeStreams() else [score]:
        notes.extend(_part_notes(part))
    if not notes:
        raise SkipItem("no notes")
    return canonical(notes)


def _part_notes(part) -> list[Note]:
    """Notes of one part; a tie chain becomes one note spanning the whole chain."""
    spans: list[list[float]] = []  # [onset, end, pitch, velocity]
    open_ties: dict[int, int] = {}  # pitch -> index into spans of the chain's first note
    for element in part.flatten().notes:
        onset = float(element.offset)
        end = onset + float(element.quarterLength)
        velocity = element.volume.velocity if element.volume.velocity is not None else 64
        for note in element.notes if element.isChord else [element]:
            pitch = note.pitch.midi
            tie = note.tie.type if note.tie is not None else None
            if tie in ("continue", "stop") and pitch in open_ties:
                spans[open_ties[pitch]][1] = end
                if tie == "stop":
                    del open_ties[pitch]
                continue
            if tie in ("start", "continue"):
                open_ties[pitch] = len(spans)
            spans.append([onset, end, pitch, velocity])
    return [quantise(on, end - on, int(p), int(v)) for on, end, p, v in spans]
