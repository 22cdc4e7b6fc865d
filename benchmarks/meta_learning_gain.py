"""Does meta-training matter?  The MAML family against the same inner steps taken from
the fitted ``lstm`` without meta-training, per (inner steps, inner learning rate).

    python benchmarks/meta_learning_gain.py [--method fomaml] [--track midi/music21]
        [--inner-steps 1,3,5] [--inner-lrs 0.03,0.1,0.3] [--meta-fraction 0.25] [--budget converge]
        [--val-episodes 100] [--test-episodes 600] [--models runs/models] [--out DIR] [--threads N]

For each setting, both models are scored on the same meta-val episodes: "lstm + inner
steps" is the fitted ``lstm`` adapted to each support set by the method's own inner
steps (SGD at the inner learning rate on the support songs' first 128 tokens, as
``maml`` adapts at test time), and the meta-trained model is ``--method`` with those
settings after at most ``--meta-fraction`` of ``--budget``'s steps as meta-steps (the
family's default: a quarter; under ``converge`` the meta-val plateau stops it sooner,
and the table gives the meta-steps each run took) from that ``lstm`` (fitted and kept under
``--models`` like any ``fsmb eval`` run, so reruns load them).  The table gives each
one's mean meta-val NLL (nats/token), their paired difference with its 95% CI, and the
meta-training's meta-val curve (on the budget's meta-val episodes).  The setting whose
meta-trained model is best on meta-val is then compared on the first ``--test-episodes`` test episodes (paired).
Results go to ``DIR/result.json`` and ``DIR/result.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from benchmark.contract.methods import make_method
from benchmark.contract.protocol import BUDGETS
from benchmark.contract.settings import SettingError
from benchmark.run.arguments import method_list
from benchmark.run.runner import fit_or_load
from benchmark.scoring.nll import episode_nats_per_token
from episodes.atomic import write_json, write_text
from episodes.tracks import TRACKS, Track, default_cache
from leaderboard.significance import mean_ci95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="fomaml", choices=("maml", "fomaml", "metasgd"))
    parser.add_argument("--track", default="midi/music21")
    parser.add_argument("--inner-steps", type=method_list, default="1,3,5")
    parser.add_argument("--inner-lrs", type=method_list, default="0.03,0.1,0.3")
    parser.add_argument("--meta-fraction", type=float, default=0.25, help="meta-steps per step of the budget (a cap)")
    parser.add_argument("--budget", default="converge", choices=sorted(BUDGETS), help="training budget of both models")
    parser.add_argument("--val-episodes", type=int, default=100)
    parser.add_argument("--test-episodes", type=int, default=600)
    parser.add_argument("--models", type=Path, default=Path("runs/models"))
    parser.add_argument("--out", type=Path, default=Path("runs/meta-learning-gain"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = {}  # label -> (inner steps, inner lr); every label checked before any long work
    for steps in args.inner_steps:
        for lr in args.inner_lrs:
            label = f"{args.method}[inner_steps={steps},inner_lr={lr},meta_fraction={args.meta_fraction}]"
            try:
                make_method(label)
            except SettingError as exc:
                parser.error(str(exc))
            settings[label] = int(steps), float(lr)
    track = Track.open(TRACKS[args.track], cache_dir=default_cache())
    budget = BUDGETS[args.budget]
    lstm, _ = fit_or_load(make_method("lstm"), track, budget=budget, models=args.models, seed=args.seed)
    val = [track.episode(s) for s in track.manifest("val").episodes[: args.val_episodes]]
    rows, methods = [], {}
    for label, (steps, lr) in settings.items():
        untrained = make_method(label)
        untrained.model, untrained.alphas = lstm.model, {}
        trained, meta = fit_or_load(make_method(label), track, budget=budget, models=args.models, seed=args.seed)
        before, after = episode_nats_per_token(untrained, val), episode_nats_per_token(trained, val)
        gain, half = mean_ci95(after - before)
        rows.append(
            {
                "label": label,
                "inner_steps": steps,
                "inner_lr": lr,
                "lstm_plus_inner_steps": float(before.mean()),
                "meta_trained": float(after.mean()),
                "gain": gain,
                "gain_ci95": half,
                "meta_steps": meta["train_log"]["steps"],
                "val_curve": meta["train_log"]["val_curve"],
                "train_seconds": meta.get("train_seconds"),
            }
        )
        methods[label] = (untrained, trained)
        print(
            f"{label}: lstm + inner steps {before.mean():.4f}, meta-trained {after.mean():.4f}, "
            f"paired {gain:+.4f} ± {half:.4f} nats/token on {len(val)} meta-val episodes",
            flush=True,
        )
    best = min(rows, key=lambda r: r["meta_trained"])
    label = best["label"]
    test = [track.episode(s) for s in track.manifest("test").episodes[: args.test_episodes]]
    untrained, trained = methods[label]
    before, after = episode_nats_per_token(untrained, test), episode_nats_per_token(trained, test)
    gain, half = mean_ci95(after - before)
    result = {
        "method": args.method,
        "track": args.track,
        "budget": budget.name,
        "seed": args.seed,
        "val_episodes": len(val),
        "settings": rows,
        "selected": {
            "label": label,
            "test_episodes": len(test),
            "lstm_plus_inner_steps": float(before.mean()),
            "meta_trained": float(after.mean()),
            "gain": gain,
            "gain_ci95": half,
        },
    }
    lines = [
        f"# Meta-training gain: `{args.method}` on `{args.track}`, `{budget.name}` budget",
        "",
        "| inner steps | inner lr | meta-steps | lstm + inner steps (meta-val) | meta-trained (meta-val) | "
        "paired gain | meta-val curve (step: NLL) |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        curve = ", ".join(f"{int(s)}: {v:.4f}" for s, v in r["val_curve"])
        lines.append(
            f"| {r['inner_steps']} | {r['inner_lr']} | {r['meta_steps']} | {r['lstm_plus_inner_steps']:.4f} | "
            f"{r['meta_trained']:.4f} | {r['gain']:+.4f} ± {r['gain_ci95']:.4f} | {curve} |"
        )
    lines += [
        "",
        f"Selected on meta-val: `{label}`; on {len(test)} test episodes: lstm + inner steps "
        f"{before.mean():.4f}, meta-trained {after.mean():.4f}, paired gain {gain:+.4f} ± {half:.4f} "
        "nats/token (95% CI).",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "result.json", result)
    write_text(args.out / "result.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
