"""Generated inputs for `fuzz_loaders.py`: one hypothesis strategy per data loader.

`midi_cases` (Standard MIDI files, clean and dirty events, hostile deltas and
divisions, random bytes), `table_cases` (CSV / TSV / JSON / JSON Lines / Parquet
tables with odd cells, encodings, huge cells and rows), `wav_cases` (valid files in
every libsndfile subtype at odd rates and channel counts, patched headers, raw and
random bytes) and `nsynth_cases` (``examples.json`` of every shape, hostile note
names, missing / corrupt / linked WAVs).  Each draws the structure with hypothesis
and the bulk bytes and byte mutations with a numpy generator seeded from a drawn
integer, and returns a `Case`: files to write under a fresh folder and the path to
hand to the loader.
"""

from __future__ import annotations

import csv
import io
import json
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

MAX_NSYNTH_READS = 5  # pieces the harness reads per NSynth folder (the first, by name)


@dataclass
class Case:
    """One generated input: ``files`` (relative path -> bytes, or None for a
    directory) written under a fresh folder, ``links`` (relative path -> symlink
    target), ``entry`` the path handed to the loader, ``note`` how it was made."""

    entry: str
    note: str
    files: dict[str, bytes | None] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def seeds() -> st.SearchStrategy[np.random.Generator]:
    """A numpy generator for bulk bytes and mutations, seeded by a drawn integer."""
    return st.integers(0, 2**32 - 1).map(np.random.default_rng)


def random_bytes(rng: np.random.Generator, n: int) -> bytes:
    return rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()


MUTATIONS = ("flip", "overwrite", "truncate", "insert", "delete", "duplicate", "byte-FF", "byte-00")


def mutate(data: bytes, rng: np.random.Generator, n_ops: int) -> tuple[bytes, str]:
    """``data`` after ``n_ops`` random byte-level mutations, and their names."""
    buf, done = bytearray(data), []
    for _ in range(n_ops):
        op = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
        pos = int(rng.integers(len(buf) + 1))
        if op == "flip" and buf:
            i = min(pos, len(buf) - 1)
            buf[i] ^= 1 << int(rng.integers(8))
        elif op == "overwrite" and buf:
            n = int(rng.integers(1, 9))
            buf[pos : pos + n] = random_bytes(rng, len(buf[pos : pos + n]))
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = random_bytes(rng, int(rng.integers(1, 65)))
        elif op == "delete":
            del buf[pos : pos + int(rng.integers(1, 65))]
        elif op == "duplicate":
            buf[pos:pos] = buf[pos : pos + int(rng.integers(1, 257))]
        elif op in ("byte-FF", "byte-00") and buf:
            buf[min(pos, len(buf) - 1)] = 0xFF if op == "byte-FF" else 0x00
        done.append(f"{op}@{pos}")
    return bytes(buf), ",".join(done)


@st.composite
def maybe_mutated(draw, data: bytes, p_percent: int = 30) -> tuple[bytes, str]:
    """``data`` unchanged (usually) or byte-mutated; with a note saying which."""
    if draw(st.integers(0, 99)) < 100 - p_percent:  # (hypothesis favours small integers)
        return data, ""
    out, ops = mutate(data, draw(seeds()), draw(st.integers(1, 4)))
    return out, f" mutated({ops})"


# ---- MIDI ------------------------------------------------------------------------


