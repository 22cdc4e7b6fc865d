"""Latency measured on a device (`benchmark/cost/device_runner.py`), tied to the fitted
model it measured, and kept beside the results so that the leaderboard shows it as
**measured**, apart from anything estimated.

``fsmb export`` writes ``NAME.onnx`` and ``NAME.export.json`` (the method, track,
fitted-model identity and the ONNX file's sha256); ``fsmb latency ingest
DEVICE.json --export NAME.export.json --results DIR`` checks that the device ran
that very file and writes ``DIR/<method>__<track>__<device>.latency.json``; a
leaderboard row shows it when its run's fitted model is the exported one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from benchmark.run.arguments import ArgumentError
from benchmark.run.records import RunRecord, safe_name
from episodes.atomic import write_json
from episodes.types import track_slug

FORMAT = 1


def read_json(path: Path, kind: str) -> dict:
    """A JSON object of ``kind`` (``"device-latency"`` or ``"export"``), or one line saying why not."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArgumentError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != kind or data.get("format") != FORMAT:
        raise ArgumentError(
            f"{path}: not a {kind} file of format {FORMAT} (kind {data.get('kind') if isinstance(data, dict) else None!r})"
        )
    return data


def ingest(device_path: Path, export_path: Path, results: Path) -> Path:
    """Check a device-runner report against the export it timed and write it into ``results``."""
    device, export = read_json(device_path, "device-latency"), read_json(export_path, "export")
    if device.get("model_sha256") != export["onnx_sha256"]:
        raise ArgumentError(
            f"{device_path} timed a model with sha256 {str(device.get('model_sha256'))[:12]}…, not "
            f"{export_path}'s {export['onnx_sha256'][:12]}…: run device_runner.py on that export"
        )
    latency = device.get("latency")
    good = (
        isinstance(latency, list)
        and latency
        and all(
            isinstance(r, dict)
            and isinstance(r.get("threads"), int)
            and r["threads"] >= 1
            and all(
                isinstance(r.get(k), (int, float)) and math.isfinite(r[k]) and r[k] > 0 for k in ("p50_ms", "p90_ms")
            )
            for r in latency
        )
    )
    if not good:
        raise ArgumentError(f"{device_path}: 'latency' must list thread counts with finite positive p50_ms, p90_ms")
    cpu = str(device.get("device", {}).get("cpu", "unknown device"))
    record = {
        "kind": "device-latency",
        "format": FORMAT,
        "method": export["method"],
        "target": export["target"],
        "track": export["track"],
        "state_sha256": export["state_sha256"],
        "unit": export["unit"],
        "onnx_sha256": export["onnx_sha256"],
        "device": device.get("device", {}),
        "latency": latency,
        "measured": device.get("measured"),
    }
    out = Path(results) / f"{safe_name(export['method'])}__{track_slug(export['track'])}__{safe_name(cpu)}.latency.json"
    write_json(out, record)
    return out


def measured_latencies(folders: Sequence[Path]) -> list[dict]:
    """Every ingested device latency under ``folders``."""
    return [read_json(p, "device-latency") for folder in folders for p in sorted(Path(folder).rglob("*.latency.json"))]


def measured_for(run: RunRecord, measured: Sequence[dict]) -> list[dict]:
    """The device latencies of ``run``'s own fitted model."""
    state = run.train.get("state_sha256")
    return [m for m in measured if m["track"] == run.track and m["state_sha256"] == state and state]
