"""Tracks: named, versioned benchmark configurations, and a loaded track's episodes.

A `TrackSpec` fixes source, encoding, split salt, default K and Q, crop length,
number of fixed val/test episodes and seed.  Changing any of them means a new
``version``, never an edit.  `Track` is a spec bound to a built corpus store and an
artist split: the hashed one (`episodes.split.hashed_split`, key ``hash-v1``, or
``hash-v1+min2`` when small-collection moves were needed) or one pinned by a split
file (key ``file-<sha256[:12]>``).  The split key names the cached manifests'
folder; `Track.data_key` (corpus fingerprint + split assignment) keys anything
fitted on the track.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from episodes.manifest import EpisodeDrawer, Manifest, ManifestError, draw_manifest
from episodes.sources.base import DataError, Source
from episodes.split import HASHED_KEY, MINIMUM_ELIGIBLE, SplitResult, hashed_split
from episodes.split_file import pinned_split, read_split_file
from episodes.store import CorpusStore, open_store
from episodes.types import Episode, Item, track_slug

# A directory of committed data (artist lists, fixed manifests) for built-in tracks.
DATA = resources.files("episodes") / "data"
# Below this many eligible test artists `fsmb data build` warns that the test CI says little.
FEW_TEST_ARTISTS = 5


def track_spec(name: str) -> TrackSpec:
    """The built-in track ``name``; an unknown name is a `DataError` suggesting close ones."""
    if name not in TRACKS:
        close = difflib.get_close_matches(name, list(TRACKS), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise DataError(f"unknown track {name!r}.{hint} Known: {', '.join(TRACKS)} (see `fsmb tracks`).")
    return TRACKS[name]


def published_tracks() -> list[str]:
    """The tracks with committed test manifests: the ones leaderboard submissions use."""
    return [name for name, spec in TRACKS.items() if (DATA / spec.slug / "manifests").is_dir()]


def default_cache() -> Path:
    """Where corpora are built and kept: ``$FSMB_CACHE``, else ``~/.cache/fsmb``."""
    return Path(os.environ.get("FSMB_CACHE", Path.home() / ".cache" / "fsmb"))


@dataclass(frozen=True)
class TrackSpec:
    """A benchmark configuration.  ``name`` is ``modality/source``."""

    name: str
    modality: str
    description: str
    source: str
    version: int = 1
    shots: int = 5
    query_size: int = 4
    max_tokens: int = 1024
    n_val: int = 200
    n_test: int = 600
    seed: int = 0
    split_salt: str = "fsmb-split-v1"
    needs_data_dir: bool = False
    stand_in: bool = False

    @property
    def slug(self) -> str:
        return track_slug(self.name)

    def to_dict(self) -> dict:
        return asdict(self)


TRACKS: dict[str, TrackSpec] = {
    spec.name: spec
    for spec in (
        TrackSpec(
            name="midi/music21",
            modality="midi",
            description="music21 core corpus grouped by composer / folk collection (offline default)",
            source="music21",
        ),
        TrackSpec(
            name="midi/dir",
            modality="midi",
            description="your MIDI files laid out ROOT/<artist>/<song>.mid (Lakh clean_midi, AI-ON freemidi)",
            source="midi-dir",
            needs_data_dir=True,
        ),
        TrackSpec(
            name="lyrics/fortunes",
            modality="lyrics",
            description="Debian's fortunes grouped by attributed author -- a STAND-IN for lyrics (offline default)",
            source="fortunes",
            stand_in=True,
        ),
        TrackSpec(
            name="lyrics/dir",
            modality="lyrics",
            description="your lyrics laid out ROOT/<artist>/<song>.txt (the AI-ON layout)",
            source="text-dir",
            max_tokens=2048,
            needs_data_dir=True,
        ),
        TrackSpec(
            name="lyrics/csv",
            modality="lyrics",
            description="your lyrics table (.csv/.json/.jsonl/.parquet; columns artist + lyrics/text)",
            source="table",
            max_tokens=2048,
            needs_data_dir=True,
        ),
        TrackSpec(
            name="lyrics/hf",
            modality="lyrics",
            description="a Hugging Face hub lyrics dataset, --data-dir hf:<owner>/<name> (needs the network once)",
            source="table",
            max_tokens=2048,
            needs_data_dir=True,
        ),
        TrackSpec(
            name="audio/gm-notes",
            modality="audio",
            description="isolated notes of 105 General MIDI instruments rendered from pretty_midi's soundfont "
            "with FluidSynth, NSynth format (offline default)",
            source="gm-notes",
        ),
        TrackSpec(
            name="audio/nsynth",
            modality="audio",
            description="NSynth (or any NSynth-format folder): examples.json + audio/, grouped by instrument",
            source="nsynth",
            needs_data_dir=True,
        ),
        TrackSpec(
            name="audio/folder",
            modality="audio",
            description="your audio folder with metadata.csv (file_name + artist/instrument column)",
            source="audio-folder",
            needs_data_dir=True,
        ),
    )
}


def data_root(spec: TrackSpec, data_dir: str | Path | None) -> Path:
    """``data_dir`` as the root of a track that reads a folder of the user's data."""
    if data_dir is None:
        raise DataError(f"track {spec.name} reads your data: pass --data-dir (see `fsmb tracks`)")
    return Path(data_dir)


