"""NLL against estimated Raspberry Pi 4 latency: one panel per track, a point per
leaderboard row with a counted cost, and the Pareto frontier (the rows no other row
beats on both: lower NLL and lower latency).

The latency is the roofline estimate of one generation step on one Pi 4 core
(`benchmark.cost.estimate.pi_estimates`): the steps of FSMB's small networks are bound
by memory bandwidth and per-operator overhead, which more threads do not shorten (and
measured on a host, they get slower with more threads).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from benchmark.cost.estimate import PI_DEVICES
from benchmark.run.records import RecordError
from episodes.atomic import atomic_path
from leaderboard.aggregate import Row
from leaderboard.render import row_estimates

if TYPE_CHECKING:
    from matplotlib.axes import Axes

DEVICE, THREADS = "raspberry-pi-4", 1
LABEL_GAP = 0.035  # axes fraction between the labels of one panel


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points that no other point dominates (lower is better in both
    coordinates; of equal points the first is kept), ordered by the first coordinate."""
    front: list[int] = []
    for i in sorted(range(len(points)), key=lambda i: (points[i], i)):
        if not front or points[i][1] < points[front[-1]][1]:
            front.append(i)
    return front


def spread(positions: Sequence[float], gap: float) -> list[float]:
    """``positions`` (ascending) moved as little as possible (least squares) to be at
    least ``gap`` apart: a cluster of close positions is spread about its mean.  Pool
    adjacent violators on ``position - i * gap``, which must be non-decreasing."""
    blocks: list[tuple[float, int]] = []  # (sum, count) of pooled shifted positions
    for i, p in enumerate(positions):
        total, n = p - i * gap, 1
        while blocks and blocks[-1][0] / blocks[-1][1] > total / n:
            before, m = blocks.pop()
            total, n = total + before, n + m
        blocks.append((total, n))
    pooled = [total / n for total, n in blocks for _ in range(n)]
    return [q + i * gap for i, q in enumerate(pooled)]


def pi4_latency_ms(row: Row) -> float:
    """The row's estimated latency_ms per generation step on `DEVICE` at `THREADS` threads."""
    return next(e.latency_ms for e in row_estimates(row) if e.device == DEVICE and e.threads == THREADS)


def plot_pareto(rows: Sequence[Row], path: Path) -> None:
    """Write a PNG of each track's NLL against estimated Pi 4 latency per step, rows
    without a cost left out; a `RecordError` if no row has one.  Rows that did not
    converge are marked with a cross; a row's label names its adaptation FLOPs per
    episode where it has any (paid once per support set, not per step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    costed = [r for r in rows if r.cost]
    if not costed:
        raise RecordError(
            "no leaderboard row records the cost of a generation step (`cost` in its run record: "
            "runs of deployable methods by FSMB versions that count it); nothing to plot"
        )
    tracks = sorted({r.track for r in costed})
    fig, axes = plt.subplots(1, len(tracks), figsize=(6.5 * len(tracks), 5.5), squeeze=False)
    for ax, track in zip(axes[0], tracks):
        sub = sorted((r for r in costed if r.track == track), key=lambda r: r.nll_nats_per_token)
        points = [(pi4_latency_ms(r), r.nll_nats_per_token) for r in sub]
        front = pareto_front(points)
        xs, ys = zip(*points)
        unconverged = [p for p, r in zip(points, sub) if r.converged is False]
        ax.scatter(xs, ys, color="C0", s=18, zorder=3, label="leaderboard row")
        if unconverged:
            ax.scatter(*zip(*unconverged), marker="x", color="C1", s=40, zorder=5, label="not converged")
        fx, fy = zip(*(points[i] for i in front))
        ax.step(
            [*fx, max(xs)], [*fy, fy[-1]], where="post", color="C3", linewidth=1.2, zorder=2, label="Pareto frontier"
        )
        ax.scatter(fx, fy, facecolors="none", edgecolors="C3", s=90, linewidths=1.5, zorder=4)
        ax.set_xscale("log")
        ax.margins(x=0.35, y=0.08)
        _label(ax, sub, points, set(front))
        ax.set_xlabel(f"estimated {PI_DEVICES[DEVICE]} latency per step, {THREADS} thread (ms, log scale)")
        ax.set_ylabel("query NLL (nats/dim)" if sub[0].unit == "dims" else "query NLL (nats/token)")
        ax.set_title(track + (" (stand-in data)" if sub[0].stand_in else ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _label(ax: Axes, rows: Sequence[Row], points: Sequence[tuple[float, float]], front: set[int]) -> None:
    """Name each point (method, and K where the panel has several) to its right, the
    names spread apart vertically with a line to their point; frontier names in bold."""
    several_k = len({r.shots for r in rows}) > 1
    bottom, top = ax.get_ylim()
    heights = spread([(y - bottom) / (top - bottom) for _, y in points], LABEL_GAP)  # rows are sorted by NLL
    for i, (r, (x, y), height) in enumerate(zip(rows, points, heights)):
        name = f"{r.method} K={r.shots}" if several_k else r.method
        if r.adapt_flops_per_episode:  # paid once per support set, apart from the per-step latency on the x axis
            name += f" (+{r.adapt_flops_per_episode / 1e9:.3g} GFLOP adapting/episode)"
        ax.annotate(
            name,
            xy=(x, y),
            xytext=(14, height),
            textcoords=("offset points", "axes fraction"),
            fontsize=7,
            va="center",
            fontweight="bold" if i in front else "normal",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.6, "relpos": (0.0, 0.5)},
        )
