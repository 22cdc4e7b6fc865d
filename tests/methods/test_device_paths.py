"""The run's device (`benchmark.contract.device`), tested on the CPU: ``--device`` parsing;
`to_run_device` and `cpu_randn` give what the plain CPU code gives; methods fitted,
scored and sampled with torch's default-device context on (the code path of a GPU
run) give bit-identical results (the transformer: to float rounding); int8 networks and
deployment costs compute on the CPU under another default device (the meta device
stands in for a GPU)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.lstm import LSTMBaseline
from benchmark.contract.device import (
    GPU_TOLERANCE,
    DeviceError,
    cpu_randn,
    on_device,
    parse_device,
    run_device,
    to_run_device,
)
from benchmark.contract.methods import make_method
from benchmark.contract.protocol import BUDGETS, MetaTrainData, Method
from benchmark.cost.counting import cpu_step, on_cpu, step_cost
from benchmark.cost.latency import measure_latency
from benchmark.cost.onnx_export import deployed_cost, export_step, max_difference
from benchmark.cost.steps import network_step
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from episodes.tracks import Track
from methods.int8 import LSTMInt8
from methods.transformer_icl import TransformerICL

BUDGET = BUDGETS["tiny"].with_steps(2)
CPU = torch.device("cpu")


@contextlib.contextmanager
def gpu_code_path() -> Iterator[None]:
    """What the runner enters for a GPU, with the CPU as the device: torch's
    default-device context on and the run's device set."""
    with torch.device(CPU), on_device(CPU):
        yield


@contextlib.contextmanager
def elsewhere() -> Iterator[None]:
    """A run on a device other than the CPU (the meta device: no memory, no values)."""
    meta = torch.device("meta")
    with on_device(meta):
        yield


# ----- --device ----------------------------------------------------------------------
def test_cpu_and_auto_parse_to_the_cpu_here():
    assert parse_device("cpu") == CPU and parse_device(" CPU ") == CPU
    if not torch.cuda.is_available():
        assert parse_device("auto") == CPU


@pytest.mark.parametrize("text", ["cuda", "cuda:0", "cuda:x", "tpu", "gpu", "mps", ""])
def test_a_device_not_here_is_one_line_naming_the_option(text):
    if (text.startswith("cuda") and text != "cuda:x" and torch.cuda.is_available()) or (
        text == "mps" and torch.backends.mps.is_available()
    ):
        pytest.skip(f"{text} exists on this machine")
    with pytest.raises(DeviceError) as error:
        parse_device(text)
    message = str(error.value)
    assert message.startswith("--device") and "\n" not in message


# ----- arrays and random numbers -------------------------------------------------------
@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int64).reshape(3, 4),
        np.linspace(0, 1, 12).reshape(3, 4).T,  # not contiguous
        np.arange(5, dtype=np.uint8),
    ],
)
def test_to_run_device_gives_what_from_numpy_gives(array):
    for context in (contextlib.nullcontext, gpu_code_path):
        with context():
            tensor = to_run_device(array)
        assert tensor.device == CPU and tensor.dtype == torch.from_numpy(array).dtype
        assert torch.equal(tensor, torch.from_numpy(array))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_randn_draws_what_torch_randn_draws(dtype):
    expected = torch.randn((3, 5), generator=torch.Generator().manual_seed(7), dtype=dtype)
    torch.manual_seed(11)
    global_expected = torch.randn((4,), dtype=dtype)
    for context in (contextlib.nullcontext, gpu_code_path):
        with context():
            drawn = cpu_randn(3, 5, generator=torch.Generator().manual_seed(7), dtype=dtype)
            torch.manual_seed(11)
            global_drawn = cpu_randn(4, generator=None, dtype=dtype)
        assert torch.equal(drawn, expected) and torch.equal(global_drawn, global_expected)


# ----- methods on the default-device code path -----------------------------------------
def fitted(make: Callable[[], Method], track: Track, logdir: Path, pretrained: Callable | None = None) -> Method:
    method = make()
    torch.manual_seed(0)
    method.fit(MetaTrainData(track, seed=0, pretrained=pretrained), budget=BUDGET, logdir=logdir)
    return method