def make_source(
    spec: TrackSpec, data_dir: str | Path | None, options: dict | None = None, *, cache_dir: Path | None = None
) -> Source:
    """The source a track reads, checking the data location it needs.

    ``data_dir``: a dataset root, a table file, or ``hf:<name>`` for ``lyrics/hf``;
    ``options``: source settings (table column names, hub split, a folder's
    ``artist_from`` file-name pattern) from the CLI;
    ``cache_dir``: where a rendered corpus (``audio/gm-notes``) is kept.
    """
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if spec.needs_data_dir:
        data_root(spec, data_dir)
    if spec.source == "music21":
        from episodes.sources.music21_corpus import Music21CorpusSource

        return Music21CorpusSource()
    if spec.source == "midi-dir":
        from episodes.sources.midi_dir import MidiDirSource

        return MidiDirSource(data_root(spec, data_dir), **options)
    if spec.source == "fortunes":
        from episodes.sources.fortunes import FortunesSource

        return FortunesSource(Path(data_dir) if data_dir else None)
    if spec.source == "text-dir":
        from episodes.sources.text_dir import TextDirSource

        return TextDirSource(data_root(spec, data_dir), **options)
    if spec.source == "table":
        from episodes.sources.tabular import HF_PREFIX, TabularSource

        location = str(data_dir)
        if (spec.name == "lyrics/hf") != location.startswith(HF_PREFIX):
            want = "hf:<owner>/<name>" if spec.name == "lyrics/hf" else "a table file (hub datasets: lyrics/hf)"
            raise DataError(f"track {spec.name}: --data-dir {location!r} should be {want}")
        return TabularSource(location, **options)
    if spec.source == "gm-notes":
        from episodes.sources.gm_notes import GMNotesSource

        if cache_dir is None:
            raise DataError(f"track {spec.name}: needs a cache directory to render into")
        return GMNotesSource(Path(cache_dir) / "renders")
    if spec.source == "nsynth":
        from episodes.sources.nsynth import NSynthSource

        return NSynthSource(data_root(spec, data_dir))
    if spec.source == "audio-folder":
        from episodes.sources.audio_folder import AudioFolderSource

        return AudioFolderSource(data_root(spec, data_dir), **options)
    raise DataError(f"track {spec.name}: unknown source kind {spec.source!r}")


