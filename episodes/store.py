"""The corpus store: parse a source once, keep it as one memory-mapped token array.

On disk (``<cache>/<source cache key>/<codec>-v<codec version>/``)::

    tokens.u16     all items' tokens back to back (uint16, memory-mapped on load)
    offsets.npy    int64, shape (n_items + 1,): item i is tokens[offsets[i]:offsets[i+1]]
    items.json     per-item metadata (id, artist, title, path, units, tokens, sha256)
    report.json    what was skipped and why, counts, build time, and what the source's
                   listing left out (``source.listing()``, e.g. fortunes' rare authors)
    meta.json      versions, the corpus fingerprint and the sha256 of ``tokens.u16`` and
                   ``offsets.npy``; written last, so its presence means the store is
                   complete.  Opening a store checks those hashes (a damaged store is
                   rebuilt, never read).

The directory's last part names the codec and a key of the versions of the
libraries the source and codec parse with (`episodes.dependencies`), so upgrading
one builds a new store.

A build parses pieces in parallel in chunks; every finished chunk is written to
``parts/`` atomically (``<chunk>.u16``, its tokens back to back, then ``<chunk>.json``,
their metadata, whose presence marks the chunk done), so an interrupted build resumes
where it stopped.  Assembling the store reads the chunks' metadata, then copies each
kept item's tokens from its chunk's memory map in the store's order: a build's memory
is bounded by one chunk's tokens, not the corpus's.  A piece
that fails to parse (corrupt, empty, drum-only, invalid UTF-8) is listed in the
report with its reason and never stops the build; so is an exact duplicate (same
tokens as an item with a smaller id) when the source asks for ``dedupe``, and an item
over `episodes.limits.MAX_ITEM_TOKENS` tokens.  The source's codec (`episodes.codecs`)
turns each piece into tokens.

An environment failure is never mistaken for bad data, and never cached: the
libraries are checked before the build (`episodes.dependencies.check`); a
`DependencyError`, ``ImportError`` or ``MemoryError`` while parsing stops the build
(finished chunks are kept for the rerun); and when more than half of at least
`MASS_FAILURE_MIN` pieces are unreadable for one reason, the build stops with
`BuildError` and discards its parsed chunks, so the rerun after a fix starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from episodes.atomic import atomic_path, write_json
from episodes.codecs import CODECS, Codec
from episodes.dependencies import DependencyError, check, dependency_key, version
from episodes.limits import MAX_ITEM_TOKENS, check_cap
from episodes.sources.base import DataError, PieceRef, SkipItem, Source, UnreadableItem
from episodes.tokens import TOKEN_DTYPE

STORE_FORMAT = 3  # 2: codec-generic (n_units), optional dedupe; 3: file hashes in meta.json
CHUNK = 32
MASS_FAILURE_MIN = 10  # pieces a build needs before "most unreadable for one reason" is judged
ENVIRONMENT_FAILURES = (DependencyError, ImportError, MemoryError)


class BuildError(DependencyError):
    """Most pieces failed for one reason: more likely a broken environment than bad data."""


@dataclass(frozen=True)
class ItemMeta:
    """Metadata of one stored item; ``n_units`` counts the codec's unit (notes,
    characters) of the whole item, ``n_tokens`` its tokens including BOS and EOS."""

    item_id: str
    artist: str
    title: str
    path: str
    n_units: int
    n_tokens: int
    sha256: str


class CorpusStore:
    """A built corpus: memory-mapped tokens plus per-item metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = json.loads((root / "meta.json").read_text())
        self.items = [ItemMeta(**d) for d in json.loads((root / "items.json").read_text())]
        self.offsets = np.load(root / "offsets.npy")
        n_tokens = int(self.offsets[-1])
        self.tokens = (
            np.memmap(root / "tokens.u16", dtype="<u2", mode="r", shape=(n_tokens,))
            if n_tokens
            else np.zeros(0, dtype=TOKEN_DTYPE)
        )
        self.index = {m.item_id: i for i, m in enumerate(self.items)}
        self.codec: Codec = CODECS[self.meta["encoding"]]

    @property
    def fingerprint(self) -> str:
        """sha256 over item ids and token hashes: equal stores have equal fingerprints."""
        return self.meta["fingerprint"]

    def report(self) -> dict:
        return json.loads((self.root / "report.json").read_text())

    def damage(self) -> str | None:
        """What is wrong with the files against the hashes recorded at build, or None."""
        for name, key in (("tokens.u16", "tokens_sha256"), ("offsets.npy", "offsets_sha256")):
            if file_sha256(self.root / name) != self.meta.get(key):
                return f"{name} differs from the sha256 recorded when the store was built"
        if len(self.offsets) != len(self.items) + 1 or int(self.offsets[-1]) != self.meta["n_tokens"]:
            return "offsets.npy does not match items.json"
        return None

    def tokens_of(self, i: int) -> np.ndarray:
        """Tokens of item ``i``, shape ``(n_tokens,)`` (a view into the memory map)."""
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def __len__(self) -> int:
        return len(self.items)


