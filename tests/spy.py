"""A method for runner tests: records what ``adapt`` receives, can crash on cue."""

from __future__ import annotations

from typing import Sequence

from baselines.unigram import Unigram, UnigramModel
from episodes.types import Item

SUPPORTS: list[list[str]] = []
CRASH_AT: list[int] = []  # crash when this many support sets have been seen


class SpyMethod(Unigram):
    name = "spy"

    def adapt(self, support: Sequence[Item]) -> UnigramModel:
        if CRASH_AT and len(SUPPORTS) >= CRASH_AT[0]:
            raise KeyboardInterrupt
        SUPPORTS.append([it.item_id for it in support])
        return super().adapt(support)
