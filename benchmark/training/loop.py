"""A resumable training loop: progress bar, TensorBoard curves, atomic checkpoints.

The loop calls ``step_fn(step) -> loss`` for each optimiser step (it back-propagates
the loss, unless the loss is detached because ``step_fn`` filled the parameters'
``.grad`` itself, as functional meta-learning does) and
``val_fn() -> nats_per_token`` every ``val_every`` steps; the parameters with the
best validation score are kept (model selection on meta-val).  A budget with
``patience`` anneals the learning rate and stops at a meta-val plateau
(`benchmark.training.convergence`).  Every step's FLOPs are counted
(`benchmark.cost.flops`).  Every validation writes a checkpoint atomically, so an
interrupted run -- killed, or stopped at the end of a session -- resumes from its last
checkpoint when the same command runs again, and ends exactly as an uninterrupted run.

Data-parallel training under torchrun (`benchmark.runtime.distributed`): ``step_fn``
returns this rank's share of the step's loss, the loop sums gradients and losses over
the ranks before clipping and stepping (so every rank takes the same step), ``val_fn``
returns the same number on every rank, and only rank 0 writes checkpoints and
TensorBoard curves.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from benchmark.cost.flops import count_flops
from benchmark.runtime.distributed import gather, sum_gradients, sum_over_ranks
from benchmark.runtime.world import active_world
from benchmark.training.convergence import Plateau, assess
from episodes.atomic import atomic_path


@dataclass
class TrainLog:
    """What a training run did: steps run, wall time, the meta-val curve, the training
    FLOPs counted (`benchmark.cost.flops`), the steps at which the learning rate was
    halved, why it stopped (``"plateau"``, ``"flops cap"``, ``"step cap"`` or ``"fixed steps"``) and the
    verdict on convergence (`benchmark.training.convergence.assess`)."""

    steps: int = 0
    wall_seconds: float = 0.0
    best_val_nats_per_token: float = math.inf
    best_step: int = 0
    val_curve: list[tuple[int, float]] = field(default_factory=list)
    flops: int = 0
    lr_decays_at: list[int] = field(default_factory=list)
    stopped: str = ""
    convergence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "steps": self.steps,
            "wall_seconds": round(self.wall_seconds, 2),
            "best_val_nats_per_token": self.best_val_nats_per_token,
            "best_step": self.best_step,
            "val_curve": self.val_curve,
            "flops": self.flops,
            "lr_decays_at": self.lr_decays_at,
            "stopped": self.stopped,
            "convergence": self.convergence,
        }


CHECKPOINT_FILE = "train-state.pt"  # in a training run's logdir


def global_flops(flops: int) -> int:
    """``flops`` counted on this rank, summed over the active ranks."""
    return int(sum_over_ranks(torch.tensor(float(flops), dtype=torch.float64)).item())


def save_checkpoint(path: Path, payload: dict) -> None:
    """``torch.save`` to a temporary file, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary unpickling)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def train_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step_fn: Callable[[int], torch.Tensor],
    val_fn: Callable[[], float],
    *,
    steps: int,
    val_every: int,
    logdir: Path,
    desc: str,
    clip: float = 1.0,
    patience: int = 0,
    lr_decays: int = 0,
    lr_factor: Callable[[int], float] | None = None,
    flops_cap: float = 0.0,
) -> TrainLog:
    """Run at most ``steps`` optimiser steps; leave the best-on-validation weights in ``model``.

    The learning rate of each parameter group is its initial one times
    ``lr_factor(step)`` (a method's warm-up, say) times the plateau rule's factor;
    ``patience > 0`` anneals and stops at a meta-val plateau
    (`benchmark.training.convergence.Plateau`), else exactly ``steps`` steps run;
    ``flops_cap > 0`` stops (with a last validation) after the step whose counted FLOPs,
    over all ranks, reach it.  A
    checkpoint at each validation holds everything the rest of the run depends on
    (weights, optimiser, best weights, plateau state, torch's random generator of every
    rank, FLOPs and wall time so far), so a resumed run ends as an uninterrupted one."""
    from torch.utils.tensorboard import SummaryWriter

    logdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = logdir / CHECKPOINT_FILE
    log = TrainLog()
    plateau = Plateau(patience, lr_decays)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    best_state = copy.deepcopy(model.state_dict())
    start = 0
    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        best_state = ckpt["best_model"]
        start = int(ckpt["step"])
        log.best_val_nats_per_token = float(ckpt["best_val"])
        log.best_step = int(ckpt["best_step"])
        log.val_curve = [tuple(x) for x in ckpt["val_curve"].tolist()]
        log.wall_seconds = float(ckpt["wall_seconds"])
        log.flops = int(ckpt["flops"])
        plateau.restore(ckpt["plateau"])
        torch.set_rng_state(ckpt["rng"][active_world().rank])
    t0 = time.perf_counter() - log.wall_seconds
    main = active_world().is_main
    writer = SummaryWriter(str(logdir)) if main else None
    flops_here = 0  # counted on this rank since the last validation
    stopped = (
        "plateau"
        if plateau.patience > 0 and start and plateau.stale >= plateau.patience
        else "flops cap"
        if 0 < flops_cap <= log.flops
        else ""
    )
    bar = tqdm(
        range(start, steps),
        initial=start,
        total=steps,
        unit="step",
        disable=not main,
        desc=desc + (" (stops at a meta-val plateau)" if patience > 0 else ""),
    )
    step = start
    for step in bar:
        if stopped:
            break
        model.train()
        for group, lr in zip(optimizer.param_groups, base_lrs):
            group["lr"] = lr * (lr_factor(step) if lr_factor is not None else 1.0) * plateau.lr_scale
        optimizer.zero_grad(set_to_none=True)
        with count_flops() as counted:
            loss = step_fn(step)
            if loss.requires_grad:  # else step_fn has set the .grad fields itself
                loss.backward()
        flops_here += counted.flops
        capped = flops_cap > 0 and log.flops + global_flops(flops_here) >= flops_cap
        sum_gradients(model.parameters())
        loss = sum_over_ranks(loss.detach())
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if writer is not None:
            writer.add_scalar("train/nats_per_token", loss.item(), step + 1)
            writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step + 1)
        best = log.best_val_nats_per_token
        bar.set_postfix(
            loss=f"{loss.item():.3f}",
            best_val="-" if math.isinf(best) else f"{best:.3f}",
            **({"lr_scale": f"{plateau.lr_scale:g}"} if patience > 0 else {}),
        )
        if (step + 1) % val_every == 0 or step + 1 == steps or capped:
            val = float(val_fn())
            log.flops += global_flops(flops_here)
            flops_here = 0
            if writer is not None:
                writer.add_scalar("val/nats_per_token", val, step + 1)
            log.val_curve.append((step + 1, val))
            if val < log.best_val_nats_per_token:
                log.best_val_nats_per_token, log.best_step = val, step + 1
                best_state = copy.deepcopy(model.state_dict())
            if plateau.update(step + 1, val):
                stopped = "plateau"
            if capped:
                stopped = "flops cap"
            rng = gather(torch.get_rng_state())
            if main:
                save_checkpoint(
                    ckpt_path,
                    {
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "best_model": best_state,
                        "step": step + 1,
                        "best_val": log.best_val_nats_per_token,
                        "best_step": log.best_step,
                        "val_curve": torch.tensor(log.val_curve, dtype=torch.float64).reshape(-1, 2),
                        "wall_seconds": time.perf_counter() - t0,
                        "flops": log.flops,
                        "plateau": plateau.state(),
                        "rng": rng,
                    },
                )
            if stopped:
                bar.close()
                break
    if writer is not None:
        writer.close()
    model.load_state_dict(best_state)
    log.steps = int(log.val_curve[-1][0]) if log.val_curve else step
    log.wall_seconds = time.perf_counter() - t0
    log.lr_decays_at = list(plateau.decays_at)
    log.stopped = stopped or ("step cap" if patience > 0 else "fixed steps")
    log.convergence = assess(
        log.val_curve, steps=log.steps, patience=patience, lr_decays=lr_decays, decays_at=plateau.decays_at
    ).to_dict()
    return log
