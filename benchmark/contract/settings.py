"""The language of method settings: the values a setting may take (`Range`, `Choice`),
``NAME=VALUE`` and ``method[name=value,...]`` as written on the command line and in
records, and a given value checked into its setting's type and range.

`benchmark.contract.overrides` applies settings to a method; the method declares which
it has (`benchmark.contract.protocol.Declared`).
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


@dataclass(frozen=True)
class Choice:
    """The values a setting that is not a number may take."""

    values: tuple[Any, ...]

    def __contains__(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


Allowed = Range | Choice


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


def coerced(name: str, current: Any, value: Any, allowed: Allowed, *, where: str = "--set") -> Any:
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
        raise SettingError(f"{where} {name}={value!r}: expected a {type(current).__name__} like {current!r}")
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if (numeric or isinstance(allowed, Choice)) and value not in allowed:
        raise SettingError(f"{where} {name}={value!r}: must be {allowed}")
    return value


def variant_label(name: str, values: Mapping[str, Any]) -> str:
    """``name`` itself when ``values`` is empty, else ``name[k=v,...]`` (keys sorted,
    values as JSON, so ``1`` and ``1.0`` for a float setting are one variant)."""
    if not values:
        return name
    return f"{name}[{','.join(f'{k}={json.dumps(values[k])}' for k in sorted(values))}]"


def split_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"lstm-trim[removed=0.5]"`` -> ``("lstm-trim", {"removed": 0.5})``; a plain name or
    ``module:Class`` -> ``(spec, {})``."""
    if "[" not in spec:
        return spec, {}
    name, _, inner = spec.partition("[")
    if not inner.endswith("]") or not name:
        raise SettingError(f"{spec!r}: expected NAME or NAME[setting=value,...], e.g. 'lstm-trim[removed=0.5]'")
    try:
        pairs = [parse_setting(part) for part in inner[:-1].split(",")]
    except argparse.ArgumentTypeError as exc:
        raise SettingError(f"{spec!r}: {exc}") from None
    return name, settings_dict(pairs)