def vlq(value: int) -> bytes:
    """A MIDI variable-length quantity (any non-negative int; > 2^28 - 1 is invalid MIDI)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def smf(
    tracks: list[bytes], *, fmt: int = 1, division: int = 96, ntrks: int | None = None, header_len: int = 6
) -> bytes:
    """A standard MIDI file from encoded track chunks (header fields overridable)."""
    extra = b"\x00" * max(0, min(header_len, 10) - 6)
    ntrks = len(tracks) if ntrks is None else ntrks
    return b"MThd" + struct.pack(">IHHH", header_len, fmt, ntrks, division) + extra + b"".join(tracks)


def track_chunk(events: bytes, *, length: int | None = None, tag: bytes = b"MTrk") -> bytes:
    return tag + struct.pack(">I", len(events) if length is None else length) + events


END_OF_TRACK = b"\x00\xff\x2f\x00"
MIDI_DELTAS = (0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**28 - 1, 2**28, 2**35)
MIDI_DIVISIONS = (0, 1, 2, 12, 96, 480, 960, 0x7FFF, 0x8000, 0xE728, 0xE250, 0xFFFF)  # 0xE7..: SMPTE


CLEAN_EVENTS = ["note"] * 6 + [
    "on",
    "off",
    "cc",
    "program",
    "bend",
    "pressure",
    "poly",
    "tempo",
    "timesig",
    "keysig",
    "text",
    "sysex",
]
DIRTY_EVENTS = CLEAN_EVENTS + ["running", "eot", "escape", "realtime", "meta-any"]


@st.composite
def midi_event(draw, clean: bool) -> bytes:
    """One delta-timed event (a note is an on/off pair); unless ``clean``, sometimes
    malformed (data bytes >= 0x80, lying lengths, stray status bytes)."""
    delta = draw(st.integers(0, 48) | st.sampled_from(MIDI_DELTAS[: 6 if clean else None]))
    ch = draw(st.integers(0, 15))
    d7 = st.integers(0, 127)
    byte = d7 if clean or draw(st.integers(0, 19)) else st.integers(0, 255)  # data byte >= 0x80
    kind = draw(st.sampled_from(CLEAN_EVENTS if clean else DIRTY_EVENTS))
    if kind == "note":
        pitch, vel = draw(byte), draw(byte)
        off = bytes([0x80 | ch, pitch, draw(d7)]) if draw(st.booleans()) else bytes([0x90 | ch, pitch, 0])
        duration = draw(st.integers(0, 96) | st.sampled_from(MIDI_DELTAS[: 6 if clean else None]))
        return vlq(delta) + bytes([0x90 | ch, pitch, vel]) + vlq(duration) + off
    if kind in ("on", "off", "poly", "cc", "bend"):
        status = {"on": 0x90, "off": 0x80, "poly": 0xA0, "cc": 0xB0, "bend": 0xE0}[kind]
        return vlq(delta) + bytes([status | ch, draw(byte), draw(byte)])
    if kind in ("program", "pressure"):
        return vlq(delta) + bytes([(0xC0 if kind == "program" else 0xD0) | ch, draw(byte)])
    if kind == "running":
        return vlq(delta) + bytes([draw(byte), draw(byte)])
    if kind == "realtime":
        return vlq(delta) + bytes([draw(st.sampled_from([0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xFE]))])
    if kind in ("sysex", "escape"):
        data = draw(st.binary(max_size=16))
        length = len(data) + 1 if clean or draw(st.integers(0, 4)) else draw(st.sampled_from([0, 2**20, 2**28 - 1]))
        return vlq(delta) + bytes([0xF0 if kind == "sysex" else 0xF7]) + vlq(length) + data + b"\xf7"
    meta, data = {
        "tempo": (0x51, lambda: draw(st.sampled_from([0, 1, 500_000, 0xFFFFFF])).to_bytes(3, "big")),
        "timesig": (0x58, lambda: bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255)), 24, 8])),
        "keysig": (0x59, lambda: bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))])),
        "text": (draw(st.integers(1, 7)), lambda: draw(st.text(max_size=20)).encode("utf-8", "surrogatepass")),
        "eot": (0x2F, lambda: b""),
        "meta-any": (draw(st.integers(0, 255)), lambda: draw(st.binary(max_size=8))),
    }[kind]
    body = data()
    length = len(body) if clean or draw(st.integers(0, 9)) else draw(st.sampled_from([0, 1, len(body) + 5, 2**28 - 1]))
    return vlq(delta) + bytes([0xFF, meta]) + vlq(length) + body


@st.composite
def midi_track(draw, clean: bool) -> bytes:
    events = b"".join(draw(st.lists(midi_event(clean), max_size=24)))
    if clean or draw(st.integers(0, 9)):
        events += END_OF_TRACK
    if clean:
        return track_chunk(events)
    length = None if draw(st.integers(0, 9)) else draw(st.sampled_from([0, 1, 2**31, 2**32 - 1]))
    tag = b"MTrk" if draw(st.integers(0, 19)) else draw(st.sampled_from([b"XFIH", b"MThd", b"mtrk", b"\0\0\0\0"]))
    return track_chunk(events, length=length, tag=tag)


def many_notes_midi(n_notes: int, rng: np.random.Generator) -> bytes:
    """One track of ``n_notes`` notes in running status, one tick apart (96 tpq)."""
    pitches = rng.integers(21, 109, size=n_notes, dtype=np.uint8)
    ev = np.zeros((n_notes, 6), dtype=np.uint8)  # delta=0 pitch 100 | delta=1 pitch 0 (note off)
    ev[:, 1], ev[:, 2], ev[:, 3], ev[:, 4] = pitches, 100, 1, pitches
    body = b"\x00\x90" + ev.tobytes()[1:] + END_OF_TRACK  # the first event carries the status
    return smf([track_chunk(body)], fmt=0, division=96)


@st.composite
def midi_cases(draw) -> Case:
    """A ``.mid`` file: a structured SMF, clean (valid events and header) or dirty
    (random header fields, lying chunk lengths, malformed events), possibly
    byte-mutated; or random bytes, a tiny header, a file of ~140,000 notes, a
    2^28-tick silence or a 17 MB file."""
    k = draw(st.integers(0, 99))
    if k < 80:
        clean = draw(st.booleans())
        tracks = draw(st.lists(midi_track(clean), min_size=int(clean), max_size=4))
        if clean:
            fmt, ntrks, header_len = (0 if len(tracks) == 1 else 1), None, 6
            division = draw(st.sampled_from([12, 24, 96, 120, 192, 384, 480, 960]) | st.integers(1, 960))
        else:
            fmt = draw(st.sampled_from([0, 1, 1, 1, 2, 3, 0xFFFF]))
            division = draw(st.sampled_from(MIDI_DIVISIONS) | st.integers(1, 1000))
            ntrks = None if draw(st.integers(0, 9)) else draw(st.sampled_from([0, 1, 2, 0xFFFF]))
            header_len = 6 if draw(st.integers(0, 9)) else draw(st.sampled_from([0, 5, 7, 10, 0xFFFFFFFF]))
        data = smf(tracks, fmt=fmt, division=division, ntrks=ntrks, header_len=header_len)
        note = (
            f"{'clean' if clean else 'dirty'} smf fmt={fmt} division={division} tracks={len(tracks)} "
            f"ntrks={ntrks} hlen={header_len}"
        )
        data, mutation = draw(maybe_mutated(data))
        return Case("input.mid", note + mutation, {"input.mid": data})
    rng = draw(seeds())
    if k < 88:
        n = draw(st.sampled_from([0, 1, 14, 22, 100, 4096]))
        prefix = draw(st.sampled_from([b"", b"MThd", b"MThd\x00\x00\x00\x06", b"RIFF"]))
        data, note = prefix + random_bytes(rng, n), f"random bytes n={n} prefix={prefix!r}"
    elif k < 93:
        data = draw(st.sampled_from([b"", b"M", b"MThd", smf([]), smf([], ntrks=1), smf([track_chunk(b"")])]))
        note = f"tiny {data!r}"
    elif k < 96:
        n = draw(st.sampled_from([1000, 2**17 + 1]))
        data, note = many_notes_midi(n, rng), f"{n} notes in running status"
    elif k < 99:
        delta = draw(st.sampled_from([2**28 - 1, 2**21, 96 * 1025]))
        division = draw(st.sampled_from([1, 96]))
        events = vlq(delta) + bytes([0x90, 60, 64, 0x00, 60, 0x00]) + END_OF_TRACK
        data = smf([track_chunk(events)], fmt=0, division=division)
        note = f"one note after {delta} ticks, tpq {division}"
    else:
        data = smf([track_chunk(b"\x00\x90\x3c\x40\x01\x3c\x00" + END_OF_TRACK)]) + bytes(17 * 2**20)
        note = "valid note + 17 MiB of zeros"
    return Case("input.mid", note, {"input.mid": data})


# ---- text tables -----------------------------------------------------------------

SPECIAL_CELLS = (
    "",
    " ",
    "NaN",
    "nan",
    "NA",
    "N/A",
    "#N/A",
    "null",
    "None",
    "none",
    "inf",
    "-inf",
    "1e309",
    "True",
    "0",
    "-0",
    "1,5",
    '"',
    '""',
    '"unclosed',
    ",",
    ";",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\x00",
    "\ufeff",
    "\ufffd",
    "\u200b",
    "a\u0301",
    "\ufb01",
    "\u0130",
    "\U0001f3b5",
    "\u202eevil",
    "=1+1",
    "\\",
    "\\N",
    "la la la\nla la",
    "  padded  ",
    "# comment",
    "</script>",
    "\x1b[31mred",
)
COLUMN_NAMES = (
    "artist",
    "lyrics",
    "text",
    "title",
    "song",
    "artist",
    "lyrics",
    "Artist",
    "LYRICS",
    "",
    " artist",
    "id",
    "0",
    "artiste",
    "\U0001f600",
    "artist\n",
    "text.1",
    "Unnamed: 0",
)
TABLE_SUFFIXES = (".csv", ".csv", ".csv", ".jsonl", ".json", ".parquet")
ODD_SUFFIXES = (".tsv", ".CSV", ".txt", ".JSONL", ".parq", "", ".csv.gz", ".json")
TEXT_ENCODINGS = ("utf-8",) * 6 + ("utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "shift_jis")
HUGE_UNITS = ("a", "\u00e9", "\U0001f3b5", "la la\n", '"', ",")


def cell_values(json_like: bool) -> st.SearchStrategy:
    scalar = st.one_of(
        st.text(max_size=40),
        st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2),  # lone surrogates
        st.sampled_from(SPECIAL_CELLS),
        st.sampled_from(SPECIAL_CELLS),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.none(),
        st.booleans(),
    )
    if not json_like:
        return scalar
    return scalar | st.lists(scalar, max_size=3) | st.dictionaries(st.text(max_size=5), scalar, max_size=2)


def encode_text(text: str, encoding: str) -> bytes:
    errors = "surrogatepass" if encoding.startswith("utf") else "replace"
    try:
        return text.encode(encoding, errors)
    except UnicodeEncodeError:  # surrogatepass cannot write lone surrogates in utf-8-sig's BOM path etc.
        return text.encode(encoding, "replace")


def csv_bytes(columns: list[str], rows: list[list], draw) -> tuple[bytes, str]:
    delimiter = draw(st.sampled_from([",", ",", ",", ";", "\t", "|"]))
    quoting = draw(
        st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC, csv.QUOTE_NONE])
    )
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator=newline, escapechar="\\")

    def write(cells: list) -> None:
        try:
            writer.writerow(cells)
        except csv.Error:  # QUOTE_NONE cannot write a lone empty field
            csv.writer(buf, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator=newline).writerow(cells)

    if draw(st.integers(0, 9)):
        write(columns)
    for row in rows:
        cells = ["" if v is None else v for v in row]
        if quoting == csv.QUOTE_NONNUMERIC:
            cells = [v if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v) for v in cells]
        write(cells)
    encoding = draw(st.sampled_from(TEXT_ENCODINGS))
    note = f"csv delim={delimiter!r} quoting={quoting} nl={newline!r} enc={encoding}"
    return encode_text(buf.getvalue(), encoding), note


def json_bytes(columns: list[str], rows: list[list], draw, lines: bool) -> tuple[bytes, str]:
    records = [dict(zip(columns, row)) for row in rows]
    ensure_ascii = draw(st.booleans())

    def dump(obj) -> str:
        return json.dumps(obj, ensure_ascii=ensure_ascii, allow_nan=True)  # NaN literals on purpose

    if lines:
        body = [dump(r) for r in records]
        if draw(st.integers(0, 4)) == 0:
            odd_line = draw(st.sampled_from(["", "[1, 2]", '"text"', "null", "{", "  "]))
            body.insert(draw(st.integers(0, len(body))), odd_line)
        text, shape = "\n".join(body) + draw(st.sampled_from(["\n", "", "\n\n"])), "jsonl"
    else:
        shape = draw(st.sampled_from(["records", "records", "columns", "wrapped", "object", "scalar"]))
        obj = {
            "records": records,
            "columns": {c: [r.get(c) for r in records] for c in columns},
            "wrapped": {"data": records},
            "object": records[0] if records else {},
            "scalar": draw(st.sampled_from([None, 1, "artist,lyrics", [], [[1, 2]]])),
        }[shape]
        text = dump(obj)
    encoding = draw(st.sampled_from(TEXT_ENCODINGS))
    return encode_text(text, encoding), f"json {shape} enc={encoding}"


def parquet_bytes(columns: list[str], rows: list[list]) -> tuple[bytes, str]:
    import pandas as pd

    def utf8(v):  # parquet strings are UTF-8: lone surrogates become "?"
        return v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else v

    names = list(dict.fromkeys(columns))  # parquet needs unique column names
    df = pd.DataFrame([{c: utf8(v) for c, v in zip(columns, row)} for row in rows], columns=names, dtype=object)
    buf = io.BytesIO()
    try:
        df.to_parquet(buf, index=False)
        how = "typed"
    except Exception:  # noqa: BLE001 - mixed-type columns: write them as strings
        buf = io.BytesIO()
        df.astype(str).to_parquet(buf, index=False)
        how = "as str"
    return buf.getvalue(), f"parquet ({how})"


@st.composite
def table_cases(draw) -> Case:
    """A lyrics table: CSV / JSON / JSON Lines / Parquet with drawn columns and odd cells
    (numbers, empty, NaN strings, unicode, lone surrogates, huge cells, quotes,
    newlines), in drawn encodings, possibly byte-mutated, sometimes under a suffix
    that does not match the content; or random bytes / an empty file."""
    rng = draw(seeds())
    if draw(st.integers(0, 19)) == 0:
        n = draw(st.sampled_from([0, 0, 1, 3, 100, 4096]))
        suffix = draw(st.sampled_from(TABLE_SUFFIXES))
        return Case("table" + suffix, f"random bytes n={n}", {"table" + suffix: random_bytes(rng, n)})
    columns = draw(st.lists(st.sampled_from(COLUMN_NAMES), max_size=5))
    if draw(st.integers(0, 2)):
        columns = ["artist", draw(st.sampled_from(["lyrics", "text"]))] + columns
    fmt = draw(st.sampled_from(TABLE_SUFFIXES))
    cells = cell_values(json_like=fmt in (".json", ".jsonl"))
    ragged = fmt == ".csv" and draw(st.integers(0, 9)) == 0
    rows = draw(
        st.lists(st.lists(cells, min_size=len(columns), max_size=len(columns) + (2 if ragged else 0)), max_size=6)
    )
    extra = ""
    if rows and draw(st.integers(0, 29)) == 0:  # many rows: repeat the drawn ones
        rows = [list(rows[int(i)]) for i in rng.integers(len(rows), size=5000)]
        extra += " rows x5000"
    if rows and columns and draw(st.integers(0, 29)) == 0:  # one huge cell
        unit, n = draw(st.sampled_from(HUGE_UNITS)), draw(st.sampled_from([10_000, 300_000, 1_100_000]))
        rows[0][int(rng.integers(len(columns)))] = unit * n
        extra += f" huge cell {unit!r}x{n}"
    if fmt == ".csv":
        data, note = csv_bytes(columns, rows, draw)
    elif fmt == ".parquet":
        data, note = parquet_bytes(columns, rows)
    else:
        data, note = json_bytes(columns, rows, draw, lines=fmt == ".jsonl")
    suffix = fmt if draw(st.integers(0, 9)) else draw(st.sampled_from(TABLE_SUFFIXES + ODD_SUFFIXES))
    data, mutation = draw(maybe_mutated(data, 25))
    note = f"{note} cols={columns} rows={len(rows)}{extra} as {suffix!r}{mutation}"
    return Case("table" + suffix, note, {"table" + suffix: data})


# ---- WAV -------------------------------------------------------------------------

WAV_RATES = (
    1,
    2,
    7,
    999,
    1000,
    1001,
    4000,
    8000,
    11025,
    16000,
    16000,
    16000,
    16001,
    22050,
    24000,
    32000,
    44100,
    44100,
    44101,
    48000,
    88200,
    96000,
    192000,
    768000,
    768001,
    2**31 - 1,
)
WAV_FORMATS = ("WAV",) * 6 + ("WAVEX", "RF64", "W64", "AIFF", "FLAC")
SUBTYPES = (
    "PCM_16",
    "PCM_16",
    "PCM_U8",
    "PCM_24",
    "PCM_32",
    "FLOAT",
    "DOUBLE",
    "ULAW",
    "ALAW",
    "IMA_ADPCM",
    "MS_ADPCM",
    "GSM610",
    "G721_32",
)
U16_EDGES = (0, 1, 2, 3, 4, 8, 12, 16, 24, 32, 33, 64, 255, 256, 1024, 0x7FFF, 0x8000, 0xFFFF)
U32_EDGES = (0, 1, 7, 999, 1000, 8000, 16000, 16001, 44100, 44101, 768000, 768001, 2**24, 2**31 - 1, 2**31, 2**32 - 1)
FMT_FIELDS = {
    "tag": (0, "<H"),
    "channels": (2, "<H"),
    "rate": (4, "<I"),
    "byte-rate": (8, "<I"),
    "block-align": (12, "<H"),
    "bits": (14, "<H"),
}  # offsets in the fmt chunk's body
SAMPLES_CAP = 400_000  # frames x channels written per generated file


def signal(kind: str, frames: int, channels: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(frames)[:, None] / max(rate, 1)
    freq = rng.uniform(20, 4000)
    sine = np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.3, size=channels))
    out = {
        "sine": 0.5 * sine,
        "noise": rng.uniform(-1, 1, size=(frames, channels)),
        "silence": np.zeros((frames, channels)),
        "quiet": 1e-4 * sine,
        "loud": 8.0 * sine,
        "dc": np.full((frames, channels), 0.9),
        "denormal": np.full((frames, channels), 1e-310),
        "huge": np.full((frames, channels), 1e300),
        "nan": 0.5 * sine,
        "inf": 0.5 * sine,
    }[kind]
    if kind in ("nan", "inf") and frames:
        out[int(rng.integers(frames)), 0] = np.nan if kind == "nan" else np.inf
    return out


def riff_chunks(data: bytes) -> dict[bytes, int]:
    """Offsets of the RIFF chunks' ids (first occurrence) in a RIFF/RF64 file."""
    found, pos = {}, 12
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        found.setdefault(tag, pos)
        pos += 8 + size + (size & 1)
    return found


