"""The shots curve: NLL against K for every method, one panel per track."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from episodes.atomic import atomic_path
from leaderboard.aggregate import Row


def plot_shots(rows: Sequence[Row], path: Path) -> None:
    """Write a PNG: mean nats/token (with 95% CI bars) against K, a line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracks = sorted({r.track for r in rows})
    fig, axes = plt.subplots(1, len(tracks), figsize=(6 * len(tracks), 4.2), squeeze=False)
    for ax, track in zip(axes[0], tracks):
        sub = [r for r in rows if r.track == track]
        for method in sorted({r.method for r in sub}):
            pts = sorted((r.shots, r.nll_nats_per_token, r.ci95) for r in sub if r.method == method)
            ks, ys, es = zip(*pts)
            ax.errorbar(ks, ys, yerr=[0 if e != e else e for e in es], marker="o", capsize=3, label=method)
        ax.set_xscale("symlog", linthresh=1)
        ks_all = sorted({r.shots for r in sub})
        ax.set_xticks(ks_all, [str(k) for k in ks_all])
        ax.set_xlabel("support songs K")
        ax.set_ylabel("query NLL (nats/token)")
        ax.set_title(track + (" (stand-in data)" if sub[0].stand_in else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
