"""Meta-val selection of `cache` (θ × λ, 12 settings): the whole grid in one pass
(`NeuralCache.score_grid`) against one scoring pass per setting, side by side.

    python benchmarks/bench_selection.py [--episodes 20] [--threads 2]

On ``midi/music21`` meta-val episodes (the corpus is built on first use), with a `small`
LSTM of random weights: the cost of scoring does not depend on the weights.  Prints
both times, their ratio, and checks that both give the same table.
"""

from __future__ import annotations

import argparse
import time

from timing import music21_track

from benchmark.nn.sequence import LSTM_SIZES, LSTMLM, LSTMConfig
from benchmark.training.selection import grid, select_on_val
from episodes.encoding import VOCAB_SIZE
from methods.cache import NeuralCache


class OnePassPerSetting(NeuralCache):
    """The cache without its grid hook: `select_on_val` scores each setting separately."""

    score_grid = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    track = music21_track(args.threads)
    episodes = [track.episode(s) for s in track.manifest("val").episodes[: args.episodes]]
    model = LSTMLM(LSTMConfig(VOCAB_SIZE, **LSTM_SIZES["small"])).eval()
    times, tables = {}, {}
    for cls in (NeuralCache, OnePassPerSetting):
        method = cls()
        method.model = model
        start = time.perf_counter()
        tables[cls] = select_on_val(method, grid(method.grid), episodes)
        times[cls] = time.perf_counter() - start
    same = tables[NeuralCache] == tables[OnePassPerSetting]
    print(
        f"cache meta-val selection, {len(grid(NeuralCache.grid))} settings, {args.episodes} midi/music21 "
        f"meta-val episodes, {args.threads} threads:"
    )
    print(f"  one pass per setting: {times[OnePassPerSetting]:.1f} s")
    print(f"  the grid in one pass: {times[NeuralCache]:.1f} s")
    print(f"  speed-up: {times[OnePassPerSetting] / times[NeuralCache]:.1f}x; same table: {same}")


if __name__ == "__main__":
    main()