@st.composite
def valid_wav(draw) -> tuple[bytes, str]:
    """A file written by soundfile with drawn format, subtype, rate, channels, length
    and signal (falling back to 16-bit WAV where libsndfile refuses the combination)."""
    rng = draw(seeds())
    fmt, subtype = draw(st.sampled_from(WAV_FORMATS)), draw(st.sampled_from(SUBTYPES))
    rate = draw(st.sampled_from(WAV_RATES) | st.integers(1000, 200_000))
    channels = draw(st.sampled_from([1, 1, 1, 2, 2, 3, 6, 8, 64]))
    seconds = draw(st.sampled_from([0.0, 0.001, 0.1, 0.5, 1.0, 4.0, 4.01, 5.0]))
    frames = draw(st.sampled_from([0, 1, 2, 63, 64, 65, 1000])) if draw(st.integers(0, 4)) == 0 else int(rate * seconds)
    frames = min(frames, SAMPLES_CAP // channels)
    kind = draw(
        st.sampled_from(["sine"] * 4 + ["noise", "silence", "quiet", "loud", "dc", "denormal", "huge", "nan", "inf"])
    )
    data = signal(kind, frames, channels, rate, rng)
    return write_audio(data, rate, fmt, subtype, f"{kind} {frames}x{channels}")


def write_audio(data: np.ndarray, rate: int, fmt: str, subtype: str, what: str) -> tuple[bytes, str]:
    import soundfile

    if subtype not in ("FLOAT", "DOUBLE"):  # libsndfile's ULAW writer segfaults on 1e300: keep NaN/huge to floats
        data = np.nan_to_num(np.clip(data, -8.0, 8.0))
    for f, s in ((fmt, subtype), ("WAV", subtype), ("WAV", "PCM_16")):
        buf = io.BytesIO()
        try:
            soundfile.write(buf, data, rate, format=f, subtype=s)
            return buf.getvalue(), f"{f}/{s} rate={rate} {what}"
        except Exception:  # noqa: BLE001 - libsndfile refuses some format/subtype/rate/channel combinations
            continue
    buf = io.BytesIO()  # e.g. a rate libsndfile refuses: write at 16 kHz and patch the header
    soundfile.write(buf, data, 16000, format="WAV", subtype="PCM_16")
    out = bytearray(buf.getvalue())
    fmt_at = riff_chunks(bytes(out)).get(b"fmt ")
    if fmt_at is not None:
        struct.pack_into("<I", out, fmt_at + 12, rate & 0xFFFFFFFF)
    return bytes(out), f"WAV/PCM_16 rate={rate}(patched) {what}"


@st.composite
def raw_wav(draw) -> tuple[bytes, str]:
    """A hand-built RIFF/WAVE file: every fmt field drawn, extra chunks, a data chunk
    whose size field may lie, random sample bytes."""
    rng = draw(seeds())
    tag = draw(st.sampled_from([1, 1, 3, 6, 7, 2, 0x11, 0x31, 0xFFFE, 0, 0xFFFF]))
    channels = draw(st.sampled_from(U16_EDGES[:6]) | st.sampled_from(U16_EDGES))
    rate = draw(st.sampled_from(U32_EDGES) | st.sampled_from(WAV_RATES))
    bits = draw(st.sampled_from([8, 16, 16, 24, 32, 64]) | st.sampled_from(U16_EDGES))
    align = channels * max(bits // 8, 1) if draw(st.booleans()) else draw(st.sampled_from(U16_EDGES))
    byte_rate = (rate * align) & 0xFFFFFFFF if draw(st.booleans()) else draw(st.sampled_from(U32_EDGES))
    fmt_body = struct.pack("<HHIIHH", tag, channels & 0xFFFF, rate, byte_rate, align & 0xFFFF, bits)
    if tag == 0xFFFE or draw(st.integers(0, 4)) == 0:  # WAVE_FORMAT_EXTENSIBLE tail (cbSize, valid bits, mask, GUID)
        sub = draw(st.sampled_from([1, 3, 0, 0x55]))
        guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt_body += struct.pack("<HHIH", 22, bits, 0x3, sub) + guid_tail
    fmt_size = len(fmt_body) if draw(st.integers(0, 5)) else draw(st.sampled_from([0, 14, 16, 17, 40, 2**31]))
    n = draw(st.sampled_from([0, 1, 2, 3, 100, 4000, 64_000]))
    samples = random_bytes(rng, n)
    data_size = n if draw(st.integers(0, 2)) else draw(st.sampled_from([0, n + 1, n * 2 + 1000, 2**31 - 1, 2**32 - 1]))
    chunks = [b"fmt " + struct.pack("<I", fmt_size) + fmt_body]
    for extra in draw(st.lists(st.sampled_from(["LIST", "fact", "JUNK", "odd", "huge", "data-first"]), max_size=2)):
        if extra == "data-first":
            chunks.insert(0, b"data" + struct.pack("<I", 4) + b"\x00" * 4)
        elif extra == "huge":
            chunks.append(b"junk" + struct.pack("<I", 2**32 - 2))
        else:
            body = b"\x01\x02\x03" if extra == "odd" else b"\x00" * 4
            chunks.append(extra.encode()[:4].ljust(4) + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1))
    chunks.append(b"data" + struct.pack("<I", data_size) + samples)
    body = b"WAVE" + b"".join(chunks)
    riff = draw(st.sampled_from([b"RIFF"] * 6 + [b"RIFX", b"RF64", b"riff"]))
    riff_size = len(body) if draw(st.integers(0, 3)) else draw(st.sampled_from([0, 4, 2**32 - 1]))
    return riff + struct.pack("<I", riff_size) + body, (
        f"raw RIFF {riff!r} tag={tag:#x} ch={channels} rate={rate} byte_rate={byte_rate} align={align} bits={bits} "
        f"fmt_size={fmt_size} data={n}B size_field={data_size}"
    )


@st.composite
def patched_wav(draw) -> tuple[bytes, str]:
    """A valid file with 1-3 header fields (fmt fields, RIFF / data sizes) set to edge values."""
    data, note = draw(valid_wav())
    out, chunks, patches = bytearray(data), riff_chunks(data), []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(list(FMT_FIELDS) + ["fmt-size", "riff-size", "data-size"]))
        if name in FMT_FIELDS:
            at = chunks.get(b"fmt ")
            if at is None:
                continue
            offset, code = FMT_FIELDS[name]
            offset += at + 8
        else:
            at = {"fmt-size": chunks.get(b"fmt "), "riff-size": 0, "data-size": chunks.get(b"data")}[name]
            if at is None:
                continue
            offset, code = at + 4, "<I"
        value = draw(st.sampled_from(U16_EDGES if code == "<H" else U32_EDGES))
        if offset + struct.calcsize(code) <= len(out):
            struct.pack_into(code, out, offset, value)
            patches.append(f"{name}={value}")
    return bytes(out), f"{note} patched({','.join(patches)})"


