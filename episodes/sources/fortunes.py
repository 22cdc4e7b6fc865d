"""Debian's ``fortunes`` files as an artist-split text corpus (a *stand-in* for lyrics).

A fortune file holds entries separated by lines of a single ``%``.  Many entries end
with an attribution line ``-- Author[, "Title"][, date]`` (indented; a long one wraps
onto further indented lines).  The author is the attribution up to its first comma,
opening bracket, e-mail address (``Larry Wall in <...>``) or quoted title; a leading quoted title (``"Sniglets", Rich Hall``)
is skipped; dates in brackets and trailing full stops go.  Authors are grouped by
their normalised name (case-folded, single-spaced).

Only attributed entries by authors with at least ``min_entries`` entries become
pieces (K = 5 support + 4 query texts: the default episode); the others are counted in
`FortunesSource.listing` so that the build report can say what was left out.  The
text of an entry is everything above its attribution, normalised (`episodes.lyrics`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from episodes.lyrics import TEXT_NORM_VERSION, decode_utf8, normalise_text
from episodes.sources.base import (
    DataError,
    PieceRef,
    SkipItem,
    normalise_artist,
    safe_join,
)

DEFAULT_ROOT = Path("/usr/share/games/fortunes")
PARSER_VERSION = 2
_ATTRIBUTION = re.compile(r"^\s+--\s*(\S.*)$")
_LEADING_TITLE = re.compile(r'^"[^"]*"\s*,?\s*')
_AUTHOR_END = re.compile(r'\s*(?:,|\(|\[|<|\s"|;|:\s)')
_TRAILING_IN = re.compile(r"\s+in$")


@dataclass(frozen=True)
class Fortune:
    """One entry: its text (raw, not yet normalised) and author (``None``: unattributed)."""

    text: str
    author: str | None


def parse_author(attribution: str) -> str | None:
    """The author named by an attribution line (without its ``--``), or ``None``."""
    text = " ".join(attribution.split())
    stripped = _LEADING_TITLE.sub("", text)
    if stripped != text and stripped:  # "Title", Author
        text = stripped
    elif text.startswith('"'):  # only a quoted title: the work itself is the "author"
        text = text.strip('"').split('"')[0]
    author = _TRAILING_IN.sub("", _AUTHOR_END.split(text, maxsplit=1)[0].strip()).rstrip(".").strip()
    return author or None


def parse_fortunes(text: str) -> list[Fortune]:
    """The entries of one fortune file, in file order (empty entries included, so that
    an entry's index is stable)."""
    entries = []
    for block in re.split(r"^%[ \t]*$", text, flags=re.MULTILINE):
        lines = block.strip("\n").split("\n")
        starts = [(i, m) for i, line in enumerate(lines) if (m := _ATTRIBUTION.match(line))]
        if starts and all(line.startswith((" ", "\t")) or not line.strip() for line in lines[starts[-1][0] :]):
            first, match = starts[-1]
            attribution = " ".join([match.group(1)] + lines[first + 1 :])
            entries.append(Fortune("\n".join(lines[:first]), parse_author(attribution)))
        else:
            entries.append(Fortune("\n".join(lines), None))
    return entries


@functools.lru_cache(maxsize=64)
def _read_file(path: Path) -> tuple[Fortune, ...]:
    return tuple(parse_fortunes(decode_utf8(path.read_bytes())))


class FortunesSource:
    """Attributed fortunes grouped by author; ``root`` holds the fortune files."""

    name = "fortunes"
    codec, dedupe, parallel = "text-bytes", True, True
    dependencies: tuple[str, ...] = ()  # parsed by the standard library

    def __init__(self, root: Path | None = None, *, min_entries: int = 9) -> None:
        self.root = Path(root or DEFAULT_ROOT).expanduser().resolve()
        self.min_entries = min_entries
        self.version = f"fortunes-p{PARSER_VERSION}-n{TEXT_NORM_VERSION}-min{min_entries}"
        if not self.root.is_dir() or not self._files():
            raise DataError(
                f"no fortune files in {self.root}: install Debian's fortunes package "
                "(apt-get install fortunes) or pass --data-dir DIR holding %-separated fortune files"
            )

    def _files(self) -> list[Path]:
        """Fortune files: plain files without an extension (``.dat`` indexes and ``.u8``
        links are skipped), not hidden."""
        return sorted(p for p in self.root.iterdir() if p.is_file() and not p.suffix and not p.name.startswith("."))

    def cache_key(self) -> str:
        h = hashlib.sha256(f"{self.version}\x00{self.root}".encode())
        for p in self._files():
            st = p.stat()
            h.update(f"{p.name}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
        return f"fortunes-{h.hexdigest()[:16]}"

    def _scan(self) -> tuple[list[tuple[str, int, str]], int, list[str]]:
        """(file, entry index, raw author) of every attributed entry, the number of
        entries, and the files that could not be read (with why)."""
        attributed, n_entries, unreadable = [], 0, []
        for path in self._files():
            try:
                entries = _read_file(path)
            except SkipItem as exc:
                unreadable.append(f"{path.name}: {exc}")
                continue
            n_entries += len(entries)
            attributed += [(path.name, i, e.author) for i, e in enumerate(entries) if e.author and e.text.strip()]
        return attributed, n_entries, unreadable

    def listing(self) -> dict:
        """What the listing kept and left out: entries and authors, eligible or not."""
        attributed, n_entries, unreadable = self._scan()
        per_author = Counter(normalise_artist(a) for _, _, a in attributed)
        eligible = {a for a, n in per_author.items() if n >= self.min_entries}
        return {
            "entries": n_entries,
            "attributed_entries": len(attributed),
            "authors": len(per_author),
            "authors_with_min_entries": len(eligible),
            "entries_of_eligible_authors": sum(per_author[a] for a in eligible),
            "min_entries": self.min_entries,
            "unreadable_files": unreadable,
        }

    def list_pieces(self) -> list[PieceRef]:
        attributed, _, _ = self._scan()
        groups: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
        for entry in attributed:
            groups[normalise_artist(entry[2])].append(entry)
        pieces = []
        for entries in groups.values():
            if len(entries) < self.min_entries:
                continue
            display = Counter(a for _, _, a in entries).most_common(1)[0][0]  # the most used spelling
            pieces += [PieceRef(f"{f}/{i:05d}", display, f"{f} #{i}", f, i) for f, i, _ in entries]
        return sorted(pieces, key=lambda p: p.item_id)

    def read(self, ref: PieceRef) -> str:
        entry = _read_file(safe_join(self.root, ref.path))[ref.part_index()]
        return normalise_text(entry.text)
