"""Checks of user-given values that run before any long work: counts, K lists and
folders that results, models or caches will be written to.  Each failure is one
`ArgumentError` line that names the option and what to give instead."""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import Callable


class ArgumentError(ValueError):
    """A command-line value that cannot be used, with what to give instead."""


def check_count(option: str, value: int | None, *, minimum: int) -> None:
    """``value`` (``None``: the default) must be an integer ``>= minimum``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise ArgumentError(f"{option} {value!r}: give an integer >= {minimum}")


def float_type(accept: Callable[[float], bool], what: str):
    """An argparse ``type`` for a float that ``accept`` takes, e.g. ``float_type(lambda x:
    0 <= x < 1, "in [0, 1)")``; ``what`` says which in the error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{value} is not {what}")
        return value

    parse.__name__ = f"number {what}"
    return parse


def method_list(text: str) -> list[str]:
    """``"lstm-trim,lstm-imp[reinit=true,removed=0.5]"`` -> the method specs, split on the
    commas outside ``[...]``."""
    return [m.strip() for m in re.split(r",(?![^\[]*\])", text) if m.strip()]


def count_type(minimum: int):
    """An argparse ``type`` for an integer ``>= minimum`` (argparse prints the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def count_list(option: str, minimum: int, example: str):
    """An argparse ``type`` for ``"5"`` or ``"0,1,2,4,8"``: distinct integers ``>= minimum``,
    in the order given; errors name ``option`` and show ``example``."""

    def parse(text: str) -> list[int]:
        try:
            values = [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} {text!r}: give integers like {example}") from None
        if not values or min(values) < minimum or len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{option} {text!r}: give distinct integers >= {minimum} like {example}")
        return values

    parse.__name__ = f"list of integers >= {minimum}"
    return parse


parse_shots = count_list("--shots", 0, "5 or 0,1,2,4,8")


def writable_dir(path: str | Path, option: str) -> Path:
    """Create ``path`` if need be and check, by writing a temporary file, that files can
    be written in it (a real write, which permission bits alone do not tell for root)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".fsmb-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ArgumentError(f"{option} {path}: cannot write there ({reason}); pass a folder you can write to") from None
    return path
