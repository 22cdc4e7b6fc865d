"""A network as ONNX: `export_graph` writes a module's graph with the dynamo exporter, and
`OnnxModule` runs a graph in ONNX Runtime behind the ``nn.Module`` call of the network
it replaces, so that FSMB's scoring, sampling and timing code runs it unchanged.

An `OnnxModule` computes on the CPU (ONNX Runtime's CPU execution provider, what a
Raspberry Pi runs): tensors go in and come out on the CPU, as float32 or int64 as the
graph declares.  It holds one inference session per torch thread count it is called
at, each with ``intra_op_num_threads`` set to ``torch.get_num_threads()`` at its first
call, so ``torch.set_num_threads`` (`benchmark.cost.latency.measure_latency`) sets
its threads as it sets eager PyTorch's.  Its ``source`` is the float network the graph
was made from, on the CPU (a copy of one elsewhere; not a submodule: an `OnnxModule`
has no parameters), which the cost counter reads for the MACs
(`benchmark.cost.counting.step_cost`).
"""

from __future__ import annotations

import copy
import logging
import warnings
from typing import Any, Sequence

import numpy as np
import onnx
import torch
from torch import nn


def export_graph(
    module: nn.Module,
    inputs: Sequence[Any],
    input_names: Sequence[str],
    output_names: Sequence[str],
    *,
    batch_dynamic: bool = False,
) -> onnx.ModelProto:
    """``module`` (in eval mode, on the CPU) as an ONNX graph with its weights inside,
    by torch's dynamo exporter; ``batch_dynamic``: the first dimension of every input
    is left free (``"batch"``), else every shape is that of ``inputs``.  The graph's
    weights are named as ``module``'s parameters and buffers."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # its notes on optional torchvision operators
    dynamic = tuple({0: torch.export.Dim("batch")} for _ in inputs) if batch_dynamic else None
    try:
        with warnings.catch_warnings():  # the exporter's notes on LSTM flat weights and tree specs
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module.eval(),
                tuple(inputs),
                None,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamo=True,
                dynamic_shapes=dynamic,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    assert program is not None
    return program.model_proto


_NUMPY_TYPES = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.INT64: np.int64}


class OnnxModule(nn.Module):
    """The ONNX graph ``graph`` (serialised bytes) as a module: ``forward(*tensors)`` feeds
    them to the graph's inputs in order and returns its one output, or a tuple of its
    outputs (CPU tensors).  ``source``: the float network the graph computes (or
    approximates: an int8 graph, `benchmark.compress.int8`), kept for counting."""

    def __init__(self, graph: bytes, source: nn.Module) -> None:
        super().__init__()
        self.graph = graph
        on_cpu = all(t.device.type == "cpu" for t in [*source.parameters(), *source.buffers()])
        self.__dict__["source"] = source if on_cpu else copy.deepcopy(source).cpu()  # not a submodule
        proto = onnx.load_model_from_string(graph)
        weights = {t.name for t in proto.graph.initializer}
        fed = [i for i in proto.graph.input if i.name not in weights]
        self.input_names = [i.name for i in fed]
        self.input_types = [_NUMPY_TYPES[i.type.tensor_type.elem_type] for i in fed]
        self.output_names = [o.name for o in proto.graph.output]
        self._sessions: dict[int, Any] = {}

    source: nn.Module

    def session(self) -> Any:
        """The ONNX Runtime session at torch's current thread count (made at first use)."""
        import onnxruntime as ort

        threads = torch.get_num_threads()
        if threads not in self._sessions:
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            options.log_severity_level = 3  # errors only
            self._sessions[threads] = ort.InferenceSession(self.graph, options, providers=["CPUExecutionProvider"])
        return self._sessions[threads]

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        feeds = {
            name: t.detach().cpu().numpy().astype(kind, copy=False)
            for name, kind, t in zip(self.input_names, self.input_types, tensors, strict=True)
        }
        out = tuple(torch.from_numpy(x) for x in self.session().run(self.output_names, feeds))
        return out[0] if len(out) == 1 else out

    def __deepcopy__(self, memo: dict) -> OnnxModule:
        """A copy with its own sessions; the graph (bytes) and ``source`` (read only) are shared."""
        return OnnxModule(self.graph, self.source)
