"""Compressed variants that sit at a level of a sparsity sweep: ``removed``, a fraction
of their dense base's parameters, on one trajectory through the levels `SWEEP_LEVELS`
(each variant continues the one at the level before its own, fetched through
``data.pretrained``), so that a whole accuracy-vs-size curve is trained once."""

from __future__ import annotations

import copy
from typing import ClassVar

from benchmark.contract.overrides import trained_label

SWEEP_LEVELS = (0.5, 0.8, 0.9, 0.95, 0.98)  # fractions of the dense parameters removed


class Levelled:
    """Mixin: ``removed`` and ``base_method`` (the dense method compressed, which
    ``fsmb sparsity`` pairs against) give the variant's place on the trajectory."""

    removed: float
    base_method: ClassVar[str]
    # under torchrun a trajectory is pruned and retrained by rank 0 alone (its dense base
    # still trains data-parallel): data-parallel pruning is not tested
    data_parallel: ClassVar[bool] = False

    def levels(self) -> list[float]:
        """The sweep levels on this variant's trajectory, ending at its own ``removed``."""
        return [level for level in SWEEP_LEVELS if level < self.removed] + [self.removed]

    def base_spec(self) -> str:
        """What this variant compresses further: the variant at the level before its own
        (same other settings), or the dense ``base_method``."""
        levels = self.levels()
        if len(levels) == 1:
            return self.base_method
        previous = copy.copy(self)
        previous.removed = levels[-2]
        return trained_label(previous)