@st.composite
def wav_cases(draw) -> Case:
    """A ``.wav`` file: valid (soundfile, any format/subtype/rate/channels/length/signal),
    valid with patched header fields, hand-built headers, byte-mutated, or random."""
    k = draw(st.integers(0, 99))
    if k < 35:
        data, note = draw(valid_wav())
    elif k < 65:
        data, note = draw(patched_wav())
    elif k < 80:
        data, note = draw(raw_wav())
    elif k < 92:
        data, note = draw(valid_wav())
        data, mutation = mutate(data, draw(seeds()), draw(st.integers(1, 4)))
        note += f" mutated({mutation})"
    else:
        rng = draw(seeds())
        n = draw(st.sampled_from([0, 1, 12, 44, 100, 4096]))
        prefix = draw(st.sampled_from([b"", b"RIFF", b"RIFF\x24\x00\x00\x00WAVE", b"RIFF\x24\x00\x00\x00WAVEfmt "]))
        data, note = prefix + random_bytes(rng, n), f"random bytes n={n} prefix={prefix!r}"
    return Case("note.wav", note, {"note.wav": data})


# ---- NSynth ----------------------------------------------------------------------

HOSTILE_NOTES = (
    "../escape",
    "../../../etc/passwd",
    "/abs/path",
    "a/b",
    "",
    ".",
    "..",
    "x\x00y",
    "\u00e9t\u00e9",
    "\U0001f3b5",
    "n" * 300,
    " spaced ",
    "back\\slash",
    "CON",
    "-rf",
    "audio/../../x",
    "\ud800",
    "new\nline",
    "~",
    "$HOME",
)
INSTRUMENTS = ("bass_synthetic_033", "keyboard_acoustic_004", "guitar_electronic_022", "string_acoustic_012")


