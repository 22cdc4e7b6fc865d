"""``fsmb check package.module:Class``: a mock run of a method against every rule of the
contract (`benchmark.contract.protocol`), on tiny tracks generated on the fly.

For each modality the method declares, a corpus of `CHECK_ARTISTS` x `CHECK_SONGS`
pieces is written by `episodes.synthetic` and opened as a folder track; then:

====================  =================================================================
rule                  what is checked
====================  =================================================================
contract              the class declares ``name``, ``version``, ``modalities`` and the
                      methods, and constructs without arguments
fit                   ``fit`` runs on the ``tiny`` budget
hparams               ``hparams()`` is a JSON-serialisable dict; ``n_params()`` an int >= 0
adapt-new-object      ``adapt`` returns a new object, not the method
log_prob              finite values <= 0 nats, shape ``(Q,)``
adapt-leaves-method   adapting to other support sets changes, adds or removes no array or
                      value of the method, and re-adapting to the first scores the same
inputs-unchanged      ``adapt``, ``log_prob`` and ``sample`` leave the items' tokens as given
same-seed             a second ``fit`` with the same seed gives the same scores
save-load             ``save`` writes files (not the runner's ``meta.json`` or ``logs/``);
                      ``load`` into a fresh object gives the same scores; that object
                      saved again has the same identity
sample                ``n`` arrays of the items' dtype: ``uint16`` from BOS, at most
                      ``max_len`` (`SAMPLE_MAX_LEN`) long, ids < vocabulary size; or
                      ``uint8`` level images of the items' shape; the same for the same
                      generator seed
batched               ``adapt_many`` / ``log_prob_many``, whichever is defined, agree
                      with ``adapt`` / ``log_prob`` on the runner's own path
====================  =================================================================

The harness itself only ever hands ``adapt`` a support set (never query items), as
the runner does.  Each failure is one line: the rule, the modality and what was seen.
Scores are compared with a relative and absolute tolerance of `SCORE_TOLERANCE`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from benchmark.contract.methods import make_method
from benchmark.contract.protocol import (
    BUDGETS,
    Adapted,
    BatchAdapts,
    BatchScores,
    Budget,
    ContractError,
    Declared,
    MetaTrainData,
    Method,
)
from benchmark.contract.registry import RegistryError, target_of
from benchmark.scoring.nll import adapt_all, log_prob_all, log_prob_problem
from benchmark.training.identity import NOT_MODEL, fitted_identity
from episodes.synthetic import make_lyrics_corpus, make_midi_corpus, make_nsynth_corpus
from episodes.tokens import BOS
from episodes.tracks import TRACKS, Track
from episodes.types import Episode, Item

CHECK_ARTISTS, CHECK_SONGS = 12, 10  # enough artists for a three-way split, songs for K + Q
CHECK_TRACKS: dict[str, tuple[str, Callable[..., Path]]] = {
    "midi": ("midi/dir", make_midi_corpus),
    "lyrics": ("lyrics/dir", make_lyrics_corpus),
    "audio": ("audio/nsynth", make_nsynth_corpus),
}
SCORE_TOLERANCE = 1e-5
SAMPLE_MAX_LEN = 64  # a sequence sample's length cap (below the tracks' max_tokens: a cap the method must honour)
NOT_STATE = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.ModuleType, type)
N_SAMPLES = 2


class RuleBroken(AssertionError):
    """A rule of the contract the method breaks; ``str``: ``rule: what was seen``."""

    def __init__(self, rule: str, seen: str) -> None:
        super().__init__(f"{rule}: {seen}")
        self.rule = rule


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one rule on one modality; ``seconds``: wall time of its step."""

    modality: str
    rule: str
    ok: bool
    detail: str
    seconds: float

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAIL':4s}  {self.modality:6s} {self.rule:19s} {self.seconds:5.1f} s  {self.detail}".rstrip()


def tiny_track(modality: str, root: Path, *, workers: int = 1) -> Track:
    """The check's track for ``modality``: a synthetic corpus under ``root``, built there."""
    name, make_corpus = CHECK_TRACKS[modality]
    data = make_corpus(root / "data", CHECK_ARTISTS, CHECK_SONGS)
    return Track.open(TRACKS[name], cache_dir=root / "cache", data_dir=data, workers=workers, progress=False)


