"""The ``fsmb`` command line: the one composition root.  Each command group lives in its
own module of this package (`data`, `methods`, `evaluation`, `studies`, `cost`,
`publish`, `reproduce`, `calibration`, `quickstart`), which adds its subcommands with
``register``; this module assembles them and turns a user error into one line."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from benchmark.cli import calibration, cost, data, evaluation, methods, publish, quickstart, reproduce, studies
from benchmark.contract.device_option import DeviceError
from benchmark.contract.protocol import ContractError
from benchmark.contract.registry import RegistryError
from benchmark.contract.settings import SettingError
from benchmark.run.arguments import ArgumentError, writable_dir
from benchmark.run.records import RecordError
from episodes.dependencies import DependencyError
from episodes.manifest import ManifestError
from episodes.sources.base import DataError

USER_ERRORS = (
    DataError,
    ManifestError,
    RegistryError,
    RecordError,
    SettingError,
    ArgumentError,
    DependencyError,
    ContractError,
    DeviceError,
)
COMMAND_GROUPS = (data, methods, evaluation, studies, cost, publish, reproduce, calibration, quickstart)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``fsmb`` subcommand, in the order of `COMMAND_GROUPS`."""
    parser = argparse.ArgumentParser(prog="fsmb", description="FSMB: few-shot music benchmark")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


# Folders a command writes to, checked before any work: (attribute, option).
OUTPUT_DIRS = (("out", "--out"), ("models", "--models"), ("cache_dir", "--cache-dir"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.getcwd() not in sys.path:  # `--method my_pkg.module:Class` from the folder fsmb runs in, as with python -m
        sys.path.insert(0, os.getcwd())
    try:
        for attr, option in OUTPUT_DIRS:
            if getattr(args, attr, None):
                writable_dir(args.__dict__[attr], option)
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        if not hasattr(args, "device") and "WORLD_SIZE" not in os.environ:
            return args.func(args)  # no --device: the CPU, torch's default, and no process group to join
        from benchmark.run.launch import launched

        with launched(getattr(args, "device", "cpu"), command=args.command):  # a bad --device: one line, at once
            return args.func(args)
    except USER_ERRORS as exc:
        print(f"fsmb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fsmb: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
