"""The identity of a fitted model: a hash over what it computes with, not over bytes.

``torch.save`` files carry a temporary file name and storage ids that differ
between two saves of the same weights, so hashing their bytes would give a
retrained-but-identical model another identity, and the results already scored
with it would be refused as "another configuration".  `state_identity` hashes
instead every array in the files a method's ``save`` wrote -- torch checkpoints
(``.pt``) and NumPy files (``.npz``, ``.npy``, whose zip entries carry a time
stamp) -- by key path, dtype, shape and values, together with the method's settings
(``hparams``).  Other non-tensor values in a checkpoint (training logs with wall
times) are left out; any other file is hashed by its bytes.  ``logs/``
(TensorBoard) and the runner's ``meta.json`` are not part of the model.  A method
whose files are none of these and not byte-stable may define ``fingerprint()``
(`benchmark.contract.protocol.Method`), which is then used instead.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from benchmark.contract.protocol import Fingerprinted
from episodes.atomic import canonical_json

NOT_MODEL = ("logs", "meta.json")
ARRAY_FILES = (".pt", ".npz", ".npy")


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


def _arrays(file: Path) -> Iterator[tuple[str, str, tuple[int, ...], bytes]]:
    """(key path, dtype, shape, raw bytes) of each array in a checkpoint or NumPy file,
    never unpickling.  Checkpoint tensors keep torch's dtype names, so identities of
    models saved before NumPy files were read this way are unchanged."""
    if file.suffix == ".pt":
        for key, tensor in _tensors(torch.load(file, map_location="cpu", weights_only=True)):
            t = tensor.detach().contiguous()
            yield key, str(t.dtype), tuple(t.shape), t.reshape(-1).view(torch.uint8).numpy().tobytes()
        return
    arrays = [("", np.load(file, allow_pickle=False))] if file.suffix == ".npy" else None
    if arrays is None:
        with np.load(file, allow_pickle=False) as archive:
            arrays = [(f"/{key}", archive[key]) for key in sorted(archive.files)]
    for key, array in arrays:
        a = np.ascontiguousarray(array)
        yield key, str(a.dtype), tuple(a.shape), a.tobytes()


def state_identity(directory: Path, hparams: dict[str, Any], fingerprint: str | None = None) -> str:
    """sha256 (hex) of the fitted model saved in ``directory`` (or of the method's own
    ``fingerprint``) and its settings."""
    h = hashlib.sha256(canonical_json(hparams))
    if fingerprint is not None:
        h.update(f"\x00fingerprint\x00{fingerprint}".encode())
        return h.hexdigest()
    for file in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        rel = file.relative_to(directory).as_posix()
        if rel.split("/")[0] in NOT_MODEL:
            continue
        h.update(f"\x00file\x00{rel}\x00".encode())
        if file.suffix not in ARRAY_FILES:
            h.update(file.read_bytes())
            continue
        for key, dtype, shape, raw in _arrays(file):
            h.update(f"{key}\x00{dtype}\x00{shape}\x00".encode())
            h.update(raw)
    return h.hexdigest()


def code_identity(cls: type) -> dict[str, str]:
    """What identifies a method's code: the sha256 of the file that defines ``cls`` and,
    when its top-level package is installed from a distribution, ``name==version``."""
    code: dict[str, str] = {}
    source = inspect.getsourcefile(cls)
    if source:
        code["source_file"] = Path(source).name
        code["source_sha256"] = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    distributions = importlib.metadata.packages_distributions().get(cls.__module__.split(".", 1)[0], [])
    if distributions:
        code["distribution"] = f"{distributions[0]}=={importlib.metadata.version(distributions[0])}"
    return code


def fitted_identity(method: Any, where: Path) -> str:
    """The identity of the fitted ``method`` saved in ``where``: its own
    ``fingerprint()`` if it defines one, else a hash of what ``save`` wrote."""
    fingerprint = method.fingerprint() if isinstance(method, Fingerprinted) else None
    return state_identity(where, method.hparams(), fingerprint)
