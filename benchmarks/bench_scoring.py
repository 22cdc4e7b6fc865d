"""LSTM scoring against the host's GEMM roofline, measured side by side in one run.

    python benchmarks/bench_scoring.py [--threads 2] [--episodes 600] [--repeats 3]

Scores the query songs of the first ``--episodes`` ``midi/music21`` test episodes (the
corpus is built on first use) with a ``small`` ``lstm`` of random weights (the cost of
scoring does not depend on the weights) through `benchmark.nn.sequence.score_sequences`,
the function every LSTM-based method scores with, and times a square fp32 matrix
product of the same thread count before each scoring pass.  Prints the median GEMM GFLOP/s (the roofline), the
scoring throughput in tokens/s and useful GFLOP/s (the network's multiply-adds per
scored token, padding not counted), and their ratio.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from timing import median_seconds, music21_track

from benchmark.nn.sequence import LSTM_SIZES, LSTMLM, LSTMConfig, score_sequences
from episodes.encoding import VOCAB_SIZE

GEMM_SIDE = 2048  # of the square matrices whose product gives the roofline


def flops_per_token(cfg: LSTMConfig) -> int:
    """Floating-point operations of one scored token: the input, recurrent and output
    matrix products (2 per multiply-add); the gates' and softmax's element-wise work is
    left out, as a roofline counts only the products."""
    return 2 * (cfg.emb * 4 * cfg.hidden + cfg.hidden * 4 * cfg.hidden + cfg.hidden * cfg.vocab)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    track = music21_track(args.threads)
    songs = [it.tokens for spec in track.manifest("test").episodes[: args.episodes] for it in track.episode(spec).query]
    model = LSTMLM(LSTMConfig(VOCAB_SIZE, **LSTM_SIZES["small"])).eval()
    a, b = torch.randn(GEMM_SIDE, GEMM_SIDE), torch.randn(GEMM_SIDE, GEMM_SIDE)
    score_sequences(model, songs[:64])  # warm-up
    gemm_seconds, seconds = [], []
    for _ in range(args.repeats):  # interleaved, so that a change in the machine's load affects both alike
        gemm_seconds.append(median_seconds(lambda: a @ b, 5))
        seconds.append(median_seconds(lambda: score_sequences(model, songs), 1, warmup=False))
    gemm = 2 * GEMM_SIDE**3 / statistics.median(gemm_seconds) / 1e9
    seconds = statistics.median(seconds)
    tokens = sum(len(s) - 1 for s in songs)
    scoring = tokens * flops_per_token(model.cfg) / seconds / 1e9
    print(
        f"bench_scoring: {len(songs)} query songs of {args.episodes} midi/music21 test episodes, {tokens:,} tokens, "
        f"LSTM {model.cfg.emb}/{model.cfg.hidden}, vocabulary {model.cfg.vocab}, {args.threads} threads"
    )
    print(
        f"  GEMM {GEMM_SIDE}x{GEMM_SIDE} fp32: {gemm:6.1f} GFLOP/s (median of {args.repeats} medians of 5, "
        "each timed just before a scoring pass)"
    )
    print(
        f"  LSTM scoring: {seconds:.2f} s, {tokens / seconds:,.0f} tokens/s, "
        f"{flops_per_token(model.cfg) / 1e6:.2f} MFLOP/token, {scoring:6.1f} GFLOP/s (median of {args.repeats})"
    )
    print(f"  scoring / GEMM roofline: {scoring / gemm:.0%}")


if __name__ == "__main__":
    main()
