"""Rerun published leaderboard rows from their run records and check the reruns.

``fsmb reproduce`` reads every run record under the published result folders, takes
the configuration it recorded — method and its settings (the label
``name[setting=value,...]``: training settings go to the fit, evaluation-time ones to
``--set``), track, K, budget, seed, episodes, samples — and scores it again with
`benchmark.run.runner.evaluate` into a separate folder.  Only registered built-in
methods are rerun: no code named in a record is imported.

With ``--check`` each rerun is compared with its published run on the episodes both
scored (`check_run`):

- **MATCH (bit-exact)**: every episode's per-song NLL is the same float;
- **DIFFERS** when the rerun fitted *the same weights* (the ``state_sha256`` of the
  fitted model is the published one) but any score differs: scoring is deterministic on
  a CPU, so an edited record or changed scoring code is caught however small the change;
- otherwise (training was not bit-reproducible here: another torch build, thread
  count or CPU) **MATCH (within CI)** when the mean paired difference in nats/token is
  within its 95% confidence interval, **MATCH (float drift)** when it is outside but
  smaller than `FLOAT_DRIFT` (0.01 %) of the published NLL -- a consistent shift too small
  to print in any table, as another CPU's floating-point kernels give a closed-form fit
  (a PPCA's eigendecomposition on AMD against Intel: 1e-5 of its NLL) -- else **DIFFERS**.

``--quick`` reruns a documented subset (`QUICK`): the first 50 test episodes of the
baselines that fit without training, which takes minutes on two cores from an empty
cache (most of it building the three corpora).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from benchmark.contract.methods import MethodSpec, make_method, registration
from benchmark.contract.protocol import Budget, Declared
from benchmark.contract.settings import split_spec
from benchmark.run.records import EpisodeRecord, RecordError, RunRecord
from episodes.tracks import Track
from leaderboard.aggregate import load_runs, paired_delta
from leaderboard.reading import load_run

QUICK_EPISODES = 50  # --quick: the first 50 test episodes ...
QUICK_GROUP = "baseline"  # ... of the baselines that need no training (`needs_training`)
ENV_KEYS = ("python", "torch", "numpy", "music21", "machine", "cpu", "torch_threads")
FLOAT_DRIFT = 1e-4  # |Δ| below this share of the published NLL: float drift, not a different result


@dataclass(frozen=True)
class Rerun:
    """What to run again for one published run: the method spec (with training
    settings), evaluation-time overrides, and the recorded configuration."""

    label: str
    spec: str
    overrides: dict
    track: str
    shots: int
    episodes: int
    budget: Budget
    seed: int
    samples: int
    published: RunRecord
    folder: str = ""  # the name of the published folder it came from (the rerun's subfolder of --out)
    source: str = ""  # that folder's path, as given (where a reproduction record of it is written)

    @property
    def threads(self) -> int | None:
        """The torch thread count the published run recorded (training with another one
        fits other weights: float sums differ)."""
        threads = self.published.env.get("torch_threads")
        return int(threads) if threads else None


@dataclass(frozen=True)
class Check:
    """A published run against its rerun, on the ``episodes`` both scored."""

    label: str
    track: str
    shots: int
    episodes: int
    published_nats_per_token: float
    reproduced_nats_per_token: float
    delta: float  # reproduced - published, mean over episodes, nats/token
    delta_ci95: float
    verdict: str  # "MATCH" or "DIFFERS"
    how: str  # "bit-exact", "within CI", or why it differs


def needs_training(name: str) -> bool:
    """Whether the built-in method ``name`` trains a network (`NeuralMethod`)."""
    from benchmark.training.neural import NeuralMethod

    return issubclass(type(make_method(name)), NeuralMethod)


def plan(run: RunRecord, episodes: list[EpisodeRecord], *, quick: bool, folder: str = "", source: str = "") -> Rerun:
    """The `Rerun` of a published run (its first `QUICK_EPISODES` with ``quick``)."""
    label = run.method
    name, settings = split_spec(label)
    if registration(name) is None:
        raise RecordError(
            f"{label} on {run.track}: not a registered method; fsmb reproduce reruns FSMB's "
            f"built-ins only (rerun your own with fsmb eval --method package.module:Class)"
        )
    method = make_method(name)
    train_keys = set(Declared.of(method).train_settings)
    train = {k: v for k, v in settings.items() if k in train_keys}
    spec = name + ("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in train.items()) + "]" if train else "")
    quality = next((e.quality for e in episodes if e.quality), None)
    return Rerun(
        label=label,
        spec=spec,
        overrides={k: v for k, v in settings.items() if k not in train_keys},
        track=run.track,
        shots=run.shots,
        episodes=min(len(episodes), QUICK_EPISODES) if quick else len(episodes),
        budget=Budget(**run.budget),
        seed=run.seed,
        samples=int(quality["metrics"].get("n_samples", 0)) if quality else 0,
        published=run,
        folder=folder,
        source=source,
    )


def published_reruns(
    results: Sequence[Path],
    *,
    tracks: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    quick: bool = False,
) -> list[tuple[Rerun, list[EpisodeRecord]]]:
    """The reruns of the published runs under ``results`` (only ``tracks``/``methods``
    when given; with ``quick`` only `QUICK_GROUP` methods that need no training), each
    with its published episode records."""
    chosen, seen = [], set()
    for folder in results:
        for run, episodes in load_runs([folder]):
            if (
                not episodes
                or run.run_key in seen
                or (tracks and run.track not in tracks)
                or (methods and run.method not in methods)
            ):
                continue  # a run published in two folders is rerun once
            name = split_spec(run.method)[0]
            known = registration(name)
            if quick and (known is None or known.group != QUICK_GROUP or needs_training(name)):
                continue
            seen.add(run.run_key)
            chosen.append((plan(run, episodes, quick=quick, folder=Path(folder).name, source=str(folder)), episodes))
    if not chosen:
        raise RecordError(
            f"no published run under {', '.join(map(str, results))} matches"
            + (f" --track {','.join(tracks)}" if tracks else "")
            + (f" --methods {','.join(methods)}" if methods else "")
            + (" --quick" if quick else "")
        )
    return chosen


def rerun(r: Rerun, track: Track, *, out: Path, models: Path, log: Callable[[str], None] = print) -> Path:
    """Score ``r`` again on ``track`` into ``out/<its published folder>``, with the thread
    count it recorded and models fitted at that count (``models/threads-N``); returns its
    run-record path."""
    import torch

    from benchmark.run.runner import evaluate

    if r.threads:
        torch.set_num_threads(r.threads)
        models = models / f"threads-{r.threads}"
    records = evaluate(
        MethodSpec.parse(r.spec, r.overrides),
        track,
        shots=r.shots,
        n_episodes=r.episodes,
        out=out / r.folder,
        budget=r.budget,
        models=models,
        seed=r.seed,
        samples=r.samples,
        log=log,
    )
    return records.with_name(records.name[: -len(".jsonl")] + ".run.json")


def check_run(r: Rerun, published: list[EpisodeRecord], run_path: Path) -> Check:
    """Compare the rerun at ``run_path`` with the ``published`` episodes (module docstring)."""
    run, reproduced = load_run(run_path)
    theirs = {e.episode_id: e for e in published}
    mine = [e for e in reproduced if e.episode_id in theirs]
    if run.manifest_sha256 != r.published.manifest_sha256 or not mine:
        return Check(
            r.label,
            r.track,
            r.shots,
            len(mine),
            math.nan,
            math.nan,
            math.nan,
            math.nan,
            "DIFFERS",
            f"other episodes: manifest {run.manifest_sha256[:12]} vs published {r.published.manifest_sha256[:12]}",
        )
    pub = sum(theirs[e.episode_id].nats_per_token for e in mine) / len(mine)
    rep = sum(e.nats_per_token for e in mine) / len(mine)
    delta, ci, _ = paired_delta(mine, [theirs[e.episode_id] for e in mine])

    def verdict(says: str, how: str) -> Check:
        return Check(r.label, r.track, r.shots, len(mine), pub, rep, delta, ci, says, how)

    if all(e.nll_nats == theirs[e.episode_id].nll_nats for e in mine):
        return verdict("MATCH", "bit-exact")
    changed = sum(e.nll_nats != theirs[e.episode_id].nll_nats for e in mine)
    same_weights = run.train.get("state_sha256") == r.published.train.get("state_sha256")
    if same_weights:
        return verdict("DIFFERS", f"same fitted weights, {changed} of {len(mine)} episodes scored differently")
    within = math.isfinite(ci) and abs(delta) <= ci
    drift = math.isfinite(delta) and abs(delta) < FLOAT_DRIFT * abs(pub)
    versions = env_changes(r.published.env, run.env)
    if within:
        how = "within CI"
    elif drift:
        how = f"float drift: Δ under {FLOAT_DRIFT:.2%} of the published NLL, outside the paired 95% CI"
    else:
        how = f"outside the paired 95% CI ({changed} of {len(mine)} episodes differ)"
    return verdict(
        "MATCH" if within or drift else "DIFFERS", how + "; weights differ" + (f" ({versions})" if versions else "")
    )


def env_changes(published: dict, current: dict) -> str:
    """``torch 2.11.0+cu130 -> 2.11.0+cpu, ...``: the recorded versions that changed."""
    return ", ".join(
        f"{k} {published.get(k)} -> {current.get(k)}" for k in ENV_KEYS if published.get(k) != current.get(k)
    )


def checks_table(checks: Sequence[Check]) -> str:
    """The ``--check`` report as a Markdown table."""
    lines = [
        "| track | K | method | episodes | published nats/token | reproduced | Δ (±95% CI) | verdict |",
        "|---|---:|---|---:|---:|---:|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c.track} | {c.shots} | {c.label} | {c.episodes} | {c.published_nats_per_token:.6f} | "
            f"{c.reproduced_nats_per_token:.6f} | {c.delta:+.6f} ± {c.delta_ci95:.6f} | "
            f"**{c.verdict}** ({c.how}) |"
        )
    return "\n".join(lines)
