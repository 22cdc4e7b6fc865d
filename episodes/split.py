"""Artist-disjoint meta-train / meta-val / meta-test split by salted hash, or pinned.

Each artist's split depends only on its own normalised key and the salt, so adding
or removing an artist never moves another one -- with one exception for small
collections (`hashed_split`): when at least `GUARANTEE_MIN_ELIGIBLE` (5) artists are
eligible (>= K + Q items) in all, val and test are guaranteed 2 eligible artists
each and train 1.  A split short of its minimum takes, one at a time, the eligible
artist of a donor split (train first, else the other evaluation split; a donor
keeps its own minimum) whose hash value lies nearest to the short split's hash
interval on the unit circle (val takes train's highest values, test train's lowest,
since test's interval [0.9, 1) wraps round to train's [0, 0.8)), ties by name.  So
each move fixes one missing artist (the fewest moves possible), no move happens
when every split has its minimum, and the moves are returned (`SplitResult.moves`)
and printed by ``fsmb data build``.  Artists sharing a normalised key are never
moved apart.  5 is the smallest total that can meet 2 + 2 + 1; below it nothing
moves (and ``fsmb data build`` warns).

A split can also be pinned from a file (`episodes.split_file`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

from episodes.atomic import canonical_json
from episodes.sources.base import normalise_artist

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
HASHED_KEY = "hash-v1"  # the plain hashed split (what the committed manifests use)
MOVED_KEY = "hash-v1+min2"  # the hashed split after guarantee moves (rule version 1)
GUARANTEE_MIN_ELIGIBLE = 5
MINIMUM_ELIGIBLE = {"train": 1, "val": 2, "test": 2}
DONORS = {"val": ("train", "test"), "test": ("train", "val"), "train": ("val", "test")}


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


@dataclass(frozen=True)
class Move:
    """One artist moved away from its hashed split (``unit``: its hash value)."""

    artist: str
    source: str
    target: str
    unit: float

    def describe(self) -> str:
        return f"{self.artist}: {self.source} -> {self.target} (hash {self.unit:.4f})"


@dataclass(frozen=True)
class SplitResult:
    """Sorted artists per split; ``key`` names how they were made (``hash-v1``,
    ``hash-v1+min2``, ``file-<sha256[:12]>``); ``moves``: guarantee moves;
    ``not_in_data``: artists a split file names that the data lacks."""

    splits: dict[str, list[str]]
    key: str
    moves: tuple[Move, ...] = ()
    not_in_data: tuple[str, ...] = ()

    def canonical(self) -> bytes:
        """Canonical JSON of the assignment, for hashing."""
        return canonical_assignment(self.splits)


def canonical_assignment(splits: Mapping[str, Iterable[str]]) -> bytes:
    """Canonical JSON bytes of artist lists per split (sorted; every split present)."""
    return canonical_json({s: sorted(splits.get(s, ())) for s in SPLITS})


def _interval(split: str, fractions: tuple[float, float, float]) -> tuple[float, float]:
    lo = {"train": 0.0, "val": fractions[0], "test": fractions[0] + fractions[1]}[split]
    return lo, lo + fractions[SPLITS.index(split)]


def circle_distance(u: float, interval: tuple[float, float]) -> float:
    """Distance from ``u`` to ``[lo, hi)`` on the unit circle (0 inside)."""
    lo, hi = interval
    if lo <= u < hi:
        return 0.0
    return min((lo - u) % 1.0, (u - hi) % 1.0)


def hashed_split(
    counts: Mapping[str, int],
    need: int,
    salt: str,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
) -> SplitResult:
    """The hashed split of the artists of ``counts`` (artist -> items), with the
    small-collection guarantee (module docstring); ``need``: K + Q."""
    splits = split_artists(counts, salt, fractions)
    eligible = {s: {a for a in names if counts[a] >= need} for s, names in splits.items()}
    if sum(len(v) for v in eligible.values()) < GUARANTEE_MIN_ELIGIBLE:
        return SplitResult(splits, HASHED_KEY)
    keys = Counter(normalise_artist(a) for a in counts)
    moves: list[Move] = []
    for target in ("val", "test", "train"):
        interval = _interval(target, fractions)
        while len(eligible[target]) < MINIMUM_ELIGIBLE[target]:
            candidates = [
                (rank, circle_distance(artist_unit(a, salt), interval), a, donor)
                for rank, donor in enumerate(DONORS[target])
                if len(eligible[donor]) > MINIMUM_ELIGIBLE[donor]
                for a in eligible[donor]
                if keys[normalise_artist(a)] == 1
            ]
            if not candidates:
                break
            _, _, artist, donor = min(candidates)
            eligible[donor].discard(artist)
            eligible[target].add(artist)
            splits[donor].remove(artist)
            splits[target] = sorted(splits[target] + [artist])
            moves.append(Move(artist, donor, target, artist_unit(artist, salt)))
    return SplitResult(splits, MOVED_KEY if moves else HASHED_KEY, tuple(moves))
