"""What ``--device`` may say (`DEVICE_CHOICES`) and the error for one that is malformed or
not on this machine (`DeviceError`; `benchmark.contract.device.parse_device` raises it).
Torch-free, so that ``fsmb``'s parser and error handling name them without importing
torch."""

from __future__ import annotations

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


class DeviceError(ValueError):
    """A ``--device`` that is malformed or not on this machine, with what to give instead."""
