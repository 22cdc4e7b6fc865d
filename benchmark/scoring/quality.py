"""Sample quality per episode: an adapted model's samples against the query set.

`episode_quality` draws ``n`` samples from an adapted model (seeded by the run seed
and the episode id) and scores them with the metrics of the track's modality:
`benchmark.scoring.text_quality` for lyrics (the sample texts are kept in the record),
`benchmark.scoring.audio_quality` for audio (figures only: samples are 4,096 levels each;
plus the adapted model's latent ``diagnostics()``, if it has them, as ``geometry``).
Modalities without sample metrics yet (MIDI) return ``None``.  Undefined figures
(``nan``) are stored as ``None``.
"""

from __future__ import annotations

import math
import zlib
from typing import Sequence

import numpy as np

from benchmark.contract.protocol import Adapted
from episodes import text_encoding
from episodes.types import Item

MODALITIES_WITH_QUALITY = ("lyrics", "audio")


def directions() -> dict[str, str]:
    """Which way is better for every sample-quality figure (``lower`` / ``higher``)."""
    from benchmark.scoring.audio_quality import DIRECTIONS as AUDIO
    from benchmark.scoring.text_quality import DIRECTIONS as TEXT

    return {**TEXT, **AUDIO}


def sample_generator(seed: int, episode_id: str) -> np.random.Generator:
    """The generator for one episode's samples: the same on every machine and rerun."""
    return np.random.default_rng([seed, zlib.crc32(episode_id.encode())])


def episode_quality(
    modality: str, adapted: Adapted, query: Sequence[Item], *, n: int, max_len: int, generator: np.random.Generator
) -> dict | None:
    """Sample-quality figures (and the samples) of one adapted model, or ``None`` when
    the modality has no sample metrics."""
    if modality not in MODALITIES_WITH_QUALITY:
        return None
    if modality == "audio":
        from benchmark.scoring.audio_quality import audio_quality

        drawn = adapted.sample(n, max_len=max_len, generator=generator)
        geometry = adapted.diagnostics() if hasattr(adapted, "diagnostics") else None
        return {"metrics": _defined(audio_quality(drawn, [it.tokens for it in query]).to_dict()), "samples": None,
                "geometry": _defined(geometry) if geometry else None}
    from benchmark.scoring.text_quality import text_quality

    samples = [text_encoding.decode(s, strict=False) for s in adapted.sample(n, max_len=max_len, generator=generator)]
    references = [text_encoding.decode(it.tokens, strict=False) for it in query]
    return {"metrics": _defined(text_quality(samples, references).to_dict()), "samples": samples}


def _defined(figures: dict) -> dict:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()}
