"""`fsmb data verify`: recompute every hash a track relies on and compare."""

from __future__ import annotations

import hashlib
from typing import Callable

from episodes.manifest import ManifestError
from episodes.store import corpus_fingerprint
from episodes.tracks import Track, committed_split


def verify_track(track: Track, *, log: Callable[[str], None] = print) -> list[str]:
    """Problems found (empty when everything matches).

    Checks: each item's tokens against its recorded sha256; the corpus fingerprint;
    the artist split against the committed lists (built-in tracks); the val and test
    manifests' content hashes, their corpus fingerprint, and that drawing them again
    from this corpus gives the same sha256.
    """
    problems: list[str] = []
    store = track.store
    bad = [
        m.item_id
        for i, m in enumerate(store.items)
        if hashlib.sha256(store.tokens_of(i).astype("<u2").tobytes()).hexdigest() != m.sha256
    ]
    if bad:
        problems.append(f"{len(bad)} items' tokens do not match their sha256 (first: {bad[0]}); rebuild the store")
    if corpus_fingerprint(store.items, store.codec) != store.fingerprint:
        problems.append("corpus fingerprint does not match the item list; rebuild the store")
    log(f"corpus: {len(store)} items, fingerprint {store.fingerprint}")
    committed = committed_split(track.spec) if track.default_data else None
    if committed is not None:
        for split, artists in committed.items():
            if sorted(track.splits[split]) != sorted(artists):
                problems.append(f"{split} artists differ from the committed list")
        log("split: matches the committed artist lists" if not problems else "split: MISMATCH")
    for split in ("val", "test"):
        try:
            manifest = track.manifest(split)
        except ManifestError as exc:
            problems.append(str(exc))
            continue
        log(
            f"{split} manifest K={manifest.shots} Q={manifest.query_size}: {len(manifest.episodes)} episodes, "
            f"sha256 {manifest.sha256}"
        )
    return problems
