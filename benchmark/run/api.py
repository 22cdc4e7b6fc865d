"""The Python entry point: evaluate a method on a track and get the records back, with
no command line (in the spirit of lm-evaluation-harness's ``simple_evaluate``)::

    from benchmark.run.api import simple_evaluate
    records = simple_evaluate("my_methods.bigram:Bigram", "midi/music21", episodes=50)
    print(sum(r.nats_per_token for r in records) / len(records))

It runs exactly what ``fsmb eval`` runs (`benchmark.run.runner.evaluate`): the same
checks first, the same fitted-model cache, resumable result files under ``out``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from benchmark.contract.device import on_device, parse_device
from benchmark.contract.methods import MethodSpec
from benchmark.contract.protocol import BUDGETS, Method
from benchmark.contract.registry import target_of
from benchmark.run.arguments import ArgumentError
from benchmark.run.records import EpisodeRecord, read_episode_records
from benchmark.run.runner import evaluate
from episodes.tracks import Track, default_cache, track_spec


def method_target_of(method: str | type | Method) -> str:
    """A registered name or ``module:Class`` as given, or the target of a class or of an
    instance.  The runner makes its own instance from the class (the contract requires
    an argument-free constructor), so an instance whose settings differ from a fresh
    one's is refused rather than silently replaced."""
    if isinstance(method, str):
        return method
    cls = method if isinstance(method, type) else type(method)
    if "<locals>" in cls.__qualname__:
        raise ArgumentError(
            f"{cls.__qualname__} is defined inside a function; define it at module level "
            "so that it can be loaded by its module:Class path"
        )
    fresh = None if isinstance(method, type) else cls().hparams()
    if not isinstance(method, type) and method.hparams() != fresh:
        raise ArgumentError(
            f"this {cls.__name__} has settings {method.hparams()} other than a new one's "
            f"{fresh}: pass the class, with those settings as its defaults"
        )
    return target_of(cls)


def simple_evaluate(
    method: str | type | Method,
    track: str | Track,
    *,
    shots: int | None = None,
    episodes: int | None = None,
    budget: str = "quick",
    steps: int | None = None,
    out: str | Path = "fsmb-results",
    models: str | Path = "runs/models",
    seed: int = 0,
    samples: int = 0,
    settings: Mapping[str, Any] | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> list[EpisodeRecord]:
    """Fit (or load) ``method`` and score it on the first ``episodes`` test episodes of
    ``track`` at K = ``shots`` (default: the track's); returns the episode records (the
    lines of the ``.jsonl`` file written under ``out``, as `EpisodeRecord`: ``nll_nats``
    per query item, ``nats_per_token``, ``bits_per``, ...).

    ``track``: a track name (opened with ``data_dir``, ``cache_dir`` -- default
    ``~/.cache/fsmb`` -- and ``workers``) or an opened `Track`.  ``budget``, ``steps``,
    ``seed``, ``samples``, ``settings`` and ``device`` mean what ``fsmb eval``'s ``--budget``,
    ``--steps``, ``--seed``, ``--samples``, ``--set`` and ``--device`` mean (the device
    defaults to the CPU here: a notebook's results stay comparable with published rows).
    """
    if budget not in BUDGETS:
        raise ArgumentError(f"budget {budget!r} is not one of {', '.join(BUDGETS)}")
    run_on = parse_device(device)  # before the corpus is built
    spec = MethodSpec.parse(method_target_of(method), settings)  # so is the method, with its settings
    if isinstance(track, str):
        track = Track.open(
            track_spec(track), cache_dir=Path(cache_dir or default_cache()), data_dir=data_dir, workers=workers
        )
    shots = track.spec.shots if shots is None else shots
    with on_device(run_on):
        path = evaluate(
            spec,
            track,
            shots=shots,
            n_episodes=episodes,
            out=Path(out),
            budget=BUDGETS[budget].with_steps(steps),
            models=Path(models),
            seed=seed,
            samples=samples,
            log=log,
        )
    wanted = {s.episode_id for s in track.manifest("test", shots).episodes[:episodes]}  # [:None]: all
    return [r for r in read_episode_records(path) if r.episode_id in wanted]
