"""The device a run computes on (``--device auto|cpu|cuda[:N]|mps``), and the rule
methods follow to use it.

The runner enters `on_device` around fitting and scoring.  Inside it:

- torch's factory functions (``torch.zeros``, ``torch.tensor``, ``nn.Module``
  constructors, ...) create their tensors on the run's device (torch's default-device
  context), so most method code needs no change;
- arrays from numpy go through `to_run_device` (``torch.from_numpy`` alone would stay on
  the CPU), and results go back through ``.cpu()`` before ``.numpy()``;
- random draws that a score or a sample depends on use CPU generators
  (``torch.Generator()``; `cpu_randn`), whose numbers are then moved: a method draws
  the same numbers on every device, so its scores on a GPU agree with its CPU scores to
  float rounding (`GPU_TOLERANCE`), not to Monte-Carlo error.

Computation stays in float32 (TF32 matrix products and convolutions are switched off
on CUDA): no mixed precision, since it would move the scored NLL by more than
`GPU_TOLERANCE`.  On the CPU (the default) nothing is switched: torch's default device
is left alone, so the CPU path pays no per-call cost.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Any, Iterator

import numpy as np
import torch

from benchmark.contract.device_option import DEVICE_CHOICES, DeviceError

# Relative tolerance to which a score on a GPU agrees with the same method's CPU score
# (float32 reductions in another order; no TF32, no mixed precision).
GPU_TOLERANCE = 1e-4

_RUN_DEVICE: ContextVar[torch.device] = ContextVar("fsmb_run_device", default=torch.device("cpu"))


def parse_device(text: str) -> torch.device:
    """``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or
    ``mps`` -> a device that exists here; anything else is one `DeviceError` line."""
    text = text.strip().lower()
    if text == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise DeviceError(f"--device {text!r}: give {DEVICE_CHOICES}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(
                f"--device {text}: no CUDA GPU is visible to this torch ({torch.__version__}); use --device cpu or auto"
            )
        index = 0 if device.index is None else device.index
        if index >= count:
            raise DeviceError(f"--device {text}: this machine has {count} CUDA GPU(s), cuda:0..cuda:{count - 1}")
        return torch.device("cuda", index)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"--device {text}: Apple's MPS is not available here; use --device cpu or auto")
        return device
    raise DeviceError(f"--device {text!r}: give {DEVICE_CHOICES}")


def run_device() -> torch.device:
    """The device of the run in progress (the CPU outside `on_device`)."""
    return _RUN_DEVICE.get()


@contextlib.contextmanager
def on_device(device: torch.device) -> Iterator[torch.device]:
    """Make ``device`` the run's device (and torch's default device, unless it is the CPU)."""
    token = _RUN_DEVICE.set(device)
    try:
        if device.type == "cpu":
            yield device
            return
        if device.type == "cuda":
            torch.cuda.set_device(device)
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        with torch.device(device):
            yield device
    finally:
        _RUN_DEVICE.reset(token)


def to_run_device(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A numpy array or CPU tensor as a tensor on the run's device (same dtype)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array)) if isinstance(array, np.ndarray) else array
    return tensor.to(run_device())


def cpu_randn(*shape: int, generator: torch.Generator | None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal numbers of ``shape`` drawn on the CPU from ``generator`` (a CPU
    generator, or torch's global one), then moved to the run's device: the same numbers
    on every device."""
    return torch.randn(*shape, generator=generator, dtype=dtype, device="cpu").to(run_device())


def describe(device: torch.device) -> dict:
    """What a run record keeps of ``device``: its name and, for a GPU, the model."""
    record: dict[str, Any] = {"device": str(device)}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        record["device_name"] = props.name
        record["device_memory_gib"] = round(props.total_memory / 2**30, 1)
        record["cuda"] = torch.version.cuda
    return record
