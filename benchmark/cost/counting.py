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
  weights.  ``bytes_fp32``: every parameter at four bytes.  ``bytes_int8``: an
  estimate -- matrices and kernels of ``Linear``/``LSTM``/``Conv``/``Embedding`` at
  one byte plus one fp32 scale per output row, everything else at fp32.

A step whose module is an int8 graph run by ONNX Runtime (an `OnnxModule`,
`benchmark.compress.int8`: ``lstm-int8``, ``vae-int8``) is counted on the float
network it was quantised from (its ``source``: an int8 multiply-add is one MAC, and
the parameters are the same), except its ``bytes_int8``: what the int8 graph stores,
every initializer at its own width (int8 weights and their scales and zero points,
the fp32 tensors left unquantised, the graph's constants), and ``weights_int8`` says
that a step reads those bytes (the latency estimate's memory term,
`benchmark.cost.estimate`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Concatenate, Iterator, ParamSpec, Sequence, TypeVar

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from benchmark.contract.device import on_device
from benchmark.nn.onnx_module import OnnxModule
from episodes.audio import torch_on_cpu

QUANTISABLE = (nn.Linear, nn.LSTM, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)
BY_FORMULA = (nn.LSTM, nn.MultiheadAttention)  # layers whose MACs `formula_macs` counts
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
    weights_int8: bool = False  # the step reads int8 weights: ``bytes_int8`` is what it stores (an int8 graph)

    def read_bytes(self) -> int:
        """The weight bytes one step reads: ``bytes_int8`` for a step that stores int8
        weights (``weights_int8``), else ``bytes_fp32``."""
        return self.bytes_int8 if self.weights_int8 else self.bytes_fp32

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StoredTensor:
    """One parameter of a float network: ``values``; ``quantisable``: a matrix or kernel
    of a `QUANTISABLE` layer, which the int8 estimate stores at one byte plus an fp32
    scale per output row."""

    values: torch.Tensor
    quantisable: bool

    def int8_bytes(self) -> int:
        """Bytes by the int8 estimate (see the module docstring)."""
        n = self.values.numel()
        return n + 4 * self.values.shape[0] if self.quantisable else 4 * n


def stored_tensors(module: nn.Module) -> list[StoredTensor]:
    """Every parameter of ``module``, each once."""
    out: list[StoredTensor] = []
    seen: set[int] = set()
    for sub in module.modules():
        for name, p in sub.named_parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                quantisable = isinstance(sub, QUANTISABLE) and p.dim() >= 2 and "bias" not in name
                out.append(StoredTensor(p.detach(), quantisable))
    return out


def graph_bytes(module: OnnxModule) -> int:
    """Bytes of the initializers ``module``'s graph stores, each at its own width."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_model_from_string(module.graph).graph
    return sum(numpy_helper.to_array(t).nbytes for t in graph.initializer)


def lstm_macs(lstm: nn.LSTM, batch: int, steps: int) -> int:
    """MACs of ``lstm`` over ``steps`` time steps of
    ``batch`` sequences: each layer and direction multiplies its input (``I``) and its
    hidden state (``H``, or the projection size) by the four gates' weights,
    ``4 H (I + H)``, plus ``H x proj`` if projected."""
    directions = 2 if lstm.bidirectional else 1
    proj = lstm.proj_size
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
    (`lstm_macs`) or the attention products of ``nn.MultiheadAttention``
    (`attention_macs`)."""
    if isinstance(layer, nn.LSTM):
        x = args[0]
        batch, steps = (x.shape[0], x.shape[1]) if layer.batch_first else (x.shape[1], x.shape[0])
        if x.dim() == 2:  # unbatched (T, I)
            batch, steps = 1, x.shape[0]
        return lstm_macs(layer, batch, steps)
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


def weight_bytes(module: nn.Module) -> tuple[int, int]:
    """(fp32 bytes, int8-weight bytes by the estimate) of ``module``'s parameters."""
    tensors = stored_tensors(module)
    return sum(4 * t.values.numel() for t in tensors), sum(t.int8_bytes() for t in tensors)


@on_cpu_step
def step_cost(step: InferenceStep) -> StepCost:
    """Count the cost of ``step`` (it is run once; an int8 graph's float ``source``, see
    the module docstring)."""
    graph = step.module if isinstance(step.module, OnnxModule) else None
    network = graph.source if graph is not None else step.module
    macs, operators = count_macs(network, step.inputs)
    tensors = stored_tensors(network)
    fp32, int8 = weight_bytes(network)
    return StepCost(
        unit=step.unit,
        macs=int(macs),
        operators=operators,
        params=sum(t.values.numel() for t in tensors),
        nonzero_params=sum(int(torch.count_nonzero(t.values)) for t in tensors),
        bytes_fp32=fp32,
        bytes_int8=graph_bytes(graph) if graph is not None else int8,
        weights_int8=graph is not None,
    )
