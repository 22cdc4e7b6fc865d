"""Validate the latency estimator (`benchmark.cost.estimate`) against measured host
latency, and print the estimated Raspberry Pi latency of the same steps.

For each network step FSMB deploys -- streaming LSTM tokens at five sizes (the
`small` and `base` presets among them), the transformer at two context windows, the
VAE decoder at three widths -- and 1 and 2 threads: the counted cost, the measured
p50 (`benchmark.cost.latency`, 200 runs after warm-up), the host estimate calibrated
in the same run, and the absolute percentage error; then the median error (goal
<= 25 %) and the Pi 4 / Pi 5 estimates at 4 threads.  Weights are random: the
latency of a dense step does not depend on their values.

    python benchmarks/cost_estimator.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from benchmark.cost.counting import step_cost
from benchmark.cost.estimate import host_profile, pi_profile
from benchmark.cost.latency import measure_latency
from benchmark.cost.steps import network_step
from benchmark.nn.conv_vae import ConvVAE, ConvVAEConfig
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from benchmark.nn.transformer import TransformerConfig, TransformerLM

VOCAB = 299  # midi/music21's


def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    out: dict[str, torch.nn.Module] = {}
    for emb, hidden, layers in ((64, 128, 1), (128, 256, 1), (256, 512, 1), (256, 512, 2), (512, 1024, 1)):
        out[f"lstm e{emb} h{hidden} x{layers}"] = LSTMLM(LSTMConfig(VOCAB, emb, hidden, layers))
    for context in (256, 1024):
        out[f"transformer ctx{context}"] = TransformerLM(TransformerConfig(VOCAB, context=context))
    for width in (16, 32, 64):
        out[f"vae decoder w{width}"] = ConvVAE(ConvVAEConfig(latent=16, width=width))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    print(f"{'step':26s} {'thr':>3s} {'MACs':>12s} {'ops':>5s} {'fp32 MB':>8s} {'measured':>10s} "
          f"{'estimated':>10s} {'error':>7s} {'Pi 4 est.':>10s} {'Pi 5 est.':>10s}")
    errors = []
    for name, model in models().items():
        step = network_step(model)
        cost = step_cost(step)
        for threads in (1, 2):
            measured = measure_latency(step, threads=threads, runs=args.runs).p50_ms
            estimated = host_profile(threads, cost).estimate_ms(cost)
            errors.append(abs(estimated - measured) / measured)
            pi4, pi5 = (pi_profile(d, 4, cost).estimate_ms(cost) for d in ("raspberry-pi-4", "raspberry-pi-5"))
            print(f"{name:26s} {threads:3d} {cost.macs:12,d} {cost.operators:5d} {cost.bytes_fp32 / 1e6:8.2f} "
                  f"{measured:8.3f}ms {estimated:8.3f}ms {100 * errors[-1]:6.1f}% {pi4:8.3f}ms {pi5:8.3f}ms")
    print(f"median absolute percentage error over {len(errors)} (step, threads): "
          f"{100 * statistics.median(errors):.1f} % (goal <= 25 %); max {100 * max(errors):.1f} %")


if __name__ == "__main__":
    main()
