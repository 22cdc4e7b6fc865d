"""Artist-disjoint meta-train / meta-val / meta-test split by salted hash.

Each artist's split depends only on its own normalised key and the salt, so adding
or removing an artist never moves another one.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

from episodes.sources.base import normalise_artist

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def artist_unit(artist: str, salt: str) -> float:
    """A uniform number in [0, 1) from sha256(salt + normalised artist)."""
    digest = hashlib.sha256(f"{salt}\x00{normalise_artist(artist)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(artist: str, salt: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for one artist."""
    u = artist_unit(artist, salt)
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "val"
    return "test"


def split_artists(
    artists: Iterable[str], salt: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> dict[str, list[str]]:
    """Sorted artist lists per split."""
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for artist in sorted(set(artists)):
        out[split_of(artist, salt, fractions)].append(artist)
    return out
