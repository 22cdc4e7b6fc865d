"""A pinned artist split, read from a file: ``--split-file``.

Datasets often ship their split as lists of artists.  Two forms are read: JSON
``{"train": [...], "val": [...], "test": [...]}`` and CSV/TSV with the header
``artist,split``.  Artist names are matched exactly as written; split names are
stripped and case-folded.  Every artist of the data must be assigned (an error
names how many are not); artists of the file that the data lacks are reported.
The split's key hashes the assignment of the data's artists (`pinned_split`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Iterable, Mapping

from episodes.sources.base import DataError
from episodes.split import SPLITS, SplitResult, canonical_assignment


def read_split_file(path: str | Path) -> dict[str, str]:
    """Artist -> split from a JSON ``{"train": [...], "val": [...], "test": [...]}``
    or a CSV/TSV file with the header ``artist,split``; names are kept exactly as
    written (split names are stripped and case-folded)."""
    path = Path(path).expanduser()
    where = f"--split-file {path}"
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    if not text.strip():
        raise DataError(
            f'{where}: the file is empty; give {{"train": [...], "val": [...], "test": [...]}} '
            "or a CSV with the header artist,split"
        )
    pairs: list[tuple[str, str]] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise DataError(
                f'{where}: expected an object {{"train": [...], "val": [...], "test": [...]}} of artist lists'
            )
        for split, names in data.items():
            for name in names:
                if not isinstance(name, str):
                    raise DataError(f"{where}: {split!r} lists {name!r}, not a string; quote artist names")
                pairs.append((name, split))
    else:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        header = [c.strip().casefold() for c in rows[0]]
        if "artist" not in header or "split" not in header:
            raise DataError(f"{where}: the first line must be the header artist,split (found {rows[0]!r})")
        a, s = header.index("artist"), header.index("split")
        for number, row in enumerate(rows[1:], 2):
            if not any(c.strip() for c in row):
                continue
            if len(row) <= max(a, s):
                raise DataError(f"{where}: line {number} has {len(row)} fields, expected artist,split")
            pairs.append((row[a], row[s]))
    if not pairs:
        raise DataError(f"{where}: lists no artists")
    out: dict[str, str] = {}
    for artist, split in pairs:
        split = split.strip().casefold()
        if split not in SPLITS:
            raise DataError(f"{where}: unknown split {split!r} for artist {artist!r}; use train, val or test")
        if out.setdefault(artist, split) != split:
            raise DataError(f"{where}: artist {artist!r} is listed in both {out[artist]} and {split}")
    return out


def pinned_split(assignment: Mapping[str, str], artists: Iterable[str], path: str | Path = "") -> SplitResult:
    """The split ``assignment`` (artist -> split) pins for ``artists``; every artist
    must be assigned (exact names).  Its key hashes the assignment of these artists."""
    artists = sorted(set(artists))
    missing = [a for a in artists if a not in assignment]
    if missing:
        first = ", ".join(repr(a) for a in missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise DataError(
            f"--split-file {path}: {len(missing)} artist(s) of the data are not in the file "
            f"({first}); list every artist, names exactly as in the data"
        )
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    for a in artists:
        splits[assignment[a]].append(a)
    present = set(artists)
    key = f"file-{hashlib.sha256(canonical_assignment(splits)).hexdigest()[:12]}"
    return SplitResult(splits, key, not_in_data=tuple(sorted(a for a in assignment if a not in present)))