def corpus_fingerprint(items: list[ItemMeta], codec: Codec) -> str:
    lines = "".join(f"{m.item_id}\t{m.sha256}\n" for m in sorted(items, key=lambda m: m.item_id))
    head = f"{codec.name}-v{codec.version}\n"
    return hashlib.sha256((head + lines).encode()).hexdigest()


def source_codec(source: Source) -> Codec:
    try:
        return CODECS[source.codec]
    except KeyError:
        raise DataError(f"source {source.name}: unknown codec {source.codec!r} (known: {sorted(CODECS)})") from None


def file_sha256(path: Path) -> str | None:
    """sha256 of a file's bytes (None if it is missing)."""
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def store_dependencies(source: Source) -> tuple[str, ...]:
    """The libraries a store of ``source`` depends on: its own and its codec's."""
    return (*source.dependencies, *source_codec(source).dependencies)


def store_dir(source: Source, cache_root: Path) -> Path:
    """``<cache>/<source key>/<codec>-v<version>-<dependency key>``."""
    codec = source_codec(source)
    deps = dependency_key(store_dependencies(source))
    return Path(cache_root) / source.cache_key() / f"{codec.name}-v{codec.version}-{deps}"


def open_store(
    source: Source,
    cache_root: Path,
    *,
    workers: int | None = None,
    progress: bool = True,
    build: bool = True,
    log: Callable[[str], None] = print,
) -> CorpusStore:
    """Load the store for ``source``, building it first if it is missing, stale or
    damaged (its files no longer match the hashes recorded at build).

    With ``build=False`` a missing or damaged store is an error instead.  Raises
    `DependencyError` before any file is read if a library it needs does not work.
    """
    root = store_dir(source, cache_root)
    meta_path = root / "meta.json"
    if meta_path.exists() and json.loads(meta_path.read_text()).get("format") == STORE_FORMAT:
        store = CorpusStore(root)
        problem = store.damage()
        if problem is None:
            return store
        if not build:
            raise DataError(f"corpus store {root} is damaged ({problem}); rebuild it with `fsmb data build`")
        log(f"corpus store {root} is damaged ({problem}): rebuilding it")
        shutil.rmtree(root)
    if not build:
        raise DataError(f"no built corpus for {source.name} in {cache_root}; run `fsmb data build` first")
    check(store_dependencies(source))
    build_store(source, root, workers=workers, progress=progress, log=log)
    return CorpusStore(root)