def note_names() -> st.SearchStrategy[str]:
    realistic = st.builds(
        lambda i, p, v: f"{i}-{p:03d}-{v:03d}",
        st.sampled_from(INSTRUMENTS),
        st.integers(9, 120),
        st.sampled_from([25, 50, 75, 100, 127]),
    )
    return realistic | realistic | st.sampled_from(HOSTILE_NOTES) | st.text(max_size=12)


def records() -> st.SearchStrategy:
    instrument = (
        st.sampled_from(INSTRUMENTS)
        | st.sampled_from(["", " ", "x"])
        | st.text(max_size=10)
        | st.integers()
        | st.none()
        | st.lists(st.integers(), max_size=2)
        | st.just({"a": 1})
    )
    other = st.fixed_dictionaries(
        {},
        optional={
            "pitch": st.integers(-5, 200) | st.text(max_size=3),
            "velocity": st.integers(0, 127),
            "sample_rate": st.sampled_from([16000, 0, -1, "16k"]),
            "qualities": st.lists(st.integers(0, 1), max_size=10),
            "note_str": st.text(max_size=10),
        },
    )
    labelled = st.builds(lambda i, o: {**o, "instrument_str": i}, instrument, other)
    return (
        labelled
        | labelled
        | labelled
        | other
        | st.lists(st.integers(), max_size=2)
        | st.text(max_size=5)
        | st.integers()
        | st.none()
    )


