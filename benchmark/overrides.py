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
from typing import Any, Mapping


class SettingError(ValueError):
    """A ``--set`` the method does not accept; the message says what it does accept."""


def parse_setting(text: str) -> tuple[str, Any]:
    """``"iwae_samples=16"`` -> ``("iwae_samples", 16)``; the value is read as JSON
    (numbers, ``true``/``false``), else kept as a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE, e.g. iwae_samples=16")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw.strip()
    return name.strip(), value


def coerced(name: str, current: Any, value: Any) -> Any:
    """``value`` in the type of the setting's ``current`` value (an int where a float is
    expected is fine), or a `SettingError` that says what was expected."""
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
    return value


def apply_overrides(method: Any, name: str, overrides: Mapping[str, Any] | None) -> str:
    """Set ``overrides`` on the fitted ``method`` and return the run's label: ``name``
    itself without overrides, else ``name[k=v,...]`` (keys sorted).

    Raises `SettingError` (one line, naming the allowed settings) for a setting the
    method does not list in ``eval_settings`` or a value of the wrong type.
    """
    if not overrides:
        return name
    allowed = tuple(getattr(method, "eval_settings", ()))
    for key, value in sorted(overrides.items()):
        if key not in allowed:
            raise SettingError(
                f"--set {key}: {name} has no evaluation-time setting {key!r} "
                f"({'settings: ' + ', '.join(allowed) if allowed else 'it has none'}); "
                "training settings need a new fit"
            )
        setattr(method, key, coerced(key, getattr(method, key), value))
    return f"{name}[{','.join(f'{k}={json.dumps(v)}' for k, v in sorted(overrides.items()))}]"
