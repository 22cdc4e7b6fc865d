"""``finetune``: start from the fitted ``lstm``, take a few Adam steps on the support set.

The support songs form one batch; each step is a full-batch step on their NLL.
``steps`` and ``adapt_lr`` are chosen on meta-val (``steps = 0`` is the ``lstm``
itself, so fine-tuning can only be selected if it helps on meta-val).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import torch

from baselines.lstm import LSTMAdapted
from benchmark.contract.methods import register_method
from benchmark.contract.settings import Range
from benchmark.nn.sequence import LSTMLM, lm_loss, pad_batch
from episodes.types import Item
from methods.pretrained import PretrainedLSTMMethod


def finetuned(model: LSTMLM, support: Sequence[Item], *, steps: int, lr: float) -> LSTMLM:
    """A copy of ``model`` after ``steps`` full-batch Adam steps on ``support`` (dropout
    off); ``model`` itself when there is nothing to do."""
    if steps == 0 or not support:
        return model
    model = copy.deepcopy(model)
    model.eval()
    batch = pad_batch([it.tokens for it in support])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = lm_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.requires_grad_(False)
    return model


@register_method(group="adaptive")
class FineTune(PretrainedLSTMMethod):
    """Fine-tune a copy of the ``lstm`` on each support set."""

    name = "finetune"
    version = "1"
    grid = {"steps": (0, 5, 15), "adapt_lr": (3e-4, 1e-3, 3e-3)}
    eval_settings = {"steps": Range(0), "adapt_lr": Range(0, low_open=True)}  # `fsmb eval --set`

    def __init__(self, steps: int = 5, adapt_lr: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps = steps
        self.adapt_lr = adapt_lr

    def init_args(self) -> dict[str, Any]:
        return {**super().init_args(), "steps": self.steps, "adapt_lr": self.adapt_lr}

    def adapt(self, support: Sequence[Item]) -> LSTMAdapted:
        return LSTMAdapted(finetuned(self._model(), support, steps=self.steps, lr=self.adapt_lr), None)