def build_store(
    source: Source,
    root: Path,
    *,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> None:
    """Parse every piece of ``source`` into a store at ``root`` (resumable)."""
    started = time.perf_counter()
    pieces = source.list_pieces()
    parts = root / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    chunks = [pieces[i : i + CHUNK] for i in range(0, len(pieces), CHUNK)]
    todo = [i for i in range(len(chunks)) if not (parts / f"{i:05d}.json").exists()]
    if len(todo) < len(chunks):
        log(f"resuming build: {len(chunks) - len(todo)} of {len(chunks)} chunks already parsed")
    workers = workers or max(1, min(os.cpu_count() or 1, len(todo)))
    if not source.parallel:
        workers = 1
    n_todo = sum(len(chunks[i]) for i in todo)
    rate = getattr(source, "parse_rate", None)
    if rate is not None and n_todo:
        log(rate.line(f"parse {source.name}", n_todo, min(workers, len(todo))))
    bar = tqdm(
        total=n_todo,
        desc=f"parse {source.name}",
        unit="piece",
        disable=not progress,
    )
    with bar:
        if workers == 1 or len(todo) <= 1:
            for i in todo:
                _write_part(parts, i, parse_chunk(source, chunks[i]))
                bar.update(len(chunks[i]))
        else:
            spawn = get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=spawn, initializer=one_thread_per_worker) as pool:
                futures = {pool.submit(parse_chunk, source, chunks[i]): i for i in todo}
                for future in as_completed(futures):
                    i = futures[future]
                    _write_part(parts, i, future.result())
                    bar.update(len(chunks[i]))
    _assemble(source, root, pieces, len(chunks), time.perf_counter() - started)
    shutil.rmtree(parts)
    report = json.loads((root / "report.json").read_text())
    log(
        f"built {source.name}: {report['n_items']} items, {report['n_skipped']} skipped "
        f"(see {root / 'report.json'}), {report['build_seconds']:.0f} s"
    )


