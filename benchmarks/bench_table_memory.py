"""Peak memory of building a large lyrics table: FSMB's streamed build against reading it whole.

    python benchmarks/bench_table_memory.py [--mb 200] [--workdir DIR]

Writes a seeded synthetic CSV of about ``--mb`` MB (artist, title, lyrics: 1,000
artists, songs of ~1.5 kB of words, some with non-ASCII letters and quoted line
breaks), then measures, each in a fresh process, the peak resident set size
(``ru_maxrss``) of:

- the build itself, `episodes.tracks.Track.open` of ``lyrics/csv`` on it (one worker:
  the table is streamed, `episodes.sources.table_files`; the store is assembled chunk
  by chunk, `episodes.store`), the goal being under 600 MB for 200 MB of CSV;
- the same build through the CLI, ``fsmb data build --track lyrics/csv``, with the
  goal too (the CLI imports torch only for the commands that compute with it), and
  whether the build imported torch;
- ``pandas.read_csv`` of the whole file (the usual way to load such a table): the
  table held in memory once, as a reference;
- the interpreter with FSMB's build modules imported and nothing read.

It prints the peaks, the build's peak over the file size, and the ratio of
pandas' peak to the build's.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_MB = 600
WORDS = (
    "love",
    "night",
    "heart",
    "road",
    "fire",
    "rain",
    "dream",
    "light",
    "city",
    "baby",
    "river",
    "gold",
    "stone",
    "wind",
    "song",
    "time",
    "home",
    "blue",
    "déjà",
    "über",
    "niño",
    "café",
    "dance",
    "tears",
)


def write_table(path: Path, mb: int, seed: int = 0) -> int:
    """A CSV of about ``mb`` MB; returns its number of songs."""
    rng = np.random.default_rng(seed)
    target, written, songs = mb * 1_000_000, 0, 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["artist", "title", "lyrics"])
        while written < target:
            lines = [
                " ".join(WORDS[w] for w in rng.integers(0, len(WORDS), rng.integers(4, 10)))
                for _ in range(rng.integers(20, 50))
            ]
            row = [f"artist {rng.integers(1000)}", f"song {songs}", "\n".join(lines)]
            writer.writerow(row)
            written += sum(len(c) for c in row) + 8
            songs += 1
    return songs


def peak_mb(code: str) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``python -c code`` in a fresh process."""
    probe = code + "\nimport resource; print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1]
    )
    if done.returncode:
        raise SystemExit(f"measurement failed:\n{done.stderr[-2000:]}")
    kb = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("PEAK_KB"))
    return kb / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the table (default: %(default)s MB)")
    parser.add_argument("--workdir", help="where the table and the store go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        table = Path(tmp) / "lyrics.csv"
        songs = write_table(table, args.mb)
        size_mb = table.stat().st_size / 1e6
        print(f"table: {size_mb:.0f} MB, {songs:,} songs ({table})")
        imports, _ = peak_mb("import episodes.store, episodes.sources.tabular, episodes.tracks")
        build, build_s = peak_mb(
            "from episodes.tracks import TRACKS, Track\n"
            f"Track.open(TRACKS['lyrics/csv'], cache_dir={str(Path(tmp) / 'cache')!r}, data_dir={str(table)!r}, "
            "workers=1, progress=False)"
        )
        cli, _ = peak_mb(
            "import sys\nfrom benchmark.cli.main import main\n"
            f"assert main(['data', 'build', '--track', 'lyrics/csv', '--data-dir', {str(table)!r}, "
            f"'--cache-dir', {str(Path(tmp) / 'cli-cache')!r}, '--workers', '1']) == 0\n"
            "assert 'torch' not in sys.modules, 'fsmb data build imported torch'"
        )
        cli_imports, _ = peak_mb("from benchmark.cli.main import main")
        whole, _ = peak_mb(f"import pandas\ntable = pandas.read_csv({str(table)!r}, dtype=str, keep_default_na=False)")
    print(f"peak RSS, interpreter + FSMB build modules:   {imports:7.0f} MB")
    print(
        f"peak RSS, the build (streamed, Track.open):    {build:7.0f} MB  ({build_s:.0f} s; "
        f"{build / size_mb:.2f} x the file; goal < {GOAL_MB} MB: {'met' if build < GOAL_MB else 'NOT met'})"
    )
    print(
        f"peak RSS, fsmb data build (CLI):               {cli:7.0f} MB  (importing the CLI: {cli_imports:.0f} MB; "
        f"torch not imported; goal < {GOAL_MB} MB: {'met' if cli < GOAL_MB else 'NOT met'})"
    )
    print(f"peak RSS, pandas.read_csv of the whole table:  {whole:7.0f} MB  ({whole / build:.2f} x the build's)")


if __name__ == "__main__":
    main()
