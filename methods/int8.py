"""``lstm-int8``: the fitted ``lstm`` with int8 weights, scored and sampled as a device
would run it.

Quantisation: ``torch.ao.quantization.quantize_dynamic(model, {nn.LSTM, nn.Linear},
dtype=torch.qint8)`` -- the LSTM's and the softmax layer's weights in int8 (one
symmetric scale per tensor), activations quantised on the fly at every call (8 bits;
7 on x86, fbgemm's reduced range); the embedding stays fp32 (a table lookup).  It
has a real int8 LSTM kernel (fbgemm on x86, qnnpack on ARM, e.g. a Raspberry Pi).
It is deprecated in favour of torchao, which has no LSTM path, and ONNX Runtime's
``quantize_dynamic`` on FSMB's exported step leaves the LSTM in fp32 (the exporter
reorders the gate weights with Slice/Concat at run time, so ORT only stores them as
int8 and dequantises them every step: 2.07 MB -> 1.73 MB, no DynamicQuantizeLSTM),
so torch's dynamic quantisation is used; its deprecation warnings are silenced here
(`quantised`).  Its kernels are CPU ones (fbgemm, qnnpack): the int8 network is a CPU
copy, and it scores and samples on the CPU whatever the run's device (`on_cpu`).

Only the fp32 weights are fitted state (``self.model``, the ``lstm``'s, saved by
`save`); quantisation is deterministic from them, so `fit` and `load` build the same
int8 network (``self.quantised``), which `_model` returns: adaptation, scoring,
sampling and `inference_step` (``fsmb latency`` times the int8 kernel) all run it.

Scoring streams each song on its own, one token at a time, through the deployed step
(`StreamingLSTM`): dynamic quantisation takes one activation scale per call, over
every row the call holds, so a batched or whole-song pass would let a song's score
depend on the songs batched with it and a token's on the tokens after it (up to
0.02 nats per song measured).  Token by token, every activation is quantised alone,
as on a device.  This costs about one step latency per scored token (~0.1 ms on the
host), no batching.  Sampling, likewise, draws each song on its own.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, ClassVar, Sequence, TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from baselines.lstm import LSTMBaseline
from benchmark.contract.device import to_run_device
from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.cost.counting import on_cpu
from benchmark.nn.sequence import LSTMLM, StreamingLSTM, sample_lstm
from benchmark.training.state import require_fitted
from episodes.types import Item
from methods.pretrained import TokenwiseAdapted

M = TypeVar("M", bound=nn.Module)


@on_cpu()
def quantised(model: M) -> M:
    """An int8 copy of ``model`` (torch dynamic quantisation of its ``nn.LSTM`` and
    ``nn.Linear`` layers; see the module docstring) on the CPU, in eval mode; ``model``
    is left unchanged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao.quantization -> torchao, which has no LSTM
        out = torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(model).cpu(), {nn.LSTM, nn.Linear}, dtype=torch.qint8, inplace=True
        )
    return out.eval()


@torch.no_grad()
def streamed_token_nll(step: StreamingLSTM, tokens: np.ndarray) -> np.ndarray:
    """Per-token NLL in nats, shape ``(len(tokens) - 1,)``, of one song (``BOS ... EOS``,
    at least two tokens) fed to ``step`` one token at a time from the zero state."""
    cfg = step.model.cfg
    x = to_run_device(tokens.astype(np.int64))[None]  # (1, T)
    h, c = (torch.zeros(cfg.layers, 1, cfg.hidden) for _ in range(2))
    logits = []
    for t in range(x.shape[1] - 1):
        out, h, c = step(x[:, t : t + 1], h, c)  # (1, V)
        logits.append(out)
    return F.cross_entropy(torch.cat(logits), x[0, 1:], reduction="none").double().cpu().numpy()


class Int8Adapted(TokenwiseAdapted):
    """The int8 ``lstm`` (the support set is ignored), each song on its own, token by
    token, on the CPU."""

    def __init__(self, model: LSTMLM) -> None:
        self.model = model
        self.step = StreamingLSTM(model)

    @on_cpu()
    def token_nll(self, item: Item) -> np.ndarray:
        return streamed_token_nll(self.step, item.tokens)

    @on_cpu()
    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        """``n`` samples, each drawn alone (batch 1, as deployed)."""
        return [s for _ in range(n) for s in sample_lstm(self.model, 1, max_len=max_len, generator=generator)]


class Int8Copy:
    """Mixin of the int8 variants: the fitted state is the dense ``base_method``'s fp32
    network ``model`` (shared read only, saved by ``save``); ``quantised``, its int8 copy,
    is rebuilt from it by `take_base` (in ``fit``) and by ``load``."""

    base_method: ClassVar[str]
    model: Any
    quantised: Any
    train_log: dict

    def take_base(self, data: MetaTrainData) -> Any:
        """The fitted base (``data.pretrained(base_method)``), its network taken and quantised."""
        base = data.pretrained(self.base_method)
        self.model = base.model
        self.quantised = quantised(self.model)
        self.train_log = {"base": self.base_method, "base_train_log": base.train_log}
        return base

    def load(self, path: Path) -> None:
        super().load(path)  # type: ignore[misc]
        self.quantised = quantised(self.model)


@register_method(group="compressed")
class LSTMInt8(Int8Copy, LSTMBaseline):
    """The fitted ``lstm`` with int8 weights and dynamically quantised activations."""

    name = "lstm-int8"
    version = "1"
    base_method: ClassVar[str] = "lstm"  # the dense method it quantises (the paired reference)

    def __init__(self, lr: float = 2e-3, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        self.quantised: LSTMLM | None = None

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        """Quantise the fitted ``lstm`` (shared fp32 weights, read only); no training."""
        base = self.take_base(data)
        self.lr, self.weight_decay = base.lr, base.weight_decay

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "base": self.base_method, "weights": "int8", "activations": "int8, dynamic"}

    def _model(self) -> LSTMLM:
        return require_fitted(self.quantised, self.name)

    def adapt(self, support: Sequence[Item]) -> Int8Adapted:
        return Int8Adapted(self._model())

    def log_prob_many(self, adapted: Sequence[Int8Adapted], queries: Sequence[Sequence[Item]]) -> list[np.ndarray]:
        """One song at a time, as `Int8Adapted.log_prob` (a batch would share activation scales)."""
        return [a.log_prob(q) for a, q in zip(adapted, queries)]
