"""The method contract: every rule a method must follow, in one place.

A method is fitted once on meta-train data, then adapted to each episode's support
set; the adapted model scores query songs and samples new ones::

    method = MyMethod()                         # 1. argument-free constructor
    method.fit(data, budget=budget, logdir=logdir)
    method.save(folder)                         #    -> any files in the existing folder
    adapted = method.adapt(episode.support)     # 2. never sees the query set
    nats = adapted.log_prob(episode.query)      # 3. per-item total log-probability, shape (Q,)
    songs = adapted.sample(n, max_len=L, generator=rng)

The rules (`fsmb check` tests each one on tiny generated tracks,
`benchmark.run.check`; every command checks rules 1 and 2 when it loads a
method, before any work: `check_method_class`, `benchmark.contract.methods.make_method`):

1. The class has an argument-free constructor and the class attributes ``name``
   (a non-empty string: its display name in result files and leaderboards, unique
   among the registered methods), ``version`` (a non-empty string: bump it when a
   change alters results; fitted models of another version are retrained) and,
   optionally, the attributes of `Declared` (``modalities``, ``data_parallel``,
   ``eval_settings``, ``train_settings``, ``base_method``), each with its default there.
2. It has the methods of `Method`: ``hparams``, ``fit``, ``adapt``, ``save``, ``load``,
   ``n_params``.  ``hparams()`` is a JSON-serialisable dict, recorded in every result.
3. ``fit`` sees only `MetaTrainData` (meta-train items and episodes, meta-val
   episodes) and draws every random number from ``data.seed`` (the runner also seeds
   torch's global generator with it): the same seed gives the same model.
4. ``adapt`` returns a new object and leaves the method unchanged -- no array of the
   method may change, so nothing leaks from one episode into the next -- and does
   not change the items it is given.  The runner (and `fsmb check`) only ever hands it
   a support set; ``support`` may be empty (K = 0).
5. ``log_prob`` returns finite log-probabilities in nats, each ``<= 0``, one per item.
6. ``sample`` returns ``n`` arrays like the items' ``tokens``: ``uint16`` sequences
   starting with `episodes.tokens.BOS`, at most ``max_len`` long, ids below the
   track's vocabulary size; or ``uint8`` level images of the items' shape.  It draws
   only from ``generator``.
7. ``save(path)`` writes any files into the existing directory ``path`` but
   ``meta.json`` and ``logs/``, which the runner keeps there; ``load(path)``
   into a fresh object restores a model that scores identically, without unpickling
   (``torch.load(..., weights_only=True)``, ``np.load(..., allow_pickle=False)``).  The
   runner writes its ``meta.json`` only after ``save`` returns (a half-saved model is
   retrained) and identifies the fitted model by the arrays in ``.pt``/``.npz``/``.npy``
   files and the bytes of any other file (`benchmark.training.identity`): two saves of
   one state must give one identity, or the method defines ``fingerprint() -> str``.
8. Optional batched hooks (`BatchAdapts`, `BatchScores`) must agree with ``adapt``/``log_prob``.
9. Devices (``--device``): a method computes on `benchmark.contract.device.run_device`,
   following the rule stated in that module (torch's factory functions already create
   tensors there; numpy arrays go through ``to_run_device``, results come back with
   ``.cpu()``; random numbers are drawn on the CPU).  A method that uses numpy only
   needs nothing.
10. Processes (torchrun): a method whose ``fit`` trains data-parallel sets the class
   attribute ``data_parallel = True`` and computes each step's loss as its rank's share
   (`benchmark.runtime.distributed`); every other method is fitted by rank 0 alone.

Token ids (PAD, BOS, EOS) come from `episodes.tokens`; the vocabulary size from
``data.vocab_size``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from benchmark.contract.settings import Choice, Range
from episodes.manifest import EpisodeDrawer
from episodes.tracks import Track
from episodes.types import Episode, Item


@dataclass(frozen=True)
class Budget:
    """Training budget; recorded in every result.

    ``steps``: optimiser steps; ``batch_size``: sequences per step; ``val_every``:
    steps between meta-val evaluations; ``val_episodes``: meta-val episodes used for
    model selection; ``size``: model size preset (``small`` or ``base``).

    ``patience > 0`` trains to a plateau (`benchmark.training.convergence`): after
    ``patience`` validations without an improvement the learning rate is halved, at most
    ``lr_decays`` times, and then training stops; ``steps`` is then a cap.  With
    ``patience = 0`` training runs exactly ``steps`` steps.  ``flops > 0`` caps each
    training loop's counted FLOPs (`benchmark.cost.flops`; ``fsmb --flops``): it stops
    after the step that reaches the cap, so that methods compare at matched compute.
    """

    name: str
    steps: int
    batch_size: int
    val_every: int
    val_episodes: int
    size: str
    patience: int = 0
    lr_decays: int = 0
    flops: float = 0.0

    @property
    def early_stopping(self) -> bool:
        """Whether training stops at a meta-val plateau (``steps`` is a cap)."""
        return self.patience > 0

    def to_dict(self) -> dict:
        return asdict(self)

    def with_steps(self, steps: int | None) -> "Budget":
        """This budget with ``steps`` optimiser steps (``fsmb --steps``), recorded as the
        modified budget ``name[steps=N]``; ``None``: unchanged."""
        if steps is None or steps == self.steps:
            return self
        return replace(self, name=f"{self.name}[steps={steps}]", steps=steps, val_every=min(self.val_every, steps))

    def with_flops(self, flops: float | None) -> "Budget":
        """This budget with each training loop capped at ``flops`` counted FLOPs (``fsmb
        --flops``), recorded as ``name[flops=F]``; ``None``: unchanged.  ``steps`` stays
        a cap too: give enough of them (``--steps``) for the FLOPs to be reached."""
        if flops is None or flops == self.flops:
            return self
        return replace(self, name=f"{self.name}[flops={flops:.3g}]", flops=float(flops))


SEQUENCE_MODALITIES = ("midi", "lyrics")  # the ``modalities`` of token-sequence methods

BUDGETS: dict[str, Budget] = {
    # ``tiny``: for `fsmb check` -- every code path of fit (training, meta-val selection) in seconds; its
    # figures mean nothing.
    "tiny": Budget("tiny", steps=10, batch_size=4, val_every=5, val_episodes=3, size="small"),
    "quick": Budget("quick", steps=250, batch_size=16, val_every=125, val_episodes=40, size="small"),
    "full": Budget("full", steps=1500, batch_size=16, val_every=250, val_episodes=100, size="small"),
    # ``converge``: the reference rows -- trained to a meta-val plateau, with two halvings of the learning
    # rate, at most 40,000 steps (`benchmark.training.convergence`).
    "converge": Budget(
        "converge", steps=40000, batch_size=16, val_every=250, val_episodes=100, size="small", patience=3, lr_decays=2
    ),
}


class MetaTrainData:
    """What ``fit`` may see: meta-train items and episodes, and meta-val episodes.

    The test split is unreachable from here: model selection uses meta-val only.
    """

    def __init__(self, track: Track, *, seed: int, pretrained: Callable[[str], "Method"] | None = None) -> None:
        self._track = track
        self._pretrained = pretrained
        self.seed = seed
        self.vocab_size = track.vocab_size
        self.max_tokens = track.spec.max_tokens
        self.shots = track.spec.shots
        self.track_name = track.spec.name

    def pretrained(self, name: str) -> "Method":
        """Another method fitted on the same meta-train data, budget and seed (e.g. the
        ``lstm`` that ``finetune`` starts from); trained once and shared."""
        if self._pretrained is None:
            raise RuntimeError(f"no pretrained-method provider: cannot get {name!r}")
        return self._pretrained(name)

    def train_items(self) -> list[Item]:
        """Every meta-train item (cropped to the track's ``max_tokens``)."""
        return [self._track.item(i) for i in self._track.split_indices("train")]

    def train_drawer(self, shots: int, query_size: int = 1) -> EpisodeDrawer:
        """On-the-fly meta-train episodes: ``drawer.draw(i)`` -> ids; see `episode`."""
        return self._track.drawer("train", shots, query_size, seed=self.seed)

    def episode(self, spec) -> Episode:
        return self._track.episode(spec)

    def val_episodes(self, n: int, shots: int | None = None) -> list[Episode]:
        """The first ``n`` episodes of the fixed meta-val manifest."""
        manifest = self._track.manifest("val", shots)
        return [self._track.episode(e) for e in manifest.episodes[:n]]


@runtime_checkable
class Adapted(Protocol):
    """A model adapted to one support set."""

    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        """Total log-likelihood of each item in nats, shape ``(len(items),)``, each ``<= 0``.

        Each item is scored on its own, given the support set only.  On sequence
        tracks item ``i`` contributes ``log p(tokens[1:] | tokens[0] = BOS, support)``;
        on audio tracks ``log P(tokens | support)`` of the quantised levels (or a lower
        bound on it, e.g. `benchmark.scoring.dequantise`).
        """

    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        """``n`` samples shaped like items' ``tokens``: token sequences (``uint16``, each
        starting with BOS, at most ``max_len`` long) or audio level arrays (``uint8``)."""


@runtime_checkable
class Method(Protocol):
    """A few-shot generative modelling method."""

    name: ClassVar[str]
    version: ClassVar[str]
    # Optional class attributes: `Declared` (modalities, data_parallel, eval_settings,
    # train_settings, base_method).  Optional hooks, each a protocol the callers test with
    # isinstance: `SettingsChecked`, `Fingerprinted`, `TrainLogged`, `GridScored`,
    # `Deployable`, `BatchAdapts`, `BatchScores`.

    def hparams(self) -> dict[str, Any]:
        """Hyper-parameters, recorded in every result."""

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        """Train on meta-train (selecting on meta-val); log curves under ``logdir``."""

    def adapt(self, support: Sequence[Item]) -> Adapted:
        """A new adapted model; ``support`` may be empty (K = 0)."""

    def save(self, path: Path) -> None:
        """Write the fitted state as any files into the existing directory ``path`` (rule 7)."""

    def load(self, path: Path) -> None:
        """Restore the state written by `save`, never unpickling (rule 7)."""

    def n_params(self) -> int:
        """Number of parameters used at inference."""


MODALITIES = ("midi", "lyrics", "audio")
REQUIRED = ("hparams", "fit", "adapt", "save", "load", "n_params")


class ContractError(TypeError):
    """A method class that breaks a rule of `Method`; the message names the rule."""


def check_method_class(cls: object, label: str) -> None:
    """Check the rules of `Method` that can be checked on the class: ``cls`` is a
    class; ``name`` and ``version`` are non-empty strings; the methods of `Method`
    exist; its optional declarations are well formed (`Declared.of`).  (`make_method`
    then checks the argument-free constructor.)

    Raises `ContractError` with one line naming the rule and what was seen.
    """
    where = f"{label}: breaks the method contract (benchmark/contract/protocol.py):"
    if not isinstance(cls, type):
        raise ContractError(f"{where} it is a {type(cls).__name__}, not a class")
    for attr in ("name", "version"):
        value = getattr(cls, attr, None)
        if not isinstance(value, str) or not value.strip():
            raise ContractError(f"{where} class attribute {attr!r} must be a non-empty string (found {value!r})")
    missing = [m for m in REQUIRED if not callable(getattr(cls, m, None))]
    if missing:
        raise ContractError(f"{where} missing method(s) {', '.join(missing)}")
    declared_by(cls, where)


@dataclass(frozen=True)
class Declared:
    """The optional class attributes of `Method`, with the contract's defaults: the one
    place they are read (``Declared.of(method)``), so no caller probes a method for them.

    ``modalities``: the track modalities the method models (default all `MODALITIES`;
    the runner refuses others with a clear message).  ``data_parallel``: ``fit`` trains
    data-parallel under torchrun (rule 10; default ``False``).  ``eval_settings``:
    attributes that ``fsmb eval --set NAME=VALUE`` may change on the fitted method
    without retraining, each with the values it may take (a
    `benchmark.contract.settings.Range` or ``Choice``).  ``train_settings``:
    constructor attributes that may be named with the method, ``NAME[setting=value]``,
    to train a variant.  ``base_method``: for a compressed variant, the dense method it
    compresses (its paired reference; default ``None``).
    """

    modalities: tuple[str, ...] = MODALITIES
    data_parallel: bool = False
    eval_settings: Mapping[str, Range | Choice] = field(default_factory=dict)
    train_settings: Mapping[str, Range | Choice] = field(default_factory=dict)
    base_method: str | None = None

    @classmethod
    def of(cls, method: object) -> "Declared":
        """The declarations of a method class or instance (read from its class).

        Raises `ContractError` (one line) for a malformed declaration."""
        return declared_by(
            method if isinstance(method, type) else type(method),
            f"{getattr(method, 'name', method)}: breaks the method contract (benchmark/contract/protocol.py):",
        )


@functools.lru_cache(maxsize=None)
def declared_by(cls: type, where: str) -> Declared:
    """`Declared.of` a class, checked once per class (``where`` prefixes an error)."""
    defaults = Declared()
    values = {f.name: getattr(cls, f.name, getattr(defaults, f.name)) for f in fields(Declared)}
    modalities = values["modalities"]
    if not isinstance(modalities, tuple) or not modalities or not set(modalities) <= set(MODALITIES):
        raise ContractError(f"{where} 'modalities' must be a non-empty tuple of {MODALITIES} (found {modalities!r})")
    if not isinstance(values["data_parallel"], bool):
        raise ContractError(f"{where} 'data_parallel' must be True or False (found {values['data_parallel']!r})")
    for kind in ("eval_settings", "train_settings"):
        settings = values[kind]
        bad = (
            [k for k, r in settings.items() if not isinstance(r, (Range, Choice))]
            if isinstance(settings, dict)
            else [settings]
        )
        if bad:
            raise ContractError(
                f"{where} {kind!r} must map setting names to benchmark.contract.settings.Range or "
                f"Choice (found {bad[0]!r})"
            )
    base = values["base_method"]
    if base is not None and (not isinstance(base, str) or not base.strip()):
        raise ContractError(f"{where} 'base_method' must be a method name (found {base!r})")
    return Declared(**values)


@runtime_checkable
class SettingsChecked(Protocol):
    """Optional: a method whose settings, each within its range, may not fit together."""

    def check_settings(self) -> None:
        """Raise ``ValueError`` (one line) when the settings do not fit together (a
        support budget that leaves no room in the context)."""


@runtime_checkable
class Fingerprinted(Protocol):
    """Optional: a method whose saved files are not byte-stable (rule 7)."""

    def fingerprint(self) -> str:
        """The fitted model's identity, the same for two saves of one state."""


@runtime_checkable
class TrainLogged(Protocol):
    """Optional: a method that reports its training (steps, meta-val curve, convergence;
    `benchmark.training.convergence`); ``fit`` sets it and the runner records it."""

    train_log: dict[str, Any]


@runtime_checkable
class GridScored(Protocol):
    """Optional: a method that scores a grid of evaluation-time settings in one pass
    (`benchmark.training.selection.select_on_val`; the cache shares each song's LSTM pass)."""

    def score_grid(self, settings: Sequence[Mapping[str, Any]], episodes: Sequence[Episode]) -> list[Any]:
        """Per setting, the episode scores (`benchmark.scoring.nll.EpisodeScore`) that
        scoring the method under it would give."""


@runtime_checkable
class Deployable(Protocol):
    """Optional: a method that can say which network a device runs to generate one token
    or note, for the leaderboard's cost columns (`benchmark.cost`; the single-network
    methods get it from `benchmark.training.neural.NeuralMethod`).  The runner asks
    ``isinstance(method, Deployable)``."""

    def inference_step(self) -> Any:
        """The fitted generation step, a `benchmark.cost.counting.InferenceStep`, or
        ``None`` when this configuration has no single step to deploy."""


@runtime_checkable
class BatchAdapts(Protocol):
    """Optional: adapt to many support sets at once (the runner prefers it; rule 8)."""

    def adapt_many(self, supports: Sequence[Sequence[Item]]) -> list[Adapted]:
        """One adapted model per support set, as ``adapt`` would give each."""


@runtime_checkable
class BatchScores(Protocol):
    """Optional: score many (adapted model, query set) pairs at once (the runner prefers it; rule 8)."""

    def log_prob_many(self, adapted: Sequence[Adapted], queries: Sequence[Sequence[Item]]) -> list[np.ndarray]:
        """Per pair, what ``adapted[i].log_prob(queries[i])`` would give."""
