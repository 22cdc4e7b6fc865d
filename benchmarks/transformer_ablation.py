"""What holds ``transformer-icl`` back?  Its design changed one setting at a time, each
variant trained with the same training compute, compared on meta-val.

    python benchmarks/transformer_ablation.py [--track midi/music21] [--flops 2e13]
        [--variants 'transformer-icl[...]',...] [--budget converge] [--models runs/models]
        [--out results/transformer-ablation] [--seed 0] [--threads N]

Every variant is trained under ``--budget`` capped at ``--flops`` counted training
FLOPs (`benchmark.contract.protocol.Budget.with_flops`: the compute-matched view -- a
variant whose steps cost more takes fewer of them), from the same seed and data; a
variant that reaches its meta-val plateau first stops there.  Each is then scored on the
budget's meta-val episodes and paired with the first variant (the published row's
design), so the table reads "what this one change is worth at equal compute": best
meta-val NLL during training, the paired Δ (nats/token, 95% CI), parameters, steps
run, whether training stopped at its plateau or at the cap, training seconds and FLOPs.
The test episodes are not touched: the variant chosen here is then trained to its
plateau and scored like any row (``fsmb eval``).

A variant's result is written (``DIR/result.json``, ``DIR/result.md``) as soon as it is
measured, and a rerun skips the variants already there, so a sweep interrupted or spread
over several sessions resumes where it stopped; two processes (each given the base first,
then their own variants) can share the sweep, one per core.
"""

from __future__ import annotations

import argparse
import fcntl
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.contract.methods import make_method
from benchmark.contract.protocol import BUDGETS, Budget
from benchmark.contract.settings import SettingError
from benchmark.run.arguments import method_list
from benchmark.run.runner import fit_or_load
from benchmark.scoring.nll import episode_nats_per_token
from episodes.atomic import write_json, write_text
from episodes.tracks import TRACKS, Track, default_cache
from leaderboard.significance import mean_ci95

# the published row's design first (every other variant is paired with it), then one change each
BASE = "transformer-icl[context=256,stride=64,support_budget=128]"
VARIANTS = (
    BASE,
    "transformer-icl[context=256,lr=0.0003,stride=64,support_budget=128]",
    "transformer-icl[context=256,lr=0.003,stride=64,support_budget=128]",
    "transformer-icl[context=256,layers=2,stride=64,support_budget=128]",
    "transformer-icl[context=256,d_model=192,stride=64,support_budget=128]",
    "transformer-icl[context=256,dropout=0.0,stride=64,support_budget=128]",
    "transformer-icl[context=256,stride=64,support_budget=64]",
    "transformer-icl[context=512,stride=128,support_budget=256]",
)


@dataclass
class VariantResult:
    """One variant at the capped budget: meta-val NLL (nats/token) and training compute."""

    label: str
    params: int
    best_val_nats_per_token: float  # the best meta-val NLL the training loop saw
    val_nats_per_token: float  # the kept model's, rescored here per episode
    delta_vs_base: float  # paired on the same meta-val episodes; 0 for the base itself
    delta_ci95: float
    steps: int
    stopped: str  # "plateau", "flops cap" or "step cap" (`benchmark.training.loop`)
    train_seconds: float
    train_flops: float
    val_curve: list  # [[step, meta-val nats/token], ...] seen in training
    val_scores: list  # each meta-val episode's nats/token, kept so later variants pair without a refit


def ablate(
    track: Track, variants: list[str], *, budget: Budget, models: Path, out: Path, seed: int = 0
) -> list[VariantResult]:
    """Train and score each of ``variants`` (the first is the base) at ``budget``; a variant
    already in ``out/result.json`` for this base, budget, track and seed is kept, not
    rerun.  Processes may share ``out``, each with the same base first and other variants
    after it: each result is merged into the file under a lock."""
    val = [track.episode(s) for s in track.manifest("val").episodes[: budget.val_episodes]]
    key = (track.spec.name, budget.name, seed, variants[0])
    results: list[VariantResult] = []
    for label in variants:
        done = load_done(out / "result.json", key)  # read again: another process may have added it
        if label in done:
            results.append(done[label])
            continue
        method, meta = fit_or_load(make_method(label), track, budget=budget, models=models, seed=seed)
        base = np.array(results[0].val_scores) if results else None
        results.append(measured(label, method.n_params(), meta, episode_nats_per_token(method, val), base))
        publish(results[-1], variants, key, len(val), out)
    return results


