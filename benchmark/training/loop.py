"""A resumable training loop: progress bar, TensorBoard curves, atomic checkpoints.

The loop calls ``step_fn(step) -> loss`` for each optimiser step (it back-propagates
the loss, unless the loss is detached because ``step_fn`` filled the parameters'
``.grad`` itself, as functional meta-learning does) and
``val_fn() -> nats_per_token`` every ``val_every`` steps; the parameters with the
best validation score are kept (model selection on meta-val).  Every validation
writes a checkpoint (model, optimiser, step, best state) atomically, so an
interrupted run resumes from its last checkpoint instead of starting over.

Data-parallel training under torchrun (`benchmark.training.distributed`): ``step_fn``
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

from benchmark.training.distributed import active_world, sum_gradients, sum_over_ranks
from episodes.atomic import atomic_path


@dataclass
class TrainLog:
    """What a training run did: steps, wall time, validation curve."""

    steps: int = 0
    wall_seconds: float = 0.0
    best_val_nats_per_token: float = math.inf
    best_step: int = 0
    val_curve: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "steps": self.steps,
            "wall_seconds": round(self.wall_seconds, 2),
            "best_val_nats_per_token": self.best_val_nats_per_token,
            "best_step": self.best_step,
            "val_curve": self.val_curve,
        }


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
) -> TrainLog:
    """Run ``steps`` optimiser steps; leave the best-on-validation weights in ``model``."""
    from torch.utils.tensorboard import SummaryWriter

    logdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = logdir / "train-state.pt"
    log = TrainLog()
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
    t0 = time.perf_counter() - log.wall_seconds
    main = active_world().is_main
    writer = SummaryWriter(str(logdir)) if main else None
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=desc, unit="step", disable=not main)
    for step in bar:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = step_fn(step)
        if loss.requires_grad:  # else step_fn has set the .grad fields itself
            loss.backward()
        sum_gradients(model.parameters())
        loss = sum_over_ranks(loss.detach())
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if writer is not None:
            writer.add_scalar("train/nats_per_token", loss.item(), step + 1)
        best = log.best_val_nats_per_token
        bar.set_postfix(loss=f"{loss.item():.3f}", best_val="-" if math.isinf(best) else f"{best:.3f}")
        if (step + 1) % val_every == 0 or step + 1 == steps:
            val = float(val_fn())
            if writer is not None:
                writer.add_scalar("val/nats_per_token", val, step + 1)
            log.val_curve.append((step + 1, val))
            if val < log.best_val_nats_per_token:
                log.best_val_nats_per_token, log.best_step = val, step + 1
                best_state = copy.deepcopy(model.state_dict())
            if not main:
                continue
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
                },
            )
    if writer is not None:
        writer.close()
    model.load_state_dict(best_state)
    log.steps = steps
    log.wall_seconds = time.perf_counter() - t0
    return log
