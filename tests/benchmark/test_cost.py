"""Counted cost of a generation step: MACs equal hand computations for an LSTM step (fp32
and int8), a linear layer and convolutions; weight bytes and non-zeros; the runner
records the cost of a deployable method and the leaderboard shows it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec
from benchmark.cost.counting import InferenceStep, count_macs, lstm_macs, step_cost, weight_bytes
from benchmark.cost.latency import measure_latency
from benchmark.cost.steps import network_step
from benchmark.nn.conv_vae import ConvVAE, ConvVAEConfig
from benchmark.nn.sequence import LSTMLM, LSTMConfig
from benchmark.run.runner import evaluate
from leaderboard.aggregate import leaderboard_rows
from leaderboard.render import render
from methods.int8 import int8_step
from tests.conftest import TEST_BUDGET


def test_lstm_macs_are_four_gates_times_input_plus_state_per_layer_and_step():
    lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
    one_step = 4 * 16 * (8 + 16) + 4 * 16 * (16 + 16)
    assert lstm_macs(lstm, batch=1, steps=1) == one_step
    assert count_macs(lstm, (torch.zeros(3, 5, 8),))[0] == 3 * 5 * one_step
    both = nn.LSTM(8, 16, bidirectional=True)
    assert count_macs(both, (torch.zeros(5, 1, 8),))[0] == 5 * 2 * 4 * 16 * (8 + 16)


@pytest.mark.parametrize(
    "layer, x, macs",
    [
        (nn.Linear(16, 10), torch.zeros(3, 16), 3 * 16 * 10),
        (nn.Conv2d(4, 8, 3, stride=2, padding=1), torch.zeros(1, 4, 10, 10), 8 * 4 * 3 * 3 * 5 * 5),
        (nn.Conv2d(4, 8, 3, padding=1, groups=2), torch.zeros(1, 4, 6, 6), 8 * 2 * 3 * 3 * 6 * 6),
        (nn.ConvTranspose2d(4, 8, 4, stride=2, padding=1), torch.zeros(1, 4, 5, 5), 4 * 8 * 4 * 4 * 5 * 5),
    ],
)
def test_linear_and_convolution_macs_equal_hand_computation(layer, x, macs):
    assert count_macs(layer, (x,))[0] == macs


def test_a_streaming_lstm_step_costs_its_lstm_and_softmax_layer():
    torch.manual_seed(0)
    model = LSTMLM(LSTMConfig(vocab=300, emb=32, hidden=64))
    step = network_step(model)
    cost = step_cost(step)
    assert step.unit == "token" and step.inputs[0].shape == (1, 1)
    assert cost.macs == 4 * 64 * (32 + 64) + 64 * 300  # the embedding is a lookup
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.nonzero_params == sum(int((p != 0).sum()) for p in model.parameters()) <= cost.params - 32  # PAD row
    pruned = int((model.out.weight[:, :32] != 0).sum())
    with torch.no_grad():
        model.out.weight[:, :32] = 0.0
    assert step_cost(step).nonzero_params == cost.nonzero_params - pruned


def test_weight_bytes_at_fp32_and_with_int8_weights():
    layer = nn.Linear(16, 10)
    assert weight_bytes(layer) == (4 * (160 + 10), 160 + 4 * 10 + 4 * 10)  # int8 matrix + row scales + fp32 bias


def test_a_vae_generates_a_note_through_its_decoder():
    model = ConvVAE(ConvVAEConfig(latent=8, width=4))
    cost = step_cost(network_step(model))
    first = model.decoder[0]
    assert cost.unit == "note" and cost.macs > first.in_features * first.out_features
    assert cost.params == sum(p.numel() for p in model.decoder.parameters())  # the encoder is not deployed


def test_the_run_record_and_leaderboard_carry_the_cost_of_a_deployable_method(track, tmp_path):
    for method in ("lstm", "unigram"):
        evaluate(
            MethodSpec.parse(method),
            track,
            shots=5,
            n_episodes=2,
            out=tmp_path / "r",
            budget=TEST_BUDGET,
            models=tmp_path / "m",
            log=lambda _: None,
        )
    run = json.loads((tmp_path / "r" / "lstm__midi-dir__K5.run.json").read_text())
    cfg = run["hparams"]
    assert run["cost"]["unit"] == "token"
    assert run["cost"]["macs"] == 4 * cfg["hidden"] * (cfg["emb"] + cfg["hidden"]) + cfg["hidden"] * cfg["vocab"]
    assert json.loads((tmp_path / "r" / "unigram__midi-dir__K5.run.json").read_text())["cost"] is None
    table = render(leaderboard_rows(tmp_path / "r"), "md")
    assert "cost of one generation step" in table and f"| lstm | 5 | token | {run['cost']['macs']:,} |" in table
    assert "| unigram | 5 | token" not in table


def test_latency_is_percentiles_of_timed_runs_and_restores_the_threads():
    step = network_step(LSTMLM(LSTMConfig(vocab=50, emb=8, hidden=16)))
    before = torch.get_num_threads()
    latency = measure_latency(step, threads=1, runs=30, warmup=2)
    assert latency.runs == 30 and latency.threads == 1 and 0 < latency.p50_ms <= latency.p90_ms
    assert latency.real_time_factor is None and torch.get_num_threads() == before
    note = measure_latency(
        network_step(ConvVAE(ConvVAEConfig(latent=8, width=4))), threads=1, runs=10, warmup=1, unit_seconds=4.0
    )
    assert note.unit == "note" and note.real_time_factor == pytest.approx(note.p50_ms / 4000, rel=1e-3)


def test_fsmb_latency_reports_the_cost_and_latency_of_a_fitted_method(midi_root, cache_dir, tmp_path, capsys):
    common = [
        "--track",
        "midi/dir",
        "--data-dir",
        str(midi_root),
        "--cache-dir",
        str(cache_dir),
        "--models",
        str(tmp_path / "m"),
        "--budget",
        "tiny",
    ]
    assert (
        main(
            [
                "latency",
                "--method",
                "lstm",
                "--thread-counts",
                "1,2",
                "--runs",
                "10",
                "--report",
                str(tmp_path / "latency.json"),
                *common,
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "latency.json").read_text())
    assert [r["threads"] for r in report["latency"]] == [1, 2] and all(r["runs"] == 10 for r in report["latency"])
    assert report["cost"]["unit"] == "token" and report["host"]["cpu"]
    assert report["target"] == "baselines.lstm:LSTMBaseline"
    capsys.readouterr()
    assert main(["latency", "--method", "unigram", *common]) == 2
    assert "defines no inference_step()" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["latency", "--method", "lstm", "--thread-counts", "0,1", *common])


def test_a_transformer_step_counts_its_linear_layers_and_attention_products():
    from benchmark.nn.transformer import TransformerConfig, TransformerLM

    cfg = TransformerConfig(vocab=50, d_model=32, layers=2, heads=4, ff=64, context=16)
    step = network_step(TransformerLM(cfg))
    t, d = cfg.context // 2, cfg.d_model
    per_layer = t * (4 * d * d + 2 * d * cfg.ff) + 2 * t * t * d  # q, k, v, out; MLP; scores and weighted sum
    assert step.inputs[0].shape == (1, t)
    assert step_cost(step).macs == cfg.layers * per_layer + t * d * cfg.vocab
    assert torch.backends.mha.get_fastpath_enabled()  # switched off only while counting


def test_the_estimator_is_a_roofline_with_per_operator_overhead():
    from benchmark.cost.counting import StepCost
    from benchmark.cost.estimate import DeviceProfile

    cost = StepCost(
        "token", macs=1_000_000, operators=10, params=0, nonzero_params=0, bytes_fp32=8_000_000, bytes_int8=0
    )
    device = DeviceProfile("d", 1, flops=1e9, bandwidth=4e9, op_overhead_s=1e-5, derived=False)
    assert device.estimate_ms(cost) == pytest.approx(1e3 * (max(2e6 / 1e9, 8e6 / 4e9) + 10 * 1e-5))


def test_every_published_device_number_has_a_source_or_a_derivation():
    from benchmark.cost.estimate import host_profile, pi_profile, published_devices

    devices = published_devices()
    assert {"raspberry-pi-4", "raspberry-pi-5"} <= set(devices)
    for spec in devices.values():
        numbers = [v for v in spec.values() if isinstance(v, dict)]
        assert numbers and all(("source" in n) != ("derived" in n) and n["value"] > 0 for n in numbers)
    cost = step_cost(network_step(LSTMLM(LSTMConfig(vocab=50, emb=8, hidden=16))))
    pi4, host = pi_profile("raspberry-pi-4", 8), host_profile(1, cost)
    assert pi4.threads == 4 and pi4.derived and pi4.flops == pytest.approx(4 * 5.95e9)
    assert host.flops > 0 and host.bandwidth > 0 and host.op_overhead_s > 0 and not host.derived


@pytest.mark.parametrize(
    "model",
    [LSTMLM(LSTMConfig(vocab=60, emb=16, hidden=32, layers=2)), ConvVAE(ConvVAEConfig(latent=8, width=4))],
    ids=["lstm", "vae"],
)
def test_an_exported_step_matches_pytorch_and_runs_on_onnxruntime_alone(model, tmp_path):
    import subprocess
    import sys

    from benchmark.cost.onnx_export import export_step, max_difference

    step = network_step(model)
    path = export_step(step, tmp_path / "step.onnx")
    assert max_difference(step, path, steps=8) < 1e-5
    runner = Path(__file__).resolve().parents[2] / "benchmark" / "cost" / "device_runner.py"
    subprocess.run(
        [
            sys.executable,
            str(runner),
            str(path),
            "--threads",
            "1,2",
            "--runs",
            "10",
            "--out",
            str(tmp_path / "device.json"),
            "--outputs",
            str(tmp_path / "device.npz"),
            "--check-steps",
            "4",
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    report = json.loads((tmp_path / "device.json").read_text())
    assert [r["threads"] for r in report["latency"]] == [1, 2]
    assert all(0 < r["p50_ms"] <= r["p90_ms"] for r in report["latency"]) and report["device"]["cpu"]
    # the recorded outputs: 4 steps of every output, what this process computes on the same inputs
    from benchmark.cost import device_runner

    with np.load(tmp_path / "device.npz") as recorded:
        device = {k: recorded[k] for k in recorded.files}
    host = device_runner.check_outputs(device_runner.session_at(str(path), 1), 4)
    assert report["outputs"] == {"file": "device.npz", "steps": 4} and set(device) == set(host)
    assert all(v.shape[0] == 4 and not np.array_equal(v[0], v[1]) for v in device.values())  # fresh inputs each step
    assert device_runner.compare(host, device).matches
    off = {k: v + (0.01 * np.abs(v).max() if k == next(iter(device)) else 0) for k, v in device.items()}
    assert not device_runner.compare(host, off).matches and "DIFFERS" in device_runner.compare(host, off).line()
    with pytest.raises(ValueError, match="names or shapes"):
        device_runner.compare(host, {k: v[:2] for k, v in device.items()})


def test_fsmb_export_writes_a_checked_graph_and_refuses_a_transformer(midi_root, cache_dir, tmp_path, capsys):
    common = [
        "--track",
        "midi/dir",
        "--data-dir",
        str(midi_root),
        "--cache-dir",
        str(cache_dir),
        "--models",
        str(tmp_path / "m"),
        "--budget",
        "tiny",
        "--out",
        str(tmp_path / "x"),
    ]
    assert main(["export", "--method", "lstm", *common]) == 0
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{") :])  # after the training log
    assert report["onnx"].endswith("lstm__midi-dir.onnx") and report["max_abs_difference_vs_pytorch"] < 1e-4
    assert main(["export", "--method", "transformer-icl", *common]) == 2
    assert "a transformer step's length grows" in capsys.readouterr().err


def test_a_device_measurement_is_ingested_for_its_own_model_and_shown_as_measured(
    midi_root, cache_dir, tmp_path, capsys
):
    import subprocess
    import sys

    common = [
        "--track",
        "midi/dir",
        "--data-dir",
        str(midi_root),
        "--cache-dir",
        str(cache_dir),
        "--models",
        str(tmp_path / "m"),
        "--budget",
        "tiny",
    ]
    assert main(["export", "--method", "lstm", "--out", str(tmp_path / "x"), *common]) == 0
    export = tmp_path / "x" / "lstm__midi-dir.export.json"
    runner = Path(__file__).resolve().parents[2] / "benchmark" / "cost" / "device_runner.py"
    subprocess.run(
        [
            sys.executable,
            str(runner),
            str(tmp_path / "x" / "lstm__midi-dir.onnx"),
            "--threads",
            "1",
            "--runs",
            "10",
            "--out",
            str(tmp_path / "device.json"),
        ],
        check=True,
        capture_output=True,
    )
    assert main(["eval", "--method", "lstm", "--episodes", "2", "--out", str(tmp_path / "r"), *common]) == 0
    assert (
        main(
            [
                "latency",
                "ingest",
                str(tmp_path / "device.json"),
                "--export",
                str(export),
                "--results",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(tmp_path / "r")]) == 0
    device = json.loads((tmp_path / "device.json").read_text())
    p50 = device["latency"][0]["p50_ms"]
    assert f"{p50:.3f} ms ({device['device']['cpu']}, 1 thr)" in capsys.readouterr().out
    edited = {**device, "model_sha256": "0" * 64}  # a report of another model is refused
    (tmp_path / "other.json").write_text(json.dumps(edited))
    assert (
        main(
            [
                "latency",
                "ingest",
                str(tmp_path / "other.json"),
                "--export",
                str(export),
                "--results",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "timed a model with sha256 000000000000" in capsys.readouterr().err


def test_an_int8_graph_is_counted_on_its_float_source_and_by_the_bytes_it_stores():
    """ONNX Runtime's int8 graph of a streaming LSTM step (`methods.int8.int8_step`): the
    MACs and parameters of the float step, the bytes of the graph's initializers (every
    weight matrix and the embedding at one byte, biases and scales at four), and those
    bytes are what the estimate's memory term reads."""
    import onnx

    from benchmark.cost.estimate import pi_profile
    from benchmark.cost.onnx_export import deployed_cost

    torch.manual_seed(0)
    e, h, v = 32, 64, 300
    model = LSTMLM(LSTMConfig(vocab=v, emb=e, hidden=h))
    fp32 = step_cost(network_step(model))
    int8_module = int8_step(model)
    int8 = step_cost(InferenceStep(int8_module, network_step(model).inputs, "token"))
    assert int8.macs == fp32.macs == 4 * h * (e + h) + h * v
    assert int8.params == fp32.params and int8.bytes_fp32 == fp32.bytes_fp32 and int8.weights_int8
    weights = v * e + 4 * h * e + 4 * h * h + v * h  # embedding, weight_ih, weight_hh, softmax layer: int8
    biases = 4 * (2 * 4 * h + v)
    assert weights + biases < int8.bytes_int8 < weights + biases + 4096  # + scales, zero points, graph constants
    deployed = deployed_cost(InferenceStep(int8_module, network_step(model).inputs, "token"))
    assert deployed.graph_nodes == len(onnx.load_model_from_string(int8_module.graph).graph.node)
    pi = pi_profile("raspberry-pi-4", 1, "onnxruntime")
    fp32_deployed = deployed_cost(network_step(model))
    ratio = pi.terms_ms(deployed)["memory"] / pi.terms_ms(fp32_deployed)["memory"]
    assert ratio == pytest.approx(int8.bytes_int8 / fp32.bytes_fp32)


def test_a_calibration_times_against_its_baseline_and_never_returns_a_negative_time():
    from benchmark.cost.estimate import _excess_seconds

    assert 0.5e-3 < _excess_seconds(lambda: time.sleep(1e-3), lambda: None, 5) < 0.1
    with pytest.raises(RuntimeError, match="too busy"):
        _excess_seconds(lambda: None, lambda: time.sleep(1e-4), 3, attempts=2)
