"""The method registry: every built-in method registers itself, next to its class, with
`register_method`; `fsmb methods`, `run.sh` and the leaderboard's default references
read their lists from here.

    @register_method(group="baseline", reference_for=("midi", "lyrics"))
    class LSTMBaseline(NeuralMethod):
        name = "lstm"
        ...

The built-in modules (every module of the ``baselines`` and ``methods`` packages) are
imported the first time the registry is asked for a list or a name.  A user's method
needs no registration: ``--method package.module:Class`` loads it, and its class
attribute ``name`` is its display name in results and leaderboards.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar, cast

from benchmark.contract.overrides import apply_train_settings, checked_overrides, run_label, trained_label
from benchmark.contract.protocol import (
    ContractError,
    Declared,
    Method,
    check_method_class,
)
from benchmark.contract.registry import Registry, RegistryError, load_object, target_of
from benchmark.contract.settings import SettingError, split_spec

GROUPS = ("baseline", "adaptive", "compressed")  # no adaptation / adapts / a compressed variant of another method
BUILTIN_PACKAGES = ("baselines", "methods")

C = TypeVar("C", bound=type)


@dataclass(frozen=True)
class Registration:
    """A built-in method: its ``name``, ``module:Class`` target, group (`GROUPS`) and the
    modalities on which it is the leaderboard's default paired reference."""

    name: str
    target: str
    group: str
    reference_for: tuple[str, ...] = ()


REGISTRATIONS: dict[str, Registration] = {}
_IMPORTED: list[bool] = []  # non-empty once `import_builtin` has run


def register_method(*, group: str, reference_for: Sequence[str] = ()) -> Callable[[C], C]:
    """Class decorator: register a built-in method under its ``name``."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, not {group!r}")

    def register(cls: C) -> C:
        target = target_of(cls)
        check_method_class(cls, target)
        name = cast("type[Method]", cls).name  # checked: a non-empty string
        known = REGISTRATIONS.get(name)
        if known is not None and known.target != target:
            raise RegistryError(f"method name {name!r} of {target} is already taken by {known.target}")
        REGISTRATIONS[name] = Registration(name, target, group, tuple(reference_for))
        return cls

    return register


def import_builtin() -> dict[str, Registration]:
    """Import every module of `BUILTIN_PACKAGES` (the first time), so that each registers
    its methods."""
    if not _IMPORTED:
        for package_name in BUILTIN_PACKAGES:
            package = importlib.import_module(package_name)
            for info in pkgutil.iter_modules(package.__path__, f"{package_name}."):
                importlib.import_module(info.name)
        _IMPORTED.append(True)
    return REGISTRATIONS


METHODS: Registry[type] = Registry("method", lambda: {n: r.target for n, r in import_builtin().items()})


def registration(name: str) -> Registration | None:
    return import_builtin().get(name)


def dense_base(label: str) -> str | None:
    """The dense method that the built-in compressed variant ``label`` (a name, with
    settings or not) compresses -- its ``base_method`` -- else ``None``.  Looked up in
    the registry only: no code named in a record is imported."""
    try:
        name = split_spec(label)[0]
    except SettingError:
        return None
    known = registration(name)
    if known is None or known.group != "compressed":
        return None
    return Declared.of(load_object(known.target)).base_method


def names_in(group: str | None = None, modality: str | None = None) -> list[str]:
    """Registered methods of ``group`` that model ``modality`` (either ``None``: all)."""
    return [
        n
        for n, r in sorted(import_builtin().items())
        if (group is None or r.group == group) and (modality is None or modality in modalities_of(n))
    ]


def modalities_of(name: str) -> tuple[str, ...]:
    """The modalities a method models (all of `MODALITIES` if it does not say)."""
    return Declared.of(METHODS.get(name)).modalities


def default_reference(modality: str) -> str | None:
    """The registered method paired against by default on ``modality`` tracks."""
    return next((n for n, r in sorted(import_builtin().items()) if modality in r.reference_for), None)


def method_class(name: str) -> type[Method]:
    """The class of a registered method or of a user's ``package.module:Class``, checked
    against the contract (`benchmark.contract.protocol.check_method_class`), so that a
    missing ``version`` fails here, not after training.  A user's class may not take a
    built-in method's ``name``."""
    target = METHODS.target(name)
    loaded = load_object(target)
    check_method_class(loaded, name)
    cls = cast("type[Method]", loaded)
    known = registration(cls.name)
    if known is not None and known.target != target:
        raise ContractError(
            f"{name}: its name {cls.name!r} is taken by the built-in {known.target}; give your class another 'name'"
        )
    return cls


def make_method(spec: str) -> Method:
    """Instantiate a registered method, or a user's ``package.module:Class``, after
    checking its class against the contract (`method_class`), with the training
    settings ``spec`` names, if any (``lstm-trim[removed=0.5]``;
    `benchmark.contract.overrides`)."""
    name, settings = split_spec(spec)
    cls = method_class(name)
    try:
        method = cls()
    except TypeError as exc:
        raise ContractError(
            f"{name}: breaks the method contract (benchmark/contract/protocol.py): it must be "
            f"constructible without arguments ({exc})"
        ) from None
    apply_train_settings(method, spec, settings)
    return method


@dataclass(frozen=True)
class MethodSpec:
    """A method as named where a run starts, resolved once (`parse`) and then passed on.

    ``text`` is what was given (``NAME``, ``NAME[setting=value,...]`` or
    ``package.module:Class``); ``method`` the `Method` built from it, its class checked
    against the contract and its training settings set -- the runner fits or loads this
    very object; ``overrides`` the evaluation-time settings (``--set``) to score it with,
    checked and coerced, set on the method once it is fitted; ``trained_label`` names
    its fitted model (its model folder), ``label`` the run (its result files and row).
    """

    text: str
    method: Method
    overrides: Mapping[str, Any]
    trained_label: str
    label: str

    @classmethod
    def parse(cls, text: str, overrides: Mapping[str, Any] | None = None) -> MethodSpec:
        """Build the method ``text`` names and check ``overrides`` against it: an unknown
        name, a broken contract or a bad setting is one line here, before any work."""
        method = make_method(text)
        checked = checked_overrides(method, overrides)
        return cls(text, method, checked, trained_label(method), run_label(method, checked))


def check_modality(name: str, method: Method, modality: str, track: str) -> None:
    """Refuse a method on a track of a modality it does not model."""
    supported = Declared.of(method).modalities
    if modality not in supported:
        raise RegistryError(
            f"method {name!r} models {'/'.join(supported)} tracks, not {modality} ({track}); "
            f"{modality} methods: {', '.join(names_in(modality=modality))}"
        )
