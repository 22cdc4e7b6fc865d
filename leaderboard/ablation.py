"""The dataset-ablation study: NLL, sample coverage and latent geometry against the
number of support examples K (`fsmb ablation`), as a Markdown table and a PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from episodes.atomic import atomic_path
from leaderboard.aggregate import Row
from leaderboard.render import fmt_delta, fmt_num

COLUMNS = ("coverage", "recall", "kid", "support_spread", "sample_spread", "log_volume_support", "log_volume_samples")


def ablation_markdown(rows: Sequence[Row]) -> str:
    """A table per track: one line per (method, K), ordered by method then K."""
    lines: list[str] = []
    for track in sorted({r.track for r in rows}):
        sub = sorted((r for r in rows if r.track == track), key=lambda r: (r.method, r.shots))
        present = [c for c in COLUMNS if any(r.quality and c in r.quality for r in sub)]
        lines += [
            f"**{track}**",
            "",
            f"| method | K | episodes | nats/token (±95% CI) | Δ vs {sub[0].reference}, paired | "
            + " | ".join(present)
            + " |",
            "|---|---:|---:|---|---|" + "---:|" * len(present),
        ]
        for r in sub:
            extra = " | ".join(fmt_num((r.quality or {}).get(c)) for c in present)
            lines.append(
                f"| {r.method} | {r.shots} | {r.episodes} | {fmt_num(r.nll_nats_per_token)} ± {fmt_num(r.ci95)} "
                f"| {fmt_delta(r)} | {extra} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot_ablation(rows: Sequence[Row], path: Path) -> None:
    """NLL (top) and coverage (bottom) against K, a line per method, a column per track."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracks = sorted({r.track for r in rows})
    fig, axes = plt.subplots(2, len(tracks), figsize=(6.5 * len(tracks), 8), squeeze=False, sharex="col")
    for col, track in enumerate(tracks):
        sub = [r for r in rows if r.track == track]
        for i, method in enumerate(sorted({r.method for r in sub})):
            pts = sorted((r for r in sub if r.method == method), key=lambda r: r.shots)
            ks = [r.shots for r in pts]
            axes[0][col].errorbar(
                ks,
                [r.nll_nats_per_token for r in pts],
                capsize=3,
                marker="o",
                label=method,
                yerr=[0.0 if r.ci95 is None or math.isnan(r.ci95) else r.ci95 for r in pts],
                color=f"C{i % 10}",
            )
            cover = [(r.shots, r.quality["coverage"]) for r in pts if r.quality and "coverage" in r.quality]
            if cover:
                axes[1][col].plot(*zip(*cover), marker="o", label=method, color=f"C{i % 10}")
        ks_all = sorted({r.shots for r in sub})
        for ax in axes[:, col]:
            ax.set_xscale("log", base=2)
            ax.set_xticks(ks_all, [str(k) for k in ks_all])
            ax.grid(alpha=0.3)
        axes[0][col].set_title(track)
        axes[0][col].set_ylabel("query NLL (nats/dim)" if sub[0].unit == "dims" else "query NLL (nats/token)")
        axes[0][col].legend(fontsize=8)
        axes[1][col].set_ylabel("coverage of the query notes")
        axes[1][col].set_xlabel("support examples K")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
