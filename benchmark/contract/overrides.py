"""Settings of a method other than its defaults, and the labels of such *variants*.

- **Evaluation-time settings** (``fsmb eval --set NAME=VALUE``): score a fitted method
  with another value of a setting that does not change its training -- the IWAE sample
  count of a latent model, the fine-tuning steps at adaptation, a cache's
  interpolation.  A method lists them in ``eval_settings``; anything else (a learning
  rate used in training, a width) is refused there, because the record would then
  describe a model that was never trained.
- **Training settings**, named in the method itself wherever a method is given
  (``--method 'lstm-trim[removed=0.5]'``, ``data.pretrained(...)``): a method lists them
  in ``train_settings``; the variant is trained on its own, in its own model folder.

A variant's records carry the label ``method[name=value,...]`` (training settings only
where they differ from the default, so ``lstm-trim[removed=0.9]`` *is* ``lstm-trim``
when 0.9 is the default), so it gets its own result files and leaderboard row next to
the method's own configuration, and it can be the paired reference (``fsmb leaderboard
--reference 'vae[iwae_samples=16]'``).
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


def apply_train_settings(method: Any, spec: str, settings: Mapping[str, Any]) -> None:
    """Set the training ``settings`` named in ``spec`` on a new ``method``; a setting it
    does not list in ``train_settings``, a bad value, or a combination its
    ``check_settings`` refuses is a one-line `SettingError`."""
    allowed: Mapping[str, Allowed] = getattr(method, "train_settings", {})
    for key, value in sorted(settings.items()):
        if key not in allowed:
            listed = ", ".join(f"{k} {r}" for k, r in allowed.items())
            hint = " (an evaluation-time setting: give it as --set)" if key in getattr(method, "eval_settings", {}) else ""
            raise SettingError(f"{spec}: {method.name} has no training setting {key!r}{hint} "
                               f"({'settings: ' + listed if allowed else 'it has none'})")
        setattr(method, key, coerced(key, getattr(method, key), value, allowed[key], where=f"{spec}:"))
    check = getattr(method, "check_settings", None)
    if settings and check is not None:
        try:
            check()
        except ValueError as exc:
            raise SettingError(f"{spec}: {exc}") from None


def changed_train_settings(method: Any) -> list[str]:
    """The training settings of ``method`` that differ from a new instance's."""
    allowed = getattr(method, "train_settings", {})
    if not allowed:
        return []
    fresh = type(method)()
    return [k for k in allowed if getattr(method, k) != getattr(fresh, k)]


def trained_label(method: Any) -> str:
    """The label of a method's fitted variant: its name and changed training settings."""
    return variant_label(method.name, {k: getattr(method, k) for k in changed_train_settings(method)})


def checked_overrides(method: Any, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The evaluation-time ``overrides`` of ``method``, each coerced to its setting's type;
    ``method`` is left unchanged (`apply_overrides` sets them once it is fitted).

    Raises `SettingError` (one line, naming the allowed settings) for a setting the
    method does not list in ``eval_settings``, or a value of the wrong type or range.
    """
    allowed: Mapping[str, Allowed] = getattr(method, "eval_settings", {})
    checked = {}
    for key, value in sorted((overrides or {}).items()):
        if key not in allowed:
            listed = ", ".join(f"{k} {r}" for k, r in allowed.items())
            training = key in getattr(method, "train_settings", {})
            hint = (f"; it is a training setting: name it in the method, e.g. '{method.name}[{key}={value}]'"
                    if training else "; training settings need a new fit")
            raise SettingError(
                f"--set {key}: {method.name} has no evaluation-time setting {key!r} "
                f"({'settings: ' + listed if allowed else 'it has none'}){hint}"
            )
        checked[key] = coerced(key, getattr(method, key), value, allowed[key])
    return checked


def run_label(method: Any, overrides: Mapping[str, Any]) -> str:
    """The label of a run of ``method`` with the `checked_overrides` ``overrides``:
    `trained_label` with the overrides added (each listed even at its default)."""
    return variant_label(method.name, {**{k: getattr(method, k) for k in changed_train_settings(method)},
                                       **overrides})


def apply_overrides(method: Any, overrides: Mapping[str, Any]) -> None:
    """Set the `checked_overrides` ``overrides`` on the fitted ``method``."""
    for key, value in overrides.items():
        setattr(method, key, value)
