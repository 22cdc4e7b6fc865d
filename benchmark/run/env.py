"""The software and hardware environment, recorded in every run."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path

from benchmark.contract.device import describe, run_device
from benchmark.runtime.distributed import process_world
from episodes.dependencies import CHECKS, version


@lru_cache(maxsize=1)
def git_sha() -> str:
    """HEAD of the FSMB checkout (with ``-dirty`` for local changes), or ``unknown``."""
    repo = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> dict:
    """Versions (``libraries``: every library a corpus is built with, `episodes.dependencies`),
    CPU and thread count, the run's device (`benchmark.contract.device.describe`) and the
    number of torchrun processes (``world_size``)."""
    import music21
    import numpy
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "music21": music21.__version__,
        "libraries": {name: version(name) for name in (*CHECKS, "datasets", "pandas", "scipy")},
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        **describe(run_device()),
        "world_size": process_world().size,
    }