def outputs(method: Method, track: Track) -> tuple[np.ndarray, list[np.ndarray]]:
    """Log-probs of a test episode's queries and two samples, adapted to its support set."""
    episode = track.episode(track.manifest("test").episodes[0])
    adapted = method.adapt(list(episode.support))
    return (
        np.asarray(adapted.log_prob(list(episode.query))),
        adapted.sample(2, max_len=24, generator=np.random.default_rng(0)),
    )


def assert_same(a: tuple[np.ndarray, list[np.ndarray]], b: tuple[np.ndarray, list[np.ndarray]], rtol: float) -> None:
    """Same log-probs (to ``rtol``; bit for bit at 0) and the very same samples."""
    assert a[0].dtype == b[0].dtype
    assert np.array_equal(a[0], b[0]) if rtol == 0 else np.allclose(a[0], b[0], rtol=rtol, atol=0)
    assert len(a[1]) == len(b[1]) and all(np.array_equal(x, y) for x, y in zip(a[1], b[1]))


# Under any torch function mode, the default-device context among them, nn.TransformerEncoderLayer
# leaves its fused CPU fast path for the plain one: the transformer's scores then move by float
# rounding (~1e-8 relative), which is why a GPU run is held to GPU_TOLERANCE, not bit for bit.
@pytest.mark.parametrize(
    "make, modality, rtol",
    [
        (lambda: make_method("lstm"), "midi", 0),
        (lambda: make_method("lstm-concat"), "midi", 0),
        (lambda: TransformerICL(context=128, support_budget=64, stride=32), "midi", GPU_TOLERANCE),
        (lambda: make_method("vae"), "audio", 0),
    ],
    ids=["lstm", "lstm-concat", "transformer-icl", "vae"],
)
def test_fit_score_and_sample_agree_with_the_default_device_context(make, modality, rtol, request, tmp_path):
    track = request.getfixturevalue("track" if modality == "midi" else "audio_track")
    plain = outputs(fitted(make, track, tmp_path / "plain"), track)
    with gpu_code_path():
        on_path = outputs(fitted(make, track, tmp_path / "context"), track)
    assert_same(plain, on_path, rtol)


# ----- what computes on the CPU whatever the run's device -------------------------------
def test_on_cpu_makes_the_cpu_the_run_device_and_the_default_device():
    with elsewhere():
        assert torch.zeros(1).device.type == "meta"
        with on_cpu():
            assert run_device() == CPU and torch.zeros(1).device == CPU
        assert run_device().type == "meta"


def test_a_step_on_the_cpu_is_measured_as_it_is():
    step = network_step(LSTMLM(LSTMConfig(vocab=50, emb=8, hidden=16)))
    moved = cpu_step(step)
    assert moved.module is step.module and all(a is b for a, b in zip(moved.inputs, step.inputs))


def test_costs_export_and_latency_run_on_the_cpu_under_another_default_device(tmp_path):
    torch.manual_seed(0)
    step = network_step(LSTMLM(LSTMConfig(vocab=50, emb=8, hidden=16)))
    counted, deployed = step_cost(step), deployed_cost(step)
    assert deployed.graph_nodes is not None  # it exported
    path = export_step(step, tmp_path / "step.onnx")
    with elsewhere():
        assert step_cost(step) == counted and deployed_cost(step) == deployed
        assert max_difference(step, path, steps=4) < 1e-5  # its inputs would be on the meta device unswitched
        assert measure_latency(step, threads=1, runs=10, warmup=1).runs == 10


def test_int8_scores_and_samples_on_the_cpu_under_another_default_device(track, tmp_path):
    base = fitted(LSTMBaseline, track, tmp_path / "lstm")
    int8 = fitted(LSTMInt8, track, tmp_path / "int8", {"lstm": base}.__getitem__)
    expected = outputs(int8, track)
    with elsewhere():
        got = outputs(fitted(LSTMInt8, track, tmp_path / "int8-elsewhere", {"lstm": base}.__getitem__), track)
    assert_same(expected, got, 0)
