"""Data-path benchmark: corpus build (cold and cached), episode sampling, LSTM scoring
throughput and the peak memory of an evaluation, on ``midi/music21``.

    python benchmarks/bench_data.py [--skip-cold] [--repeats 5]

Every figure is a median over ``--repeats`` runs measured in this one process (or in
fresh child processes, for memory).  Memory is measured twice -- on the real store
and on a copy scaled 8x by repeating every item under new artist names -- and the
ratio is printed: the store is memory-mapped, so it should stay near 1.
Targets: cached load < 2 s, >= 10,000 episodes/s, peak RSS of an LSTM evaluation < 2 GB.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from timing import median_seconds

from episodes.atomic import write_json
from episodes.sources.music21_corpus import Music21CorpusSource
from episodes.store import (
    CorpusStore,
    corpus_fingerprint,
    file_sha256,
    open_store,
    store_dir,
)
from episodes.tracks import TRACKS, Track


def scaled_copy(store: CorpusStore, factor: int, dest: Path) -> Path:
    """A store holding every item ``factor`` times (artist and id suffixed ``~k``)."""
    dest.mkdir(parents=True, exist_ok=True)
    items, offsets, pos = [], [0], 0
    with open(dest / "tokens.u16", "wb") as fh:
        for k in range(factor):
            fh.write(np.asarray(store.tokens).astype("<u2").tobytes())
            for m in store.items:
                items.append(dataclasses.replace(m, item_id=f"{m.item_id}~{k}", artist=f"{m.artist}~{k}"))
            offsets.extend((store.offsets[1:] + pos).tolist())
            pos += int(store.offsets[-1])
    np.save(dest / "offsets.npy", np.asarray(offsets, dtype=np.int64))
    write_json(dest / "items.json", [dataclasses.asdict(m) for m in items], indent=None)
    write_json(dest / "report.json", {"n_skipped": 0, "skipped": [], "build_seconds": 0})
    meta = dict(
        store.meta,
        fingerprint=corpus_fingerprint(items, store.codec),
        n_items=len(items),
        n_tokens=pos,
        tokens_sha256=file_sha256(dest / "tokens.u16"),
        offsets_sha256=file_sha256(dest / "offsets.npy"),
    )
    write_json(dest / "meta.json", meta)
    return dest


def eval_child(store_root: str, n_episodes: int) -> None:
    """Child process: score ``n_episodes`` test episodes with an LSTM; print JSON."""
    import torch

    from baselines.lstm import LSTMBaseline
    from benchmark.nn.sequence import LSTM_SIZES, LSTMLM, LSTMConfig
    from benchmark.scoring.nll import score_episodes

    torch.manual_seed(0)
    store = CorpusStore(Path(store_root))
    spec = dataclasses.replace(TRACKS["midi/music21"], name="bench/scaled")
    track = Track(spec, store)
    specs = track.draw_manifest("test", 5, 4).episodes[:n_episodes]
    episodes = [track.episode(s) for s in specs]
    method = LSTMBaseline()
    method.model = LSTMLM(LSTMConfig(vocab=track.vocab_size, **LSTM_SIZES["small"]))
    t0 = time.perf_counter()
    scores = score_episodes(method, episodes)
    seconds = time.perf_counter() - t0
    tokens = sum(sum(s.units["tokens"]) for s in scores)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tokens": tokens, "seconds": seconds, "peak_mb": peak_mb, "items": len(store)}))


def run_child(store_root: Path, n_episodes: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(store_root), "--episodes", str(n_episodes)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", default=os.environ.get("FSMB_CACHE", str(Path.home() / ".cache" / "fsmb")))
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold build (takes minutes)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        eval_child(args.child, args.episodes)
        return

    source = Music21CorpusSource()
    rows: list[tuple[str, str]] = []
    if not args.skip_cold:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            open_store(source, Path(tmp), progress=False, log=lambda m: None)
            rows.append(("cold corpus build (music21, all cores)", f"{time.perf_counter() - t0:.1f} s"))
    cache = Path(args.cache_dir)
    open_store(source, cache)  # make sure the cached store exists
    load = median_seconds(lambda: Track.open(TRACKS["midi/music21"], cache_dir=cache, progress=False), args.repeats)
    rows.append(("cached corpus load + split (median)", f"{load * 1000:.0f} ms  (target < 2000 ms)"))

    track = Track.open(TRACKS["midi/music21"], cache_dir=cache, progress=False)
    drawer = track.drawer("train", 5)
    n = 20_000
    draw = median_seconds(lambda: [drawer.draw(i) for i in range(n)], args.repeats)
    rows.append(("training episodes drawn (ids)", f"{n / draw:,.0f} episodes/s  (target >= 10,000)"))
    specs = [drawer.draw(i) for i in range(2000)]
    mat = median_seconds(lambda: [track.episode(s) for s in specs], args.repeats)
    rows.append(
        ("episodes drawn + materialised (tokens)", f"{len(specs) / (draw / n * len(specs) + mat):,.0f} episodes/s")
    )

    real = run_child(store_dir(source, cache), args.episodes)
    rows.append(("LSTM scoring, small (query tokens/s)", f"{real['tokens'] / real['seconds']:,.0f} tokens/s"))
    with tempfile.TemporaryDirectory() as tmp:
        big_root = scaled_copy(track.store, 8, Path(tmp) / "scaled")
        big = run_child(big_root, args.episodes)
        shutil.rmtree(big_root)
    rows.append(
        ("peak RSS of LSTM eval, real store", f"{real['peak_mb']:.0f} MB ({real['items']} items; target < 2048)")
    )
    rows.append(("peak RSS of LSTM eval, store x8", f"{big['peak_mb']:.0f} MB ({big['items']} items)"))
    rows.append(("peak RSS ratio x8 / x1", f"{big['peak_mb'] / real['peak_mb']:.2f}"))

    width = max(len(k) for k, _ in rows)
    print(f"bench_data on {os.cpu_count()} cores, median of {args.repeats}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")


if __name__ == "__main__":
    main()
