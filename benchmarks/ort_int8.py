"""int8 through ONNX Runtime: the converged ``lstm``'s exported step, quantised by ORT, against fp32 and torch's int8.

    python benchmarks/ort_int8.py [--model results/models/midi-music21/e8ab9a85acdbdb66/lstm/converge-seed0]
                                  [--songs 8] [--steps 2000]

Loads the committed converged ``lstm`` (midi/music21), exports its streaming step
(`benchmark.cost.onnx_export.export_step`), constant-folds the graph with ONNX
Runtime's basic optimisations (which bakes the exporter's run-time gate reordering,
Slice/Concat on the LSTM weights, into constants) and quantises it with
``onnxruntime.quantization.quantize_dynamic`` (int8 weights, dynamic int8
activations).  Without the folding ORT finds no LSTM to quantise (only the softmax
layer: 2.07 -> 1.73 MB); with it the graph holds ``DynamicQuantizeLSTM`` and
``MatMulInteger``.  It prints, side by side in one run:

- the operators and the file size of each graph;
- on the first ``--songs`` songs of the track's meta-val manifest, streamed one token at
  a time: the NLL in nats/token of fp32 ONNX, ORT int8 and torch's int8 (`methods.int8`,
  what ``lstm-int8`` scores today), and each int8's mean |Δ log-prob| per token;
- the median latency of one step (batch 1, one thread) of each, and the ratios.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before onnxruntime.quantization, which puts its own "benchmark" module on the path

from baselines.lstm import LSTMBaseline  # noqa: E402
from benchmark.cost.onnx_export import export_step  # noqa: E402
from benchmark.nn.sequence import StreamingLSTM  # noqa: E402
from episodes.tracks import TRACKS, Track, default_cache  # noqa: E402
from methods.int8 import quantised  # noqa: E402

MODEL = ROOT / "results/models/midi-music21/e8ab9a85acdbdb66/lstm/converge-seed0"


def ort_int8(fp32: Path, folder: Path) -> Path:
    """``fp32`` constant-folded by ORT (basic level) and dynamically quantised to int8."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folder / "folded.onnx")
    ort.InferenceSession(str(fp32), options, providers=["CPUExecutionProvider"])
    quantize_dynamic(str(folder / "folded.onnx"), str(folder / "int8.onnx"), weight_type=QuantType.QInt8)
    return folder / "int8.onnx"


def ort_step(path: Path):
    """A function (token, h, c) -> (log-probs, h, c) running the graph at ``path`` on one thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def step(token: np.ndarray, h: np.ndarray, c: np.ndarray):
        logits, h, c = session.run(None, dict(zip(names, (token, h, c))))
        return logits, h, c

    return step


def torch_step(model):
    stream = StreamingLSTM(model)

    @torch.no_grad()
    def step(token: np.ndarray, h: np.ndarray, c: np.ndarray):
        logits, h2, c2 = stream(torch.from_numpy(token), torch.from_numpy(h), torch.from_numpy(c))
        return logits.numpy(), h2.numpy(), c2.numpy()

    return step


def log_probs(step, tokens: np.ndarray, layers: int, hidden: int) -> np.ndarray:
    """Per-token log-probability (nats) of ``tokens[1:]`` streamed through ``step``."""
    h = c = np.zeros((layers, 1, hidden), np.float32)
    out = []
    for t in range(len(tokens) - 1):
        logits, h, c = step(tokens[t : t + 1].reshape(1, 1).astype(np.int64), h, c)
        z = logits[0].astype(np.float64)
        out.append(z[tokens[t + 1]] - (z.max() + np.log(np.exp(z - z.max()).sum())))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000, help="timed steps per runtime (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import onnx

    method = LSTMBaseline()
    method.load(args.model)
    cfg = method.model.cfg
    track = Track.open(TRACKS["midi/music21"], cache_dir=default_cache(), progress=False, log=lambda m: None)
    songs = [
        it.tokens for spec in track.manifest("val").episodes[: args.songs] for it in [track.episode(spec).query[0]]
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fp32 = export_step(method.inference_step(), folder / "fp32.onnx")
        int8 = ort_int8(fp32, folder)
        for name, path in (("fp32 ONNX", fp32), ("ORT int8", int8)):
            ops = collections.Counter(n.op_type for n in onnx.load(path).graph.node)
            print(f"{name:10s} {path.stat().st_size / 1e6:5.2f} MB  {dict(ops)}")
        steps = {
            "fp32 ONNX": ort_step(fp32),
            "ORT int8": ort_step(int8),
            "torch int8": torch_step(quantised(method.model)),
        }
        lp = {k: np.concatenate([log_probs(s, t, cfg.layers, cfg.hidden) for t in songs]) for k, s in steps.items()}
        print(f"\n{len(songs)} meta-val songs, {len(lp['fp32 ONNX']):,} tokens, one token at a time:")
        for k, v in lp.items():
            extra = "" if k == "fp32 ONNX" else f"   mean |Δ log-prob| vs fp32 {np.abs(v - lp['fp32 ONNX']).mean():.5f}"
            print(f"  {k:10s} NLL {-v.mean():.5f} nats/token{extra}")
        token = np.array([[5]], np.int64)
        h = c = np.zeros((cfg.layers, 1, cfg.hidden), np.float32)
        median = {}
        for k, s in steps.items():
            times = []
            for _ in range(args.steps):
                t0 = time.perf_counter()
                s(token, h, c)
                times.append(time.perf_counter() - t0)
            median[k] = 1e3 * float(np.median(times))
        print("\nmedian step latency, batch 1, one thread (ms):")
        for k, v in median.items():
            print(f"  {k:10s} {v:.4f}   fp32 ONNX / this = {median['fp32 ONNX'] / v:.2f}x")


if __name__ == "__main__":
    main()
