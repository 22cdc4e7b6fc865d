"""``lstm-int8``: the fitted ``lstm`` with int8 weights, scored and sampled as a device
would run it: its streaming step's ONNX graph, quantised by ONNX Runtime and run in it.

Quantisation: `benchmark.compress.int8` -- the step exported once, constant-folded,
and dynamically quantised by ``onnxruntime.quantization.quantize_dynamic``: the LSTM
becomes ``DynamicQuantizeLSTM`` and the softmax layer ``MatMulInteger`` (int8 weights,
one symmetric scale per tensor; activations quantised to uint8 at every call), and the
embedding table is stored in int8 and dequantised.  This is the graph that
``fsmb export`` writes and ``fsmb latency`` times, and whose stored bytes the Pi
estimates read (`benchmark.cost.counting`).  It replaces torch's deprecated
``torch.ao.quantization.quantize_dynamic`` (lstm-int8 version 1).

Only the fp32 weights are fitted state (``self.model``, the ``lstm``'s, saved by
`save`); quantisation is deterministic from them, so `fit` and `load` build the same
int8 graph (``self.quantised``).

Scoring streams each song on its own, one token at a time, through the int8 step:
dynamic quantisation takes one activation scale per call, over every row the call
holds, so a batched or whole-song pass would let a song's score depend on the songs
batched with it and a token's on the tokens after it.  Token by token, every
activation is quantised alone, as on a device.  This costs about one step latency per
scored token (~0.03 ms on the host).  Sampling, likewise, draws each song on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from baselines.lstm import LSTMBaseline
from benchmark.compress.int8 import Int8Graph
from benchmark.contract.device import to_run_device
from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.cost.counting import InferenceStep, cpu_step, on_cpu
from benchmark.cost.onnx_export import io_names
from benchmark.cost.steps import network_step
from benchmark.nn.onnx_module import OnnxModule
from benchmark.nn.sequence import LSTMLM, sample_streamed
from benchmark.training.state import require_fitted
from episodes.types import Item


@on_cpu()
def int8_step(model: LSTMLM) -> OnnxModule:
    """The int8 graph of ``model``'s streaming step (`network_step`; see the module
    docstring), made from a CPU copy; ``model`` is left unchanged."""
    step = cpu_step(network_step(model))
    return Int8Graph(step.module, step.inputs, *io_names(step)).quantise()


@torch.no_grad()
def streamed_token_nll(step: torch.nn.Module, tokens: np.ndarray, layers: int, hidden: int) -> np.ndarray:
    """Per-token NLL in nats, shape ``(len(tokens) - 1,)``, of one song (``BOS ... EOS``,
    at least two tokens) fed to the streaming ``step`` (a `StreamingLSTM` or its int8
    graph) one token at a time from the zero state ``(layers, 1, hidden)``."""
    x = to_run_device(tokens.astype(np.int64))[None]  # (1, T)
    h, c = (torch.zeros(layers, 1, hidden) for _ in range(2))
    logits = []
    for t in range(x.shape[1] - 1):
        out, h, c = step(x[:, t : t + 1], h, c)  # (1, V)
        logits.append(out)
    return F.cross_entropy(torch.cat(logits).to(x.device), x[0, 1:], reduction="none").double().cpu().numpy()


class Int8Adapted:
    """The int8 ``lstm``'s step (the support set is ignored): each song on its own, token
    by token, on the CPU."""

    def __init__(self, step: OnnxModule, layers: int, hidden: int) -> None:
        self.step, self.layers, self.hidden = step, layers, hidden

    @on_cpu()
    def token_nll(self, item: Item) -> np.ndarray:
        """Per-token NLL in nats, shape ``(len(item.tokens) - 1,)``."""
        return streamed_token_nll(self.step, item.tokens, self.layers, self.hidden)

    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        return np.array([-self.token_nll(it).sum() for it in items], dtype=np.float64)

    @on_cpu()
    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        """``n`` samples, each drawn alone (batch 1, as deployed)."""
        return [
            sample_streamed(self.step, self.layers, self.hidden, max_len=max_len, generator=generator) for _ in range(n)
        ]


class Int8Copy:
    """Mixin of the int8 variants: the fitted state is the dense ``base_method``'s fp32
    network ``model`` (shared read only, saved by ``save``); ``quantised``, its int8
    version (`quantise`), is rebuilt from it by `take_base` (in ``fit``) and by ``load``."""

    base_method: ClassVar[str]
    model: Any
    quantised: Any
    train_log: dict

    def quantise(self, model: Any) -> Any:
        """The int8 version of the fp32 network ``model``."""
        raise NotImplementedError

    def take_base(self, data: MetaTrainData) -> Any:
        """The fitted base (``data.pretrained(base_method)``), its network taken and quantised."""
        base = data.pretrained(self.base_method)
        self.model = base.model
        self.quantised = self.quantise(self.model)
        self.train_log = {"base": self.base_method, "base_train_log": base.train_log}
        return base

    def load(self, path: Path) -> None:
        super().load(path)  # type: ignore[misc]
        self.quantised = self.quantise(self.model)


@register_method(group="compressed")
class LSTMInt8(Int8Copy, LSTMBaseline):
    """The fitted ``lstm``'s step as an int8 graph in ONNX Runtime."""

    name = "lstm-int8"
    version = "2"
    base_method: ClassVar[str] = "lstm"  # the dense method it quantises (the paired reference)

    def __init__(self, lr: float = 2e-3, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.quantised: OnnxModule | None = None

    def quantise(self, model: LSTMLM) -> OnnxModule:
        return int8_step(model)

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        """Quantise the fitted ``lstm`` (shared fp32 weights, read only); no training."""
        base = self.take_base(data)
        self.lr, self.weight_decay = base.lr, base.weight_decay

    def hparams(self) -> dict[str, Any]:
        return {
            **super().hparams(),
            "base": self.base_method,
            "weights": "int8",
            "activations": "uint8, dynamic",
            "runtime": "onnxruntime",
        }

    def adapt(self, support: Sequence[Item]) -> Int8Adapted:  # type: ignore[override]
        cfg = self._model().cfg
        return Int8Adapted(require_fitted(self.quantised, self.name), cfg.layers, cfg.hidden)

    def log_prob_many(self, adapted: Sequence[Int8Adapted], queries: Sequence[Sequence[Item]]) -> list[np.ndarray]:  # type: ignore[override]
        """One song at a time, as `Int8Adapted.log_prob` (a batch would share activation scales)."""
        return [a.log_prob(q) for a, q in zip(adapted, queries)]

    def inference_step(self) -> InferenceStep:
        """The int8 graph's step (inputs as the fp32 step's)."""
        step = network_step(self._model())
        assert step is not None
        return InferenceStep(require_fitted(self.quantised, self.name), step.inputs, step.unit)
