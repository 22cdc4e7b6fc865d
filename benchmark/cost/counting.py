"""What one inference step of a deployed model costs, counted, not timed.

A *step* is what a device runs to generate one unit: one token of a sequence model
(one streaming step: the token and the recurrent state in, logits and state out) or
one note of an audio model (a latent code through the decoder).  `step_cost` runs the
step once on the CPU and counts:

- multiply-accumulates (MACs): every matrix product and convolution through
  ``torch.utils.flop_counter`` (FLOPs / 2), with PyTorch's fused transformer fast
  path switched off so that the counter sees its linear layers; and by formula what
  that counter does not see: ``nn.LSTM``'s fused CPU kernel, ``4 H (I + H)`` per
  layer and time step (`lstm_macs`), and ``nn.MultiheadAttention``'s attention
  products, ``2 Tq Tk E`` per sequence (`attention_macs`: scores and weighted sum,
  the whole square even under a causal mask, as the CPU kernel computes it);
  element-wise work (gates, activations, biases, softmax) is not counted;
- operators: the aten calls dispatched (per-operator overhead dominates small
  models on a CPU);
- parameters, non-zero parameters, and the weight bytes at fp32 and with int8
  weights (matrices and kernels of ``Linear``/``LSTM``/``Conv``/``Embedding`` at one
  byte plus one fp32 scale per output row; everything else at fp32).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

QUANTISABLE = (nn.Linear, nn.LSTM, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


@dataclass(frozen=True)
class InferenceStep:
    """One generation step of a deployed model: ``module(*inputs)`` generates one ``unit``
    (``"token"`` or ``"note"``)."""

    module: nn.Module
    inputs: tuple[Any, ...]
    unit: str


@dataclass(frozen=True)
class StepCost:
    """The counted cost of one `InferenceStep` (see the module docstring)."""

    unit: str
    macs: int
    operators: int
    params: int
    nonzero_params: int
    bytes_fp32: int
    bytes_int8: int

    def to_dict(self) -> dict:
        return asdict(self)


def lstm_macs(lstm: nn.LSTM, batch: int, steps: int) -> int:
    """MACs of ``lstm`` over ``steps`` time steps of ``batch`` sequences: each layer and
    direction multiplies its input (``I``) and its hidden state (``H``, or the projection
    size) by the four gates' weights, ``4 H (I + H)``, plus ``H x proj`` if projected."""
    directions = 2 if lstm.bidirectional else 1
    hidden, out = lstm.hidden_size, lstm.proj_size or lstm.hidden_size
    total = 0
    for layer in range(lstm.num_layers):
        width_in = lstm.input_size if layer == 0 else out * directions
        per_step = 4 * hidden * (width_in + out) + (hidden * lstm.proj_size if lstm.proj_size else 0)
        total += directions * per_step
    return total * batch * steps


def attention_macs(query: torch.Tensor, key: torch.Tensor, batch_first: bool) -> int:
    """MACs of the attention products of one ``nn.MultiheadAttention`` call:
    ``Q K^T`` and ``softmax(.) V``, each ``Tq x Tk x E`` per sequence."""
    if query.dim() == 2:  # unbatched (T, E)
        return 2 * query.shape[0] * key.shape[0] * query.shape[1]
    batch, tq = (query.shape[0], query.shape[1]) if batch_first else (query.shape[1], query.shape[0])
    tk = key.shape[1] if batch_first else key.shape[0]
    return 2 * batch * tq * tk * query.shape[-1]


class _OperatorCount(TorchDispatchMode):
    """Counts the aten operators dispatched while active."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def count_macs(module: nn.Module, inputs: Sequence[Any]) -> tuple[int, int]:
    """(MACs, aten operators) of one ``module(*inputs)`` call, in inference mode."""
    by_formula = 0

    def on_lstm(lstm: nn.LSTM, args: tuple, _output: Any) -> None:
        nonlocal by_formula
        x = args[0]
        batch, steps = (x.shape[0], x.shape[1]) if lstm.batch_first else (x.shape[1], x.shape[0])
        if x.dim() == 2:  # unbatched (T, I)
            batch, steps = 1, x.shape[0]
        by_formula += lstm_macs(lstm, batch, steps)

    def on_attention(attention: nn.MultiheadAttention, args: tuple, kwargs: dict, _output: Any) -> None:
        nonlocal by_formula
        query = args[0] if args else kwargs["query"]
        key = args[1] if len(args) > 1 else kwargs["key"]
        by_formula += attention_macs(query, key, attention.batch_first)

    hooks = [m.register_forward_hook(on_lstm) for m in module.modules() if isinstance(m, nn.LSTM)]
    hooks += [m.register_forward_hook(on_attention, with_kwargs=True)
              for m in module.modules() if isinstance(m, nn.MultiheadAttention)]
    was_training, fastpath = module.training, torch.backends.mha.get_fastpath_enabled()
    module.eval()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as flops, _OperatorCount() as ops:
            module(*inputs)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        module.train(was_training)
        for hook in hooks:
            hook.remove()
    return flops.get_total_flops() // 2 + by_formula, ops.count


def weight_bytes(module: nn.Module) -> tuple[int, int]:
    """(fp32 bytes, int8-weight bytes) of ``module``'s parameters (see the module docstring)."""
    fp32 = int8 = 0
    for sub in module.modules():
        for name, p in sub.named_parameters(recurse=False):
            fp32 += 4 * p.numel()
            if isinstance(sub, QUANTISABLE) and p.dim() >= 2 and "bias" not in name:
                int8 += p.numel() + 4 * p.shape[0]  # int8 values + an fp32 scale per output row
            else:
                int8 += 4 * p.numel()
    return fp32, int8


def step_cost(step: InferenceStep) -> StepCost:
    """Count the cost of ``step`` (it is run once)."""
    macs, operators = count_macs(step.module, step.inputs)
    params = list(step.module.parameters())
    fp32, int8 = weight_bytes(step.module)
    return StepCost(unit=step.unit, macs=int(macs), operators=operators,
                    params=sum(p.numel() for p in params),
                    nonzero_params=int(sum(int(torch.count_nonzero(p)) for p in params)),
                    bytes_fp32=fp32, bytes_int8=int8)
