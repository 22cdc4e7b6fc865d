"""Export a generation step (`benchmark.cost.steps`) to ONNX, and check the graph
against PyTorch.

A streaming LSTM step exports as one step -- token and state in, logits and state
out -- so the graph has no sequence length to freeze (the dynamo exporter freezes it
for a whole-sequence LSTM); a device runs it in a loop, feeding each ``X_out`` back as
``X`` (`benchmark/cost/device_runner.py` does, with onnxruntime and numpy only).
The transformer's step (a forward over the context) is not exported: its length
grows with every token.  A step that is already a graph -- an int8 graph quantised by
ONNX Runtime (`benchmark.nn.onnx_module.OnnxModule`, `benchmark.compress.int8`) -- is
written as it is, and compared against the float network it was quantised from.
Export and comparison run on the CPU, on a CPU copy of a step the run computed on
another device (`benchmark.cost.counting.on_cpu_step`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from benchmark.cost.counting import InferenceStep, StepCost, on_cpu_step, step_cost
from benchmark.nn.onnx_module import OnnxModule, export_graph
from benchmark.nn.sequence import StreamingLSTM

STATE_INPUTS = ("h", "c")  # the streaming LSTM's state, fed back from "h_out", "c_out"


def io_names(step: InferenceStep) -> tuple[list[str], list[str]]:
    """Input and output names of the exported graph."""
    if isinstance(step.module, OnnxModule):
        return step.module.input_names, step.module.output_names
    if isinstance(step.module, StreamingLSTM):
        return ["token", *STATE_INPUTS], ["logits", *(f"{s}_out" for s in STATE_INPUTS)]
    return ["z"], ["mean", "log_scale"] if step.unit == "note" else ["output"]


def not_exportable(step: InferenceStep) -> str | None:
    """Why ``step`` does not export, or ``None`` when it does."""
    if step.unit == "token" and not isinstance(step.module, (StreamingLSTM, OnnxModule)):
        return "only streaming LSTM steps export for tokens: a transformer step's length grows"
    return None


@on_cpu_step
def export_step(step: InferenceStep, path: Path) -> Path:
    """Write ``step`` as one ONNX file (graph and weights) to ``path`` with the dynamo
    exporter; returns ``path``.  A step that does not export is a `ValueError` saying why."""
    reason = not_exportable(step)
    if reason:
        raise ValueError(reason)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(step.module, OnnxModule):
        path.write_bytes(step.module.graph)
    else:
        path.write_bytes(export_graph(step.module, step.inputs, *io_names(step)).SerializeToString())  # weights inside
    return path


@on_cpu_step
def deployed_cost(step: InferenceStep) -> StepCost:
    """`step_cost` of ``step``, with the counts of its exported graph (`exported_cost`)
    when it exports -- what an ONNX Runtime latency estimate, the leaderboard's Raspberry
    Pi estimates among them, needs.  An export that fails is a `RuntimeWarning`, and the
    cost is returned without the graph's counts."""
    cost = step_cost(step)
    if not_exportable(step):
        return cost
    with tempfile.TemporaryDirectory(prefix="fsmb-step-") as folder:
        try:
            return exported_cost(cost, export_step(step, Path(folder) / "step.onnx"))
        except Exception as exc:  # an exporter failure must not lose the scored run: the counts stay aten's
            warnings.warn(
                f"the generation step did not export to ONNX ({type(exc).__name__}: {exc}); its "
                "Raspberry Pi estimates use PyTorch operator counts",
                RuntimeWarning,
                stacklevel=2,
            )
            return cost


def exported_cost(cost: StepCost, path: Path) -> StepCost:
    """``cost`` with the counts of the ONNX graph at ``path`` that an onnxruntime latency
    estimate needs: its nodes (``graph_nodes``, the operators handed to the runtime,
    which folds or fuses some of them when it loads the graph) and its inputs and
    outputs (``graph_tensors``, each passed across the runtime's API on every call)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    inputs = {i.name for i in graph.input} - {t.name for t in graph.initializer}  # weights are not fed
    return dataclasses.replace(cost, graph_nodes=len(graph.node), graph_tensors=len(inputs) + len(graph.output))


@on_cpu_step
def max_difference(step: InferenceStep, path: Path, *, steps: int = 32, seed: int = 0) -> float:
    """Largest |ONNX Runtime - PyTorch| over the outputs of ``steps`` consecutive steps
    (random tokens for a streaming LSTM, its state carried by each side separately;
    random latent codes for a decoder); for an int8 graph, against the float network
    it was quantised from (the quantisation error)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names, _ = io_names(step)
    rng = np.random.default_rng(seed)
    reference = step.module.source if isinstance(step.module, OnnxModule) else step.module
    torch_inputs = list(step.inputs)
    feeds = {n: x.numpy() for n, x in zip(names, torch_inputs)}
    worst = 0.0
    with torch.inference_mode():
        for _ in range(steps):
            if isinstance(reference, StreamingLSTM):
                token = torch.tensor([[int(rng.integers(3, reference.model.cfg.vocab))]])
                torch_inputs[0], feeds["token"] = token, token.numpy()
            else:
                z = torch.from_numpy(rng.standard_normal(torch_inputs[0].shape).astype(np.float32))
                torch_inputs[0], feeds["z"] = z, z.numpy()
            ours = reference(*torch_inputs)
            ours = ours if isinstance(ours, tuple) else (ours,)
            theirs = session.run(None, feeds)
            worst = max(worst, *(float(np.abs(a.numpy() - b).max()) for a, b in zip(ours, theirs)))
            if isinstance(reference, StreamingLSTM):  # carry each side's own state
                torch_inputs[1:] = ours[1:]
                feeds.update({n: theirs[i + 1] for i, n in enumerate(STATE_INPUTS)})
    return worst
