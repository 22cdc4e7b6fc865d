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
  element-wise work (gates, activations, biases, softmax) is not counted.  Torch's
  dynamic-quantised int8 ``LSTM`` and ``Linear`` (``torch.ao.nn.quantized.dynamic``,
  e.g. ``lstm-int8``) run quantised kernels the counter does not see either: they
  are counted by the same formulas as their fp32 versions (an int8 multiply-add is
  one MAC);
- operators: the aten calls dispatched (per-operator overhead dominates small
  models on a CPU);
- parameters, non-zero parameters, and the weight bytes at fp32 and with int8
  weights, over the weights the network stores (`stored_tensors`): the parameters
  of its float layers, and the int8 weights and fp32 biases that a dynamic-quantised
  layer holds in place of parameters.  ``bytes_fp32``: every stored number at four
  bytes (for an int8 network: what the same weights take at fp32).  ``bytes_int8``:
  for an fp32 network an estimate -- matrices and kernels of
  ``Linear``/``LSTM``/``Conv``/``Embedding`` at one byte plus one fp32 scale per
  output row, everything else at fp32; for a network that already stores int8
  weights, what it stores: its int8 tensors at one byte plus their fp32 scales (one
  per tensor, or per channel; their zero points are 0, symmetric weights, and not
  counted), everything else -- biases, layers left in fp32 such as an embedding --
  at fp32.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Concatenate, Iterator, ParamSpec, Sequence, TypeVar

import torch
from torch import nn
from torch.ao.nn.quantized import dynamic as nnqd
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from benchmark.contract.device import on_device
from episodes.audio import torch_on_cpu

QUANTISABLE = (nn.Linear, nn.LSTM, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)
INT8_LAYERS = (nnqd.LSTM, nnqd.Linear)  # torch's dynamic-quantised layers: int8 weights, no parameters
LSTMS = (nn.LSTM, nnqd.LSTM)  # fp32 and dynamic-quantised int8: fused kernels, counted by `lstm_macs`
BY_FORMULA = (*LSTMS, nnqd.Linear, nn.MultiheadAttention)  # layers whose MACs `formula_macs` counts
CPU = torch.device("cpu")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class InferenceStep:
    """One generation step of a deployed model: ``module(*inputs)`` generates one ``unit``
    (``"token"`` or ``"note"``)."""

    module: nn.Module
    inputs: tuple[Any, ...]
    unit: str


@contextlib.contextmanager
def on_cpu() -> Iterator[None]:
    """Compute on the CPU whatever the run's device: a deployed step's cost and latency
    (a Raspberry Pi's CPU), and torch's int8 kernels, which have no GPU version.  The
    run's device and torch's default device are the CPU while active (the latter is
    switched only when it is not already the CPU: the CPU path pays nothing).  Also a
    decorator, ``@on_cpu()``."""
    with on_device(CPU), torch_on_cpu():
        yield


def cpu_step(step: InferenceStep) -> InferenceStep:
    """``step`` with its module and inputs on the CPU: a module elsewhere is deep-copied
    there (the run's own network stays where it is), inputs are moved."""
    module = step.module
    if any(t.device != CPU for t in [*module.parameters(), *module.buffers()]):
        module = copy.deepcopy(module).to(CPU)
    inputs = tuple(x.to(CPU) if isinstance(x, torch.Tensor) else x for x in step.inputs)
    return replace(step, module=module, inputs=inputs)


def on_cpu_step(measure: Callable[Concatenate[InferenceStep, P], R]) -> Callable[Concatenate[InferenceStep, P], R]:
    """Decorator: ``measure(step, ...)`` runs `on_cpu` on `cpu_step` (``step``) -- counting,
    export and timing of a step are CPU measurements whatever device the run used."""

    @functools.wraps(measure)
    def on_the_cpu(step: InferenceStep, *args: P.args, **kwargs: P.kwargs) -> R:
        with on_cpu():
            return measure(cpu_step(step), *args, **kwargs)

    return on_the_cpu


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
    # the exported ONNX graph's nodes, and its inputs and outputs (`onnx_export.exported_cost`); None: not exported
    graph_nodes: int | None = None
    graph_tensors: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StoredTensor:
    """One weight tensor as a network stores it: ``values`` (fp32; an int8 tensor
    dequantised); ``quantisable``: a matrix or kernel of a `QUANTISABLE` layer (the int8
    estimate of an fp32 network stores it at one byte plus an fp32 scale per output
    row); ``scales``: the number of fp32 scales of a tensor stored as int8 (``None``:
    stored at fp32)."""

    values: torch.Tensor
    quantisable: bool
    scales: int | None = None

    def int8_bytes(self, as_stored: bool) -> int:
        """Bytes with int8 weights: as stored (``as_stored``), or by the estimate for an
        fp32 network (see the module docstring)."""
        n = self.values.numel()
        if self.scales is not None:
            return n + 4 * self.scales
        if self.quantisable and not as_stored:
            return n + 4 * self.values.shape[0]
        return 4 * n


