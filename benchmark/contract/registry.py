"""Name -> lazily imported object, with "did you mean" errors.

Entries are ``"module:attr"`` strings, imported when asked for.  A name that is
itself ``"module:attr"`` loads a user's object without registration.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class RegistryError(LookupError):
    """An unknown or unloadable name; the message says what to do instead."""


def target_of(cls: type) -> str:
    """The ``"module:Class"`` that `load_object` loads ``cls`` from."""
    return f"{cls.__module__}:{cls.__qualname__}"


def load_object(target: str) -> object:
    """Import ``"package.module:attr"``."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise RegistryError(f"{target!r} is not of the form 'package.module:Attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"cannot import {module_name!r} for {target!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise RegistryError(f"module {module_name!r} has no attribute {attr!r}") from None


class Registry(Generic[T]):
    """A named collection of lazily loaded objects of one kind.

    ``entries``: name -> ``"module:attr"``, or a function returning that mapping (read
    on each lookup, so a registry filled by decorators is always current).
    """

    def __init__(self, kind: str, entries: dict[str, str] | Callable[[], dict[str, str]]) -> None:
        self.kind = kind
        self._entries_of = entries if callable(entries) else (lambda: dict(entries))

    @property
    def _entries(self) -> dict[str, str]:
        return self._entries_of()

    def names(self) -> list[str]:
        return sorted(self._entries)

    def target(self, name: str) -> str:
        if name in self._entries:
            return self._entries[name]
        if ":" in name:
            return name
        raise RegistryError(self.unknown(name))

    def get(self, name: str) -> T:
        return load_object(self.target(name))  # type: ignore[return-value]

    def unknown(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return (
            f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())} "
            f"(or give your own as 'package.module:Class')."
        )
