"""Files grouped into one folder per artist: ``ROOT/<artist>/<piece><suffix>``.

Files deeper than one folder, directly under ``ROOT`` or hidden are ignored; symlinks
that point outside ``ROOT`` are refused.  Subclasses say which suffixes they read and
how (`read`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

from episodes.sources.base import DataError, PieceRef, safe_join


class ArtistFolderSource:
    """Pieces are the files one folder deep; the folder name is the artist."""

    name: ClassVar[str]
    version: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DataError(f"--data-dir {root}: no such directory (expected {self.layout()})")

    @classmethod
    def layout(cls) -> str:
        return f"ROOT/<artist>/<piece>{cls.suffixes[0]}"

    def _files(self) -> list[Path]:
        files = sorted(
            p
            for p in self.root.glob("*/*")
            if p.suffix.lower() in self.suffixes and p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise DataError(
                f"--data-dir {self.root}: no {'/'.join(self.suffixes)} files found one folder deep "
                f"(expected {self.layout()})"
            )
        return files

    def cache_key(self) -> str:
        """Changes when any file is added, removed, resized or touched."""
        h = hashlib.sha256(f"{self.version}\x00{self.root}".encode())
        for p in self._files():
            st = p.stat()
            h.update(f"{p.relative_to(self.root).as_posix()}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
        return f"{self.name}-{h.hexdigest()[:16]}"

    def list_pieces(self) -> list[PieceRef]:
        pieces = []
        for path in self._files():
            rel = path.relative_to(self.root).as_posix()
            safe_join(self.root, rel)  # refuses symlinks escaping the root
            pieces.append(PieceRef(rel, path.parent.name, path.stem, rel))
        return pieces

    def path(self, ref: PieceRef) -> Path:
        """The file of ``ref``, checked to lie inside ``root``."""
        return safe_join(self.root, ref.path)