def one_thread_per_worker() -> None:
    """Pool initializer: each parser process computes on one thread.

    The pool already runs one process per core; a library's own thread pool on top
    (torch's, for the log-mel STFT of the audio codec) oversubscribes the cores.  On
    2 cores that made encoding a note 74 ms instead of 2.2 ms (audio/gm-notes: 89 s
    instead of about 10), with bit-identical output.  torch is usually imported
    already (the spawned process imports ``fsmb``'s ``__main__``), so it is told
    directly; the environment variables cover libraries imported later.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def parse_chunk(source: Source, refs: list[PieceRef]) -> list[dict]:
    """Parse pieces; one result dict per piece, with ``tokens`` (``uint16``) and their
    ``sha256``, or an ``error`` (and,
    for an input its parser could not read, ``unreadable``: the kind of failure).

    Environment failures (`ENVIRONMENT_FAILURES`) propagate: they stop the build.
    """
    check(store_dependencies(source))  # in a worker process too: once per process
    codec = source_codec(source)
    out = []
    for ref in refs:
        try:
            with warnings.catch_warnings():  # parsers warn about every odd measure
                warnings.simplefilter("ignore")
                payload = source.read(ref)
            tokens = np.asarray(codec.encode(payload), dtype=TOKEN_DTYPE)
            check_cap("token count", len(tokens), MAX_ITEM_TOKENS)
            out.append(
                {
                    "item_id": ref.item_id,
                    "n_units": codec.count_units(tokens),
                    "tokens": tokens,
                    "sha256": hashlib.sha256(tokens.astype("<u2").tobytes()).hexdigest(),
                }
            )
        except ENVIRONMENT_FAILURES:
            raise
        except UnreadableItem as exc:
            out.append({"item_id": ref.item_id, "error": f"unreadable: {exc}"[:300], "unreadable": "parser"})
        except SkipItem as exc:
            out.append({"item_id": ref.item_id, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - any other parser failure is reported, not fatal
            out.append(
                {
                    "item_id": ref.item_id,
                    "error": f"unreadable: {type(exc).__name__}: {exc}"[:300],
                    "unreadable": type(exc).__name__,
                }
            )
    return out


def check_mass_failure(results: list[dict], n_pieces: int) -> None:
    """Raise `BuildError` when more than half of at least `MASS_FAILURE_MIN` pieces are
    unreadable for one reason (one exception type, or the parser's own rejection)."""
    kinds = Counter(r["unreadable"] for r in results if "unreadable" in r)
    if n_pieces < MASS_FAILURE_MIN or not kinds:
        return
    kind, count = kinds.most_common(1)[0]
    if count * 2 > n_pieces:
        example = next(r["error"] for r in results if r.get("unreadable") == kind)
        raise BuildError(
            f"{count} of {n_pieces} pieces are unreadable for one reason (e.g. {example[:160]!r}); that is more "
            "likely a broken environment than bad data, so nothing was cached: check `fsmb doctor`, fix the "
            "cause (or remove the unreadable files) and rerun"
        )


def _write_part(parts: Path, index: int, results: list[dict]) -> None:
    """Chunk ``index``'s tokens (``.u16``), then its metadata without them (``.json``:
    ``n_tokens`` per parsed piece, in the order of the tokens)."""
    with atomic_path(parts / f"{index:05d}.u16") as tmp:
        with open(tmp, "wb") as fh:
            for r in results:
                if "tokens" in r:
                    fh.write(r["tokens"].astype("<u2").tobytes())
    meta = [
        {k: v for k, v in r.items() if k != "tokens"} | ({"n_tokens": len(r["tokens"])} if "tokens" in r else {})
        for r in results
    ]
    with atomic_path(parts / f"{index:05d}.json") as tmp:
        tmp.write_text(json.dumps(meta))


def _part_tokens(parts: Path, index: int) -> np.ndarray:
    """Chunk ``index``'s tokens, memory-mapped (shape ``(n,)``, ``<u2``)."""
    path = parts / f"{index:05d}.u16"
    size = path.stat().st_size // 2
    return np.memmap(path, dtype="<u2", mode="r", shape=(size,)) if size else np.zeros(0, "<u2")


def _assemble(source: Source, root: Path, pieces: list[PieceRef], n_chunks: int, seconds: float) -> None:
    codec = source_codec(source)
    refs = {p.item_id: p for p in pieces}
    items: list[ItemMeta] = []
    where: list[tuple[int, int]] = []  # per item: (chunk, offset of its tokens in the chunk's .u16)
    skipped: list[dict] = []
    parts = root / "parts"
    chunk_results = [json.loads((parts / f"{i:05d}.json").read_text()) for i in range(n_chunks)]
    try:
        check_mass_failure([r for chunk in chunk_results for r in chunk], len(pieces))
    except BuildError:
        shutil.rmtree(parts)
        raise
    for i, chunk in enumerate(chunk_results):
        at = 0
        for result in chunk:
            ref = refs[result["item_id"]]
            if "error" in result:
                skipped.append({"item_id": ref.item_id, "path": ref.path, "reason": result["error"]})
                continue
            items.append(
                ItemMeta(
                    ref.item_id,
                    ref.artist,
                    ref.title,
                    ref.path,
                    result["n_units"],
                    result["n_tokens"],
                    result["sha256"],
                )
            )
            where.append((i, at))
            at += result["n_tokens"]
    order = sorted(range(len(items)), key=lambda k: items[k].item_id)
    if source.dedupe:
        first: dict[str, str] = {}
        kept = []
        for k in order:
            m = items[k]
            if m.sha256 in first:
                skipped.append({"item_id": m.item_id, "path": m.path, "reason": f"duplicate of {first[m.sha256]}"})
            else:
                first[m.sha256] = m.item_id
                kept.append(k)
        order = kept
    offsets = np.zeros(len(order) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([items[k].n_tokens for k in order]) if order else []
    with atomic_path(root / "tokens.u16") as tmp:
        with open(tmp, "wb") as fh:
            mapped: dict[int, np.ndarray] = {}
            for k in order:
                chunk, at = where[k]
                if chunk not in mapped:
                    mapped = {chunk: _part_tokens(parts, chunk)}  # one chunk mapped at a time
                fh.write(mapped[chunk][at : at + items[k].n_tokens].tobytes())
    items = [items[k] for k in order]
    with atomic_path(root / "offsets.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, offsets)
    versions = {name: version(name) for name in sorted(set(store_dependencies(source)))}
    write_json(root / "items.json", [asdict(m) for m in items], indent=None)
    write_json(
        root / "report.json",
        {
            "source": source.name,
            "n_pieces": len(pieces),
            "n_items": len(items),
            "n_skipped": len(skipped),
            "skipped": skipped,
            "build_seconds": round(seconds, 2),
            "source_listing": source.listing() if hasattr(source, "listing") else None,
        },
    )
    write_json(
        root / "meta.json",
        {
            "format": STORE_FORMAT,
            "source": source.name,
            "source_version": source.version,
            "cache_key": source.cache_key(),
            "encoding": codec.name,
            "encoding_version": codec.version,
            "fingerprint": corpus_fingerprint(items, codec),
            "n_items": len(items),
            "n_tokens": int(offsets[-1]),
            "dependencies": versions,
            "tokens_sha256": file_sha256(root / "tokens.u16"),
            "offsets_sha256": file_sha256(root / "offsets.npy"),
        },
    )
