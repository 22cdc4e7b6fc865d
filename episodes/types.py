"""The values episodes are made of: items and episodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


@dataclass(frozen=True, eq=False)
class Item:
    """One song (or note) as a method sees it.

    ``tokens``: on sequence tracks (MIDI, lyrics) a ``uint16`` array of shape
    ``(n,)``, starting with BOS; it ends with EOS unless the song was cropped to the
    track's ``max_tokens`` (then it is a prefix).  On audio tracks a ``uint8`` array
    of quantised log-mel levels, shape ``(n_mels, n_frames)``
    (`episodes.audio_encoding`).  ``units`` counts what scores are normalised by:
    ``tokens`` (the predicted ones: ``n - 1`` for sequences, all of them for audio),
    ``notes`` (MIDI), ``characters`` (lyrics), ``dims`` (audio).
    """

    item_id: str
    artist: str
    tokens: np.ndarray
    units: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Episode:
    """A few-shot task: ``support`` songs to adapt on, ``query`` songs to score."""

    episode_id: str
    artist: str
    support: tuple[Item, ...]
    query: tuple[Item, ...]


def track_slug(name: str) -> str:
    """The one file-name form of a track name: ``midi/music21`` -> ``midi-music21``
    (result files, fitted-model folders, committed manifests)."""
    return name.replace("/", "-")