# ----- what the rules compare ---------------------------------------------------------
def array_digests(obj: Any, path: str = "", seen: set[int] | None = None, depth: int = 6) -> Iterator[tuple[str, str]]:
    """(attribute path, digest) of every tensor, array and scalar reachable from ``obj``
    through attributes, dicts, lists and ``nn.Module`` state."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth < 0:
        return
    if isinstance(obj, torch.Tensor):
        yield (
            path,
            hashlib.sha256(obj.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest(),
        )
    elif isinstance(obj, np.ndarray):
        yield path, hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest() + str(obj.dtype)
    elif isinstance(obj, (int, float, str, bool, bytes)) or obj is None:
        yield path, repr(obj)
    else:
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module):
            for key, tensor in obj.state_dict(keep_vars=False).items():
                yield from array_digests(tensor, f"{path}.{key}", seen, depth - 1)
        elif isinstance(obj, dict):
            for key, value in list(obj.items())[:10_000]:
                yield from array_digests(value, f"{path}[{key!r}]", seen, depth - 1)
        elif isinstance(obj, (list, tuple)):
            for i, value in enumerate(obj[:10_000]):
                yield from array_digests(value, f"{path}[{i}]", seen, depth - 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, NOT_STATE):
            for key, value in vars(obj).items():
                yield from array_digests(value, f"{path}.{key}", seen, depth - 1)


def items_digest(items: Sequence[Item]) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(it.item_id.encode() + np.ascontiguousarray(it.tokens).tobytes())
    return h.hexdigest()


def same_scores(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=SCORE_TOLERANCE, atol=SCORE_TOLERANCE))


def differs(a: np.ndarray, b: np.ndarray) -> str:
    return f"{np.round(a, 4).tolist()} vs {np.round(b, 4).tolist()}"


# ----- the mock run ---------------------------------------------------------------------
class MockRun:
    """The rules, in order, for one method class on one tiny track."""

    # set by the rules, in order (a rule runs only after the rules before it passed)
    method: Method
    adapted: Adapted
    scores: np.ndarray

    def __init__(self, cls: type, track: Track, work: Path, budget: Budget, seed: int = 0) -> None:
        self.cls, self.track, self.work, self.budget, self.seed = cls, track, work, budget, seed
        manifest = track.manifest("test")
        self.episodes: list[Episode] = [track.episode(s) for s in manifest.episodes[:3]]
        self._pretrained: dict[str, Method] = {}

    def pretrained(self, name: str) -> Method:
        """Built-in methods a method starts from (``data.pretrained``), fitted once."""
        if name not in self._pretrained:
            method = make_method(name)
            method.fit(self.data(), budget=self.budget, logdir=self.work / "pretrained" / name)
            self._pretrained[name] = method
        return self._pretrained[name]

    def data(self) -> MetaTrainData:
        return MetaTrainData(self.track, seed=self.seed, pretrained=self.pretrained)

    def fitted(self, tag: str) -> Method:
        method = self.cls()
        torch.manual_seed(self.seed)
        try:
            method.fit(self.data(), budget=self.budget, logdir=self.work / tag / "logs")
        except Exception as exc:  # noqa: BLE001 -- the method's own code: report, do not crash
            raise RuleBroken("fit", f"fit raised {type(exc).__name__}: {exc}") from exc
        return method

    def score(self, method: Method, episode: Episode, rule: str = "log_prob") -> tuple[Adapted, np.ndarray]:
        adapted = method.adapt(list(episode.support))
        scores = np.asarray(adapted.log_prob(list(episode.query)), dtype=np.float64)
        problem = log_prob_problem(scores, len(episode.query))
        if problem:
            raise RuleBroken(rule, problem)
        return adapted, scores

    # each rule returns a detail string or raises RuleBroken
    def rule_fit(self) -> str:
        self.method = self.fitted("a")
        return f"fitted on the '{self.budget.name}' budget ({self.budget.steps} steps)"

    def rule_hparams(self) -> str:
        hparams = self.method.hparams()
        if not isinstance(hparams, dict):
            raise RuleBroken("hparams", f"hparams() returned a {type(hparams).__name__}, not a dict")
        try:
            json.dumps(hparams, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise RuleBroken("hparams", f"hparams() is not JSON-serialisable ({exc})") from None
        n = self.method.n_params()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise RuleBroken("hparams", f"n_params() returned {n!r}, not an int >= 0")
        return f"{len(hparams)} settings, {int(n):,} parameters"

    def rule_adapt_new_object(self) -> str:
        adapted = self.method.adapt(list(self.episodes[0].support))
        if adapted is self.method:
            raise RuleBroken("adapt-new-object", "adapt returned the method itself; return a new adapted model")
        return type(adapted).__name__

    def rule_log_prob(self) -> str:
        self.adapted, self.scores = self.score(self.method, self.episodes[0])
        return f"{len(self.scores)} query items, {-self.scores.mean():.2f} nats each on average"

    def rule_adapt_leaves_method(self) -> str:
        before = dict(array_digests(self.method, "method"))
        for episode in self.episodes[1:]:
            self.score(self.method, episode, "adapt-leaves-method")
        after = dict(array_digests(self.method, "method"))
        changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
        if changed:
            raise RuleBroken(
                "adapt-leaves-method",
                f"adapting changed {changed[0]}"
                + (f" (and {len(changed) - 1} more)" if len(changed) > 1 else "")
                + "; adapt must work on a copy",
            )
        _, again = self.score(self.method, self.episodes[0], "adapt-leaves-method")
        if not same_scores(self.scores, again):
            raise RuleBroken(
                "adapt-leaves-method",
                f"the same support set scored differently after adapting to others: {differs(self.scores, again)}",
            )
        return f"{len(before)} arrays unchanged after {len(self.episodes) - 1} more support sets"

    def rule_inputs_unchanged(self) -> str:
        episode = self.episodes[0]
        before = items_digest(episode.support), items_digest(episode.query)
        adapted, _ = self.score(self.method, episode, "inputs-unchanged")
        adapted.sample(1, max_len=SAMPLE_MAX_LEN, generator=np.random.default_rng(0))
        if (items_digest(episode.support), items_digest(episode.query)) != before:
            raise RuleBroken("inputs-unchanged", "the items' tokens were changed in place; copy them first")
        return "support and query tokens as given"

    def rule_same_seed(self) -> str:
        _, again = self.score(self.fitted("b"), self.episodes[0], "same-seed")
        if not same_scores(self.scores, again):
            raise RuleBroken(
                "same-seed",
                f"two fits with seed {self.seed} score differently: "
                f"{differs(self.scores, again)}; seed every random draw from data.seed",
            )
        return f"two fits with seed {self.seed} agree"

    def rule_save_load(self) -> str:
        first, second = self.work / "saved-1", self.work / "saved-2"
        first.mkdir(parents=True)
        second.mkdir(parents=True)
        self.method.save(first)
        files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
        if not files:
            raise RuleBroken("save-load", f"save wrote no file into {first}")
        reserved = sorted({f.split("/")[0] for f in files} & set(NOT_MODEL))
        if reserved:
            raise RuleBroken(
                "save-load", f"save wrote {reserved[0]}, which the runner keeps in the same folder; use other names"
            )
        fresh = self.cls()
        fresh.load(first)
        _, loaded = self.score(fresh, self.episodes[0], "save-load")
        if not same_scores(self.scores, loaded):
            raise RuleBroken(
                "save-load", f"a fresh object after load scores differently: {differs(self.scores, loaded)}"
            )
        fresh.save(second)  # the loaded state saved again must be the same model
        if fitted_identity(self.method, first) != fitted_identity(fresh, second):
            raise RuleBroken(
                "save-load",
                "two saves of the same state differ (time stamps or random names in the "
                "files?); save arrays as .pt/.npz/.npy or define fingerprint()",
            )
        return f"wrote {', '.join(files[:4])}{' ...' if len(files) > 4 else ''}"

    def rule_sample(self) -> str:
        max_len, example = SAMPLE_MAX_LEN, self.episodes[0].query[0].tokens
        draws = [self.adapted.sample(N_SAMPLES, max_len=max_len, generator=np.random.default_rng(7)) for _ in range(2)]
        samples = draws[0]
        if not isinstance(samples, list) or len(samples) != N_SAMPLES:
            raise RuleBroken(
                "sample",
                f"sample({N_SAMPLES}, ...) returned {type(samples).__name__} of length "
                f"{len(samples) if hasattr(samples, '__len__') else '?'}; expected a list of {N_SAMPLES}",
            )
        for s in samples:
            if not isinstance(s, np.ndarray) or s.dtype != example.dtype:
                raise RuleBroken(
                    "sample",
                    f"a sample is {type(s).__name__} of dtype {getattr(s, 'dtype', '-')}; "
                    f"expected numpy {example.dtype}",
                )
            if example.ndim == 1 and not (
                s.ndim == 1 and 1 <= len(s) <= max_len and s[0] == BOS and int(s.max()) < self.track.vocab_size
            ):
                raise RuleBroken(
                    "sample",
                    f"a sample of shape {s.shape} (first id {s[:1].tolist()}, max id "
                    f"{int(s.max()) if s.size else '-'}) is not a sequence from BOS={BOS} of 1..{max_len}"
                    f" ids < {self.track.vocab_size}",
                )
            if example.ndim > 1 and s.shape != example.shape:
                raise RuleBroken("sample", f"a sample has shape {s.shape}; items have {example.shape}")
        if any(not np.array_equal(a, b) for a, b in zip(*draws)):
            raise RuleBroken("sample", "two draws with the same generator seed differ; draw only from `generator`")
        return f"{N_SAMPLES} x {example.dtype}, shapes {[tuple(s.shape) for s in samples]}"

    def rule_batched(self) -> str:
        hooks = [
            hook
            for hook, kind in (("adapt_many", BatchAdapts), ("log_prob_many", BatchScores))
            if isinstance(self.method, kind)
        ]
        if not hooks:
            return "no batched hooks"
        try:  # the runner's path: each hook the method has, the plain method otherwise
            adapted = adapt_all(self.method, [list(e.support) for e in self.episodes])
            batched = log_prob_all(self.method, adapted, [list(e.query) for e in self.episodes])
        except ValueError as exc:
            raise RuleBroken("batched", str(exc)) from None
        for episode, scores in zip(self.episodes, batched):
            _, single = self.score(self.method, episode, "batched")
            if not same_scores(scores, single):
                raise RuleBroken(
                    "batched", f"{' + '.join(hooks)} disagree with adapt + log_prob: {differs(scores, single)}"
                )
        return f"{' + '.join(hooks)}: {len(self.episodes)} episodes agree"

    RULES = (
        "fit",
        "hparams",
        "adapt-new-object",
        "log_prob",
        "adapt-leaves-method",
        "inputs-unchanged",
        "same-seed",
        "save-load",
        "sample",
        "batched",
    )

    def run(self, log: Callable[[CheckResult], None]) -> list[CheckResult]:
        """Every rule in order; after the first failure the rest are not run."""
        results = []
        for rule in self.RULES:
            started = time.perf_counter()
            try:
                detail, ok = getattr(self, "rule_" + rule.replace("-", "_"))(), True
            except RuleBroken as exc:  # the rule it names: a fit that fails in same-seed broke "fit"
                rule, detail, ok = exc.rule, str(exc).split(": ", 1)[1], False
            except Exception as exc:  # noqa: BLE001 -- the method's own code: report it as the rule it broke
                detail, ok = f"raised {type(exc).__name__}: {exc}", False
            results.append(
                CheckResult(self.track.spec.modality, rule, ok, " ".join(detail.split()), time.perf_counter() - started)
            )
            log(results[-1])
            if not ok:
                break
        return results


def check_method(
    name: str,
    *,
    modalities: Sequence[str] | None = None,
    budget: Budget = BUDGETS["tiny"],
    workdir: Path | None = None,
    log: Callable[[CheckResult], None] = lambda r: print(r.line()),
) -> list[CheckResult]:
    """Run every rule for ``name`` (a registered method or ``package.module:Class``) on
    the tiny track of each modality it declares (or of ``modalities``).  Returns the
    results; the check passed when all are ``ok``."""

    def contract(ok: bool, detail: str) -> list[CheckResult]:
        log(CheckResult("-", "contract", ok, " ".join(detail.split()), 0.0))
        return [] if ok else [CheckResult("-", "contract", ok, detail, 0.0)]

    try:
        cls = type(make_method(name))  # the class rules and the argument-free constructor
    except (ContractError, RegistryError) as exc:
        return contract(False, str(exc))
    except Exception as exc:  # noqa: BLE001 -- the user's constructor
        return contract(False, f"{name}: constructing it raised {type(exc).__name__}: {exc}")
    declared = Declared.of(cls).modalities
    undeclared = [m for m in modalities or () if m not in declared]
    if undeclared:
        return contract(False, f"{name} models {'/'.join(declared)}, not {undeclared[0]}")
    contract(True, f"{target_of(cls)} '{cls.name}' v{cls.version} models {'/'.join(declared)}")
    wanted = list(modalities or declared)
    results: list[CheckResult] = []
    with tempfile.TemporaryDirectory(prefix="fsmb-check-", dir=workdir) as tmp:
        for modality in wanted:
            root = Path(tmp) / modality
            started = time.perf_counter()
            track = tiny_track(modality, root)
            log(
                CheckResult(
                    modality,
                    "track",
                    True,
                    f"{len(track.store)} items of {CHECK_ARTISTS} artists ({TRACKS[CHECK_TRACKS[modality][0]].name})",
                    time.perf_counter() - started,
                )
            )
            results += MockRun(cls, track, root / "work", budget).run(log)
    return results
