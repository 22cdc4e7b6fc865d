"""Time estimates printed before long work starts (a corpus build, a render, a training).

An estimate is a count times a rate measured once on a reference machine (each rate
says where it was measured), divided by the processes that share the work; it is a
guide, not a promise: a busy or slower machine takes longer.  Its line reads e.g.
``parse music21: 3,087 pieces on 2 workers, ~1.7 min (at 0.068 s per piece and
process, measured on 2 idle cores: ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """Seconds one process (a parser worker, a training run) spends per unit of work
    (``unit``: piece, note, step, episode), and where that was measured (``basis``)."""

    seconds: float
    unit: str
    basis: str

    def estimate(self, count: int, processes: int = 1) -> float:
        """Seconds for ``count`` units shared by ``processes`` processes."""
        return self.seconds * count / max(1, processes)

    def line(self, what: str, count: int, processes: int = 1) -> str:
        """One line: ``what``, the work, the estimate and its basis."""
        on = f" on {processes} workers" if processes > 1 else ""
        return (
            f"{what}: {count:,} {self.unit}s{on}, {approx(self.estimate(count, processes))} "
            f"(at {self.seconds:.3g} s per {self.unit} and process, {self.basis})"
        )


def approx(seconds: float) -> str:
    """An estimated duration rounded for reading: ``"<1 s"``, ``"~40 s"``, ``"~2.5 min"``, ``"~1.2 h"``."""
    if seconds < 1:
        return "<1 s"
    if seconds < 90:
        return f"~{seconds:.0f} s"
    if seconds < 5400:
        return f"~{seconds / 60:.1f} min"
    return f"~{seconds / 3600:.1f} h"
