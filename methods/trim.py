"""``lstm-trim``: the fitted ``lstm`` made physically smaller by structured trimming
(`benchmark.compress.trim`), fine-tuned on meta-train after every round.

Trimming runs in rounds, each removing a fifth of the remaining hidden units and
embedding dimensions (``unit_fraction``), ranked by ``criterion``, each followed by
``finetune_fraction`` of the budget's steps of training (AdamW at ``lr``, the best
weights on meta-val kept, as the ``lstm`` trains; at the ``converge`` budget each round
trains to its own meta-val plateau).  With ``distill > 0`` that training is knowledge
distillation from the dense ``lstm`` (`benchmark.nn.sequence.distilled_lm_loss`):
``distill`` of the loss is the cross-entropy to the dense model's next-token
distribution, the rest the NLL of the data.  Rounds land exactly on the sweep
levels `methods.levelled.SWEEP_LEVELS` (fractions of the dense parameters removed) below ``removed``,
and a variant starts from the variant at the level before its own
(``data.pretrained('lstm-trim[removed=0.8]')`` for the default 0.9): the whole
accuracy-vs-size curve is one trajectory, each point trained once and shared.

Esling et al. (2020) rewind the kept weights to an early-training checkpoint before
retraining; here the trimmed network keeps its trained weights and is fine-tuned (as
Renda et al. 2020 compare against rewinding), since the fitted ``lstm`` keeps no early
checkpoint and a full retraining per round is beyond a CPU budget.  The method
adapts and scores as ``lstm`` does: it ignores the support set.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from baselines.lstm import LSTMBaseline
from benchmark.compress.trim import CRITERIA, keep_best, trim_schedule, trimmed
from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.contract.settings import Choice, Range
from benchmark.nn.sequence import distilled_lm_loss, lm_loss, pad_batch
from benchmark.training.convergence import loop_cost
from methods.levelled import Levelled

PROBE_SONGS = 32  # meta-train songs on which the activation criterion is measured


@register_method(group="compressed")
class LSTMTrim(Levelled, LSTMBaseline):
    """The ``lstm`` with whole units removed (``removed`` of its parameters), fine-tuned."""

    name = "lstm-trim"
    version = "1"
    base_method: ClassVar[str] = "lstm"  # the dense method it compresses (`fsmb sparsity` pairs against it)
    train_settings = {
        "removed": Range(0, 1, low_open=True, high_open=True),
        "criterion": Choice(CRITERIA),
        "unit_fraction": Range(0, 1, low_open=True, high_open=True),
        "finetune_fraction": Range(0, 1, low_open=True),
        "distill": Range(0, 1, high_open=True),
    }

    def __init__(
        self,
        lr: float = 2e-3,
        weight_decay: float = 0.0,
        removed: float = 0.9,
        criterion: str = "activation",
        unit_fraction: float = 0.2,
        finetune_fraction: float = 0.1,
        distill: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.removed, self.criterion = removed, criterion
        self.unit_fraction, self.finetune_fraction, self.distill = unit_fraction, finetune_fraction, distill

    def init_args(self) -> dict[str, Any]:
        return {
            **super().init_args(),
            "removed": self.removed,
            "criterion": self.criterion,
            "unit_fraction": self.unit_fraction,
            "finetune_fraction": self.finetune_fraction,
            "distill": self.distill,
        }

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        dense = data.pretrained(self.base_method).model
        teacher = copy.deepcopy(dense).requires_grad_(False)
        base_spec = self.base_spec()
        base = data.pretrained(base_spec)
        schedule = trim_schedule(dense.cfg, self.levels(), self.unit_fraction)
        first = (
            0
            if base_spec == self.base_method
            else next(i for i, r in enumerate(schedule) if r.target == self.levels()[-2]) + 1
        )
        steps = max(1, round(self.finetune_fraction * budget.steps))
        round_budget = budget.with_steps(steps)
        batches = self.training_batches(data, budget)
        items = data.train_items()
        self.model = copy.deepcopy(base.model)
        rounds = list(base.train_log.get("rounds", []))
        for index in range(first, len(schedule)):
            plan = schedule[index]
            rng = np.random.default_rng([data.seed, 7, index])
            probe = pad_batch(
                [items[i].tokens for i in rng.choice(len(items), min(PROBE_SONGS, len(items)), replace=False)]
            )
            self.model = trimmed(self.model, keep_best(self.model, plan.emb, plan.hidden, self.criterion, probe))
            offset = (
                budget.steps + index * steps
            )  # meta-train batches the dense training and earlier rounds did not see
            torch.manual_seed(data.seed + index)  # dropout
            self.train_network(
                data,
                round_budget,
                logdir / f"round{index:02d}",
                lambda step: self.round_loss(teacher, batches(offset + step)),
            )
            rounds.append(
                {
                    "round": index,
                    "emb": plan.emb,
                    "hidden": plan.hidden,
                    "removed": plan.removed,
                    "val_nats_per_token": self.train_log["best_val_nats_per_token"],
                    **loop_cost(self.train_log),
                }
            )
        self.train_log = {
            "base": base_spec,
            "dense_params": sum(p.numel() for p in dense.parameters()),
            "rounds": rounds,
        }

    def round_loss(self, teacher: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """A trimming round's training loss on ``batch`` ``(B, T)``, nats/token: the NLL, or
        with ``distill > 0`` its mix with distillation from the dense ``teacher``."""
        if self.distill == 0:
            return lm_loss(self.model, batch)
        return distilled_lm_loss(self.model, teacher, batch, self.distill)