@lru_cache(maxsize=8)
def note_wav(rate: int, kind: str) -> bytes:
    """A tiny WAV: 0.25 s of a sine (or silence) at ``rate``."""
    import soundfile

    t = np.arange(int(rate * 0.25)) / rate
    wave = 0.5 * np.sin(2 * np.pi * 440 * t) if kind == "sine" else np.zeros_like(t)
    buf = io.BytesIO()
    soundfile.write(buf, wave, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


AUDIO_KINDS = (
    "sine",
    "sine",
    "sine",
    "sine-44100",
    "silent",
    "missing",
    "empty",
    "random",
    "directory",
    "link-outside",
    "link-loop",
    "link-dangling",
)


@st.composite
def examples_json(draw, rng: np.random.Generator) -> tuple[bytes, dict, str]:
    """The bytes of an ``examples.json``, the map it holds (if any) and a note."""
    k = draw(st.integers(0, 99))
    if k < 70:
        notes = draw(st.dictionaries(note_names(), records(), max_size=8))
        if draw(st.integers(0, 49)) == 0:  # huge: 20,000 generated records
            notes.update(
                {f"{INSTRUMENTS[i % 4]}-{i:06d}": {"instrument_str": INSTRUMENTS[i % 4]} for i in range(20_000)}
            )
        text = json.dumps(notes, ensure_ascii=draw(st.booleans()))
        encoding = draw(st.sampled_from(["utf-8"] * 8 + ["utf-8-sig", "utf-16", "latin-1"]))
        data = encode_text(text, encoding)
        data, mutation = draw(maybe_mutated(data, 15))
        return data, notes, f"map of {len(notes)} enc={encoding}{mutation}"
    if k < 80:
        obj = draw(st.sampled_from([[], [{"instrument_str": "x"}], "text", 3, None, True, 1.5]))
        return json.dumps(obj).encode(), {}, f"top-level {type(obj).__name__}"
    special = {
        "empty": b"",
        "truncated": b'{"bass_synthetic_033-022-050": {"instrument_str": "bass',
        "deep-array": b"[" * 100_000 + b"]" * 100_000,
        "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "huge-int": b'{"n": {"instrument_str": "x", "pitch": ' + b"9" * 5000 + b"}}",
        "nan-literals": b'{"n": {"instrument_str": "x", "pitch": NaN, "velocity": -Infinity}}',
        "duplicate-keys": b'{"n": {"instrument_str": "a"}, "n": {"instrument_str": "b"}}',
        "trailing": b'{"n": {"instrument_str": "a"}} garbage',
        "surrogate-escape": b'{"\\ud800": {"instrument_str": "a"}, "ok": {"instrument_str": "\\udfff"}}',
        "nul-escape": b'{"a\\u0000b": {"instrument_str": "a"}}',
        "random": random_bytes(rng, 200),
        "invalid-utf8": b'{"n\xff": {"instrument_str": "a"}}',
    }
    name = draw(st.sampled_from(sorted(special)))
    return special[name], {}, name


