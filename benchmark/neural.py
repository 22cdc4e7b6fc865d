"""Plumbing shared by methods built on one torch network: hyper-parameters,
persistence (``state.pt``, loaded with ``weights_only=True``) and parameter count."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from benchmark.training import load_checkpoint, save_checkpoint


class NeuralMethod:
    """A method whose fitted state is one network ``model`` (built from a config
    dataclass with ``to_dict``) plus its constructor arguments and train log.

    Subclasses set ``net_cls`` and ``config_cls`` and implement ``fit`` / ``adapt``.
    """

    name: ClassVar[str]
    version: ClassVar[str]
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

    def _model(self) -> Any:
        if self.model is None:
            raise RuntimeError(f"{self.name}: fit or load before adapting")
        return self.model

    def save(self, path: Path) -> None:
        model = self._model()
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

    def n_params(self) -> int:
        return sum(p.numel() for p in self._model().parameters())
