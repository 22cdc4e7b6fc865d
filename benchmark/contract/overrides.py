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

from typing import Any, Mapping

from benchmark.contract.protocol import Declared, SettingsChecked
from benchmark.contract.settings import SettingError, coerced, variant_label


def apply_train_settings(method: Any, spec: str, settings: Mapping[str, Any]) -> None:
    """Set the training ``settings`` named in ``spec`` on a new ``method``; a setting it
    does not list in ``train_settings``, a bad value, or a combination its
    ``check_settings`` refuses is a one-line `SettingError`."""
    declared = Declared.of(method)
    allowed = declared.train_settings
    for key, value in sorted(settings.items()):
        if key not in allowed:
            listed = ", ".join(f"{k} {r}" for k, r in allowed.items())
            hint = " (an evaluation-time setting: give it as --set)" if key in declared.eval_settings else ""
            raise SettingError(
                f"{spec}: {method.name} has no training setting {key!r}{hint} "
                f"({'settings: ' + listed if allowed else 'it has none'})"
            )
        setattr(method, key, coerced(key, getattr(method, key), value, allowed[key], where=f"{spec}:"))
    if settings and isinstance(method, SettingsChecked):
        try:
            method.check_settings()
        except ValueError as exc:
            raise SettingError(f"{spec}: {exc}") from None


def changed_train_settings(method: Any) -> list[str]:
    """The training settings of ``method`` that differ from a new instance's."""
    allowed = Declared.of(method).train_settings
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
    declared = Declared.of(method)
    allowed = declared.eval_settings
    checked = {}
    for key, value in sorted((overrides or {}).items()):
        if key not in allowed:
            listed = ", ".join(f"{k} {r}" for k, r in allowed.items())
            training = key in declared.train_settings
            hint = (
                f"; it is a training setting: name it in the method, e.g. '{method.name}[{key}={value}]'"
                if training
                else "; training settings need a new fit"
            )
            raise SettingError(
                f"--set {key}: {method.name} has no evaluation-time setting {key!r} "
                f"({'settings: ' + listed if allowed else 'it has none'}){hint}"
            )
        checked[key] = coerced(key, getattr(method, key), value, allowed[key])
    return checked


def run_label(method: Any, overrides: Mapping[str, Any]) -> str:
    """The label of a run of ``method`` with the `checked_overrides` ``overrides``:
    `trained_label` with the overrides added (each listed even at its default)."""
    return variant_label(method.name, {**{k: getattr(method, k) for k in changed_train_settings(method)}, **overrides})


def apply_overrides(method: Any, overrides: Mapping[str, Any]) -> None:
    """Set the `checked_overrides` ``overrides`` on the fitted ``method``."""
    for key, value in overrides.items():
        setattr(method, key, value)
