"""The libraries that decide what a corpus store holds: checked before a build, and
part of the store's cache key.

A build must never mistake a broken environment for bad data.  If torchaudio's
native library does not load against the installed torch (a mismatched pair), every
audio file would otherwise be "unreadable", and that empty store would be cached.
So each source and codec names the distributions it reads or encodes with
(``dependencies``); `check` loads each of them once, doing a tiny piece of real
work, and raises `DependencyError` -- one line naming the library, what failed and
how to fix it -- before any file is read.  `dependency_key` turns the versions of
the same distributions into a short key, so that upgrading one (a new resampler, a
new MIDI parser) builds a new store instead of reusing one it would not reproduce.

Names are distribution names, plus two pseudo-names: ``libsndfile`` (the C library
under ``soundfile``) and ``unicode`` (the Unicode database behind NFC normalisation).
"""

from __future__ import annotations

import ctypes
import hashlib
import unicodedata
from functools import cache
from importlib import metadata
from types import ModuleType
from typing import Callable, Iterable

PINNED_PAIR = "pip install torch==2.11.0 torchaudio==2.11.0 (bash run.sh setup installs the pinned pair)"


class DependencyError(RuntimeError):
    """A library that does not load or work here: an environment failure, never data."""


def version(name: str) -> str:
    """The installed version of a distribution (or pseudo-name), ``"missing"`` if absent."""
    if name == "unicode":
        return unicodedata.unidata_version
    if name == "libsndfile":
        try:
            import soundfile
        except (ImportError, OSError):
            return "missing"
        return str(soundfile.__libsndfile_version__)
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def dependency_key(names: Iterable[str]) -> str:
    """A 10-hex-digit key of the versions of ``names`` (order and repeats ignored)."""
    pinned = "\n".join(f"{n}=={version(n)}" for n in sorted(set(names)))
    return hashlib.sha256(pinned.encode()).hexdigest()[:10]


def _torchaudio() -> None:
    import numpy as np
    import torch
    import torchaudio.functional as AF

    AF.resample(torch.from_numpy(np.zeros(64, dtype=np.float32)), 2, 1)


def _soundfile() -> None:
    import soundfile

    soundfile.available_formats()


def _symusic() -> None:
    from symusic import Score

    Score(480)


def _music21() -> None:
    import music21  # noqa: F401


def fluidsynth() -> ModuleType:
    """The ``fluidsynth`` module (pyfluidsynth), or `DependencyError` saying how to
    install it and the C library it loads."""
    try:
        import fluidsynth as module
    except (ImportError, OSError) as exc:
        raise DependencyError(
            f"audio/gm-notes renders with FluidSynth, which is not usable here ({exc}): "
            "apt-get install libfluidsynth3 and pip install pyfluidsynth (bash run.sh setup does both)"
        ) from None
    return module


def fluidsynth_version() -> str:
    """The version of the FluidSynth C library that pyfluidsynth loaded."""
    lib = fluidsynth()._fl
    lib.fluid_version_str.restype = ctypes.c_char_p
    return lib.fluid_version_str().decode()


def _torch() -> None:
    import torch

    torch.zeros(1).sum()


CHECKS: dict[str, tuple[Callable[[], object], str]] = {
    # name: (a tiny real use of it, how to fix it when it fails)
    "torch": (_torch, PINNED_PAIR),
    "torchaudio": (_torchaudio, PINNED_PAIR),
    "soundfile": (_soundfile, "pip install soundfile (its wheel ships libsndfile)"),
    "libsndfile": (_soundfile, "pip install --force-reinstall soundfile"),
    "symusic": (_symusic, "pip install 'symusic>=0.5.9,<0.7'"),
    "music21": (_music21, "pip install music21==10.5.1"),
    "pyfluidsynth": (
        fluidsynth_version,
        "apt-get install libfluidsynth3 and pip install pyfluidsynth (bash run.sh setup does both)",
    ),
}


@cache
def _check_one(name: str) -> None:
    probe, fix = CHECKS[name]
    try:
        probe()
    except DependencyError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to load is an environment failure
        root: BaseException = exc
        while root.__cause__ is not None:  # "could not load X" <- "undefined symbol: ..."
            root = root.__cause__
        detail = " ".join(str(root).split())[-200:]
        versions = f"{name} {version(name)}" + (f" with torch {version('torch')}" if name == "torchaudio" else "")
        raise DependencyError(f"{versions} does not work here ({type(root).__name__}: {detail}); fix: {fix}") from exc


def check(names: Iterable[str]) -> None:
    """Load and exercise each checked library of ``names`` once per process.

    Raises `DependencyError` (one line) for the first that fails.  Names without a
    check (pure-Python dependencies, pseudo-names) are skipped.
    """
    for name in sorted(set(names)):
        if name in CHECKS:
            _check_one(name)


def doctor() -> list[tuple[str, str, str | None]]:
    """``(name, version, problem or None)`` for every checked library (`fsmb doctor`)."""
    rows: list[tuple[str, str, str | None]] = []
    for name in CHECKS:
        try:
            _check_one(name)
            rows.append((name, version(name), None))
        except DependencyError as exc:
            rows.append((name, version(name), str(exc)))
    return rows
