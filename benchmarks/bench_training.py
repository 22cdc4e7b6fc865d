"""Training throughput against the host's GEMM roofline, measured side by side in one run.

    python benchmarks/bench_training.py [--threads 2] [--steps 20] [--repeats 3]

Times optimiser steps (forward, backward, AdamW) of the ``lstm`` and ``transformer-icl``
training losses on their real ``midi/music21`` training batches (16 songs; 4
support-then-query sequences for the transformer), each two ways: **padded** (the
whole batch as one padded tensor, FSMB <= 0.1) and **length-grouped** (the batch run as
sub-batches of rows of similar length, `benchmark.nn.sequence.share_of_mean_nll`, what
training does now).  FLOPs are counted on every step (`benchmark.cost.flops`), and
a square fp32 matrix product is timed before each pass as the roofline.  Prints, per
network and way: steps/s, useful tokens/s (padding not counted), counted GFLOP/s and
its fraction of the roofline, and the speed-up of grouping.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from timing import median_seconds, music21_track

from baselines.lstm import LSTMBaseline
from benchmark.contract.protocol import BUDGETS, MetaTrainData
from benchmark.cost.flops import count_flops
from benchmark.nn import sequence
from benchmark.nn.sequence import LSTM_SIZES, LSTMLM, LSTMConfig
from benchmark.nn.transformer import TRANSFORMER_SIZES, TransformerConfig, TransformerLM
from episodes.tokens import PAD
from methods.transformer_icl import TransformerICL

GEMM_SIDE = 2048


def time_steps(model, loss_of, batches, groups: int) -> tuple[float, int, int]:
    """(seconds, useful tokens, counted FLOPs) of one AdamW step per batch."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    seconds, tokens, flops = 0.0, 0, 0
    for batch in batches:
        t0 = time.perf_counter()
        opt.zero_grad()
        with count_flops() as counted:
            loss = sequence.share_of_mean_nll(lambda rows: loss_of(model, rows), batch, groups=groups)
            loss.backward()
        opt.step()
        seconds += time.perf_counter() - t0
        tokens += int((batch[:, 1:] != PAD).sum())
        flops += counted.flops
    return seconds, tokens, flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed pass")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    track = music21_track(args.threads)
    data, budget = MetaTrainData(track, seed=0), BUDGETS["full"]
    lstm_batches = LSTMBaseline().training_batches(data, budget)
    icl = TransformerICL()
    icl_batches = icl.training_batches(data, budget)
    networks = {
        "lstm": (
            LSTMLM(LSTMConfig(track.vocab_size, **LSTM_SIZES["small"])),
            lambda m, rows: m(rows[:, :-1])[0],
            [lstm_batches(s) for s in range(args.steps)],
        ),
        "transformer-icl": (
            TransformerLM(TransformerConfig(track.vocab_size, context=icl.context, **TRANSFORMER_SIZES["small"])),
            lambda m, rows: m(rows[:, :-1]),
            [icl_batches(s) for s in range(args.steps)],
        ),
    }
    a, b = torch.randn(GEMM_SIDE, GEMM_SIDE), torch.randn(GEMM_SIDE, GEMM_SIDE)
    print(
        f"bench_training: midi/music21 training batches, {args.steps} steps per pass, {args.threads} threads, "
        f"median of {args.repeats} passes"
    )
    for name, (model, loss_of, batches) in networks.items():
        time_steps(model, loss_of, batches[:2], sequence.LENGTH_GROUPS)  # warm-up
        gemm, runs = [], {"padded": [], "length-grouped": []}
        for _ in range(args.repeats):  # interleaved: a change in the machine's load affects all alike
            gemm.append(2 * GEMM_SIDE**3 / median_seconds(lambda: a @ b, 5) / 1e9)
            runs["padded"].append(time_steps(model, loss_of, batches, 1))
            runs["length-grouped"].append(time_steps(model, loss_of, batches, sequence.LENGTH_GROUPS))
        roofline = statistics.median(gemm)
        print(f"  {name}: GEMM {GEMM_SIDE}x{GEMM_SIDE} fp32 roofline {roofline:.1f} GFLOP/s")
        rates = {}
        for way, passes in runs.items():
            seconds = statistics.median(p[0] for p in passes)
            tokens, flops = passes[0][1], passes[0][2]
            rates[way] = tokens / seconds
            print(
                f"    {way:15s} {args.steps / seconds:6.2f} steps/s  {tokens / seconds:9,.0f} tokens/s  "
                f"{flops / seconds / 1e9:6.1f} GFLOP/s counted ({flops / seconds / 1e9 / roofline:.0%} of the "
                f"roofline; {flops / tokens / 1e6:.2f} MFLOP per useful token)"
            )
        print(f"    length-grouped / padded: {rates['length-grouped'] / rates['padded']:.2f}x tokens/s")


if __name__ == "__main__":
    main()
