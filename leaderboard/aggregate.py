"""Aggregate episode records into leaderboard rows (mean over episodes, 95% CI)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence, TypedDict

import numpy as np

from benchmark.contract.methods import default_reference, dense_base
from benchmark.run.records import EpisodeRecord, RecordError, RunRecord
from benchmark.training.convergence import TrainingSummary, summarise
from leaderboard.reading import load_run
from leaderboard.significance import benjamini_hochberg, mean_ci95, t_p_value
from leaderboard.submission import is_bundle, verify_bundle

# The tokenisation-independent unit of each modality, as (unit key in records, label).
UNIT_LABELS = {"notes": "bits/note", "characters": "bits/char", "dims": "bits/dim"}


@dataclass(frozen=True)
class Row:
    """One leaderboard row: a method on a track at K shots."""

    method: str
    track: str
    shots: int
    episodes: int
    nll_nats_per_token: float
    ci95: float
    bits_per_token: float
    unit: str | None  # the modality's unit (notes, characters), or None
    bits_per_unit: float | None
    bits_per_unit_ci95: float | None
    params: int
    manifest_sha256: str
    manifest_episodes: int
    budget: str
    stand_in: bool
    run_key: str
    eval_tokens_per_s: float | None = None
    reference: str | None = None  # the method of the paired comparison
    delta_vs_reference: float | None = None
    delta_ci95: float | None = None
    paired_episodes: int = 0
    # paired t-test of the difference (`leaderboard.significance.t_p_value`), and its
    # Benjamini-Hochberg q-value over the paired rows of the row's table (track, K)
    delta_p_value: float | None = None
    delta_q_value: float | None = None
    # against the best row of the table (lowest mean NLL on the same manifest): the
    # Benjamini-Hochberg q-value of the paired t-test over the table's other rows
    # (`with_best_marks`); None for the best row itself and for unpaired rows
    best: bool = False
    vs_best_q_value: float | None = None
    quality: dict[str, float] | None = None  # mean sample-quality figures, if sampled
    target: str = ""  # ``module:Class`` of the method named ``method`` (its run record's ``method_target``)
    cost: dict | None = None  # one generation step, counted (`benchmark.cost.counting.StepCost`), if deployable
    measured: list[dict] | None = None  # that step's latency measured on devices (`benchmark.run.device_latency`)
    # MATCHes from other machines (`leaderboard.reproductions.independent_matches`), as dicts
    reproduced: list[dict] | None = None
    # training (`benchmark.training.convergence.summarise`): converged None = no iterative training
    converged: bool | None = None
    convergence: str = ""
    train_steps: int | None = None
    train_seconds: float | None = None
    train_flops: int | None = None
    reference_converged: bool | None = None  # of the reference's row; None: it has no iterative training
    # adaptation (per episode) and scoring (per query token), counted while the run scored; None: not counted
    adapt_flops_per_episode: float | None = None
    adapt_seconds_per_episode: float | None = None  # host wall time, as recorded
    score_flops_per_token: float | None = None

    def to_dict(self) -> dict:
        """Fields as a dict; undefined figures (a CI from one episode) become ``None``."""
        return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(self).items()}


def load_runs(results: Path | Sequence[Path]) -> list[tuple[RunRecord, list[EpisodeRecord]]]:
    """(run record, its episode records) for every ``*.run.json`` under ``results`` (one
    folder or several: result folders and submission bundles alike).

    Stored aggregates are never trusted: each episode's figures are recomputed from
    its ``nll_nats`` and ``units`` (`leaderboard.reading.checked_episode`).  A submission bundle is checked
    whole first (`leaderboard.submission.verify_bundle`).  Episodes of a run without
    a ``.run.json`` (an evaluation still running) are left out.
    """
    folders = [Path(results)] if isinstance(results, (str, Path)) else [Path(r) for r in results]
    run_paths = []
    for folder in folders:
        if not folder.is_dir():
            raise RecordError(f"--results {folder}: no such directory")
        found = sorted(folder.rglob("*.run.json"))
        if not found:
            raise RecordError(
                f"--results {folder} holds no run records (*.run.json); run `fsmb eval --out {folder}` first"
            )
        run_paths += found
    out, seen = [], set()
    for run_path in run_paths:
        if is_bundle(run_path.parent):
            verify_bundle(run_path.parent)
        run, episodes = load_run(run_path)
        if run.run_key in seen:  # the same run in a results folder and in its submission bundle
            continue
        seen.add(run.run_key)
        out.append((run, episodes))
    return out


def training_of(run: RunRecord) -> TrainingSummary:
    """The `benchmark.training.convergence.TrainingSummary` of a run record."""
    return summarise(run.train.get("train_log"), run.budget)


def make_row(run: RunRecord, episodes: list[EpisodeRecord]) -> Row:
    training = training_of(run)
    nats, ci = mean_ci95([e.nats_per_token for e in episodes])
    bits_tok, _ = mean_ci95([e.bits_per_token for e in episodes])
    seconds = sum(e.adapt_seconds + e.score_seconds for e in episodes)
    tokens = sum(sum(e.units["tokens"]) for e in episodes)
    unit = next((u for u in episodes[0].bits_per if u in UNIT_LABELS), None) if episodes else None
    bpu, bpu_ci = mean_ci95([e.bits_per[unit] for e in episodes]) if unit else (None, None)
    return Row(
        method=run.method,
        track=run.track,
        shots=run.shots,
        episodes=len(episodes),
        nll_nats_per_token=nats,
        ci95=ci,
        bits_per_token=bits_tok,
        unit=unit,
        bits_per_unit=bpu,
        bits_per_unit_ci95=bpu_ci,
        params=run.params,
        manifest_sha256=run.manifest_sha256,
        manifest_episodes=run.manifest_episodes,
        budget=run.budget["name"],
        stand_in=run.stand_in,
        run_key=run.run_key,
        eval_tokens_per_s=tokens / seconds if seconds > 0 else None,
        quality=mean_quality(episodes),
        target=run.method_target,
        cost=run.cost,
        **adaptation_cost(episodes),
        converged=training.converged,
        convergence=training.reason,
        train_steps=training.steps,
        train_seconds=training.seconds,
        train_flops=training.flops,
    )


class AdaptationCost(TypedDict):
    """`Row`'s adaptation and scoring cost fields (`adaptation_cost`)."""

    adapt_flops_per_episode: float | None
    adapt_seconds_per_episode: float | None
    score_flops_per_token: float | None


