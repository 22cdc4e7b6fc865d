"""Validate the latency estimator (`benchmark.cost.estimate`) against measured host
latency, and print the estimated Raspberry Pi latency of the same steps.

For each network step FSMB deploys -- streaming LSTM tokens at five sizes (the
`small` and `base` presets among them), the VAE decoder at three widths, and the
transformer at two context windows -- and 1 and 2 threads: the counted cost, the
host estimate calibrated in the same run, the measured p50 in **ONNX Runtime**
(the exported graph, `benchmark.cost.onnx_export`, timed as on a device by
`benchmark/cost/device_runner.py`; the transformer does not export) and in PyTorch
eager (`benchmark.cost.latency`), 200 runs each after warm-up, and the absolute
percentage errors; then the median errors (goal <= 25 %, against ONNX Runtime: the
runtime a device runs) and the Pi 4 / Pi 5 estimates at 4 threads.  Weights are
random: the latency of a dense step does not depend on their values.

    python benchmarks/cost_estimator.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from benchmark.cost.counting import step_cost
from benchmark.cost.device_runner import time_steps
from benchmark.cost.estimate import host_profile, pi_profile
from benchmark.cost.latency import measure_latency
from benchmark.cost.onnx_export import export_step
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


def onnx_p50_ms(path: Path, threads: int, runs: int) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return float(np.percentile(time_steps(session, runs), 50))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fsmb-cost-"))
    print(f"{'step':22s} {'thr':>3s} {'MACs':>12s} {'fp32 MB':>8s} {'estimated':>10s} {'ORT':>9s} {'error':>7s} "
          f"{'PyTorch':>9s} {'error':>7s} {'Pi 4 est.':>10s} {'Pi 5 est.':>10s}")
    errors: dict[str, list[float]] = {"onnxruntime": [], "pytorch": []}
    for i, (name, model) in enumerate(models().items()):
        step = network_step(model)
        cost = step_cost(step)
        path = export_step(step, folder / f"{i}.onnx") if not name.startswith("transformer") else None
        for threads in (1, 2):
            estimated = host_profile(threads, cost).estimate_ms(cost)
            eager = measure_latency(step, threads=threads, runs=args.runs).p50_ms
            errors["pytorch"].append(abs(estimated - eager) / eager)
            onnx = onnx_p50_ms(path, threads, args.runs) if path else None
            if onnx:
                errors["onnxruntime"].append(abs(estimated - onnx) / onnx)
            pi4, pi5 = (pi_profile(d, 4, cost).estimate_ms(cost) for d in ("raspberry-pi-4", "raspberry-pi-5"))
            onnx_cols = f"{onnx:7.3f}ms {100 * errors['onnxruntime'][-1]:6.1f}%" if onnx else f"{'-':>9s} {'-':>7s}"
            print(f"{name:22s} {threads:3d} {cost.macs:12,d} {cost.bytes_fp32 / 1e6:8.2f} {estimated:8.3f}ms "
                  f"{onnx_cols} {eager:7.3f}ms {100 * errors['pytorch'][-1]:6.1f}% {pi4:8.3f}ms {pi5:8.3f}ms")
    for runtime, errs in errors.items():
        print(f"median absolute percentage error against {runtime} over {len(errs)} (step, threads): "
              f"{100 * statistics.median(errs):.1f} % (max {100 * max(errs):.1f} %)")
    print("goal: <= 25 % against onnxruntime, the runtime a device runs the exported step with")


if __name__ == "__main__":
    main()
