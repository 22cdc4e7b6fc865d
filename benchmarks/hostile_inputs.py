"""Peak memory and time of the two tiny hostile inputs of issue 11, each read and
encoded in a fresh child process (so that its peak RSS is its own):

- ``long-gap.mid`` (36 bytes): one note after a delta time of 2^28 - 1 ticks at one
  tick per quarter note;
- ``odd-rate.wav``: 1 s of a 440 Hz sine at 16,001 Hz, which a rational resampler
  turns into a 16,000 x 16,001 polyphase filter bank;
- ``reference.wav``: the same sine at 16,000 Hz, whose peak RSS is the floor that
  importing torch and torchaudio costs.

    python benchmarks/hostile_inputs.py [--tree PATH] [--limit-gb 6] [--timeout 300]

``--tree`` runs the same inputs against another checkout (e.g. a ``git worktree`` of
an older commit) to measure before and after side by side.  Each child runs under an
address-space limit (``--limit-gb``), so an unbounded input fails there instead of
exhausting the machine; such a run is reported as ``over limit``.  Output: one line
per input with the outcome (tokens or the skip reason), wall seconds and peak RSS in MB.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.path.insert(0, sys.argv[1])
kind, path = sys.argv[2], sys.argv[4]
t0 = time.perf_counter()
try:
    from episodes.codecs import CODECS
    from episodes.sources.base import SkipItem
    try:
        if kind == "midi":
            from episodes.midi_notes import read_midi_notes
            outcome = f"{len(CODECS['midi-events'].encode(read_midi_notes(path)))} tokens"
        else:
            from episodes.audio import read_note
            outcome = f"{CODECS['logmel8'].encode(read_note(path)).size} dims"
    except SkipItem as exc:
        outcome = f"skipped: {exc}"
except MemoryError:
    outcome = "over limit (MemoryError)"
seconds = time.perf_counter() - t0
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"outcome": outcome, "seconds": seconds, "peak_rss_mb": rss_mb}))
"""


def long_gap_midi(path: Path) -> Path:
    """A 36-byte SMF: one track, 1 tick per quarter, one note after 2^28 - 1 ticks."""
    events = bytes([0xFF, 0xFF, 0xFF, 0x7F, 0x90, 60, 64, 0x00, 60, 0x00, 0x00, 0xFF, 0x2F, 0x00])
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1)
    path.write_bytes(header + b"MTrk" + struct.pack(">I", len(events)) + events)
    return path


def odd_rate_wav(path: Path, rate: int = 16_001) -> Path:
    import soundfile

    t = np.arange(rate) / rate
    soundfile.write(str(path), 0.5 * np.sin(2 * np.pi * 440 * t), rate, subtype="PCM_16")
    return path


def measure(tree: Path, kind: str, path: Path, limit_bytes: int, timeout_s: float) -> dict:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(tree), kind, str(limit_bytes), str(path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"timed out after {timeout_s:g} s", "seconds": timeout_s, "peak_rss_mb": None}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"outcome": f"crashed: {last[:120]}", "seconds": None, "peak_rss_mb": None}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    parser.add_argument("--limit-gb", type=float, default=6.0, help="address-space limit of each child")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per input")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = [
            ("midi", long_gap_midi(Path(tmp) / "long-gap.mid")),
            ("wav", odd_rate_wav(Path(tmp) / "odd-rate.wav")),
            ("wav", odd_rate_wav(Path(tmp) / "reference.wav", 16_000)),
        ]
        print(f"tree: {args.tree}")
        for kind, path in inputs:
            r = measure(args.tree.resolve(), kind, path, int(args.limit_gb * 2**30), args.timeout)
            secs = "-" if r["seconds"] is None else f"{r['seconds']:.2f} s"
            rss = "-" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f} MB"
            print(f"{path.name:14s} {path.stat().st_size:>7,d} bytes  {secs:>9s}  peak RSS {rss:>8s}  {r['outcome']}")


if __name__ == "__main__":
    main()
