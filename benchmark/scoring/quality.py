"""Sample quality per episode: an adapted model's samples against the query set.

`episode_quality` draws ``n`` samples from an adapted model (seeded by the run seed
and the episode id) and scores them with the metrics of the track's modality:
`benchmark.scoring.text_quality` for lyrics (the sample texts are kept in the record),
`benchmark.scoring.midi_quality` for MIDI (the sample token streams are kept in the
record as lists of ints, so piano rolls and ``.mid`` files can be made from them with
`episodes.encoding.decode` and `episodes.encoding.write_midi`),
`benchmark.scoring.audio_quality` for audio (figures only: samples are 4,096 levels each;
plus the adapted model's latent ``diagnostics()``, if it has them, as ``geometry``).
Other modalities return ``None``.  Undefined figures (``nan``) are stored as ``None``.
"""

from __future__ import annotations

import math
import zlib
from typing import Callable, Sequence

import numpy as np

from benchmark.contract.protocol import Adapted
from episodes import encoding, text_encoding
from episodes.types import Item

MODALITIES_WITH_QUALITY = ("lyrics", "audio", "midi")


def directions() -> dict[str, str]:
    """Which way is better for every sample-quality figure (``lower`` / ``higher`` /
    ``closer to <name>_reference``)."""
    from benchmark.scoring.audio_quality import DIRECTIONS as AUDIO
    from benchmark.scoring.midi_quality import DIRECTIONS as MIDI
    from benchmark.scoring.text_quality import DIRECTIONS as TEXT

    return {**TEXT, **AUDIO, **MIDI}


def sample_generator(seed: int, episode_id: str) -> np.random.Generator:
    """The generator for one episode's samples: the same on every machine and rerun."""
    return np.random.default_rng([seed, zlib.crc32(episode_id.encode())])


def episode_quality(
    modality: str,
    adapted: Adapted,
    query: Sequence[Item],
    *,
    n: int,
    max_len: int,
    generator: np.random.Generator,
    keep: Callable[[list], None] | None = None,
) -> dict | None:
    """Sample-quality figures (and the samples) of one adapted model, or ``None`` when
    the modality has no sample metrics.  ``keep``, if given, receives the samples as
    drawn (lyrics: texts; MIDI: token arrays; audio: level arrays), e.g. to write
    previews (`benchmark.scoring.previews`)."""
    if modality not in MODALITIES_WITH_QUALITY:
        return None
    drawn = adapted.sample(n, max_len=max_len, generator=generator)
    if modality == "lyrics":
        drawn = [text_encoding.decode(s, strict=False) for s in drawn]
    if keep is not None:
        keep(drawn)
    if modality == "audio":
        from benchmark.scoring.audio_quality import audio_quality

        geometry = adapted.diagnostics() if hasattr(adapted, "diagnostics") else None
        return {
            "metrics": _defined(audio_quality(drawn, [it.tokens for it in query]).to_dict()),
            "samples": None,
            "geometry": _defined(geometry) if geometry else None,
        }
    if modality == "midi":
        from benchmark.scoring.midi_quality import midi_quality

        tokens = [[int(t) for t in s] for s in drawn]
        samples = [encoding.decode(s, strict=False) for s in tokens]
        references = [encoding.decode(it.tokens, strict=False) for it in query]
        return {"metrics": _defined(midi_quality(samples, references).to_dict()), "samples": tokens}
    from benchmark.scoring.text_quality import text_quality

    references = [text_encoding.decode(it.tokens, strict=False) for it in query]
    return {"metrics": _defined(text_quality(drawn, references).to_dict()), "samples": drawn}


def _defined(figures: dict) -> dict:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in figures.items()}
