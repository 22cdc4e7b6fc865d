"""``fsmb compare``: two rows of one track paired episode by episode, with their
significance (`leaderboard.significance.paired_test`).

The rows are found among the run records of result folders (`leaderboard.aggregate.load_runs`:
every episode's figures recomputed); both must be scored on the same manifest, and
only the episodes both scored are paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from benchmark.run.records import EpisodeRecord, RecordError, RunRecord
from leaderboard.aggregate import load_runs
from leaderboard.significance import PairedTest, paired_test


@dataclass(frozen=True)
class Comparison:
    """Method ``a`` against method ``b`` on ``track`` at K = ``shots``; ``test.delta`` is
    the mean over episodes of a - b in nats per predicted token (negative: ``a`` is
    better): per dimension on audio tracks, whose tokens are a note's dimensions."""

    a: str
    b: str
    track: str
    shots: int
    manifest_sha256: str
    a_nats_per_token: float  # mean over the paired episodes
    b_nats_per_token: float
    test: PairedTest
    per: str = "token"  # what a nat is counted per: "token", or "dim" on audio tracks

    def text(self) -> str:
        t = self.test
        where = f"{self.track}, K = {self.shots}, {t.episodes} paired episodes (manifest {self.manifest_sha256[:12]})"
        how = (
            f"exact over all {2**t.episodes} sign flips"
            if t.permutations == 0
            else f"{t.permutations:,} random sign flips, seed 0"
        )
        return "\n".join(
            [
                where,
                f"{self.a}: {self.a_nats_per_token:.4f} nats/{self.per}   "
                f"{self.b}: {self.b_nats_per_token:.4f} nats/{self.per}",
                f"Δ ({self.a} − {self.b}) = {t.delta:+.4f} ± {t.ci95:.4f} nats/{self.per} (paired 95% CI)",
                f"p = {t.t_p_value:.3g} (paired t-test), p = {t.permutation_p_value:.3g} (sign-flip permutation test, "
                f"{how})",
            ]
        )


def compare(
    results: Sequence[Path],
    a: str,
    b: str,
    track: str,
    shots: int | None = None,
    *,
    permutations: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Pair the runs of methods ``a`` and ``b`` on ``track`` (at K = ``shots``; by default
    the one K both were scored at) found under ``results``; `RecordError` saying what
    is missing or does not pair."""
    runs = [(run, eps) for run, eps in load_runs(list(results)) if run.track == track and eps]
    (run_a, eps_a), (run_b, eps_b) = (find(runs, name, track, shots, results) for name in (a, b))
    if run_a.shots != run_b.shots:
        raise RecordError(f"{a} is scored at K={run_a.shots} and {b} at K={run_b.shots} on {track}; pass --shots")
    if run_a.manifest_sha256 != run_b.manifest_sha256:
        raise RecordError(
            f"{a} and {b} were scored on other episodes of {track} (manifests "
            f"{run_a.manifest_sha256[:12]} and {run_b.manifest_sha256[:12]}): nothing to pair"
        )
    theirs: dict[str, EpisodeRecord] = {e.episode_id: e for e in eps_b}
    mine = [e for e in eps_a if e.episode_id in theirs]
    if len(mine) < 2:
        raise RecordError(f"{a} and {b} share {len(mine)} scored episodes of {track}; a paired test needs 2 or more")
    x = [e.nats_per_token for e in mine]
    y = [theirs[e.episode_id].nats_per_token for e in mine]
    return Comparison(
        a,
        b,
        track,
        run_a.shots,
        run_a.manifest_sha256,
        sum(x) / len(x),
        sum(y) / len(y),
        paired_test(x, y, permutations=permutations, seed=seed),
        "dim" if "dims" in mine[0].units else "token",
    )


def find(
    runs: list[tuple[RunRecord, list[EpisodeRecord]]],
    method: str,
    track: str,
    shots: int | None,
    results: Sequence[Path],
) -> tuple[RunRecord, list[EpisodeRecord]]:
    """The one run of ``method`` among ``runs`` (at K = ``shots`` if given)."""
    found = [(r, e) for r, e in runs if r.method == method and shots in (None, r.shots)]
    if len(found) == 1:
        return found[0]
    where = ", ".join(map(str, results))
    if not found:
        known = sorted({r.method for r, _ in runs})
        raise RecordError(
            f"no run of {method} on {track}{f' at K={shots}' if shots is not None else ''} under "
            f"{where}; scored there: {', '.join(known) or 'nothing'}"
        )
    raise RecordError(
        f"{method} is scored at K = {sorted(r.shots for r, _ in found)} on {track} under {where}; pass --shots"
    )
