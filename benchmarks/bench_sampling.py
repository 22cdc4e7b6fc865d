"""Sampling speed of `transformer-icl`: the key-value cache against a full forward pass
over the window per token, side by side in one run.

    python benchmarks/bench_sampling.py [--repeats 3] [--tokens 256] [--threads 2]

The model is `transformer-icl`'s ``small`` size (d_model 128, 4 blocks, 1,024-token
context) with random weights; the prompt is a 512-token support block (the method's
``support_budget``) and 8 samples of ``--tokens`` tokens are drawn (EOS is never drawn
early: the timing is per token).  Prints the median seconds of each and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import benchmark.nn.transformer as tr
from benchmark.nn.transformer import TRANSFORMER_SIZES, TransformerConfig, TransformerLM
from episodes.encoding import VOCAB_SIZE
from episodes.tokens import EOS


class FullWindow(tr.KVCache):
    """The pre-cache sampler: every token reruns the whole window."""

    def prefill(self, tokens: torch.Tensor) -> torch.Tensor:
        self.seen = tokens
        return self.model(tokens)[:, -1]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.seen = torch.cat([self.seen, tokens], dim=1)
        return self.model(self.seen)[:, -1]


def time_sampling(model: TransformerLM, cache_cls: type, *, tokens: int, repeats: int) -> float:
    """Median seconds to draw 8 samples of ``tokens`` tokens after a 512-token prompt."""
    prefix = np.random.default_rng(0).integers(3, VOCAB_SIZE, size=512)
    tr.KVCache, original = cache_cls, tr.KVCache
    try:
        times = []
        for r in range(repeats):
            start = time.perf_counter()
            tr.sample_transformer(model, prefix, 8, max_len=tokens, generator=np.random.default_rng(r))
            times.append(time.perf_counter() - start)
    finally:
        tr.KVCache = original
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = TransformerLM(TransformerConfig(VOCAB_SIZE, **TRANSFORMER_SIZES["small"], context=1024)).eval()
    with torch.no_grad():
        model.out.bias[EOS] = -1e4  # never stop early: time exactly --tokens tokens per sample
    cached = time_sampling(model, tr.KVCache, tokens=args.tokens, repeats=args.repeats)
    full = time_sampling(model, FullWindow, tokens=args.tokens, repeats=args.repeats)
    per = 8 * (args.tokens - 1)
    print(
        f"transformer-icl sampling, 8 samples x {args.tokens} tokens after a 512-token prompt, "
        f"{args.threads} threads, median of {args.repeats}:"
    )
    print(f"  full window per token: {full:.2f} s ({per / full:,.0f} tokens/s)")
    print(f"  key-value cache:       {cached:.2f} s ({per / cached:,.0f} tokens/s)")
    print(f"  speed-up: {full / cached:.1f}x")


if __name__ == "__main__":
    main()
