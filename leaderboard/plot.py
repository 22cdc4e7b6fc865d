"""The shots curve: NLL against K for every method, one column of panels per track.

Top panel: mean query nats/token with 95% CI bars.  Bottom panel: the paired
difference to the reference method (episode by episode on the same manifest), which
shows differences the spread between artists hides.  Methods whose difference
exceeds ``DELTA_SCALE`` nats/token at some K (e.g. the unigram baselines next to the
LSTMs) are named in the bottom panel's title instead of flattening its axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from episodes.atomic import atomic_path
from leaderboard.aggregate import Row

DELTA_SCALE = 0.5  # nats/token


def _nan_to_zero(values: Sequence[float | None]) -> list[float]:
    return [0.0 if v is None or v != v else v for v in values]


def plot_shots(rows: Sequence[Row], path: Path) -> None:
    """Write a PNG of NLL (and Δ vs each row's reference method) against K, a line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracks = sorted({r.track for r in rows})
    fig, axes = plt.subplots(2, len(tracks), figsize=(6.5 * len(tracks), 8), squeeze=False, sharex="col")
    for col, track in enumerate(tracks):
        top, bottom = axes[0][col], axes[1][col]
        sub = [r for r in rows if r.track == track]
        reference = sub[0].reference
        off_scale = []
        methods = sorted({r.method for r in sub})
        colour = {m: f"C{i % 10}" for i, m in enumerate(methods)}  # one colour per method in both panels
        for method in methods:
            pts = sorted((r for r in sub if r.method == method), key=lambda r: r.shots)
            ks = [r.shots for r in pts]
            top.errorbar(
                ks,
                [r.nll_nats_per_token for r in pts],
                yerr=_nan_to_zero([r.ci95 for r in pts]),
                marker="o",
                capsize=3,
                label=method,
                color=colour[method],
            )
            paired = [r for r in pts if r.delta_vs_reference is not None and r.method != reference]
            if any(abs(r.delta_vs_reference or 0.0) > DELTA_SCALE for r in paired):
                off_scale.append(method)
            elif paired:
                bottom.errorbar(
                    [r.shots for r in paired],
                    [r.delta_vs_reference for r in paired],
                    yerr=_nan_to_zero([r.delta_ci95 for r in paired]),
                    marker="o",
                    capsize=3,
                    label=method,
                    color=colour[method],
                )
        ks_all = sorted({r.shots for r in sub})
        for ax in (top, bottom):
            ax.set_xscale("symlog", linthresh=1)
            ax.set_xticks(ks_all, [str(k) for k in ks_all])
            ax.grid(alpha=0.3)
        top.set_ylabel("query NLL (nats/token)")
        top.set_title(track + (" (stand-in data)" if sub[0].stand_in else ""))
        top.legend(fontsize=8)
        bottom.axhline(0.0, color="black", linewidth=0.8)
        bottom.set_xlabel("support songs K")
        bottom.set_ylabel(f"Δ vs {reference}, paired (nats/token)")
        if off_scale:
            bottom.set_title(f"off scale (|Δ| > {DELTA_SCALE}): {', '.join(off_scale)}", fontsize=9)
        if bottom.get_legend_handles_labels()[0]:
            bottom.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
