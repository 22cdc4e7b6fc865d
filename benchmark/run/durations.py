"""How long training and scoring a baseline takes: the estimate ``fsmb quickstart``
prints before each method's run (`episodes.timing` for the corpus builds).

The rates were measured by a quickstart run of 2026-12-01 on 2 idle cores (AMD EPYC,
torch with 2 threads), at the ``quick`` budget: its records'
``train.train_seconds`` / 250 steps (validation included) and ``eval_seconds`` / 100
test episodes.  A step's cost depends on the batch and the model size, so a budget
with another ``batch_size`` or ``size`` gets no estimate; other step counts scale.
"""

from __future__ import annotations

from benchmark.contract.protocol import BUDGETS, Budget
from episodes.timing import Rate, approx

MEASURED_ON = "measured on 2 idle cores"
_REFERENCE = BUDGETS["quick"]


def _measured(train_seconds: float, eval_seconds: float) -> tuple[Rate, Rate]:
    """From a quick-budget record (training seconds for 250 steps, scoring seconds for
    100 episodes): the rates per training step and per scored episode."""
    return (
        Rate(train_seconds / _REFERENCE.steps, "step", MEASURED_ON),
        Rate(eval_seconds / 100, "episode", MEASURED_ON),
    )


COSTS: dict[tuple[str, str], tuple[Rate, Rate]] = {
    ("unigram", "midi/music21"): _measured(0.02, 0.25),
    ("unigram-support", "midi/music21"): _measured(0.04, 0.25),
    ("lstm", "midi/music21"): _measured(118.8, 2.9),
    ("lstm-concat", "midi/music21"): _measured(148.9, 6.26),
    ("unigram", "lyrics/fortunes"): _measured(0.01, 0.2),
    ("unigram-support", "lyrics/fortunes"): _measured(0.04, 0.21),
    ("lstm", "lyrics/fortunes"): _measured(77.3, 0.88),
    ("lstm-concat", "lyrics/fortunes"): _measured(59.6, 2.31),
    ("gaussian-global", "audio/gm-notes"): _measured(0.9, 0.82),
    ("gaussian-support", "audio/gm-notes"): _measured(0.8, 0.33),
    ("ppca-support", "audio/gm-notes"): _measured(24.8, 4.28),
}


def run_estimate(method: str, track: str, budget: Budget, episodes: int) -> str | None:
    """One line estimating training ``method`` on ``track`` at ``budget`` and scoring
    ``episodes`` test episodes, or None when no rate was measured for them."""
    rates = COSTS.get((method, track))
    if rates is None or (budget.batch_size, budget.size) != (_REFERENCE.batch_size, _REFERENCE.size):
        return None
    train, score = rates
    return (
        f"{method}: training {approx(train.estimate(budget.steps))} ({budget.steps} steps), scoring "
        f"{approx(score.estimate(episodes))} ({episodes} episodes) ({MEASURED_ON})"
    )