@st.composite
def nsynth_cases(draw) -> Case:
    """An NSynth folder (one split or several) whose ``examples.json`` is a drawn map
    (wrong types, missing fields, hostile note names), other JSON, invalid or huge;
    the first few notes get a tiny, silent, missing, corrupt, linked WAV or a folder.
    Sometimes the folder is missing, a file, or ``examples.json`` is a folder."""
    rng = draw(seeds())
    layout = draw(
        st.sampled_from(["single"] * 6 + ["splits", "splits", "none", "examples-dir", "root-missing", "root-file"])
    )
    case = Case("root", f"layout={layout}", {"outside.wav": note_wav(16000, "sine")})
    if layout in ("none", "examples-dir", "root-missing", "root-file"):
        case.files.update(
            {
                "none": {"root": None},
                "examples-dir": {"root/examples.json": None},
                "root-missing": {},
                "root-file": {"root": b"{}"},
            }[layout]
        )
        return case
    folders = ["."] if layout == "single" else draw(st.sampled_from([["nsynth-test", "nsynth-valid"], ["a", "b", "c"]]))
    for folder in folders:
        data, notes, note = draw(examples_json(rng))
        prefix = "root" if folder == "." else f"root/{folder}"
        case.files[f"{prefix}/examples.json"] = data
        case.note += f" {folder}: {note}"
        audio = []
        for name in sorted(notes)[:MAX_NSYNTH_READS]:
            kind = draw(st.sampled_from(AUDIO_KINDS))
            audio.append(f"{name[:40]!r}:{kind}")
            rel = f"{prefix}/audio/{name}.wav"
            if kind.startswith("link"):
                case.links[rel] = {
                    "link-outside": "../" * (rel.count("/")) + "outside.wav",
                    "link-loop": f"{Path(rel).name}",
                    "link-dangling": "nowhere.wav",
                }[kind]
            elif kind != "missing":
                case.files[rel] = {
                    "sine": note_wav(16000, "sine"),
                    "sine-44100": note_wav(44100, "sine"),
                    "silent": note_wav(16000, "silent"),
                    "empty": b"",
                    "random": random_bytes(rng, 300),
                    "directory": None,
                }[kind]
        if audio:
            case.note += f" audio[{', '.join(audio)}]"
    return case