def adaptation_cost(episodes: list[EpisodeRecord]) -> AdaptationCost:
    """Mean adaptation FLOPs per episode and scoring FLOPs per query token over the
    episodes that counted them (a run's first chunk of episodes), and mean host seconds
    of adapting over all episodes; None where nothing was counted (older records)."""
    counted = [
        (e, e.adapt_flops, e.score_flops) for e in episodes if e.adapt_flops is not None and e.score_flops is not None
    ]
    if not counted:
        return {"adapt_flops_per_episode": None, "adapt_seconds_per_episode": None, "score_flops_per_token": None}
    tokens = sum(sum(e.units["tokens"]) for e, _, _ in counted)
    return {
        "adapt_flops_per_episode": float(np.mean([adapt for _, adapt, _ in counted])),
        "adapt_seconds_per_episode": float(np.mean([e.adapt_seconds for e in episodes])),
        "score_flops_per_token": sum(score for _, _, score in counted) / max(1, tokens),
    }


def mean_quality(episodes: list[EpisodeRecord]) -> dict[str, float] | None:
    """Mean over episodes of each sample-quality figure and latent diagnostic
    (undefined ones left out)."""
    metrics = [{**e.quality["metrics"], **(e.quality.get("geometry") or {})} for e in episodes if e.quality]
    if not metrics:
        return None
    names = sorted({k for m in metrics for k in m} - {"n_samples"})
    means = {k: [m[k] for m in metrics if m.get(k) is not None] for k in names}
    return {k: float(np.mean(v)) for k, v in means.items() if v}


def paired_delta(episodes: Sequence[EpisodeRecord], reference: Sequence[EpisodeRecord]) -> tuple[float, float, int]:
    """Mean per-episode difference in nats/token (method - reference) with a paired
    95% CI, over the episodes both were scored on.  Negative: the method is better."""
    diffs = paired_differences(episodes, reference)
    mean, ci = mean_ci95(diffs)
    return mean, ci, len(diffs)


def paired_differences(episodes: Sequence[EpisodeRecord], reference: Sequence[EpisodeRecord]) -> list[float]:
    """Per-episode nats/token of ``episodes`` minus ``reference``'s, over the episodes both scored."""
    ref = {e.episode_id: e.nats_per_token for e in reference}
    return [e.nats_per_token - ref[e.episode_id] for e in episodes if e.episode_id in ref]


