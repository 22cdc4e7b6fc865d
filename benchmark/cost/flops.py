"""Compute, counted: torch's FLOP counter on every training step and on adaptation.

`count_flops` runs a block under `torch.utils.flop_counter.FlopCounterMode`, which sees
every aten operator dispatched in it -- forward and backward -- and adds up the
floating-point operations of the matrix products, convolutions and attention (2 FLOPs
per multiply-add; element-wise operations, softmaxes and norms are not counted, the
usual convention, and a few percent of these networks' compute).  torch's counter has
no formula for the fused CPU kernels FSMB's networks run through, so this module
registers them:

- ``aten.mkldnn_rnn_layer`` (the LSTM on the CPU): ``2 T B 4H (I + H)`` for a layer of
  hidden size ``H`` on ``(T, B, I)`` inputs -- the input and recurrent products of the
  four gates; its backward pass (``mkldnn_rnn_layer_backward``) twice that (the
  gradients of the inputs and state, and of the weights);
- ``aten._scaled_dot_product_flash_attention_for_cpu`` (and its backward): torch's own
  attention formulas (`torch.utils.flop_counter.sdpa_flop_count`).

On CUDA the LSTM runs ``_cudnn_rnn``, counted with the same formula.  A test checks
each formula against the counter on the unfused (decomposed) computation.

Only the total is kept: the counter's per-module breakdown is switched off
(`TotalOnly`), because torch's module tracker keeps a backward hook on the output of
every module call made with gradients until the block ends, and so every autograd
graph built in it -- 1.8 GB per episode for ``rhvae`` fine-tuning through its flow,
which exhausted the memory of a 32-episode chunk.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch.utils import flop_counter

aten = torch.ops.aten


def _lstm_layer(input, w_ih, w_hh) -> int:
    """FLOPs of one fused LSTM layer's forward pass (shapes: input ``(T, B, I)`` or
    ``(B, T, I)``, ``w_ih`` ``(4H, I)``, ``w_hh`` ``(4H, H)``)."""
    positions = input[0] * input[1]
    return 2 * positions * w_ih[0] * (w_ih[1] + w_hh[1])


def _mkldnn_forward(input, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    return _lstm_layer(input, w_ih, w_hh)


def _mkldnn_backward(input, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    return 2 * _lstm_layer(input, w_ih, w_hh)


def _cudnn_rnn(input, weight, weight_stride0, *args, out_shape=None, **kwargs) -> int:
    """cuDNN's LSTM: ``weight`` is the flat list (w_ih, w_hh[, b_ih, b_hh]) per layer."""
    stride = int(weight_stride0)
    return sum(_lstm_layer(input, weight[i], weight[i + 1]) for i in range(0, len(weight), stride))


def _cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def _cpu_attention_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_backward_flop_count(grad_out, query, key, value)


FORMULAS = {
    aten.mkldnn_rnn_layer: _mkldnn_forward,
    aten.mkldnn_rnn_layer_backward: _mkldnn_backward,
    aten._cudnn_rnn: _cudnn_rnn,
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward,
}


@dataclass
class FlopCount:
    """FLOPs counted in a `count_flops` block (set when the block ends)."""

    flops: int = 0


class TotalOnly:
    """Stands in for `FlopCounterMode`'s module tracker: every FLOP is the total's
    (``"Global"``), and no module call is hooked."""

    parents = frozenset({"Global"})

    def __enter__(self) -> "TotalOnly":
        return self

    def __exit__(self, *args: object) -> None:
        return None


@contextlib.contextmanager
def count_flops() -> Iterator[FlopCount]:
    """Count the FLOPs of the operators run inside the block (forward and backward)."""
    result = FlopCount()
    counter = flop_counter.FlopCounterMode(display=False, custom_mapping=FORMULAS)
    counter.mod_tracker = TotalOnly()
    with counter:
        yield result
    result.flops = int(counter.get_total_flops())
