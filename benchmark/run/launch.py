"""One FSMB command's process: its device and, under torchrun, its process group.

``fsmb CMD --device D`` computes on ``D`` (`benchmark.contract.device`).  Started by
``torchrun --nproc-per-node N -m benchmark CMD ...``, each of the N processes reads
torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``, joins the process group (gloo
on the CPU, NCCL on CUDA; torchrun's rendezvous, so ``--nnodes`` and
``--rdzv-endpoint`` work unchanged) and, on CUDA, takes GPU ``LOCAL_RANK`` unless
``--device cuda:N`` names one.
"""

from __future__ import annotations

import contextlib
import os
from datetime import timedelta
from typing import Iterator

import torch
import torch.distributed as dist

from benchmark.contract.device import on_device, parse_device
from benchmark.contract.device_option import DeviceError
from benchmark.run.arguments import ArgumentError
from benchmark.runtime.distributed import process_world
from benchmark.runtime.world import SOLO, World, active_in

# The commands that share their work over torchrun's processes (the others write files
# or time things from every process, so they refuse to run under it).
TORCHRUN_COMMANDS = ("train", "eval")
# A rank may wait at a barrier while rank 0 alone fits a method that does not train
# data-parallel (hours at the full budget); a rank that fails ends the job through
# torchrun, not through this timeout.
BARRIER_TIMEOUT = timedelta(days=2)


def launched_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank_device(text: str) -> torch.device:
    """The device ``--device text`` means for this process: under torchrun, ``auto`` and
    ``cuda`` take GPU ``LOCAL_RANK`` (modulo the GPUs this process sees, for launchers
    that show each process one GPU); a ``cuda:N`` would put every process on one GPU."""
    device = parse_device(text)
    if launched_world_size() == 1 or device.type != "cuda":
        return device
    if text.strip().lower() not in ("auto", "cuda"):
        raise DeviceError(
            f"--device {text} under torchrun would put every process on one GPU; give --device cuda "
            "(each process takes GPU LOCAL_RANK; choose GPUs with CUDA_VISIBLE_DEVICES)"
        )
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


@contextlib.contextmanager
def launched(device_text: str = "cpu", *, command: str = "") -> Iterator[World]:
    """Run the block on ``--device device_text``, as one rank of torchrun's process group
    when torchrun started this process (for `TORCHRUN_COMMANDS` only); yields the `World`."""
    if launched_world_size() > 1 and command not in TORCHRUN_COMMANDS:
        raise ArgumentError(
            f"fsmb {command} runs as one process; torchrun is for "
            f"{' and '.join(TORCHRUN_COMMANDS)} (run this command without torchrun)"
        )
    device = rank_device(device_text)  # a bad --device fails here, before the process group
    if launched_world_size() > 1 and device.type == "mps":
        raise DeviceError(
            "--device mps under torchrun: neither gloo nor NCCL reduces MPS tensors; use --device cpu, or one process"
        )
    joined = launched_world_size() > 1 and not dist.is_initialized()
    if joined:
        if device.type == "cuda":  # NCCL binds the group to this rank's GPU
            dist.init_process_group("nccl", timeout=BARRIER_TIMEOUT, device_id=device)
        else:
            dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    try:
        world = process_world() if launched_world_size() > 1 else SOLO
        with contextlib.ExitStack() as stack:
            if not world.is_main:  # rank 0 prints; every rank's errors reach stderr
                stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
            stack.enter_context(on_device(device))
            stack.enter_context(active_in(world))
            yield world
    finally:
        if joined:
            dist.destroy_process_group()
