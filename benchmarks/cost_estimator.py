"""Validate the latency estimator (`benchmark.cost.estimate`) against measured host
latency, and print the estimated Raspberry Pi latency of the same steps.

For each network step FSMB deploys -- streaming LSTM tokens at five sizes (the
`small` and `base` presets among them), the VAE decoder at three widths, and the
transformer at two context windows -- and 1 and 2 threads: the counted cost (with the
exported graph's node count), then

- the **ONNX Runtime** estimate (`host_profile(..., "onnxruntime")`, calibrated in
  onnxruntime right before the measurement), the measured p50 of the exported graph
  (`benchmark.cost.onnx_export`, timed as on a device by
  `benchmark/cost/device_runner.py`; the transformer does not export), the absolute
  percentage error and the estimate's largest term (`DeviceProfile.terms_ms`);
- the eager **PyTorch** estimate (aten operators, calibrated in PyTorch), the measured
  p50 (`benchmark.cost.latency`) and the error;
- the Pi 4 / Pi 5 estimates at 4 threads (onnxruntime's when the step exports);

each measurement ``--runs`` runs after warm-up.  Then the median absolute percentage
errors, overall and per thread count (goal <= 25 %, against ONNX Runtime: the runtime a
device runs).  Weights are random: the latency of a dense step does not depend on their
values.  On a machine whose cores are shared with other jobs, timings at as many
threads as cores depend on the other jobs' load as much as on the step.

    python benchmarks/cost_estimator.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmark.cost.counting import StepCost, step_cost
from benchmark.cost.device_runner import session_at, time_steps
from benchmark.cost.estimate import (
    PI_DEVICES,
    DeviceProfile,
    counted_runtime,
    host_profile,
    pi_profile,
)
from benchmark.cost.latency import measure_latency
from benchmark.cost.onnx_export import export_step, exported_cost
from benchmark.cost.steps import network_step
from benchmark.nn.conv_vae import ConvVAE, ConvVAEConfig
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from benchmark.nn.transformer import TransformerConfig, TransformerLM

VOCAB = 299  # midi/music21's
THREADS = (1, 2)


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
    """Measured p50 latency_ms of the exported step at ``threads`` intra-op threads,
    timed as a device times it (`device_runner.time_steps`)."""
    return float(np.percentile(time_steps(session_at(str(path), threads), runs), 50))


def dominant(profile: DeviceProfile, cost: StepCost) -> str:
    """The largest term of ``profile``'s estimate for ``cost`` (`DeviceProfile.terms_ms`)."""
    terms = profile.terms_ms(cost)
    return max(terms, key=terms.__getitem__)


def error_cells(estimated: float, measured: float | None, errors: list[float]) -> str:
    """Estimated and measured latency_ms and their absolute percentage error (appended
    to ``errors``); dashes where nothing was measured."""
    if measured is None:
        return f"{estimated:8.3f}ms {'-':>9s} {'-':>7s}"
    errors.append(abs(estimated - measured) / measured)
    return f"{estimated:8.3f}ms {measured:7.3f}ms {100 * errors[-1]:6.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fsmb-cost-"))
    print(
        f"{'step':22s} {'thr':>3s} {'MACs':>12s} {'fp32 MB':>8s} {'nodes':>5s} {'ORT est.':>10s} {'ORT':>9s} "
        f"{'error':>7s} {'ORT term':>9s} {'eager est':>10s} {'PyTorch':>9s} {'error':>7s} {'Pi 4 est.':>10s} "
        f"{'Pi 5 est.':>10s}"
    )
    errors: dict[tuple[str, int], list[float]] = {(r, t): [] for r in ("onnxruntime", "pytorch") for t in THREADS}
    for i, (name, model) in enumerate(models().items()):
        step = network_step(model)
        cost = step_cost(step)
        path = export_step(step, folder / f"{i}.onnx") if not name.startswith("transformer") else None
        if path:
            cost = exported_cost(cost, path)
        for threads in THREADS:
            if path:  # calibrated right before the measurement, under the same load
                ort_profile = host_profile(threads, cost, "onnxruntime")
                ort_cells = (
                    error_cells(
                        ort_profile.estimate_ms(cost),
                        onnx_p50_ms(path, threads, args.runs),
                        errors["onnxruntime", threads],
                    )
                    + f" {dominant(ort_profile, cost):>9s}"
                )
            else:
                ort_cells = f"{'-':>10s} {'-':>9s} {'-':>7s} {'-':>9s}"
            estimated = host_profile(threads, cost, "pytorch").estimate_ms(cost)
            eager_cells = error_cells(
                estimated, measure_latency(step, threads=threads, runs=args.runs).p50_ms, errors["pytorch", threads]
            )
            pi4, pi5 = (pi_profile(d, 4, counted_runtime(cost)).estimate_ms(cost) for d in PI_DEVICES)
            nodes = f"{cost.graph_nodes:5d}" if path else f"{'-':>5s}"
            print(
                f"{name:22s} {threads:3d} {cost.macs:12,d} {cost.bytes_fp32 / 1e6:8.2f} {nodes} {ort_cells} "
                f"{eager_cells} {pi4:8.3f}ms {pi5:8.3f}ms",
                flush=True,
            )
    for runtime in ("onnxruntime", "pytorch"):
        errs = [e for t in THREADS for e in errors[runtime, t]]
        per_thread = ", ".join(f"{t} thr {100 * statistics.median(errors[runtime, t]):.1f} %" for t in THREADS)
        print(
            f"median absolute percentage error against {runtime} over {len(errs)} (step, threads): "
            f"{100 * statistics.median(errs):.1f} % (max {100 * max(errs):.1f} %; {per_thread})"
        )
    print("goal: <= 25 % against onnxruntime, the runtime a device runs the exported step with")


if __name__ == "__main__":
    main()
