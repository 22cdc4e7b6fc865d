"""``vae-trim``: the fitted ``vae`` with whole decoder channels removed
(`benchmark.compress.channels`, with Torch-Pruning), fine-tuned on meta-train after
every round -- the audio counterpart of ``lstm-trim`` (`methods.trim`).

Only the decoder is trimmed (the deployed generation step; the encoder is the bound's
and the fine-tuning's posterior -- see `benchmark.compress.channels` for why), so
``removed`` is a fraction of the dense *decoder's* parameters, the share that
``fsmb sparsity`` measures on the deployed step.  Trimming runs in rounds, each
removing ``unit_fraction`` of the remaining channels of every decoder feature map
(those of lowest weight magnitude), each followed by ``finetune_fraction`` of the
budget's steps of the ``vae``'s training (its negative ELBO on meta-train notes, batches
the dense training and earlier rounds did not draw, AdamW at ``lr``, the whole network
including the encoder, the best weights on meta-val kept).  Rounds land exactly on the
sweep levels `methods.levelled.SWEEP_LEVELS` below ``removed``, and a variant starts from
the variant at the level before its own (``data.pretrained('vae-trim[removed=0.5]')``
for ``removed=0.8``), so the accuracy-vs-size curve is one trajectory.

Afterwards it is the ``vae``: fine-tuning steps and learning rate are chosen again on
meta-val for the trimmed network, and it adapts, scores (IWAE) and samples as
`methods.vae.VAE` does.  ``removed`` defaults to 0.5: the decoder of the ``small``
size has 207k parameters, a tenth of the ``lstm``'s, so 0.9 leaves 4 channels at
32 x 32 (the sweep levels up to 0.98 are reachable by name).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from benchmark.compress.channels import (
    decoder_params,
    dense,
    keep_best,
    trim_rounds,
    trimmed,
)
from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.contract.settings import Range
from benchmark.training.convergence import loop_cost
from methods.levelled import Levelled
from methods.vae import IWAE_SAMPLES, VAE


@register_method(group="compressed")
class VAETrim(Levelled, VAE):
    """The ``vae`` with decoder channels removed (``removed`` of its decoder's parameters), fine-tuned."""

    name = "vae-trim"
    version = "1"
    base_method: ClassVar[str] = "vae"  # the dense method it compresses (`fsmb sparsity` pairs against it)
    train_settings = {
        "removed": Range(0, 1, low_open=True, high_open=True),
        "unit_fraction": Range(0, 1, low_open=True, high_open=True),
        "finetune_fraction": Range(0, 1, low_open=True),
    }

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        steps: int = 10,
        adapt_lr: float = 1e-4,
        iwae_samples: int = IWAE_SAMPLES,
        removed: float = 0.5,
        unit_fraction: float = 0.2,
        finetune_fraction: float = 0.1,
    ) -> None:
        super().__init__(lr, weight_decay, steps, adapt_lr, iwae_samples)
        self.removed, self.unit_fraction, self.finetune_fraction = removed, unit_fraction, finetune_fraction

    def init_args(self) -> dict[str, Any]:
        return {
            **super().init_args(),
            "removed": self.removed,
            "unit_fraction": self.unit_fraction,
            "finetune_fraction": self.finetune_fraction,
        }

    def initialise(self, data: MetaTrainData, budget: Budget, x: np.ndarray) -> Budget:
        """Start from a copy of the fitted base (`base_spec`: its weights and input
        statistics; ``x`` is not needed) and its rounds; the budget is the dense one,
        of which each round of `train_network` takes ``finetune_fraction``."""
        base = data.pretrained(self.base_spec())
        self.model = copy.deepcopy(base.model)
        self.train_log = {"base": self.base_spec(), "rounds": list(base.train_log.get("rounds", []))}
        return budget

    def train_network(
        self,
        data: MetaTrainData,
        budget: Budget,
        logdir: Path,
        loss_fn: Callable[[int], torch.Tensor],
        *,
        lr_factor: Callable[[int], float] | None = None,
    ) -> None:
        """`VAE.fit`'s training, here the trimming rounds from the base's level to
        ``removed``: each trims the decoder and trains for ``finetune_fraction`` of
        ``budget``'s steps on ``loss_fn`` (the ``vae``'s loss at a step) from step
        ``budget.steps + round * steps`` on, the batches the dense training and the
        earlier rounds did not draw, keeping the weights best on meta-val."""
        steps = max(1, round(self.finetune_fraction * budget.steps))
        start, end = ([0.0] + self.levels())[-2:]
        base_spec, rounds = self.train_log["base"], self.train_log["rounds"]
        dense_params = decoder_params(dense(self.model.cfg))
        for plan in trim_rounds(self.model.cfg, start, end, self.unit_fraction):
            index = len(rounds)
            self.model = trimmed(self.model, keep_best(self.model, plan.decoder_widths()))
            offset = budget.steps + index * steps
            super().train_network(
                data,
                budget.with_steps(steps),
                logdir / f"round{index:02d}",
                lambda step, offset=offset: loss_fn(offset + step),
                lr_factor=lr_factor,
            )
            rounds.append(
                {
                    "round": index,
                    "channels": list(plan.decoder_widths()),
                    "removed": 1 - decoder_params(plan) / dense_params,
                    "val_nats_per_token": self.train_log["best_val_nats_per_token"],
                    **loop_cost(self.train_log),
                }
            )
        self.train_log = {"base": base_spec, "dense_decoder_params": dense_params, "rounds": rounds}
