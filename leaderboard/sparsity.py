"""The accuracy-vs-size curve of compressed variants (`fsmb sparsity`): each variant
family (``lstm-trim``, ``lstm-imp``, ``lstm-imp[reinit=true]``) at several fractions of
its dense base's parameters removed, as a Markdown table and a PNG.

A row's place on the curve is *measured*, not requested: the fraction of the dense
model's parameters that are gone (removed by trimming, or zero under a mask), from the
cost counted in its run record.  Its accuracy is the paired difference to the dense
base on the same episodes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from benchmark.contract.settings import split_spec
from leaderboard.aggregate import Row
from leaderboard.render import fmt_delta, fmt_num

LEVEL = "removed"  # the training setting that sets a variant's level


def family(label: str) -> str:
    """A variant's label without its level: ``lstm-imp[reinit=true,removed=0.5]`` ->
    ``lstm-imp[reinit=true]``."""
    name, settings = split_spec(label)
    rest = {k: v for k, v in settings.items() if k != LEVEL}
    return name if not rest else f"{name}[{','.join(f'{k}={json.dumps(v)}' for k, v in sorted(rest.items()))}]"


def with_level(spec: str, removed: float) -> str:
    """``spec`` with its level set to ``removed`` (a fraction)."""
    name, settings = split_spec(spec)
    settings = {**settings, LEVEL: removed}
    return f"{name}[{','.join(f'{k}={json.dumps(v)}' for k, v in sorted(settings.items()))}]"


def cost_of(row: Row) -> dict:
    """``row``'s counted step cost; a row without one has no place on a sparsity curve."""
    if row.cost is None:
        raise ValueError(f"{row.method} on {row.track}: no counted step cost, so no size to plot")
    return row.cost


def removed_fraction(row: Row, dense: Row) -> float:
    """The fraction of ``dense``'s parameters that ``row``'s deployed step no longer has
    (trimmed away or held at zero)."""
    return 1 - cost_of(row)["nonzero_params"] / cost_of(dense)["params"]


def curve_rows(rows: Sequence[Row], dense: str, families: Sequence[str]) -> dict[str, list[tuple[float, Row]]]:
    """Per family (the dense row first, at 0): (fraction removed, row), by fraction."""
    base = next(r for r in rows if r.method == dense)
    out = {}
    for name in families:
        points = [(removed_fraction(r, base), r) for r in rows if r.cost and family(r.method) == name]
        out[name] = [(0.0, base)] + sorted(points, key=lambda p: p[0])
    return out


def sparsity_markdown(curves: dict[str, list[tuple[float, Row]]]) -> str:
    """One table: the dense base, then a line per (family, level)."""
    any_row = next(iter(curves.values()))[0][1]
    lines = [
        f"**{any_row.track}**, K = {any_row.shots}, {any_row.episodes} test episodes",
        "",
        f"| variant | removed | non-zero params | MACs/{cost_of(any_row)['unit']} | nats/token (±95% CI) "
        f"| Δ vs {any_row.reference}, paired (±95% CI) |",
        "|---|---:|---:|---:|---|---|",
    ]
    for index, (name, points) in enumerate(curves.items()):
        for removed, r in points[1:] if index else points:  # the dense base once, first
            cost = cost_of(r)
            lines.append(
                f"| {name if removed else r.method} | {removed:.1%} | {cost['nonzero_params']:,} "
                f"| {cost['macs']:,} | {fmt_num(r.nll_nats_per_token)} ± {fmt_num(r.ci95)} | {fmt_delta(r)} |"
            )
    return "\n".join(lines + [""])


def plot_sparsity(curves: dict[str, list[tuple[float, Row]]], path: Path) -> None:
    """Paired Δ nats/token against the dense base (with 95% CI) vs the fraction of
    parameters removed, a line per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from episodes.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, points) in enumerate(curves.items()):
        xs = [100 * removed for removed, _ in points]
        ys = [0.0 if r.delta_vs_reference is None else r.delta_vs_reference for _, r in points]
        err = [0.0 if r.delta_ci95 is None or math.isnan(r.delta_ci95) else r.delta_ci95 for _, r in points]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name, color=f"C{i % 10}")
    first = next(iter(curves.values()))[0][1]
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"% of {first.method}'s parameters removed (measured)")
    ax.set_ylabel(f"Δ nats/token vs {first.reference} (paired)")
    ax.set_title(f"{first.track}, K = {first.shots}: accuracy against size")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
