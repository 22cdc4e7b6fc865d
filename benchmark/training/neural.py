"""Plumbing shared by methods built on one torch network: hyper-parameters,
persistence (``state.pt``, loaded with ``weights_only=True``) and parameter count."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from torch import nn

from benchmark.contract.protocol import SEQUENCE_MODALITIES, Budget, MetaTrainData
from benchmark.cost.counting import InferenceStep
from benchmark.cost.steps import network_step
from benchmark.nn.sequence import pad_batch
from benchmark.training.loop import load_checkpoint, save_checkpoint, train_loop
from benchmark.training.selection import val_nats_per_token
from benchmark.training.state import require_fitted
from episodes.types import Episode


class NeuralMethod:
    """A method whose fitted state is one network ``model`` (built from a config
    dataclass with ``to_dict``) plus its constructor arguments and train log.

    Subclasses set ``net_cls`` and ``config_cls`` and implement ``fit`` / ``adapt``.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]] = SEQUENCE_MODALITIES
    net_cls: ClassVar[type[nn.Module]]
    config_cls: ClassVar[type]

    def __init__(self, lr: float, weight_decay: float) -> None:
        self.lr = lr
        self.weight_decay = weight_decay
        self.model: Any = None
        self.train_log: dict = {}

    def init_args(self) -> dict[str, Any]:
        """Constructor arguments: saved with the weights, restored by `load`."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def hparams(self) -> dict[str, Any]:
        cfg = self.model.cfg.to_dict() if self.model is not None else {}
        return {**self.init_args(), **cfg}

    def train_network(
        self,
        data: MetaTrainData,
        budget: Budget,
        logdir: Path,
        loss_fn: Callable[[int], torch.Tensor],
        *,
        lr_factor: Callable[[int], float] | None = None,
    ) -> None:
        """AdamW on ``self.model`` for at most ``budget.steps`` steps of ``loss_fn(step)``
        (stopping at a meta-val plateau if the budget says so), keeping the weights best
        on meta-val nats/token; ``lr_factor(step)`` scales the learning rate."""
        opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        val = data.val_episodes(budget.val_episodes)
        log = train_loop(
            self.model,
            opt,
            loss_fn,
            lambda: val_nats_per_token(self, val),
            steps=budget.steps,
            val_every=budget.val_every,
            logdir=logdir,
            desc=f"train {self.name}",
            patience=budget.patience,
            lr_decays=budget.lr_decays,
            lr_factor=lr_factor,
            flops_cap=budget.flops,
        )
        self.train_log = log.to_dict()

    def _model(self) -> Any:
        return require_fitted(self.model, self.name)

    def save(self, path: Path) -> None:
        model = require_fitted(self.model, self.name)
        save_checkpoint(
            Path(path) / "state.pt",
            {
                "config": model.cfg.to_dict(),
                "model": model.state_dict(),
                "init_args": self.init_args(),
                "train_log": self.train_log,
                "extra": self.extra_state(),
            },
        )

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors beyond the network's weights that `save` keeps (subclasses add theirs)."""
        return {}

    def load_extra_state(self, extra: dict[str, torch.Tensor]) -> None:
        """Restore what `extra_state` returned."""

    def load(self, path: Path) -> None:
        state = load_checkpoint(Path(path) / "state.pt")
        self.model = self.net_cls(self.config_cls(**state["config"]))
        self.model.load_state_dict(state["model"])
        self.model.eval()
        for key, value in state["init_args"].items():
            setattr(self, key, value)
        self.train_log = state["train_log"]
        self.load_extra_state(state.get("extra", {}))  # absent in checkpoints of FSMB 0.1 baselines

    def inference_step(self) -> InferenceStep | None:
        """The network's generation step, for the cost columns (`benchmark.cost.steps`)."""
        return network_step(self._model())

    def n_params(self) -> int:
        return sum(p.numel() for p in require_fitted(self.model, self.name).parameters())


def episode_batches(
    data: MetaTrainData,
    budget: Budget,
    *,
    max_shots: int,
    salt: int,
    layout: Callable[[Episode, np.random.Generator], np.ndarray],
) -> Callable[[int], torch.Tensor]:
    """``step -> (B, T)`` PAD-padded batch of meta-train episodes, each laid out as one
    token sequence by ``layout(episode, rng)``; K is drawn uniformly from
    ``0 .. max_shots`` (one query song).  Seeded by ``(seed, step, salt)``.  Episode
    sequences are several songs long, so a step holds a quarter of
    ``budget.batch_size`` sequences (at least 2), keeping tokens per step comparable
    with one-song-per-sequence training."""
    drawers = {k: data.train_drawer(k, 1) for k in range(max_shots + 1)}
    n_seq = max(2, budget.batch_size // 4)

    def batch(step: int) -> torch.Tensor:
        rng = np.random.default_rng([data.seed, step, salt])
        seqs = []
        for j in range(n_seq):
            k = int(rng.integers(max_shots + 1))
            seqs.append(layout(data.episode(drawers[k].draw(step * n_seq + j)), rng))
        return pad_batch(seqs)

    return batch
