"""The source contract: list the pieces of a collection, then read one piece."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


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

    def part_index(self) -> int:
        """``part``, in a source whose every piece is one of its file's several."""
        if self.part is None:
            raise SkipItem(f"{self.item_id}: names no piece of {self.path}")
        return self.part


class Source(Protocol):
    """A collection of pieces grouped by artist.

    ``codec`` names the `episodes.codecs` codec that turns what `read` returns into
    tokens; ``dedupe``: drop exact duplicates (same tokens) when the store is built;
    ``parallel``: parse in worker processes (off for sources held in memory);
    ``dependencies``: the libraries `read` parses with, checked before a build and
    part of the store's key (`episodes.dependencies`; ``()`` for none);
    ``parse_rate``: a measured `episodes.timing.Rate` of `read` plus encoding, for the
    estimate a build prints first (optional; without it none is printed).  Each is
    read only, so a class constant or an instance attribute will do.
    """

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def codec(self) -> str: ...

    @property
    def dedupe(self) -> bool: ...

    @property
    def parallel(self) -> bool: ...

    @property
    def dependencies(self) -> tuple[str, ...]: ...

    def list_pieces(self) -> list[PieceRef]:
        """All pieces, sorted by ``item_id``."""

    def cache_key(self) -> str:
        """A key that changes whenever the raw inputs (or this reader) change."""

    def read(self, ref: PieceRef) -> Any:
        """One piece's content for the codec (a note list, a normalised text); raises
        `SkipItem` (or anything else) on unusable input, which the store reports."""


class SkipItem(Exception):
    """An input that is unusable as a benchmark item (empty, drum-only, invalid
    UTF-8, ...): the store reports it with this message and goes on."""


class UnreadableItem(SkipItem):
    """An input its parser cannot read (corrupt, truncated, not of its format).  The
    store reports it like any `SkipItem`, and also counts it: when most pieces of a
    build are unreadable for one reason, the environment is suspected, not the data
    (`episodes.store`)."""


class DataError(ValueError):
    """A data location or dataset that cannot be used, with how to fix it."""


def normalise_artist(name: str) -> str:
    """The artist key used for splitting: NFC, case-folded, single-spaced."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def is_unicode(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (no lone surrogates, which JSON escapes and
    ``surrogateescape`` decoding can produce)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def plain_file_name(name: str) -> bool:
    """Whether ``name`` can be one file name under a dataset root: not empty, ``.``
    or ``..``, no path separator, NUL or lone surrogate."""
    return name not in ("", ".", "..") and not set(name) & {"/", "\\", "\x00"} and is_unicode(name)


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing (`DataError`) any path that escapes ``root`` or
    cannot be resolved (a symlink loop, a NUL byte, a lone surrogate)."""
    root = root.resolve()
    try:
        path = (root / relative).resolve()
    except (RuntimeError, ValueError, OSError) as exc:  # RuntimeError: symlink loop
        raise DataError(f"path {relative!r} under {root} cannot be resolved ({exc})") from None
    if not path.is_relative_to(root):
        raise DataError(f"path {relative!r} escapes the dataset root {root}")
    return path
