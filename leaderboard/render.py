"""Render leaderboard rows as Markdown, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from typing import Callable, Sequence

from benchmark.cost.counting import StepCost
from benchmark.cost.estimate import PI_DEVICES, PI_THREADS, Estimate, pi_compute_seconds, pi_estimates
from episodes.audio import NOTE_SECONDS
from leaderboard.aggregate import INDISTINGUISHABLE_Q, UNIT_LABELS, Row, is_indistinguishable_from_best

FORMATS = ("md", "json", "csv")
NOTE_RTF = f"; real-time factor: seconds of compute per second of audio, a note lasting {NOTE_SECONDS:g} s"


def fmt_num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def fmt_delta(r: Row, reference: str | None = None) -> str:
    """The paired difference ``± CI``, naming the row's reference when it is not ``reference``
    (the table's), and saying so when that reference did not converge."""
    if r.delta_vs_reference is None or r.method == r.reference:
        return "–"
    other = f" (vs {r.reference})" if reference is not None and r.reference != reference else ""
    unconverged = " ⚠ reference not converged" if r.reference_converged is False else ""
    return f"{r.delta_vs_reference:+.3f} ± {fmt_num(r.delta_ci95)}{other}{unconverged}"


def fmt_q(q: float | None) -> str:
    """A q-value in three significant digits (``<1e-16`` below float precision), ``–`` if none."""
    if q is None:
        return "–"
    return "<1e-16" if q < 1e-16 else f"{q:.3g}"


def fmt_best(r: Row) -> str:
    """``best`` for the table's best row; ``≈ (q …)`` for a row statistically
    indistinguishable from it; ``worse (q …)`` for one that is not; ``–`` if unpaired."""
    if r.best:
        return "best"
    if r.vs_best_q_value is None:
        return "–"
    mark = "≈" if is_indistinguishable_from_best(r) else "worse"
    return f"{mark} (q {fmt_q(r.vs_best_q_value)})"


def fmt_reproduced(r: Row) -> str:
    """``✓ by NAME on CPU, DATE (N episodes)`` per MATCH from another machine, ``–`` if none."""
    if not r.reproduced:
        return "–"
    return "; ".join(f"✓ by {m['by']} on {m['cpu']}, {m['date']} ({m['episodes']} episodes)" for m in r.reproduced)


REPRODUCED_NOTE = (
    "reproduced: ✓ for each MATCH (`fsmb reproduce --check --record --by NAME`) recorded in the row's "
    "results folder from a machine other than the one that scored it (CPU model, architecture, platform)"
)

BEST_NOTE = (
    "vs best: each row paired episode by episode with the table's lowest-NLL row (t-test, Benjamini-Hochberg "
    f"over the table); ≈: q > {INDISTINGUISHABLE_Q:g}, statistically indistinguishable from the best."
)

Q_NOTE = (
    "q (BH): the paired t-test's p-value of Δ, adjusted by Benjamini-Hochberg over the table's paired rows "
    "(`leaderboard/significance.py`); q ≤ 0.05: Δ ≠ 0 at a 5% false discovery rate. "
    "Any two rows: `fsmb compare A B --track T`"
)


def converged_mark(r: Row) -> str:
    """✓, ✗ not converged, ? not judged (trained, but its base's training or its rounds
    are not judged), or – (no iterative training)."""
    if r.converged is None:
        return "–" if r.train_steps is None else "? not judged"
    return "✓" if r.converged else "✗ not converged"


CONVERGED_NOTE = (
    "converged: ✓ trained to a meta-val plateau (`benchmark/training/convergence.py`: all scheduled "
    "learning-rate halvings done and the last W validations improved meta-val by < 0.1 %), "
    "✗ not (its comparisons describe its training budget, not the method), ? not judged (its base's "
    "training is not recorded, or compressed rounds), – no iterative training; "
    "training: optimiser steps, wall seconds and counted FLOPs of the training loops (its bases' "
    "included)"
)


def fmt_training(r: Row) -> str:
    """``steps · seconds · FLOPs`` of a row's training, ``–`` where not recorded."""
    if r.train_steps is None:
        return "–"
    flops = "FLOPs not counted" if r.train_flops is None else f"{r.train_flops:.2e} FLOP"
    return f"{r.train_steps:,} steps · {fmt_num(r.train_seconds, 0)} s · {flops}"


def table_reference(rows: Sequence[Row]) -> str | None:
    """The reference most rows of a table are paired with (named in its header)."""
    references = [r.reference for r in rows]
    return max(sorted(set(references), key=str), key=references.count) if references else None


def to_markdown(rows: Sequence[Row]) -> str:
    """A table per track, best NLL first; stand-in tracks are labelled."""
    lines: list[str] = []
    for track in sorted({r.track for r in rows}):
        sub = [r for r in rows if r.track == track]
        label = " (stand-in data)" if sub[0].stand_in else ""
        unit = UNIT_LABELS.get(sub[0].unit or "", "bits/unit")
        reference = table_reference(sub)
        lines += [
            f"**{track}**{label}",
            "",
            f"| method | K | episodes | nats/token (±95% CI) | Δ vs {reference}, paired (±95% CI) | q (BH) | vs best | bits/token "
            f"| {unit} (±95% CI) | params | eval tokens/s | budget | converged | training |",
            "|---|---:|---:|---|---|---:|---|---:|---|---:|---:|---|---|---|",
        ]
        for r in sub:
            part = "" if r.episodes == r.manifest_episodes else f" of {r.manifest_episodes}"
            lines.append(
                f"| {r.method} | {r.shots} | {r.episodes}{part} | {fmt_num(r.nll_nats_per_token)} ± {fmt_num(r.ci95)} "
                f"| {fmt_delta(r, reference)} | {fmt_q(r.delta_q_value)} | {fmt_best(r)} | {fmt_num(r.bits_per_token)} | {fmt_num(r.bits_per_unit)} ± {fmt_num(r.bits_per_unit_ci95)} "
                f"| {r.params:,} | {fmt_num(r.eval_tokens_per_s, 0)} | {r.budget} | {converged_mark(r)} "
                f"| {fmt_training(r)} |"
            )
        lines += ["", f"manifest sha256: `{sub[0].manifest_sha256}`", "", CONVERGED_NOTE, "", Q_NOTE, "", BEST_NOTE, ""]
        lines += _quality_table([r for r in sub if r.quality])
        lines += _cost_table([r for r in sub if r.cost])
        # torch's counter sees torch's operators only: rows that score without them (numpy baselines) count 0
        lines += _adaptation_table(
            [r for r in sub if r.adapt_flops_per_episode is not None and r.score_flops_per_token]
        )
    return "\n".join(lines)


def _adaptation_table(rows: Sequence[Row]) -> list[str]:
    """What adapting to a support set and scoring cost, counted while the run scored: FLOPs
    and host time per episode of adapting, with its compute-bound floor on each
    Raspberry Pi (`benchmark.cost.estimate.pi_compute_seconds`), and FLOPs per scored
    query token (beside 2 x MACs of the generation step where one is counted: the excess
    is per-token adaptation, such as dynamic evaluation's updates)."""
    if not rows:
        return []
    threads = " / ".join(map(str, PI_THREADS))
    est = [f"est. {label} adapt s ({threads} thr, compute floor)" for label in PI_DEVICES.values()]
    lines = [
        "cost of adaptation, per episode, and of scoring, per query token (FLOPs counted by torch's FLOP "
        "counter while the run scored, `benchmark/cost/flops.py`, which sees torch's operators only: "
        "methods computing in numpy are left out; host time as recorded; Pi: FLOPs / its fp32 compute in "
        "`benchmark/cost/devices.json`, a floor):",
        "",
        "| method | K | adapt FLOPs/episode | host adapt ms/episode | "
        + " | ".join(est)
        + " | scoring FLOPs/token | generation step FLOPs (2 × MACs) |",
        "|---|---:|---:|---:|" + "---:|" * len(est) + "---:|---:|",
    ]
    for r in rows:
        if (flops := r.adapt_flops_per_episode) is None:
            continue
        floors = pi_compute_seconds(flops)
        cells = [" / ".join(f"{floors[f'{d}/{t}']:.3g}" for t in PI_THREADS) for d in PI_DEVICES]
        step = f"{2 * r.cost['macs']:.3g}" if r.cost else "–"
        lines.append(
            f"| {r.method} | {r.shots} | {flops:.3g} | "
            f"{1e3 * (r.adapt_seconds_per_episode or 0.0):.2f} | "
            + " | ".join(cells)
            + f" | {fmt_num(r.score_flops_per_token, 0)} | {step} |"
        )
    return lines + [""]


def _cost_table(rows: Sequence[Row]) -> list[str]:
    """The counted cost of one generation step of the rows that have one (`benchmark.cost`),
    with its estimated latency on each Raspberry Pi (`benchmark.cost.estimate.pi_estimates`)
    and, for audio notes, the estimated real-time factor."""
    if not rows:
        return []
    threads = " / ".join(map(str, PI_THREADS))
    notes = any(r.cost and r.cost["unit"] == "note" for r in rows)
    est = [f"est. {label} ms/step ({threads} thr)" for label in PI_DEVICES.values()]
    est += [f"est. {label} real-time factor ({threads} thr)" for label in PI_DEVICES.values()] if notes else []
    lines = [
        "cost of one generation step (counted; `benchmark/cost`; Raspberry Pi latency estimated from the count "
        f"and `benchmark/cost/devices.json`{NOTE_RTF if notes else ''}):",
        "",
        "| method | K | step | MACs/step | operators | params (non-zero) | fp32 MB | int8 MB | measured p50 | "
        + " | ".join(est)
        + " |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|" + "---:|" * len(est),
    ]
    for r in rows:
        if (c := r.cost) is None:
            continue
        estimates = row_estimates(r)
        cells = _per_device(estimates, lambda e: f"{e.latency_ms:.3f}")
        cells += _per_device(estimates, lambda e: fmt_num(e.real_time_factor, 5)) if notes else []
        lines.append(
            f"| {r.method} | {r.shots} | {c['unit']} | {c['macs']:,} | {c['operators']} | "
            f"{c['params']:,} ({c['nonzero_params']:,}) | {c['bytes_fp32'] / 1e6:.2f} | "
            f"{c['bytes_int8'] / 1e6:.2f} | {fmt_measured(r.measured)} | " + " | ".join(cells) + " |"
        )
    return lines + [""]


def row_estimates(r: Row) -> list[Estimate]:
    """The row's estimated Raspberry Pi latencies; none without a counted cost."""
    return pi_estimates(StepCost(**r.cost)) if r.cost else []


def _per_device(estimates: Sequence[Estimate], fmt: Callable[[Estimate], str]) -> list[str]:
    """A cell per device of `PI_DEVICES`: its estimates at each of `PI_THREADS`, ``a / b``."""
    return [" / ".join(fmt(e) for e in estimates if e.device == device) for device in PI_DEVICES]


def fmt_measured(measured: Sequence[dict] | None) -> str:
    """Device latencies as ``0.045 ms (CPU, 1 thread); …``, escaped for a Markdown cell."""
    if not measured:
        return "–"
    cells = [
        f"{lat['p50_ms']:.3f} ms ({m['device'].get('cpu', '?')}, {lat['threads']} thr)"
        for m in measured
        for lat in m["latency"]
    ]
    return "; ".join(cells).replace("|", "\\|")


def _quality_table(rows: Sequence[Row]) -> list[str]:
    """Sample quality (means over episodes) of the rows that sampled; see `benchmark.scoring.quality.directions`."""
    if not rows:
        return []
    from benchmark.scoring.quality import directions

    better = directions()
    names = [k for k in rows[0].quality or {} if k in better or k.endswith("_reference")]
    head = " | ".join(f"{k} ({better.get(k, 'target')})" for k in names)
    lines = [
        "sample quality (mean over episodes):",
        "",
        f"| method | K | {head} |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for r in rows:
        lines.append(
            f"| {r.method} | {r.shots} | " + " | ".join(fmt_num((r.quality or {}).get(k)) for k in names) + " |"
        )
    return lines + [""]


def to_json(rows: Sequence[Row]) -> str:
    """The rows' fields, with ``pi_estimates`` (`row_estimates`; ``null`` without a cost)."""
    data = [{**r.to_dict(), "pi_estimates": [asdict(e) for e in row_estimates(r)] or None} for r in rows]
    return json.dumps(data, indent=1, allow_nan=False, default=str)


def _estimate_column(what: str, device: str, threads: int) -> str:
    """CSV column of an estimate: ``what`` is ``ms`` (latency_ms) or ``rtf`` (real-time factor)."""
    return f"est_{what}_{device}_{threads}thr"


def to_csv(rows: Sequence[Row]) -> str:
    """The rows' fields, then a column per estimated latency and real-time factor (`row_estimates`;
    empty without a cost, and the real-time factor without audio notes)."""
    buf = io.StringIO()
    fields = list(Row.__dataclass_fields__)
    fields += [_estimate_column(what, d, t) for d in PI_DEVICES for t in PI_THREADS for what in ("ms", "rtf")]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        estimates: dict[str, float | None] = {}
        for e in row_estimates(r):
            estimates[_estimate_column("ms", e.device, e.threads)] = e.latency_ms
            estimates[_estimate_column("rtf", e.device, e.threads)] = e.real_time_factor
        writer.writerow({**r.to_dict(), **estimates})
    return buf.getvalue()


def render(rows: Sequence[Row], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return {"md": to_markdown, "json": to_json, "csv": to_csv}[fmt](rows)
