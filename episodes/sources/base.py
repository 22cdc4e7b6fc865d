"""The source contract: list the pieces of a collection, then read one piece's notes."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from episodes.encoding import Note


@dataclass(frozen=True)
class PieceRef:
    """One piece to parse.

    ``item_id`` is stable and unique within the source (it names the piece in
    manifests); ``path`` is relative to the source root; ``part`` selects one piece
    inside a multi-piece file (an ABC tune number), or is ``None``.
    """

    item_id: str
    artist: str
    title: str
    path: str
    part: int | None = None


class Source(Protocol):
    """A collection of pieces grouped by artist."""

    name: str
    version: str

    def list_pieces(self) -> list[PieceRef]:
        """All pieces, sorted by ``item_id``."""

    def cache_key(self) -> str:
        """A key that changes whenever the raw inputs (or this reader) change."""

    def read_notes(self, ref: PieceRef) -> list[Note]:
        """The canonical note list of one piece; raises on unreadable input."""


class DataError(ValueError):
    """A data location or dataset that cannot be used, with how to fix it."""


def normalise_artist(name: str) -> str:
    """The artist key used for splitting: NFC, case-folded, single-spaced."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing any path that escapes ``root``."""
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise DataError(f"path {relative!r} escapes the dataset root {root}")
    return path
