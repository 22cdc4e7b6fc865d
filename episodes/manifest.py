"""Seeded episode drawing and fixed, checksummed episode manifests.

Episode ``i`` of a split is drawn from two generators seeded with
``numpy.random.default_rng([seed, split_code, i])`` (artist, uniform over eligible
artists) and ``default_rng([seed, split_code, i, 1])`` (a permutation of the
artist's items): the query set is the first Q items of the permutation and the
support set the next K.  So, for one episode index, the query set is the same at
every K and the support sets are nested (K = 1 within K = 2 within ...), as long as
the eligible artists are the same -- which makes shots curves paired comparisons.

A manifest's ``sha256`` is taken over its canonical JSON content (everything but
the hash itself), which includes the corpus fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from episodes.atomic import canonical_json, write_json

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
MANIFEST_FORMAT = 1


class ManifestError(ValueError):
    """A manifest that does not match its hash, its corpus or its track."""


@dataclass(frozen=True)
class EpisodeSpec:
    """An episode by item ids: what a manifest stores."""

    episode_id: str
    artist: str
    support: tuple[str, ...]
    query: tuple[str, ...]


def eligible_artists(pool: Mapping[str, Sequence[str]], need: int) -> tuple[list[str], list[str]]:
    """(eligible, ineligible) artists: eligible ones have at least ``need`` items."""
    eligible = sorted(a for a, ids in pool.items() if len(ids) >= need)
    ineligible = sorted(a for a, ids in pool.items() if len(ids) < need)
    return eligible, ineligible


class EpisodeDrawer:
    """Draws episode ``i`` deterministically from ``(seed, split, i)``.

    ``pool`` maps artist -> item ids; ids are sorted here so that the draw does not
    depend on the order the pool was built in.
    """

    def __init__(
        self, pool: Mapping[str, Sequence[str]], *, shots: int, query_size: int, seed: int, split: str
    ) -> None:
        if shots < 0 or query_size < 1:
            raise ValueError(f"need shots >= 0 and query size >= 1, got K={shots}, Q={query_size}")
        self.shots, self.query_size, self.seed, self.split = shots, query_size, seed, split
        self.code = SPLIT_CODES[split]
        self.artists, self.ineligible = eligible_artists(pool, shots + query_size)
        if not self.artists:
            raise ManifestError(
                f"no {split} artist has the {shots + query_size} items that K={shots}, "
                f"Q={query_size} needs; lower --shots or add data"
            )
        self.ids = [sorted(pool[a]) for a in self.artists]

    def draw(self, index: int) -> EpisodeSpec:
        a = int(np.random.default_rng([self.seed, self.code, index]).integers(len(self.artists)))
        ids = self.ids[a]
        perm = np.random.default_rng([self.seed, self.code, index, 1]).permutation(len(ids))
        q = self.query_size
        return EpisodeSpec(
            episode_id=f"{self.split}-{index:05d}",
            artist=self.artists[a],
            support=tuple(ids[j] for j in perm[q : q + self.shots]),
            query=tuple(ids[j] for j in perm[:q]),
        )


@dataclass(frozen=True)
class Manifest:
    """A fixed list of episodes for one (track, split, K, Q)."""

    track: str
    track_version: int
    split: str
    shots: int
    query_size: int
    seed: int
    corpus_fingerprint: str
    episodes: tuple[EpisodeSpec, ...]

    def content(self) -> dict:
        return {
            "format": MANIFEST_FORMAT,
            "track": self.track,
            "track_version": self.track_version,
            "split": self.split,
            "shots": self.shots,
            "query_size": self.query_size,
            "seed": self.seed,
            "corpus_fingerprint": self.corpus_fingerprint,
            "episodes": [
                {"id": e.episode_id, "artist": e.artist, "support": list(e.support), "query": list(e.query)}
                for e in self.episodes
            ],
        }

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical_json(self.content())).hexdigest()

    def save(self, path: Path) -> None:
        write_json(path, {**self.content(), "sha256": self.sha256}, indent=None)

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        """Load and check the stored hash against the content."""
        try:
            data = json.loads(Path(path).read_text())
            manifest = cls(
                track=data["track"],
                track_version=data["track_version"],
                split=data["split"],
                shots=data["shots"],
                query_size=data["query_size"],
                seed=data["seed"],
                corpus_fingerprint=data["corpus_fingerprint"],
                episodes=tuple(
                    EpisodeSpec(e["id"], e["artist"], tuple(e["support"]), tuple(e["query"])) for e in data["episodes"]
                ),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"{path}: not a readable manifest ({exc}); delete it to regenerate") from exc
        if manifest.sha256 != data.get("sha256"):
            raise ManifestError(
                f"{path}: content hash {manifest.sha256[:12]} != recorded {str(data.get('sha256'))[:12]}; "
                "the file was edited or corrupted -- delete it to regenerate"
            )
        return manifest


def draw_manifest(
    pool: Mapping[str, Sequence[str]],
    *,
    track: str,
    track_version: int,
    split: str,
    shots: int,
    query_size: int,
    n_episodes: int,
    seed: int,
    corpus_fingerprint: str,
) -> Manifest:
    drawer = EpisodeDrawer(pool, shots=shots, query_size=query_size, seed=seed, split=split)
    return Manifest(
        track=track,
        track_version=track_version,
        split=split,
        shots=shots,
        query_size=query_size,
        seed=seed,
        corpus_fingerprint=corpus_fingerprint,
        episodes=tuple(drawer.draw(i) for i in range(n_episodes)),
    )