def measured(label: str, params: int, meta: dict, scores: np.ndarray, base: np.ndarray | None) -> VariantResult:
    """A fitted variant's record: its training log (``meta``), its per-episode meta-val
    ``scores`` ``(E,)`` and their paired difference from ``base``'s (``None``: it is the base)."""
    delta, half = mean_ci95(scores - base) if base is not None else (0.0, 0.0)
    log = meta["train_log"]
    return VariantResult(
        label=label,
        params=params,
        best_val_nats_per_token=float(log["best_val_nats_per_token"]),
        val_nats_per_token=float(scores.mean()),
        delta_vs_base=float(delta),
        delta_ci95=float(half),
        steps=int(log["steps"]),
        stopped=str(log["stopped"]),
        train_seconds=float(meta["train_seconds"]),
        train_flops=float(log["flops"]),
        val_curve=[[int(step), float(nll)] for step, nll in log["val_curve"]],
        val_scores=[float(x) for x in scores],
    )


def load_done(path: Path, key: tuple[str, str, int, str]) -> dict[str, VariantResult]:
    """The variants already measured in ``path`` for this (track, budget, seed, base)."""
    if not path.exists():
        return {}
    result = json.loads(path.read_text())
    if (result["track"], result["budget"], result["seed"], result["base"]) != key:
        return {}
    return {r["label"]: VariantResult(**r) for r in result["variants"]}


def publish(result: VariantResult, order: list[str], key: tuple[str, str, int, str], episodes: int, out: Path) -> None:
    """Merge ``result`` into ``out/result.json`` (variants in ``order``, others after) and
    rewrite the table ``out/result.md``, holding a lock so that processes sharing ``out``
    keep each other's results."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".result.json.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        merged = load_done(out / "result.json", key) | {result.label: result}
        rows = sorted(merged.values(), key=lambda r: order.index(r.label) if r.label in order else len(order))
        track, budget, seed, base = key
        write_json(
            out / "result.json",
            {
                "track": track,
                "budget": budget,
                "seed": seed,
                "base": base,
                "val_episodes": episodes,
                "variants": [asdict(r) for r in rows],
            },
        )
        lines = [
            f"# `transformer-icl` ablation on `{track}`, budget `{budget}`",
            "",
            f"Meta-val NLL (nats/token) on {episodes} meta-val episodes; Δ paired with `{base}`.",
            "",
            "| variant | params | best meta-val (training) | meta-val | Δ vs base (±95% CI) | steps | stopped at | "
            "training s | training FLOPs |",
            "|---|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| `{r.label}` | {r.params:,} | {r.best_val_nats_per_token:.4f} | {r.val_nats_per_token:.4f} | "
                f"{r.delta_vs_base:+.4f} ± {r.delta_ci95:.4f} | {r.steps:,} | {r.stopped} | "
                f"{r.train_seconds:,.0f} | {r.train_flops:.3g} |"
            )
        write_text(out / "result.md", "\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="midi/music21", choices=sorted(TRACKS))
    parser.add_argument("--variants", type=method_list, default=",".join(VARIANTS), help="the first is the base")
    parser.add_argument("--budget", default="converge", choices=sorted(BUDGETS))
    parser.add_argument("--flops", type=float, default=2e13, help="training FLOPs per variant (a cap)")
    parser.add_argument("--models", type=Path, default=Path("runs/models"))
    parser.add_argument("--out", type=Path, default=Path("runs/transformer-ablation"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    args = parser.parse_args()
    for label in args.variants:  # every label checked before any long work
        try:
            make_method(label)
        except SettingError as exc:
            parser.error(str(exc))
    torch.set_num_threads(args.threads)
    track = Track.open(TRACKS[args.track], cache_dir=default_cache())
    budget = BUDGETS[args.budget].with_flops(args.flops)
    ablate(track, list(args.variants), budget=budget, models=args.models, out=args.out, seed=args.seed)


if __name__ == "__main__":
    main()
