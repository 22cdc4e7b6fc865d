"""When training stops, and whether it converged: one rule for the loop and the records.

Training validates on meta-val every ``val_every`` steps (`benchmark.training.loop`).
A budget with ``patience > 0`` (`benchmark.contract.protocol.Budget`) anneals and stops
on a **plateau**:

- a validation *improves* when its meta-val nats/token is below the best so far by more
  than ``REL_TOL`` (0.1 %) of it;
- after ``patience`` validations in a row without an improvement, the learning rate is
  halved (at most ``lr_decays`` times) and the count starts again;
- after ``patience`` validations without an improvement at the last learning rate,
  training stops; the weights best on meta-val are kept.

**Converged** (`assess`, the mark on the leaderboard) means exactly: every scheduled
learning-rate halving happened, and the last ``W`` validations at the final learning
rate (``W`` = the budget's ``patience``, or `DEFAULT_WINDOW` for a budget without one)
improved the best meta-val score by less than ``REL_TOL`` in all.  A run stopped by the
plateau rule has converged by construction; a run cut off by its step cap, or a
fixed-length run whose curve still falls, has not.  `assess` reads only the recorded
curve, so it applies to every run record, old ones included.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

REL_TOL = 1e-3  # an improvement is a drop of more than 0.1 % of the best meta-val nats/token
DEFAULT_WINDOW = 3  # validations judged for budgets without early stopping
CRITERION = (
    "converged: all scheduled learning-rate halvings done and the last W validations at the final "
    "learning rate improved the best meta-val nats/token by < 0.1 % (W = the budget's patience, else 3)"
)


def improves(value: float, best: float) -> bool:
    """Whether a validation score ``value`` improves on ``best`` (by more than ``REL_TOL``)."""
    return math.isinf(best) or value < best - REL_TOL * abs(best)


@dataclass
class Plateau:
    """The plateau rule's state, carried through a run and its checkpoints.

    ``best``: the best meta-val score that counts as an improvement so far (the loop
    keeps the weights of the overall best, which may be lower by less than ``REL_TOL``);
    ``stale``: validations since the last improvement or halving; ``decays_at``: the
    steps at which the learning rate was halved."""

    patience: int
    lr_decays: int
    best: float = float("inf")
    stale: int = 0
    decays_at: tuple[int, ...] = ()

    @property
    def lr_scale(self) -> float:
        """The factor on the learning rate now: ``0.5 ** halvings``."""
        return 0.5 ** len(self.decays_at)

    def update(self, step: int, value: float) -> bool:
        """Take the validation at ``step``; return True when training should stop."""
        if self.patience <= 0:
            return False
        if improves(value, self.best):
            self.best, self.stale = value, 0
            return False
        self.stale += 1
        if self.stale < self.patience:
            return False
        if len(self.decays_at) < self.lr_decays:
            self.decays_at, self.stale = (*self.decays_at, step), 0
            return False
        return True

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "stale": self.stale, "decays_at": list(self.decays_at)}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.best, self.stale = float(state["best"]), int(state["stale"])
        self.decays_at = tuple(int(s) for s in state["decays_at"])


@dataclass(frozen=True)
class Convergence:
    """The verdict on one training run (`assess`).

    ``final_gain``: relative improvement of the best meta-val score over the judged
    window (0 when it did not improve; ``None`` when the run was not judged that far);
    ``window``: validations judged."""

    converged: bool
    reason: str
    steps: int
    best_step: int
    final_gain: float | None
    window: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(
    val_curve: Sequence[Sequence[float]],
    *,
    steps: int,
    patience: int = 0,
    lr_decays: int = 0,
    decays_at: Sequence[int] = (),
) -> Convergence:
    """Judge a run from its meta-val curve (``[(step, nats_per_token), ...]``), the steps it
    ran, its budget's ``patience`` and ``lr_decays`` and the steps its learning rate was
    halved at (see the module docstring for the rule)."""
    curve = [(int(s), float(v)) for s, v in val_curve]
    window = patience if patience > 0 else DEFAULT_WINDOW
    if not curve:
        return Convergence(False, "no meta-val curve", steps, 0, None, window)
    best_step, best = min(curve, key=lambda sv: (sv[1], sv[0]))
    if len(decays_at) < lr_decays:
        return Convergence(
            False, f"{len(decays_at)} of {lr_decays} learning-rate halvings reached", steps, best_step, None, window
        )
    since = [v for s, v in curve if not decays_at or s > decays_at[-1]]
    if len(since) < window:
        where = " at the final learning rate" if decays_at else ""
        return Convergence(
            False,
            f"{len(since)} validations{where}, too few to judge the last {window}",
            steps,
            best_step,
            None,
            window,
        )
    if len(curve) <= window:
        return Convergence(
            False, f"{len(curve)} validations, too few to judge the last {window}", steps, best_step, None, window
        )
    before = min(v for _, v in curve[: len(curve) - window])
    gain = max(0.0, (before - best) / abs(best))
    if gain >= REL_TOL:
        return Convergence(
            False,
            f"the last {window} validations improved meta-val by {100 * gain:.2f} %",
            steps,
            best_step,
            gain,
            window,
        )
    return Convergence(
        True,
        f"the last {window} validations improved meta-val by {100 * gain:.2f} % (< 0.1 %)",
        steps,
        best_step,
        gain,
        window,
    )


@dataclass(frozen=True)
class TrainingSummary:
    """What training a fitted model cost and whether it converged, read from its train
    log (`summarise`): the leaderboard's training columns.

    ``converged``: `assess` of its own meta-val curve and of the curves of the models it
    starts from (a ``finetune`` row is as converged as its ``lstm``); ``None`` for a model
    with no iterative training (closed form), whose rounds are not judged, or whose base
    model's training is not recorded (runs of the MAML family before FSMB kept it).  ``steps``:
    its own optimiser steps; ``seconds`` and ``flops``: the training loops' wall time
    and counted FLOPs, its own and its bases' together (``flops`` is ``None`` for runs
    recorded before FLOPs were counted)."""

    converged: bool | None
    reason: str
    steps: int | None
    seconds: float | None
    flops: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(train_log: Mapping[str, Any] | None, budget: Mapping[str, Any]) -> TrainingSummary:
    """The `TrainingSummary` of a run record's ``train.train_log`` under its ``budget``
    (a `Budget` as a dict)."""
    log = dict(train_log or {})
    base_log = log.get("base_train_log")
    base = summarise(base_log, budget) if isinstance(base_log, Mapping) else None
    own: TrainingSummary | None = None
    if "val_curve" in log:
        verdict = assess(
            log["val_curve"],
            steps=int(log.get("steps", 0)),
            patience=int(budget.get("patience", 0)),
            lr_decays=int(budget.get("lr_decays", 0)),
            decays_at=log.get("lr_decays_at", ()),
        )
        own = TrainingSummary(
            verdict.converged,
            verdict.reason,
            int(log.get("steps", 0)),
            float(log.get("wall_seconds", 0.0)),
            log.get("flops"),
        )
    elif isinstance(log.get("rounds"), list) and log["rounds"]:
        rounds = log["rounds"]
        flops = [r.get("flops") for r in rounds]
        own = TrainingSummary(
            None,
            f"compressed variant: {len(rounds)} retraining rounds, not judged",
            sum(int(r.get("steps", 0)) for r in rounds),
            sum(float(r.get("wall_seconds", 0.0)) for r in rounds),
            None if None in flops else sum(flops),
        )
    if own is None and base is None:
        return TrainingSummary(None, "no iterative training", None, None, None)
    if own is None:
        assert base is not None
        return TrainingSummary(
            base.converged, f"as its base {log.get('base', '')}: {base.reason}", 0, base.seconds, base.flops
        )
    if base is None and log.get("base") and own.converged is not None:  # a base named, its training unrecorded
        return TrainingSummary(
            False if own.converged is False else None,
            f"{own.reason}; base {log['base']}: its training is not recorded",
            own.steps,
            own.seconds,
            None,
        )
    if base is None:
        return own
    both = None if own.converged is None or base.converged is None else own.converged and base.converged
    return TrainingSummary(
        both,
        f"{own.reason}; base {log.get('base', '')}: {base.reason}",
        own.steps,
        (own.seconds or 0.0) + (base.seconds or 0.0),
        None if own.flops is None or base.flops is None else own.flops + base.flops,
    )


def loop_cost(train_log: Mapping[str, Any]) -> dict[str, Any]:
    """The cost figures of one training loop's log (`TrainLog.to_dict`), kept in the
    round records of compressed variants, which `summarise` adds up."""
    return {k: train_log.get(k) for k in ("steps", "wall_seconds", "flops")}
