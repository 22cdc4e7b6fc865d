"""Files grouped into one folder per artist, ``ROOT/<artist>/<piece><suffix>``, or a
tree of files whose names carry the artist (``artist_from``, ``--artist-from``).

Folder layout: files deeper than one folder, directly under ``ROOT`` or hidden are
ignored.  File-name layout (e.g. ``artist_from="{artist} - {title}"`` for
``Composer - Title.mid``): files are found recursively under ``ROOT`` (hidden files
and folders ignored) and the pattern is matched against the whole file stem --
``{artist}`` and ``{title}`` capture (shortest match first), any other ``{name}``
matches anything, other text is literal (``{{``/``}}`` for braces); the item id is
the path relative to ``ROOT``.  Files whose stem does not match are left out and
counted in `listing()` (the build report's ``source_listing``); the pattern is part
of the source version, so it keys the corpus cache.  Symlinks that point outside
``ROOT`` are refused.  Subclasses say which suffixes they read and how (`read`).
"""

from __future__ import annotations

import hashlib
import re
import string
from pathlib import Path
from typing import ClassVar

from episodes.sources.base import DataError, PieceRef, safe_join

CAPTURED = ("artist", "title")


def compile_artist_pattern(pattern: str) -> re.Pattern:
    """An anchored regex (use ``fullmatch``) for a file-stem pattern such as
    ``"{artist} - {title}"``: named groups ``artist`` and ``title``, other fields
    wildcards, literal text escaped."""
    where = f"--artist-from {pattern!r}"
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise DataError(f"{where}: {exc}; write fields as {{artist}} or {{title}} and braces as {{{{ }}}}") from None
    regex, seen = [], set()
    for literal, field, spec, conversion in parts:
        regex.append(re.escape(literal))
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise DataError(
                f"{where}: bad field {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}; use plain names such as {{artist}}, {{title}}, {{any}}"
            )
        if field in CAPTURED:
            regex.append(f"(?P={field})" if field in seen else f"(?P<{field}>.+?)")
            seen.add(field)
        else:
            regex.append(".*?")
    if "artist" not in seen:
        raise DataError(f'{where}: no {{artist}} field; e.g. --artist-from "{{artist}} - {{title}}"')
    return re.compile("".join(regex), re.DOTALL)


class ArtistFolderSource:
    """Pieces are the files one folder deep, the folder name being the artist; or,
    with ``artist_from``, the files under ``root`` whose stem matches that pattern."""

    name: ClassVar[str]
    version: str  # a class constant; with ``artist_from`` the instance adds the pattern
    suffixes: ClassVar[tuple[str, ...]]
    dependencies: ClassVar[tuple[str, ...]] = ()  # the parsing libraries (`episodes.sources.base.Source`)

    def __init__(self, root: Path, *, artist_from: str | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.artist_from = artist_from
        self.pattern = None if artist_from is None else compile_artist_pattern(artist_from)
        if artist_from is not None:
            self.version = f"{type(self).version}-from:{artist_from}"
        if not self.root.is_dir():
            raise DataError(f"--data-dir {root}: no such directory (expected {self.layout()})")

    def layout(self) -> str:
        if self.artist_from is not None:
            return f"ROOT/**/{self.artist_from}{self.suffixes[0]}"
        return f"ROOT/<artist>/<piece>{self.suffixes[0]}"

    def _scan(self) -> tuple[list[tuple[Path, str, str]], list[Path]]:
        """(matched files with artist and title, files left out by the pattern)."""
        if self.pattern is None:
            found = self.root.glob("*/*")
        else:
            found = (
                p
                for p in self.root.rglob("*")
                if not any(part.startswith(".") for part in p.relative_to(self.root).parts)
            )
        files = sorted(
            p for p in found if p.suffix.lower() in self.suffixes and p.is_file() and not p.name.startswith(".")
        )
        deep = "one folder deep" if self.pattern is None else "under it"
        if not files:
            raise DataError(
                f"--data-dir {self.root}: no {'/'.join(self.suffixes)} files found {deep} (expected {self.layout()})"
            )
        if self.pattern is None:
            return [(p, p.parent.name, p.stem) for p in files], []
        matched, unmatched = [], []
        for p in files:
            m = self.pattern.fullmatch(p.stem)
            artist = m.group("artist").strip() if m else ""
            if m and artist:
                title = m.group("title").strip() if "title" in self.pattern.groupindex else p.stem
                matched.append((p, artist, title or p.stem))
            else:
                unmatched.append(p)
        if not matched:
            raise DataError(
                f"--data-dir {self.root}: no file name matches --artist-from {self.artist_from!r} "
                f'(e.g. {unmatched[0].name!r}); fix the pattern, e.g. "{{artist}} - {{title}}"'
            )
        return matched, unmatched

    def _files(self) -> list[Path]:
        return [p for p, _, _ in self._scan()[0]]

    def listing(self) -> dict | None:
        """With ``artist_from``: files matched and left out (the first few named)."""
        if self.pattern is None:
            return None
        matched, unmatched = self._scan()
        return {
            "artist_from": self.artist_from,
            "files": len(matched) + len(unmatched),
            "matched": len(matched),
            "unmatched": len(unmatched),
            "unmatched_examples": [p.relative_to(self.root).as_posix() for p in unmatched[:5]],
        }

    def cache_key(self) -> str:
        """Changes when any file is added, removed, resized or touched."""
        h = hashlib.sha256(f"{self.version}\x00{self.root}".encode())
        for p in self._files():
            st = p.stat()
            h.update(f"{p.relative_to(self.root).as_posix()}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
        return f"{self.name}-{h.hexdigest()[:16]}"

    def list_pieces(self) -> list[PieceRef]:
        pieces = []
        for path, artist, title in self._scan()[0]:
            rel = path.relative_to(self.root).as_posix()
            safe_join(self.root, rel)  # refuses symlinks escaping the root
            pieces.append(PieceRef(rel, artist, title, rel))
        return pieces

    def path(self, ref: PieceRef) -> Path:
        """The file of ``ref``, checked to lie inside ``root``."""
        return safe_join(self.root, ref.path)
