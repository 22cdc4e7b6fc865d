"""Fitted state that is a few arrays and settings (the unigram and Gaussian baselines),
saved to and loaded from ``state.pt``, and the guard against adapting an unfitted method.

Networks keep their own checkpoint layout (`benchmark.training.neural`); both go
through `benchmark.training.loop.save_checkpoint`, which writes atomically, and are
read with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, TypeVar

import numpy as np
import torch

from benchmark.training.loop import load_checkpoint, save_checkpoint

STATE_FILE = "state.pt"
T = TypeVar("T")


class NotFittedError(RuntimeError):
    """A method asked to adapt, save or count parameters before ``fit`` or ``load``."""


def require_fitted(state: T | None, name: str) -> T:
    """``state`` if the method ``name`` has been fitted (it is not ``None`` or empty)."""
    if state is None or (isinstance(state, dict) and not state):
        raise NotFittedError(f"{name}: fit or load before adapting")
    return state


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray], settings: Mapping[str, Any]) -> None:
    """Write ``arrays`` (name -> array) and the method's ``settings`` to ``path/state.pt``."""
    save_checkpoint(
        Path(path) / STATE_FILE,
        {**{k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}, "hparams": dict(settings)},
    )


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The ``(arrays, settings)`` that `save_arrays` wrote to ``path``."""
    state = load_checkpoint(Path(path) / STATE_FILE)
    if "hparams" not in state:
        raise NotFittedError(
            f"{path}: {STATE_FILE} holds no 'hparams' (not written by save_arrays); "
            "fit the method again (fsmb train --retrain)"
        )
    return {k: v.numpy() for k, v in state.items() if isinstance(v, torch.Tensor)}, state["hparams"]
