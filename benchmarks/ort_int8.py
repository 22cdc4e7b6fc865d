"""int8 through ONNX Runtime, as ``lstm-int8`` and ``vae-int8`` deploy it, against fp32 and per-channel scales.

    python benchmarks/ort_int8.py [--lstm results/models/midi-music21/e8ab9a85acdbdb66/lstm/converge-seed0]
                                  [--vae results/models/audio-gm-notes/c3df0fad39532a00/vae/converge-seed0]
                                  [--songs 8] [--steps 2000]

Loads the committed converged ``lstm`` (midi/music21) and ``vae`` (audio/gm-notes),
exports each one's generation step (the streaming LSTM step; the VAE's decoder) and
quantises it as `benchmark.compress.int8` does: ONNX Runtime's basic constant folding
(which bakes the exporter's run-time gate reordering, Slice/Concat on the LSTM weights,
into constants, so that the quantiser finds the LSTM), then
``onnxruntime.quantization.quantize_dynamic`` with one scale per weight tensor (what
the methods use) and, for comparison, per output channel.  It prints, side by side in
one run:

- the operators and the file size of each graph;
- ``lstm``: on the first ``--songs`` songs of the track's meta-val manifest, streamed
  one token at a time, the NLL in nats/token of each graph and its mean |Δ log-prob|
  per token against fp32 ONNX; the median latency of one step (batch 1, one thread,
  the session fed numpy arrays as ``device_runner.py`` feeds it) and the ratio to fp32;
- ``vae``: the mean and largest |Δ| of the decoder's outputs (mean and log-scale, in
  standardised units) on 256 latent codes from the prior, against fp32 PyTorch.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before onnxruntime.quantization, which puts its own "benchmark" module on the path

from baselines.lstm import LSTMBaseline  # noqa: E402
from benchmark.compress.int8 import Int8Graph, quantise_graph  # noqa: E402
from benchmark.cost.onnx_export import io_names  # noqa: E402
from benchmark.cost.steps import network_step  # noqa: E402
from benchmark.nn.onnx_module import OnnxModule  # noqa: E402
from episodes.tracks import TRACKS, Track, default_cache  # noqa: E402
from methods.int8 import streamed_token_nll  # noqa: E402
from methods.vae import VAE  # noqa: E402

MODELS = ROOT / "results/models"
LSTM = MODELS / "midi-music21/e8ab9a85acdbdb66/lstm/converge-seed0"
VAE_MODEL = MODELS / "audio-gm-notes/c3df0fad39532a00/vae/converge-seed0"


def graphs(step) -> dict[str, OnnxModule]:
    """fp32 ONNX, int8 per tensor (the methods') and int8 per channel, of ``step``."""
    graph = Int8Graph(step.module, step.inputs, *io_names(step), batch_dynamic=step.unit == "note")
    return {
        "fp32 ONNX": OnnxModule(graph.graph.SerializeToString(), step.module),
        "int8 per tensor": graph.quantise(),
        "int8 per channel": OnnxModule(quantise_graph(graph.graph, per_channel=True), step.module),
    }


def describe(found: dict[str, OnnxModule]) -> None:
    import onnx

    for name, module in found.items():
        ops = collections.Counter(n.op_type for n in onnx.load_model_from_string(module.graph).graph.node)
        print(f"  {name:17s} {len(module.graph) / 1e6:5.2f} MB  {dict(ops)}")


def lstm_study(path: Path, n_songs: int, n_steps: int) -> None:
    method = LSTMBaseline()
    method.load(path)
    cfg = method.model.cfg
    track = Track.open(TRACKS["midi/music21"], cache_dir=default_cache(), progress=False, log=lambda m: None)
    songs = [it.tokens for spec in track.manifest("val").episodes[:n_songs] for it in [track.episode(spec).query[0]]]
    step = method.inference_step()
    found = graphs(step)
    print(f"lstm ({path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}):")
    describe(found)
    nll = {
        k: np.concatenate([streamed_token_nll(m, t, cfg.layers, cfg.hidden) for t in songs]) for k, m in found.items()
    }
    print(f"\n  {len(songs)} meta-val songs, {len(nll['fp32 ONNX']):,} tokens, one token at a time:")
    for k, v in nll.items():
        extra = "" if k == "fp32 ONNX" else f"   mean |Δ log-prob| vs fp32 {np.abs(v - nll['fp32 ONNX']).mean():.5f}"
        print(f"    {k:17s} NLL {v.mean():.5f} nats/token{extra}")
    median = {}
    for k, m in found.items():  # the session itself, fed numpy arrays, as device_runner.py runs it
        session, feeds = m.session(), dict(zip(m.input_names, (x.numpy() for x in step.inputs)))
        times = []
        for _ in range(n_steps):
            t0 = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - t0)
        median[k] = 1e3 * float(np.median(times))
    print("\n  median step latency, batch 1, one thread (ms):")
    for k, v in median.items():
        print(f"    {k:17s} {v:.4f}   fp32 ONNX / this = {median['fp32 ONNX'] / v:.2f}x")


@torch.no_grad()
def vae_study(path: Path) -> None:
    method = VAE()
    method.load(path)
    step = network_step(method.model)
    found = graphs(step)
    print(f"\nvae decoder ({path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}):")
    describe(found)
    z = torch.randn(256, method.model.cfg.latent, generator=torch.Generator().manual_seed(0))
    reference = step.module(z)
    print(
        "\n  256 prior codes, |Δ output| vs fp32 PyTorch (standardised units; outputs average "
        f"{float(reference.abs().mean()):.3f}):"
    )
    for k, m in found.items():
        d = (m(z) - reference).abs()
        print(f"    {k:17s} mean {float(d.mean()):.5f}  max {float(d.max()):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lstm", type=Path, default=LSTM)
    parser.add_argument("--vae", type=Path, default=VAE_MODEL)
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000, help="timed steps per graph (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lstm_study(args.lstm, args.songs, args.steps)
    vae_study(args.vae)


if __name__ == "__main__":
    main()
