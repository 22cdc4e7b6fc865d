"""Estimated Raspberry Pi latency on leaderboard rows, and the NLL-latency Pareto plot."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest

from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec
from benchmark.cost import estimate
from benchmark.cost.counting import StepCost
from benchmark.cost.estimate import pi_estimates
from leaderboard.aggregate import leaderboard_rows
from leaderboard.pareto import pareto_front, spread
from leaderboard.render import render
from tests.conftest import TEST_BUDGET

# Compute-bound on one Pi 4 core (2e7 FLOP / 5.95 GFLOP/s = 3.4 ms), memory-bound on
# four (8 MB / 5.5 GB/s = 1.5 ms > 0.84 ms).
COST = StepCost(
    "token",
    macs=10_000_000,
    operators=40,
    params=2_000_000,
    nonzero_params=2_000_000,
    bytes_fp32=8_000_000,
    bytes_int8=2_000_000,
)
SMALL = StepCost(
    "token", macs=50_000, operators=6, params=50_000, nonzero_params=50_000, bytes_fp32=200_000, bytes_int8=60_000
)


def test_the_pareto_front_keeps_the_points_nothing_beats_on_both():
    points = [(1.0, 5.0), (2.0, 3.0), (2.0, 4.0), (3.0, 3.0), (0.5, 6.0), (4.0, 1.0), (1.0, 5.0), (5.0, 2.0)]
    # (2, 4) and (3, 3) lose to (2, 3); (5, 2) to (4, 1); the second (1, 5) equals the first
    assert pareto_front(points) == [4, 0, 1, 5]
    assert pareto_front([]) == [] and pareto_front([(1.0, 1.0)]) == [0]


def test_labels_are_spread_apart_about_their_mean_and_far_ones_stay():
    assert spread([0.0, 0.0, 0.0], 1.0) == [-1.0, 0.0, 1.0]
    assert spread([0.0, 5.0, 5.5], 1.0) == [0.0, 4.75, 5.75]
    assert spread([0.0, 2.0, 4.0], 1.0) == [0.0, 2.0, 4.0]


def test_pi_estimates_are_the_roofline_of_devices_json_and_never_calibrate_the_host(monkeypatch):
    def calibrate(*_):
        raise AssertionError("a Pi estimate ran the host microbenchmarks")

    monkeypatch.setattr(estimate, "_host_numbers", calibrate)
    devices = json.loads((Path(estimate.__file__).parent / "devices.json").read_text())["devices"]
    expected = {}
    for device in ("raspberry-pi-4", "raspberry-pi-5"):
        spec = devices[device]
        flops = spec["fp32_gflops_per_core"]["value"] * 1e9
        bandwidth, overhead = spec["stream_copy_gbps"]["value"] * 1e9, spec["op_overhead_us"]["value"] * 1e-6
        for threads in (1, 4):
            roofline = max(2 * COST.macs / (flops * threads), COST.bytes_fp32 / bandwidth)
            expected[device, threads] = 1e3 * (roofline + COST.operators * overhead)
    got = {(e.device, e.threads): e.latency_ms for e in pi_estimates(COST)}
    assert got == pytest.approx(expected, rel=1e-12)
    assert got["raspberry-pi-4", 1] > got["raspberry-pi-4", 4] > got["raspberry-pi-5", 4]
    assert all(e.real_time_factor is None for e in pi_estimates(COST))  # a token has no duration
    note = dataclasses.replace(COST, unit="note")
    assert [e.real_time_factor for e in pi_estimates(note)] == pytest.approx(
        [e.latency_ms / 1e3 / 4.0 for e in pi_estimates(note)]
    )  # a note of audio/gm-notes lasts 4 s


def costed_results(track, folder: Path) -> Path:
    """A results folder of unigram and unigram-support runs whose records are given a
    counted cost (the unigrams deploy no network; a cost is what the leaderboard reads)."""
    from benchmark.run.runner import evaluate

    for method, cost in (("unigram", SMALL), ("unigram-support", COST)):
        run_path = evaluate(
            MethodSpec.parse(method),
            track,
            shots=5,
            n_episodes=5,
            out=folder,
            budget=TEST_BUDGET,
            models=folder.parent / "m",
            log=lambda _: None,
        ).with_suffix(".run.json")
        record = json.loads(run_path.read_text())
        run_path.write_text(json.dumps({**record, "cost": cost.to_dict()}))
    return folder


def test_the_cost_table_csv_and_json_carry_the_pi_estimates(track, tmp_path):
    rows = leaderboard_rows(costed_results(track, tmp_path / "r"))
    row = next(r for r in rows if r.method == "unigram-support")
    est = {(e.device, e.threads): e.latency_ms for e in pi_estimates(COST)}
    md = render(rows, "md")
    assert "| est. Pi 4 ms/step (1 / 4 thr) | est. Pi 5 ms/step (1 / 4 thr) |" in md
    cells = (
        f"{est['raspberry-pi-4', 1]:.3f} / {est['raspberry-pi-4', 4]:.3f} | "
        f"{est['raspberry-pi-5', 1]:.3f} / {est['raspberry-pi-5', 4]:.3f} |"
    )
    assert f"| unigram-support | 5 | token | {COST.macs:,} |" in md and cells in md
    assert "real-time factor" not in md  # tokens have no duration
    table = {r["method"]: r for r in csv.DictReader(io.StringIO(render(rows, "csv")))}
    assert float(table["unigram-support"]["est_ms_raspberry-pi-5_4thr"]) == est["raspberry-pi-5", 4]
    assert table["unigram-support"]["est_rtf_raspberry-pi-5_4thr"] == ""
    data = {r["method"]: r for r in json.loads(render(rows, "json"))}
    assert [(e["device"], e["threads"]) for e in data["unigram-support"]["pi_estimates"]] == list(est)
    notes = render([dataclasses.replace(row, cost={**row.cost, "unit": "note"})], "md")
    pi4 = next(e for e in pi_estimates(dataclasses.replace(COST, unit="note")) if e.threads == 1)
    assert "| est. Pi 4 real-time factor (1 / 4 thr) |" in notes and "a note lasting 4 s" in notes
    assert f"| {pi4.real_time_factor:.5f} / " in notes


def test_fsmb_leaderboard_pareto_writes_a_png_and_refuses_rows_without_a_cost(track, tmp_path, capsys):
    from benchmark.run.runner import evaluate

    png = tmp_path / "pareto.png"
    evaluate(
        MethodSpec.parse("unigram"),
        track,
        shots=5,
        n_episodes=5,
        out=tmp_path / "none",
        budget=TEST_BUDGET,
        models=tmp_path / "m",
        log=lambda _: None,
    )
    assert main(["leaderboard", "--results", str(tmp_path / "none"), "--pareto", str(png)]) == 2
    assert "no leaderboard row records the cost" in capsys.readouterr().err and not png.exists()
    results = costed_results(track, tmp_path / "r")
    assert main(["leaderboard", "--results", str(results), "--pareto", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
