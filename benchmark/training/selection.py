"""Model selection on meta-val: the one grid search every method uses for the settings it
does not train (a shrinkage strength, fine-tuning steps, a cache's interpolation)."""

from __future__ import annotations

import itertools
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from benchmark.contract.protocol import GridScored
from benchmark.runtime.distributed import gather_shares, rank_share
from benchmark.runtime.world import SOLO, active_in, active_world
from benchmark.scoring.nll import EpisodeScore, score_episodes
from episodes.types import Episode


def grid(values: Mapping[str, Sequence]) -> list[dict[str, Any]]:
    """Every combination of ``values`` (name -> candidates), in product order."""
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


def select_on_val(method: Any, settings: Sequence[Mapping[str, Any]], episodes: Sequence[Episode]) -> list[dict]:
    """Score ``method`` on the meta-val ``episodes`` under each setting (attribute name ->
    value, set on ``method``), leave it set to the best -- the lowest mean episode
    nats/token, the first on ties -- and return the table of what was tried (each
    setting with its ``val_nats_per_token``).

    A method may define ``score_grid(settings, episodes)`` returning, per setting, the
    episode scores `score_episodes` would give under it (the cache shares each song's
    LSTM pass across its grid); it is used instead of one pass per setting.  Under
    torchrun each rank scores its share of the episodes and every rank gets the table."""
    mine, main = rank_share(episodes), active_world().is_main
    with active_in(SOLO):  # scoring is one process's work (finetune's loss is not shared out)
        if isinstance(method, GridScored):  # the method scores the whole grid in one pass
            scored = method.score_grid(settings, mine)
        else:
            scored = []
            for setting in tqdm(settings, desc=f"select {method.name} on meta-val", unit="setting", disable=not main):
                for key, value in setting.items():
                    setattr(method, key, value)
                scored.append(score_episodes(method, mine))
    table = [
        {**setting, "val_nats_per_token": mean_over_ranks(scores, len(episodes))}
        for setting, scores in zip(settings, scored)
    ]
    best = min(table, key=lambda row: row["val_nats_per_token"])
    for key in settings[0]:
        setattr(method, key, best[key])
    return table


def mean_over_ranks(scores: Sequence[EpisodeScore], total: int) -> float:
    """Mean episode nats/token of ``total`` episodes, of which this rank scored its share
    (`rank_share`) ``scores``: the same number on every rank (alone: of ``scores``)."""
    return float(np.mean(gather_shares([s.per_unit("tokens") for s in scores], total)))


def val_nats_per_token(method: Any, episodes: Sequence[Episode]) -> float:
    """Mean over ``episodes`` of episode nats/token, the model-selection criterion; under
    torchrun each rank scores its share and every rank gets the same mean."""
    mine = rank_share(episodes)
    with active_in(SOLO):  # scoring is one process's work (finetune's loss is not shared out)
        scores = score_episodes(method, mine)
    return mean_over_ranks(scores, len(episodes))
