"""Evaluation-time settings (``fsmb eval --set NAME=VALUE``): score a fitted method with
another value of a setting that does not change its training -- the IWAE sample count
of a latent model, the fine-tuning steps at adaptation, a cache's interpolation.

A method lists the attributes that may be overridden in ``eval_settings``; anything
else (a learning rate used in training, a width) is refused, because the record would
then describe a model that was never trained.  An overridden run is a *variant*: its
records carry the label ``method[name=value,...]``, so it gets its own result files and
leaderboard row next to the method's own configuration, and it can be the paired
reference (``fsmb leaderboard --reference 'vae[iwae_samples=16]'``).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence


class SettingError(ValueError):
    """A ``--set`` the method does not accept; the message says what it does accept."""


@dataclass(frozen=True)
class Range:
    """The values an evaluation-time setting may take: ``low`` .. ``high`` (``None``:
    unbounded), each end open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        low = "" if self.low is None else f"{'(' if self.low_open else '['}{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}{')' if self.high_open else ']'}"
        if not high:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {low or '(-inf'}, {high}"


def _no_constant(name: str) -> None:
    raise argparse.ArgumentTypeError(f"{name} is not a finite number")


def parse_setting(text: str) -> tuple[str, Any]:
    """``"iwae_samples=16"`` -> ``("iwae_samples", 16)``; the value is read as JSON
    (numbers, ``true``/``false``; ``NaN``, ``Infinity`` and numbers that overflow to
    infinity, like ``1e309``, refused), else kept as a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE, e.g. iwae_samples=16")
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError:
        value = raw.strip()
    if isinstance(value, float) and not math.isfinite(value):  # 1e309 reads as inf
        _no_constant(raw.strip())
    return name.strip(), value


def settings_dict(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The ``--set`` pairs as a dict; a name given twice is a `SettingError`."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise SettingError(f"--set {name} given twice ({out[name]!r} and {value!r}); give it once")
        out[name] = value
    return out


def coerced(name: str, current: Any, value: Any, allowed: Range) -> Any:
    """``value`` in the type of the setting's ``current`` value (an int where a float is
    expected is fine) and inside ``allowed``, or a `SettingError` that says what was expected."""
    if isinstance(current, bool) or isinstance(value, bool):
        ok = isinstance(current, bool) and isinstance(value, bool)
    elif isinstance(current, int):
        ok = isinstance(value, int)
    elif isinstance(current, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(current))
    if not ok:
        raise SettingError(f"--set {name}={value!r}: expected a {type(current).__name__} like {current!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value not in allowed:
        raise SettingError(f"--set {name}={value!r}: must be {allowed}")
    return value


def apply_overrides(method: Any, name: str, overrides: Mapping[str, Any] | None) -> str:
    """Set ``overrides`` on the fitted ``method`` and return the run's label: ``name``
    itself without overrides, else ``name[k=v,...]`` (keys sorted, values as set, so
    ``1`` and ``1.0`` for a float setting are one variant).

    Raises `SettingError` (one line, naming the allowed settings) for a setting the
    method does not list in ``eval_settings``, or a value of the wrong type or range.
    """
    if not overrides:
        return name
    allowed: Mapping[str, Range] = getattr(method, "eval_settings", {})
    for key, value in sorted(overrides.items()):
        if key not in allowed:
            listed = ", ".join(f"{k} {r}" for k, r in allowed.items())
            raise SettingError(
                f"--set {key}: {name} has no evaluation-time setting {key!r} "
                f"({'settings: ' + listed if allowed else 'it has none'}); training settings need a new fit"
            )
        setattr(method, key, coerced(key, getattr(method, key), value, allowed[key]))
    return f"{name}[{','.join(f'{k}={json.dumps(getattr(method, k))}' for k in sorted(overrides))}]"
