"""A directory of MIDI files laid out ``ROOT/<artist>/<song>.mid`` (or ``.midi``).

This is the layout of Lakh MIDI ``clean_midi`` (``Artist/Title.mid``, with
``Title.1.mid`` for alternative versions) and of the AI-ON freemidi data.  Files
deeper than one folder are ignored, as are files directly under ``ROOT``; symlinks
that point outside ``ROOT`` are refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from episodes.encoding import Note
from episodes.midi_notes import read_midi_notes
from episodes.sources.base import DataError, PieceRef, safe_join

MIDI_SUFFIXES = (".mid", ".midi")


class MidiDirSource:
    """MIDI files grouped by their parent folder (the artist)."""

    name = "midi-dir"
    version = "dir-v1"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DataError(f"--data-dir {root}: no such directory (expected ROOT/<artist>/<song>.mid)")

    def _files(self) -> list[Path]:
        files = sorted(
            p
            for p in self.root.glob("*/*")
            if p.suffix.lower() in MIDI_SUFFIXES and p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise DataError(
                f"--data-dir {self.root}: no .mid/.midi files found one folder deep "
                "(expected ROOT/<artist>/<song>.mid)"
            )
        return files

    def cache_key(self) -> str:
        """Changes when any file is added, removed, resized or touched."""
        h = hashlib.sha256(f"{self.version}\x00{self.root}".encode())
        for p in self._files():
            st = p.stat()
            h.update(f"{p.relative_to(self.root).as_posix()}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
        return f"midi-dir-{h.hexdigest()[:16]}"

    def list_pieces(self) -> list[PieceRef]:
        pieces = []
        for path in self._files():
            rel = path.relative_to(self.root).as_posix()
            safe_join(self.root, rel)  # refuses symlinks escaping the root
            pieces.append(PieceRef(rel, path.parent.name, path.stem, rel))
        return pieces

    def read_notes(self, ref: PieceRef) -> list[Note]:
        return read_midi_notes(safe_join(self.root, ref.path))