def with_q_values(rows: list[Row]) -> list[Row]:
    """``rows`` with ``delta_q_value``: Benjamini-Hochberg over the rows of each (track, K)
    table that have a ``delta_p_value`` (the reference's own row has none)."""
    q: dict[str, float] = {}
    for table in {(r.track, r.shots) for r in rows}:
        tested = [(r, p) for r in rows if (r.track, r.shots) == table and (p := r.delta_p_value) is not None]
        q |= {r.run_key: v for (r, _), v in zip(tested, benjamini_hochberg([p for _, p in tested]))}
    return [dataclasses.replace(r, delta_q_value=q[r.run_key]) if r.run_key in q else r for r in rows]


# q above this against the table's best row: the row is statistically indistinguishable from it
INDISTINGUISHABLE_Q = 0.05


def with_best_marks(rows: list[Row], episodes: Mapping[str, Sequence[EpisodeRecord]]) -> list[Row]:
    """``rows`` with ``best`` on the lowest-NLL row of each (track, K, manifest) table and,
    on every other row of it, ``vs_best_q_value``: its paired t-test against that best row
    (over the episodes both scored), Benjamini-Hochberg-adjusted over the table.

    ``episodes``: run_key -> the row's episode records.  A row is indistinguishable from
    the best when its q exceeds `INDISTINGUISHABLE_Q` (`is_indistinguishable_from_best`).
    The best row is chosen on the same episodes it is tested on, so the mark is generous
    to the best's close rivals (it tests "worse than the best", never "better").
    """
    marks: dict[str, dict] = {}
    for table in {(r.track, r.shots, r.manifest_sha256) for r in rows}:
        sub = [r for r in rows if (r.track, r.shots, r.manifest_sha256) == table]
        best = min(sub, key=lambda r: r.nll_nats_per_token)
        marks[best.run_key] = {"best": True}
        tested = [
            (r, d)
            for r in sub
            if r is not best
            for d in [paired_differences(episodes[r.run_key], episodes[best.run_key])]
            if len(d) > 1
        ]
        q = benjamini_hochberg([t_p_value(d) for _, d in tested])
        marks |= {r.run_key: {"vs_best_q_value": v} for (r, _), v in zip(tested, q)}
    return [dataclasses.replace(r, **marks[r.run_key]) if r.run_key in marks else r for r in rows]


def is_indistinguishable_from_best(row: Row) -> bool:
    """Not the best row, but paired against it with q > `INDISTINGUISHABLE_Q`."""
    return row.vs_best_q_value is not None and row.vs_best_q_value > INDISTINGUISHABLE_Q


def reference_of(method: str, modality: str, reference: str | None) -> str:
    """``reference``, or by default: the dense base of the compressed variant ``method``
    (``lstm`` for ``lstm-trim``), else the default one of the ``modality``."""
    return reference or dense_base(method) or default_reference(modality) or "lstm"


def leaderboard_rows(results: Path | Sequence[Path], *, reference: str | None = None) -> list[Row]:
    """Rows sorted by track, K, then NLL (best first).

    Each row is compared, episode by episode, with the ``reference`` method's run
    (default: `reference_of`: a compressed variant's dense base, else the modality's) on the same manifest (same
    track, K and manifest sha256), if there is one; ``reference_converged`` says whether
    that reference converged (a comparison against an under-trained reference says so).
    """
    from benchmark.run.device_latency import measured_for, measured_latencies
    from leaderboard.reproductions import independent_matches, read_reproductions

    folders = [Path(results)] if isinstance(results, (str, Path)) else [Path(r) for r in results]
    runs = [(run, eps) for run, eps in load_runs(folders) if eps]
    measured = measured_latencies(folders)
    reproductions = read_reproductions(folders)
    by_manifest = {(run.track, run.manifest_sha256, run.method): (run, eps) for run, eps in runs}
    rows = []
    episodes = {run.run_key: eps for run, eps in runs}
    for run, eps in runs:
        name = reference_of(run.method, run.track_spec.get("modality", ""), reference)
        row = dataclasses.replace(
            make_row(run, eps),
            reference=name,
            measured=measured_for(run, measured) or None,
            reproduced=[asdict(m) for m in independent_matches(reproductions, run)] or None,
        )
        ref = by_manifest.get((run.track, run.manifest_sha256, name))
        if ref is not None:
            ref_run, ref_eps = ref
            diffs = paired_differences(eps, ref_eps)
            delta, ci = mean_ci95(diffs)
            row = dataclasses.replace(
                row,
                delta_vs_reference=delta,
                delta_ci95=ci,
                paired_episodes=len(diffs),
                delta_p_value=t_p_value(diffs) if len(diffs) > 1 and ref_run is not run else None,
                reference_converged=training_of(ref_run).converged,
            )
        rows.append(row)
    return sorted(
        with_best_marks(with_q_values(rows), episodes), key=lambda r: (r.track, r.shots, r.nll_nats_per_token)
    )
