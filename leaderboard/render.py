"""Render leaderboard rows as Markdown, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Sequence

from leaderboard.aggregate import UNIT_LABELS, Row

FORMATS = ("md", "json", "csv")


def fmt_num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def fmt_delta(r: Row) -> str:
    if r.delta_vs_reference is None or r.method == r.reference:
        return "–"
    return f"{r.delta_vs_reference:+.3f} ± {fmt_num(r.delta_ci95)}"


def to_markdown(rows: Sequence[Row]) -> str:
    """A table per track, best NLL first; stand-in tracks are labelled."""
    lines: list[str] = []
    for track in sorted({r.track for r in rows}):
        sub = [r for r in rows if r.track == track]
        label = " (stand-in data)" if sub[0].stand_in else ""
        unit = UNIT_LABELS.get(sub[0].unit or "", "bits/unit")
        lines += [
            f"**{track}**{label}",
            "",
            f"| method | K | episodes | nats/token (±95% CI) | Δ vs {sub[0].reference}, paired (±95% CI) | bits/token "
            f"| {unit} (±95% CI) | params | eval tokens/s | budget |",
            "|---|---:|---:|---|---|---:|---|---:|---:|---|",
        ]
        for r in sub:
            part = "" if r.episodes == r.manifest_episodes else f" of {r.manifest_episodes}"
            lines.append(
                f"| {r.method} | {r.shots} | {r.episodes}{part} | {fmt_num(r.nll_nats_per_token)} ± {fmt_num(r.ci95)} "
                f"| {fmt_delta(r)} | {fmt_num(r.bits_per_token)} | {fmt_num(r.bits_per_unit)} ± {fmt_num(r.bits_per_unit_ci95)} "
                f"| {r.params:,} | {fmt_num(r.eval_tokens_per_s, 0)} | {r.budget} |"
            )
        lines += ["", f"manifest sha256: `{sub[0].manifest_sha256}`", ""]
        lines += _quality_table([r for r in sub if r.quality])
        lines += _cost_table([r for r in sub if r.cost])
    return "\n".join(lines)


def _cost_table(rows: Sequence[Row]) -> list[str]:
    """The counted cost of one generation step of the rows that have one (`benchmark.cost`)."""
    if not rows:
        return []
    lines = ["cost of one generation step (counted; `benchmark/cost`):", "",
             "| method | K | step | MACs/step | operators | params (non-zero) | fp32 MB | int8 MB | measured p50 |",
             "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        c = r.cost
        lines.append(f"| {r.method} | {r.shots} | {c['unit']} | {c['macs']:,} | {c['operators']} | "
                     f"{c['params']:,} ({c['nonzero_params']:,}) | {c['bytes_fp32'] / 1e6:.2f} | "
                     f"{c['bytes_int8'] / 1e6:.2f} | {fmt_measured(r.measured)} |")
    return lines + [""]


def fmt_measured(measured: Sequence[dict] | None) -> str:
    """Device latencies as ``0.045 ms (CPU, 1 thread); …``, escaped for a Markdown cell."""
    if not measured:
        return "–"
    cells = [f"{lat['p50_ms']:.3f} ms ({m['device'].get('cpu', '?')}, {lat['threads']} thr)"
             for m in measured for lat in m["latency"]]
    return "; ".join(cells).replace("|", "\\|")


def _quality_table(rows: Sequence[Row]) -> list[str]:
    """Sample quality (means over episodes) of the rows that sampled; see `benchmark.scoring.quality.directions`."""
    if not rows:
        return []
    from benchmark.scoring.quality import directions

    better = directions()
    names = [k for k in rows[0].quality if k in better or k.endswith("_reference")]
    head = " | ".join(f"{k} ({better.get(k, 'target')})" for k in names)
    lines = ["sample quality (mean over episodes):", "", f"| method | K | {head} |",
             "|---|---:|" + "---:|" * len(names)]
    for r in rows:
        lines.append(f"| {r.method} | {r.shots} | " + " | ".join(fmt_num(r.quality.get(k)) for k in names) + " |")
    return lines + [""]


def to_json(rows: Sequence[Row]) -> str:
    return json.dumps([r.to_dict() for r in rows], indent=1, allow_nan=False, default=str)


def to_csv(rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    fields = list(Row.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r.to_dict())
    return buf.getvalue()


def render(rows: Sequence[Row], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return {"md": to_markdown, "json": to_json, "csv": to_csv}[fmt](rows)
