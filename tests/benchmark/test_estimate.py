"""The latency estimator (`benchmark.cost.estimate`): the roofline with per-call,
per-tensor and per-operator overheads on hand-made costs and profiles, the exported
graph's counts it reads for onnxruntime, and the host calibrations (finite, positive;
no timing is asserted)."""

from __future__ import annotations

import dataclasses
import math

import onnx
import pytest

from benchmark.cost import estimate
from benchmark.cost.counting import StepCost, step_cost
from benchmark.cost.estimate import (
    DeviceProfile,
    counted_runtime,
    host_profile,
    pi_estimates,
    pi_profile,
)
from benchmark.cost.onnx_export import export_step, exported_cost
from benchmark.cost.steps import network_step
from benchmark.nn.sequence import LSTMLM, LSTMConfig

# 2e6 FLOP at 1 GFLOP/s = 2 ms of compute; 8 MB at 4 GB/s = 2 ms of memory
COST = StepCost(
    "token",
    macs=1_000_000,
    operators=10,
    params=2_000_000,
    nonzero_params=2_000_000,
    bytes_fp32=8_000_000,
    bytes_int8=2_000_000,
    graph_nodes=30,
    graph_tensors=6,
)
ORT = DeviceProfile(
    "d",
    1,
    flops=1e9,
    bandwidth=4e9,
    op_overhead_s=1e-6,
    derived=False,
    runtime="onnxruntime",
    call_overhead_s=5e-6,
    tensor_overhead_s=2e-6,
)


@pytest.fixture(scope="module")
def lstm_export(tmp_path_factory) -> tuple[StepCost, onnx.GraphProto]:
    """A small streaming LSTM step: its cost with the exported graph's counts, and that graph."""
    step = network_step(LSTMLM(LSTMConfig(vocab=50, emb=8, hidden=16, layers=2)))
    path = export_step(step, tmp_path_factory.mktemp("onnx") / "lstm.onnx")
    return exported_cost(step_cost(step), path), onnx.load(str(path)).graph


def test_onnxruntime_estimate_is_call_and_tensors_plus_roofline_plus_graph_nodes():
    overheads = 5e-6 + 6 * 2e-6 + 30 * 1e-6
    assert ORT.estimate_ms(COST) == pytest.approx(1e3 * (overheads + max(2e6 / 1e9, 8e6 / 4e9)))
    memory_bound = dataclasses.replace(COST, bytes_fp32=40_000_000)  # 10 ms of memory > 2 ms of compute
    assert ORT.estimate_ms(memory_bound) == pytest.approx(1e3 * (overheads + 40e6 / 4e9))
    compute_bound = dataclasses.replace(COST, macs=50_000_000)  # 100 ms of compute
    assert ORT.estimate_ms(compute_bound) == pytest.approx(1e3 * (overheads + 1e8 / 1e9))
    terms = ORT.terms_ms(compute_bound)
    assert terms == pytest.approx(
        {"call": 1e3 * (5e-6 + 6 * 2e-6), "compute": 100.0, "memory": 2.0, "operators": 1e3 * 30 * 1e-6}
    )


def test_eager_estimate_counts_aten_operators_and_onnxruntime_needs_the_graph():
    eager = dataclasses.replace(ORT, runtime="pytorch", call_overhead_s=0.0, tensor_overhead_s=0.0)
    assert eager.estimate_ms(COST) == pytest.approx(1e3 * (2e-3 + 10 * 1e-6))  # aten operators, no graph terms
    unexported = dataclasses.replace(COST, graph_nodes=None, graph_tensors=None)
    assert eager.estimate_ms(unexported) == eager.estimate_ms(COST)
    with pytest.raises(ValueError, match="exported graph"):
        ORT.estimate_ms(unexported)
    with pytest.raises(ValueError, match="runtime"):
        dataclasses.replace(ORT, runtime="tflite")
    assert counted_runtime(COST) == "onnxruntime" and counted_runtime(unexported) == "pytorch"


def test_an_exported_lstm_step_counts_the_nodes_and_inputs_and_outputs_of_its_onnx_graph(lstm_export):
    cost, graph = lstm_export
    assert cost.graph_nodes == len(graph.node) > 0
    assert cost.graph_tensors == 6  # token, h, c in; logits, h_out, c_out out
    assert StepCost(**{k: v for k, v in cost.to_dict().items() if not k.startswith("graph_")}).graph_nodes is None


def test_pi_estimates_of_an_exported_step_use_the_onnxruntime_overheads_of_devices_json(lstm_export, monkeypatch):
    def calibrate(*_):
        raise AssertionError("a Pi estimate ran a host microbenchmark")

    monkeypatch.setattr(estimate, "_host_numbers", calibrate)
    monkeypatch.setattr(estimate, "_ort_profile", calibrate)
    cost, _ = lstm_export
    expected = [
        pi_profile(d, t, "onnxruntime").estimate_ms(cost) for d in estimate.PI_DEVICES for t in estimate.PI_THREADS
    ]
    assert [e.latency_ms for e in pi_estimates(cost)] == pytest.approx(expected, rel=1e-12)
    for device in estimate.PI_DEVICES:
        spec = estimate.published_devices()[device]
        for what in ("call", "tensor", "node"):
            number = spec[f"ort_{what}_overhead_us"]
            assert number["value"] > 0 and "derived" in number and "source" not in number


@pytest.mark.parametrize("runtime", ["onnxruntime", "pytorch"])
def test_host_calibration_gives_positive_finite_numbers(lstm_export, runtime):
    cost, _ = lstm_export
    profile = host_profile(1, cost, runtime)
    numbers = [profile.flops, profile.bandwidth, profile.op_overhead_s]
    if runtime == "onnxruntime":
        numbers += [profile.call_overhead_s, profile.tensor_overhead_s]
    assert all(math.isfinite(n) and n > 0 for n in numbers), numbers
    assert profile.runtime == runtime and not profile.derived
    assert math.isfinite(profile.estimate_ms(cost)) and profile.estimate_ms(cost) > 0


def test_a_failing_export_keeps_the_counted_cost(monkeypatch):
    """A scored run must not be lost to an exporter failure: the cost comes back without graph counts."""
    import benchmark.cost.onnx_export as onnx_export
    from benchmark.cost.counting import step_cost
    from benchmark.cost.steps import network_step
    from benchmark.nn.sequence import LSTMLM, LSTMConfig

    step = network_step(LSTMLM(LSTMConfig(vocab=20, emb=4, hidden=8)).eval())

    def broken(*args, **kwargs):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(onnx_export, "export_step", broken)
    with pytest.warns(RuntimeWarning, match="did not export to ONNX .RuntimeError: exporter broke"):
        cost = onnx_export.deployed_cost(step)
    assert cost == step_cost(step) and cost.graph_nodes is None
