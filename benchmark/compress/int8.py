"""int8 networks by ONNX Runtime's dynamic quantisation of their exported graphs.

`Int8Graph` exports a float network once (`benchmark.nn.onnx_module.export_graph`)
and quantises it -- or the same architecture with other weights, e.g. fine-tuned on a
support set, which are written into the exported graph by name -- into an
`OnnxModule` that runs the int8 graph in ONNX Runtime, the runtime a device runs:

1. ORT's basic graph optimisations fold constants: the exporter reorders an LSTM's
   gate weights with Slice/Concat at run time, and only a folded graph holds an LSTM
   that the quantiser recognises (unfolded, it quantises only the softmax layer);
2. ``onnxruntime.quantization.quantize_dynamic`` with int8 weights, one symmetric
   scale per tensor (ORT's default; per-channel scales were measured no closer to fp32
   on FSMB's networks: `benchmarks/ort_int8.py`), and activations quantised to uint8
   on the fly at every call, one scale per tensor per call.  It turns ``LSTM`` into
   ``DynamicQuantizeLSTM``, ``MatMul``/``Gemm`` into ``MatMulInteger`` and ``Conv``
   into ``ConvInteger``; ``ConvTranspose`` has no dynamic int8 kernel and stays fp32,
   as do embeddings (a table lookup) and element-wise operators.

Quantisation is deterministic: the same weights give the same int8 graph, so a method
stores only the fp32 weights and rebuilds the graph at load.  Since one activation
scale covers every row of a call, a batch's rows are not independent: the int8
methods score each song (token by token) or each note alone (`methods.int8`,
`methods.vae_int8`).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import onnx
from onnx import numpy_helper
from torch import nn

from benchmark.nn.onnx_module import OnnxModule, export_graph


@contextlib.contextmanager
def _quiet_quantiser() -> Iterator[None]:
    """Silence the quantiser's root-logger advice to pre-process the model (shape
    inference for static quantisation; dynamic quantisation does not need it)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantise_graph(graph: onnx.ModelProto, *, per_channel: bool = False) -> bytes:
    """``graph`` constant-folded by ONNX Runtime and dynamically quantised to int8 (see
    the module docstring), serialised; ``per_channel``: one weight scale per output
    channel instead of per tensor (compared in ``benchmarks/ort_int8.py``)."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="fsmb-int8-") as tmp:
        folder = Path(tmp)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folder / "folded.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        with _quiet_quantiser():
            quantize_dynamic(
                folder / "folded.onnx", folder / "int8.onnx", weight_type=QuantType.QInt8, per_channel=per_channel
            )
        return (folder / "int8.onnx").read_bytes()


class Int8Graph:
    """int8 versions of one float architecture: ``module`` is exported once with example
    ``inputs`` (`export_graph`; ``batch_dynamic``: any batch size), and `quantise` turns
    it, or a network of the same architecture, into an int8 `OnnxModule`."""

    def __init__(
        self,
        module: nn.Module,
        inputs: Sequence[Any],
        input_names: Sequence[str],
        output_names: Sequence[str],
        *,
        batch_dynamic: bool = False,
    ) -> None:
        self.module = module
        self.graph = export_graph(module, inputs, input_names, output_names, batch_dynamic=batch_dynamic)
        self.weights = {t.name: i for i, t in enumerate(self.graph.graph.initializer)}

    def quantise(self, module: nn.Module | None = None) -> OnnxModule:
        """The exported module (``None``), or ``module`` -- the exported architecture with
        other weights -- as an int8 `OnnxModule`.  ``module``'s parameters and buffers
        are written into the float graph by name before it is quantised
        (`quantise_graph`); a weight the graph does not hold under its name and shape --
        the exporter renames the weights it folds, e.g. an LSTM's summed biases -- is a
        `ValueError`."""
        if module is None:
            return OnnxModule(quantise_graph(self.graph), source=self.module)
        graph = onnx.ModelProto()
        graph.CopyFrom(self.graph)
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            index = self.weights.get(name)
            array = tensor.detach().cpu().numpy()
            if index is None or tuple(graph.graph.initializer[index].dims) != array.shape:
                raise ValueError(f"the exported graph holds no weight {name!r} of shape {array.shape}")
            graph.graph.initializer[index].CopyFrom(numpy_helper.from_array(array, name))
        return OnnxModule(quantise_graph(graph), source=module)
