"""The identity of a fitted model: a hash over what it computes with, not over bytes.

``torch.save`` files carry a temporary file name and storage ids that differ
between two saves of the same weights, so hashing their bytes would give a
retrained-but-identical model another identity, and the results already scored
with it would be refused as "another configuration".  `state_identity` hashes
instead every tensor in the checkpoints a method's ``save`` wrote (by its key path,
dtype, shape and values) together with the method's settings (``hparams``).  Other
non-tensor values in a checkpoint (training logs with wall times) are left out;
files that are not checkpoints are hashed by their bytes.  ``logs/`` (TensorBoard)
and the runner's ``meta.json`` are not part of the model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import torch

from episodes.atomic import canonical_json

NOT_MODEL = ("logs", "meta.json")


def _tensors(value: Any, path: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor inside nested dicts / lists / tuples, with its key path."""
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            yield from _tensors(value[key], f"{path}/{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{path}/{i}")


def state_identity(directory: Path, hparams: dict[str, Any]) -> str:
    """sha256 (hex) of the fitted model saved in ``directory`` and its settings."""
    h = hashlib.sha256(canonical_json(hparams))
    for file in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        rel = file.relative_to(directory).as_posix()
        if rel.split("/")[0] in NOT_MODEL:
            continue
        h.update(f"\x00file\x00{rel}\x00".encode())
        if file.suffix != ".pt":
            h.update(file.read_bytes())
            continue
        for key, tensor in _tensors(torch.load(file, map_location="cpu", weights_only=True)):
            t = tensor.detach().contiguous()
            h.update(f"{key}\x00{t.dtype}\x00{tuple(t.shape)}\x00".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