class Track:
    """A track bound to its built corpus: splits, manifests and materialised episodes."""

    def __init__(
        self, spec: TrackSpec, store: CorpusStore, *, default_data: bool = True, split_file: str | Path | None = None
    ) -> None:
        """``default_data``: the store holds the track's own data (not a ``--data-dir``
        override), so the committed split and manifests apply to it -- unless
        ``split_file`` pins the split (`episodes.split_file.read_split_file`; then
        ``default_data`` is False)."""
        self.spec = spec
        self.store = store
        self.default_data = default_data and split_file is None
        counts = Counter(m.artist for m in store.items)
        if split_file is None:
            self.split_result: SplitResult = hashed_split(counts, self.need, spec.split_salt)
        else:
            self.split_result = pinned_split(read_split_file(split_file), counts, split_file)
        self.splits = self.split_result.splits
        self.split_key = self.split_result.key
        self.split_of = {a: s for s, names in self.splits.items() for a in names}
        self.pools: dict[str, dict[str, list[str]]] = {s: {} for s in self.splits}
        for m in store.items:
            self.pools[self.split_of[m.artist]].setdefault(m.artist, []).append(m.item_id)

    @classmethod
    def open(
        cls,
        spec: TrackSpec,
        *,
        cache_dir: Path,
        data_dir: str | Path | None = None,
        source_options: dict | None = None,
        workers: int | None = None,
        progress: bool = True,
        build: bool = True,
        log: Callable[[str], None] = print,
        split_file: str | Path | None = None,
    ) -> "Track":
        """Bind ``spec`` to its corpus store, building the store unless ``build=False``;
        ``split_file`` pins the artist split."""
        if split_file is not None:
            read_split_file(split_file)  # a malformed file fails before a long build
        source = make_source(spec, data_dir, source_options, cache_dir=cache_dir)
        store = open_store(source, cache_dir, workers=workers, progress=progress, build=build, log=log)
        return cls(spec, store, default_data=data_dir is None, split_file=split_file)

    # ----- split -------------------------------------------------------------
    @property
    def need(self) -> int:
        """Items an artist needs to be eligible for episodes at the track's K and Q."""
        return self.spec.shots + self.spec.query_size

    @cached_property
    def data_key(self) -> str:
        """16 hex digits of sha256(corpus fingerprint, canonical split assignment):
        equal exactly when the items and the artist split are equal."""
        h = hashlib.sha256(f"{self.store.fingerprint}\n".encode() + self.split_result.canonical())
        return h.hexdigest()[:16]

    # ----- items -------------------------------------------------------------
    def item(self, index: int) -> Item:
        """Item ``index`` of the store, cropped to ``max_tokens`` by the codec
        (`episodes.codecs`); ``units`` holds ``tokens`` (the predicted ones) and the
        codec's unit."""
        meta, codec = self.store.items[index], self.store.codec
        tokens = np.array(codec.crop(self.store.tokens_of(index), self.spec.max_tokens))
        units = meta.n_units if tokens.size == meta.n_tokens else codec.count_units(tokens)
        return Item(meta.item_id, meta.artist, tokens, {"tokens": codec.n_predicted(tokens), codec.unit: units})

    def item_by_id(self, item_id: str) -> Item:
        try:
            return self.item(self.store.index[item_id])
        except KeyError:
            raise ManifestError(f"item {item_id!r} is not in the {self.spec.name} corpus") from None

    def split_indices(self, split: str) -> list[int]:
        """Store indices of every item of the artists of ``split``."""
        return [i for i, m in enumerate(self.store.items) if self.split_of[m.artist] == split]

    @property
    def vocab_size(self) -> int:
        return self.store.codec.vocab_size

    # ----- episodes ----------------------------------------------------------
    def drawer(self, split: str, shots: int, query_size: int | None = None, seed: int | None = None) -> EpisodeDrawer:
        """On-the-fly episode drawer (training episodes use ``split="train"``)."""
        return EpisodeDrawer(
            self.pools[split],
            shots=shots,
            query_size=self.spec.query_size if query_size is None else query_size,
            seed=self.spec.seed if seed is None else seed,
            split=split,
        )

    def episode(self, spec) -> Episode:
        return Episode(
            spec.episode_id,
            spec.artist,
            tuple(self.item_by_id(i) for i in spec.support),
            tuple(self.item_by_id(i) for i in spec.query),
        )

    def manifest(self, split: str, shots: int | None = None, query_size: int | None = None) -> Manifest:
        """The fixed manifest for (split, K, Q): committed, cached, or drawn and cached.

        Always verified against this corpus before it is returned.
        """
        shots = self.spec.shots if shots is None else shots
        query_size = self.spec.query_size if query_size is None else query_size
        fname = f"{split}-K{shots}-Q{query_size}.json"
        committed = DATA / self.spec.slug / "manifests" / fname
        folder = self.store.root / "manifests" / self.spec.slug / f"v{self.spec.version}"
        cached = (folder if self.split_key == HASHED_KEY else folder / self.split_key) / fname
        drawn = self.draw_manifest(split, shots, query_size)
        own = self.default_data and self.split_key == HASHED_KEY
        for path in (Path(str(committed)), cached) if own else (cached,):
            if path.exists():
                manifest = Manifest.load(path)
                self.verify(manifest, drawn)
                return manifest
        drawn.save(cached)
        return drawn

    def draw_manifest(self, split: str, shots: int, query_size: int) -> Manifest:
        n = {"val": self.spec.n_val, "test": self.spec.n_test}[split]
        return draw_manifest(
            self.pools[split],
            track=self.spec.name,
            track_version=self.spec.version,
            split=split,
            shots=shots,
            query_size=query_size,
            n_episodes=n,
            seed=self.spec.seed,
            corpus_fingerprint=self.store.fingerprint,
        )

    def verify(self, manifest: Manifest, drawn: Manifest | None = None) -> None:
        """Fail loudly unless ``manifest`` belongs to this track and corpus."""
        where = f"{manifest.track} {manifest.split} K={manifest.shots} manifest"
        if manifest.track != self.spec.name or manifest.track_version != self.spec.version:
            raise ManifestError(f"{where}: made for {manifest.track} v{manifest.track_version}")
        if manifest.corpus_fingerprint != self.store.fingerprint:
            raise ManifestError(
                f"{where}: corpus fingerprint {manifest.corpus_fingerprint[:12]} != local corpus "
                f"{self.store.fingerprint[:12]}; the local data differs from the benchmark's "
                "(check the pinned source versions, then rebuild with `fsmb data build`)"
            )
        for e in manifest.episodes:
            ids = e.support + e.query
            if len(set(ids)) != len(ids):
                raise ManifestError(f"{where}: episode {e.episode_id} repeats an item")
            for item_id in ids:
                i = self.store.index.get(item_id)
                if i is None or self.store.items[i].artist != e.artist:
                    raise ManifestError(f"{where}: episode {e.episode_id} names {item_id!r}, not by {e.artist}")
        if drawn is not None and drawn.sha256 != manifest.sha256:
            raise ManifestError(
                f"{where}: sha256 {manifest.sha256[:12]} != {drawn.sha256[:12]} drawn from this corpus "
                "with the track's seed"
            )

    @cached_property
    def eligibility(self) -> dict[str, list[str]]:
        """Artists per split with fewer than K + Q items (reported, never silently dropped)."""
        return {s: sorted(a for a, ids in pool.items() if len(ids) < self.need) for s, pool in self.pools.items()}

    def n_eligible(self, split: str) -> int:
        """Artists of ``split`` with at least K + Q items."""
        return len(self.pools[split]) - len(self.eligibility[split])

    def summary(self) -> dict:
        """Counts per split, the split key, data key and guarantee moves, for
        `fsmb data build` and docs/tracks.md."""
        out: dict = {"split_key": self.split_key, "data_key": self.data_key}
        for s, pool in self.pools.items():
            out[s] = {
                "artists": len(pool),
                "eligible_artists": self.n_eligible(s),
                "items": sum(len(v) for v in pool.values()),
                "ineligible_artists": self.eligibility[s],
            }
        out["moves"] = [m.describe() for m in self.split_result.moves]
        return out

    def split_report(self) -> list[str]:
        """Lines for `fsmb data build`: the split key, the guarantee moves, and the
        val and test artists with their item counts and eligibility."""
        counts = ", ".join(f"{s} {len(self.pools[s])} ({self.n_eligible(s)} eligible)" for s in self.pools)
        lines = [
            f"split {self.split_key} (data key {self.data_key}): artists {counts}; "
            f"eligible = at least K + Q = {self.need} items"
        ]
        moves = self.split_result.moves
        if moves:
            lines.append(
                f"moved {len(moves)} artist(s) away from their hashed split so that val and test have "
                f"{MINIMUM_ELIGIBLE['val']} eligible artists each and train {MINIMUM_ELIGIBLE['train']}:"
            )
            lines += [f"  {m.describe()}" for m in moves]
        for split in ("val", "test"):
            lines.append(f"{split} artists:")
            for artist, ids in sorted(self.pools[split].items()):
                note = "" if len(ids) >= self.need else f"  (not eligible: < {self.need})"
                lines.append(f"  {artist}: {len(ids)} items{note}")
        return lines

    def unlisted_warning(self) -> str | None:
        """A warning line when the split file names artists the data lacks."""
        missing = self.split_result.not_in_data
        if not missing:
            return None
        first = ", ".join(repr(a) for a in missing[:3]) + (", ..." if len(missing) > 3 else "")
        return f"{len(missing)} artist(s) of the split file are not in the data ({first}); they are ignored"

    def few_test_warning(self) -> str | None:
        """A warning line when test has fewer than `FEW_TEST_ARTISTS` eligible artists."""
        n = self.n_eligible("test")
        if n >= FEW_TEST_ARTISTS:
            return None
        return (
            f"test has {n} eligible artist(s) (fewer than {FEW_TEST_ARTISTS}): the test CI says little about "
            "the next artist; add artists or pin a split with --split-file"
        )


def committed_split(spec: TrackSpec) -> dict[str, list[str]] | None:
    """The committed artist lists of a built-in track, if there are any."""
    path = DATA / spec.slug / "split.json"
    return json.loads(path.read_text()) if path.is_file() else None
