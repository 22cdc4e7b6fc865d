"""``lstm-imp``: the lottery ticket of the ``lstm`` (Frankle & Carbin 2019), found by
iterative magnitude pruning with rewinding (Frankle et al. 2020), and its control.

- Round 0 is the dense ``lstm`` itself: its fitted weights give the first mask, and its
  first ``rewind_fraction`` of training steps are replayed (same seed, batches and
  optimiser as `baselines.lstm`) to recover the early weights ``theta_k`` it is
  rewound to.
- Each round removes the smallest-magnitude weights over the whole network (at most
  ``prune_fraction`` of those alive; `benchmark.compress.masks`), rewinds the
  survivors to ``theta_k`` and retrains them for ``retrain_fraction`` of the budget's
  steps, continuing the dense run's batches from step k.  Rounds land exactly on the
  sweep levels (`methods.levelled.SWEEP_LEVELS`) below ``removed``; a variant starts from
  the one at the level before its own, so the sparsity curve is one trajectory.
- ``reinit=true`` is the hypothesis's control: the final mask of the ticket at the
  same settings, with a fresh random initialisation instead of ``theta_k``, trained
  for as many steps as the ticket saw in all (k, then its last round's retraining).

``retrain_fraction`` is 0.2 by default and ``removed`` 0.8: rewinding and retraining
every round for the whole budget costs 9 dense trainings to reach 80% (13 for 90%),
beyond a CPU budget.  Pruned weights are
stored as zeros (the cost columns count them as non-zero parameters); the dense
kernels run them at the dense cost.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import torch

from baselines.lstm import LSTMBaseline
from benchmark.compress.masks import (
    apply_masks,
    hold_masked,
    masks_of,
    prunable,
    prune_globally,
    sparsity_schedule,
)
from benchmark.contract.methods import register_method
from benchmark.contract.overrides import trained_label
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.contract.settings import Choice, Range
from benchmark.nn.sequence import LSTMLM, lm_loss
from benchmark.training.convergence import loop_cost
from methods.levelled import Levelled

REWIND = "rewind."  # prefix of the early weights theta_k in the saved extra state


@register_method(group="compressed")
class LSTMLottery(Levelled, LSTMBaseline):
    """The ``lstm``'s winning ticket at ``removed`` sparsity (or its random-reinit control)."""

    name = "lstm-imp"
    version = "1"
    base_method: ClassVar[str] = "lstm"  # the dense method it compresses (`fsmb sparsity` pairs against it)
    train_settings = {
        "removed": Range(0, 1, low_open=True, high_open=True),
        "reinit": Choice((False, True)),
        "prune_fraction": Range(0, 1, low_open=True, high_open=True),
        "rewind_fraction": Range(0, 1, low_open=True, high_open=True),
        "retrain_fraction": Range(0, 1, low_open=True),
    }

    def __init__(
        self,
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        removed: float = 0.8,
        reinit: bool = False,
        prune_fraction: float = 0.2,
        rewind_fraction: float = 0.05,
        retrain_fraction: float = 0.2,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.removed, self.reinit = removed, reinit
        self.prune_fraction, self.rewind_fraction, self.retrain_fraction = (
            prune_fraction,
            rewind_fraction,
            retrain_fraction,
        )
        self.rewind: dict[str, torch.Tensor] = {}

    def init_args(self) -> dict[str, Any]:
        return {
            **super().init_args(),
            "removed": self.removed,
            "reinit": self.reinit,
            "prune_fraction": self.prune_fraction,
            "rewind_fraction": self.rewind_fraction,
            "retrain_fraction": self.retrain_fraction,
        }

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {REWIND + k: v for k, v in self.rewind.items()}

    def load_extra_state(self, extra: dict[str, torch.Tensor]) -> None:
        self.rewind = {k[len(REWIND) :]: v for k, v in extra.items() if k.startswith(REWIND)}

    def _variant(self, **changes: Any) -> str:
        other = copy.copy(self)
        for key, value in changes.items():
            setattr(other, key, value)
        return trained_label(other)

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        rewind_steps = max(1, round(self.rewind_fraction * budget.steps))
        retrain_steps = max(1, round(self.retrain_fraction * budget.steps))
        batches = self.training_batches(data, budget)
        if self.reinit:
            ticket = data.pretrained(self._variant(reinit=False))
            torch.manual_seed(data.seed + 1)  # an initialisation other than the ticket's
            self.model = LSTMLM(ticket.model.cfg)
            masks = masks_of(ticket.model)
            apply_masks(self.model, masks)
            with hold_masked(self.model, masks):
                self.train_network(
                    data,
                    budget.with_steps(rewind_steps + retrain_steps),
                    logdir,
                    lambda step: lm_loss(self.model, batches(step)),
                )
            self.train_log = {  # the loop's own log (curve, steps, time, FLOPs), judged like any
                **self.train_log,
                "ticket": self._variant(reinit=False),
                "val_nats_per_token": self.train_log["best_val_nats_per_token"],
            }
            return
        levels = self.levels()
        schedule = sparsity_schedule(levels, self.prune_fraction)
        if len(levels) == 1:
            dense = data.pretrained("lstm")
            self.rewind = self._replay(data, budget, rewind_steps, logdir / "rewind")
            trained, first, rounds = dense.model, 0, []
        else:
            base = data.pretrained(self.base_spec())
            self.rewind, trained, rounds = base.rewind, base.model, list(base.train_log["rounds"])
            first = next(i for i, (_, target) in enumerate(schedule) if target == levels[-2]) + 1
        total = sum(p.numel() for p in trained.parameters())
        fixed = total - sum(p.numel() for p in prunable(trained).values())  # biases: never pruned
        masks = masks_of(trained)
        for index in range(first, len(schedule)):
            kept, _ = schedule[index]
            masks = prune_globally(trained, masks, max(0, round(kept * total) - fixed))
            self.model = LSTMLM(trained.cfg)
            self.model.load_state_dict(self.rewind)
            apply_masks(self.model, masks)
            torch.manual_seed(data.seed + index)  # dropout
            with hold_masked(self.model, masks):
                self.train_network(
                    data,
                    budget.with_steps(retrain_steps),
                    logdir / f"round{index:02d}",
                    lambda step: lm_loss(self.model, batches(rewind_steps + step)),
                )
            trained = self.model
            rounds.append(
                {
                    "round": index,
                    "kept": kept,
                    "nonzero": int(sum(int(m.sum()) for m in masks.values()) + fixed),
                    "val_nats_per_token": self.train_log["best_val_nats_per_token"],
                    **loop_cost(self.train_log),
                }
            )
        self.train_log = {"rewind_step": rewind_steps, "retrain_steps": retrain_steps, "rounds": rounds}

    def _replay(self, data: MetaTrainData, budget: Budget, steps: int, logdir: Path) -> dict[str, torch.Tensor]:
        """The ``lstm``'s weights after its first ``steps`` training steps, replayed as
        `LSTMBaseline.fit` trains (same seed, initialisation, batches and optimiser)."""
        replay = LSTMBaseline(self.lr, self.weight_decay)
        replay.fit(data, budget=budget.with_steps(steps), logdir=logdir)
        return {k: v.clone() for k, v in replay.model.state_dict().items()}