def _int8_tensor(weight: torch.Tensor) -> StoredTensor:
    """A quantised int8 weight tensor, with its number of scales."""
    per_tensor = weight.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric)
    return StoredTensor(weight.dequantize(), True, 1 if per_tensor else weight.q_per_channel_scales().numel())


def _int8_layer_tensors(layer: nnqd.LSTM | nnqd.Linear) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """(int8 weights, fp32 biases) of a dynamic-quantised ``LSTM`` or ``Linear``."""
    if isinstance(layer, nnqd.LSTM):
        return list(layer.get_weight().values()), list(layer.get_bias().values())
    return [layer.weight()], [layer.bias()]


def stored_tensors(module: nn.Module) -> list[StoredTensor]:
    """Every weight tensor of ``module``, each once: the parameters of its float layers,
    and the int8 weights and fp32 biases that torch's dynamic-quantised ``LSTM`` and
    ``Linear`` hold in place of parameters."""
    out: list[StoredTensor] = []
    seen: set[int] = set()
    for sub in module.modules():
        if isinstance(sub, INT8_LAYERS):
            weights, biases = _int8_layer_tensors(sub)
            out += [_int8_tensor(w) for w in weights] + [StoredTensor(b, False) for b in biases if b is not None]
        for name, p in sub.named_parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                quantisable = isinstance(sub, QUANTISABLE) and p.dim() >= 2 and "bias" not in name
                out.append(StoredTensor(p.detach(), quantisable))
    return out


def lstm_macs(lstm: nn.LSTM | nnqd.LSTM, batch: int, steps: int) -> int:
    """MACs of ``lstm`` (fp32 or dynamic-quantised int8) over ``steps`` time steps of
    ``batch`` sequences: each layer and direction multiplies its input (``I``) and its
    hidden state (``H``, or the projection size) by the four gates' weights,
    ``4 H (I + H)``, plus ``H x proj`` if projected."""
    directions = 2 if lstm.bidirectional else 1
    proj = getattr(lstm, "proj_size", 0)  # torch's quantised LSTM has no projection
    hidden, out = lstm.hidden_size, proj or lstm.hidden_size
    total = 0
    for layer in range(lstm.num_layers):
        width_in = lstm.input_size if layer == 0 else out * directions
        per_step = 4 * hidden * (width_in + out) + hidden * proj
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


def formula_macs(layer: nn.Module, args: tuple, kwargs: dict) -> int:
    """MACs of one call ``layer(*args, **kwargs)`` of a `BY_FORMULA` layer: an LSTM
    (`lstm_macs`), a dynamic-quantised ``Linear`` (each input row times its
    ``in x out`` matrix) or the attention products of ``nn.MultiheadAttention``
    (`attention_macs`)."""
    if isinstance(layer, LSTMS):
        x = args[0]
        batch, steps = (x.shape[0], x.shape[1]) if layer.batch_first else (x.shape[1], x.shape[0])
        if x.dim() == 2:  # unbatched (T, I)
            batch, steps = 1, x.shape[0]
        return lstm_macs(layer, batch, steps)
    if isinstance(layer, nnqd.Linear):
        return args[0].numel() * layer.out_features
    query = args[0] if args else kwargs["query"]
    key = args[1] if len(args) > 1 else kwargs["key"]
    return attention_macs(query, key, layer.batch_first)


def count_macs(module: nn.Module, inputs: Sequence[Any]) -> tuple[int, int]:
    """(MACs, aten operators) of one ``module(*inputs)`` call, in inference mode."""
    by_formula = 0

    def on_call(layer: nn.Module, args: tuple, kwargs: dict, _output: Any) -> None:
        nonlocal by_formula
        by_formula += formula_macs(layer, args, kwargs)

    hooks = [m.register_forward_hook(on_call, with_kwargs=True) for m in module.modules() if isinstance(m, BY_FORMULA)]
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


def tensor_bytes(tensors: Sequence[StoredTensor]) -> tuple[int, int]:
    """(fp32 bytes, int8-weight bytes) of a network's stored ``tensors``: as stored when
    any is int8, else the int8 estimate (see the module docstring)."""
    as_stored = any(t.scales is not None for t in tensors)
    return sum(4 * t.values.numel() for t in tensors), sum(t.int8_bytes(as_stored) for t in tensors)


def weight_bytes(module: nn.Module) -> tuple[int, int]:
    """(fp32 bytes, int8-weight bytes) of ``module``'s weights (see the module docstring)."""
    return tensor_bytes(stored_tensors(module))


@on_cpu_step
def step_cost(step: InferenceStep) -> StepCost:
    """Count the cost of ``step`` (it is run once)."""
    macs, operators = count_macs(step.module, step.inputs)
    tensors = stored_tensors(step.module)
    fp32, int8 = tensor_bytes(tensors)
    return StepCost(
        unit=step.unit,
        macs=int(macs),
        operators=operators,
        params=sum(t.values.numel() for t in tensors),
        nonzero_params=sum(int(torch.count_nonzero(t.values)) for t in tensors),
        bytes_fp32=fp32,
        bytes_int8=int8,
    )
