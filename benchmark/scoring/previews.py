"""Sample previews: a few of one episode's samples, kept as files a person can open.

When ``fsmb eval --samples N`` scores a run, the samples drawn for its first test
episode (in manifest order) are also written next to the run's records, in the folder
``<records stem>.samples/``:

- ``previews.json``: the run key, method, track, K, modality, episode id and artist, and
  one entry per sample: its ``file`` (or ``null``) and the sample itself — ``tokens``
  (MIDI event tokens), ``levels`` (audio: the ``64 x 64`` log-mel levels, row-major) or
  ``text`` (lyrics);
- ``sample-<i>.mid`` (MIDI, `episodes.encoding.write_midi`) or ``sample-<i>.wav``
  (audio, 16 kHz, `episodes.audio_encoding.to_waveform`: Griffin-Lim from the
  spectrogram, so it sounds rougher than the model's spectrogram is).

`read_previews` reads such a folder back for the leaderboard site and checks it: a
preview folder is data from whoever wrote the results, so file names are confined to
the folder and every figure and file is bounded (`PreviewError` otherwise).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from episodes.atomic import atomic_path, write_text

FORMAT = "fsmb-previews-1"
INDEX = "previews.json"
SUFFIX = ".samples"
MAX_PREVIEWS = 4  # samples kept per run
MAX_FILE_BYTES = 4 << 20  # a preview's .mid or .wav
MAX_INDEX_BYTES = 8 << 20
_FILE = re.compile(r"sample-\d{1,2}\.(mid|wav)")


class PreviewError(ValueError):
    """A preview folder that is malformed or not confined to itself."""


@dataclass(frozen=True)
class Preview:
    """One kept sample: ``file`` is the absolute path of its ``.mid``/``.wav`` (or None);
    exactly one of ``tokens`` (MIDI tokens), ``levels`` (audio, shape ``(64, 64)``,
    uint8 0..255) and ``text`` (lyrics) is set."""

    file: Path | None
    tokens: np.ndarray | None = None
    levels: np.ndarray | None = None
    text: str | None = None


@dataclass(frozen=True)
class Previews:
    """The previews of one run (see the module docstring)."""

    run_key: str
    method: str
    track: str
    shots: int
    modality: str
    episode_id: str
    artist: str
    samples: tuple[Preview, ...]


def preview_folder(records_path: Path) -> Path:
    """``<stem>.samples`` beside ``<stem>.jsonl``."""
    return records_path.with_name(records_path.name.removesuffix(".jsonl") + SUFFIX)


def write_previews(
    folder: Path,
    *,
    run_key: str,
    method: str,
    track: str,
    shots: int,
    modality: str,
    episode_id: str,
    artist: str,
    drawn: Sequence[np.ndarray | str],
) -> None:
    """Write up to `MAX_PREVIEWS` of ``drawn`` (MIDI token arrays, audio level arrays or
    lyrics texts) as ``folder`` (each file atomically; the index last)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, sample in enumerate(list(drawn)[:MAX_PREVIEWS]):
        if modality == "lyrics":
            entries.append({"file": None, "text": str(sample)})
        elif modality == "midi":
            from episodes.encoding import decode, write_midi

            name = f"sample-{i}.mid"
            with atomic_path(folder / name) as tmp:
                write_midi(decode(np.asarray(sample), strict=False), tmp)
            entries.append({"file": name, "tokens": [int(t) for t in sample]})
        elif modality == "audio":
            from episodes.audio import write_note
            from episodes.audio_encoding import SHAPE, to_waveform

            name = f"sample-{i}.wav"
            levels = np.asarray(sample).astype(np.int64).ravel()
            write_note(folder / name, to_waveform(levels.reshape(SHAPE)))
            entries.append({"file": name, "levels": levels.tolist()})
        else:
            raise ValueError(f"no previews for modality {modality!r}")
    index = {
        "format": FORMAT,
        "run_key": run_key,
        "method": method,
        "track": track,
        "shots": shots,
        "modality": modality,
        "episode_id": episode_id,
        "artist": artist,
        "samples": entries,
    }
    write_text(folder / INDEX, json.dumps(index, indent=1))


def read_previews(folder: Path) -> Previews:
    """The previews in ``folder``, checked (`PreviewError` naming the problem)."""
    from episodes.audio_encoding import LEVELS, N_DIMS, SHAPE
    from episodes.encoding import VOCAB_SIZE

    index_path = folder / INDEX
    if not index_path.is_file() or index_path.stat().st_size > MAX_INDEX_BYTES:
        raise PreviewError(f"{index_path}: missing or larger than {MAX_INDEX_BYTES >> 20} MiB")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PreviewError(f"{index_path}: not JSON ({exc})") from None
    fields = {
        "run_key": str,
        "method": str,
        "track": str,
        "shots": int,
        "modality": str,
        "episode_id": str,
        "artist": str,
        "samples": list,
    }
    if (
        not isinstance(index, dict)
        or index.get("format") != FORMAT
        or not all(isinstance(index.get(k), t) for k, t in fields.items())
    ):
        raise PreviewError(f"{index_path}: not a preview index of format {FORMAT}")
    samples = []
    for entry in index["samples"][:MAX_PREVIEWS]:
        if not isinstance(entry, dict):
            raise PreviewError(f"{index_path}: a sample entry is not an object")
        file = None
        if entry.get("file") is not None:
            name = entry["file"]
            if not isinstance(name, str) or not _FILE.fullmatch(name):
                raise PreviewError(f"{index_path}: sample file {name!r} is not sample-<i>.mid or sample-<i>.wav")
            file = folder / name
            if not file.is_file() or file.is_symlink() or file.stat().st_size > MAX_FILE_BYTES:
                raise PreviewError(f"{file}: missing, a link, or larger than {MAX_FILE_BYTES >> 20} MiB")
        if index["modality"] == "midi":
            tokens = np.asarray(entry.get("tokens"))
            if (
                tokens.ndim != 1
                or tokens.dtype.kind != "i"
                or (tokens.size and (tokens.min() < 0 or tokens.max() >= VOCAB_SIZE))
            ):
                raise PreviewError(f"{index_path}: MIDI sample tokens must be a list of token ids")
            samples.append(Preview(file, tokens=tokens))
        elif index["modality"] == "audio":
            levels = np.asarray(entry.get("levels"))
            if levels.shape != (N_DIMS,) or levels.dtype.kind != "i" or levels.min() < 0 or levels.max() >= LEVELS:
                raise PreviewError(f"{index_path}: audio sample levels must be {N_DIMS} integers in 0..{LEVELS - 1}")
            samples.append(Preview(file, levels=levels.reshape(SHAPE).astype(np.uint8)))
        elif isinstance(entry.get("text"), str):
            samples.append(Preview(None, text=entry["text"]))
        else:
            raise PreviewError(f"{index_path}: a lyrics sample needs its text")
    return Previews(**{k: index[k] for k in fields if k != "samples"}, samples=tuple(samples))
