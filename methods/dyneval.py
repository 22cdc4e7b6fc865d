"""``dyneval``: dynamic evaluation (Krause et al., 2017) of the fitted ``lstm``.

The model reads the support songs as a stream, in segments of ``segment`` tokens,
taking one SGD step on each segment after reading it.  It then scores each query
song the same way, starting from the support-adapted weights θ_S: a segment is
scored with the current weights *first*, and only then used for an update::

    θ ← θ − η ∇ NLL(segment) + λ (θ_S − θ)

so every token's probability depends only on the support set and on the tokens
before it (the likelihood stays a proper sequential one).  Each query song starts
again from θ_S; the LSTM state is carried across segments (truncated BPTT).
η (``dyn_lr``) and λ (``decay``) are chosen on meta-val.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.contract.device import to_run_device
from benchmark.contract.methods import register_method
from benchmark.contract.settings import Range
from benchmark.nn.sequence import LSTMLM, LSTMState, token_nll
from episodes.types import Item
from methods.pretrained import PretrainedLSTMMethod, TokenwiseAdapted


def dynamic_pass(
    model: LSTMLM, tokens: np.ndarray, *, segment: int, lr: float, decay: float, anchor: list[torch.Tensor]
) -> np.ndarray:
    """Score ``tokens`` (one song, BOS first) segment by segment, updating ``model`` in
    place after each segment.  Returns per-token NLL in nats, shape ``(len(tokens) - 1,)``."""
    x = to_run_device(tokens.astype(np.int64))[None]  # (1, T)
    params = list(model.parameters())
    state: LSTMState | None = None
    out = []
    for start in range(0, x.shape[1] - 1, segment):
        inp = x[:, start : start + segment]  # (1, S)
        tgt = x[:, start + 1 : start + segment + 1]  # (1, S') targets, S' <= S
        logits, new_state = model(inp[:, : tgt.shape[1]], state)
        nll = token_nll(logits, tgt)[0]  # (S',) -- scored before any update on them
        out.append(nll.detach().cpu().numpy())
        grads = torch.autograd.grad(nll.sum(), params)
        with torch.no_grad():
            for p, g, a in zip(params, grads, anchor):
                p.add_(-lr * g + decay * (a - p))
        state = (new_state[0].detach(), new_state[1].detach())
    return np.concatenate(out) if out else np.zeros(0)


class DynEvalAdapted(TokenwiseAdapted):
    """Weights θ_S after reading the support set; scoring adapts a fresh copy per song;
    sampling uses θ_S (no dynamic updates while sampling)."""

    def __init__(self, model: LSTMLM, method: "DynEval") -> None:
        self.model, self.method = model, method

    def token_nll(self, item: Item) -> np.ndarray:
        """Per-token NLL (nats) of one song under dynamic evaluation from θ_S."""
        model = copy.deepcopy(self.model)
        anchor = [p.detach().clone() for p in model.parameters()]
        m = self.method
        return dynamic_pass(model, item.tokens, segment=m.segment, lr=m.dyn_lr, decay=m.decay, anchor=anchor)


@register_method(group="adaptive")
class DynEval(PretrainedLSTMMethod):
    """Dynamic evaluation: SGD on the support stream, then on each query as it is scored."""

    name = "dyneval"
    version = "2"  # 2: wider meta-val grid
    grid = {"dyn_lr": (0.0003, 0.001, 0.003, 0.01), "decay": (0.0, 0.02)}
    eval_settings = {"dyn_lr": Range(0), "decay": Range(0, 1)}  # `fsmb eval --set`

    def __init__(self, dyn_lr: float = 0.01, decay: float = 0.0, segment: int = 64, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dyn_lr, self.decay, self.segment = dyn_lr, decay, segment

    def init_args(self) -> dict[str, Any]:
        return {**super().init_args(), "dyn_lr": self.dyn_lr, "decay": self.decay, "segment": self.segment}

    def adapt(self, support: Sequence[Item]) -> DynEvalAdapted:
        model = copy.deepcopy(self._model()).requires_grad_(True)
        model.eval()
        anchor = [p.detach().clone() for p in model.parameters()]
        for item in support:
            dynamic_pass(model, item.tokens, segment=self.segment, lr=self.dyn_lr, decay=self.decay, anchor=anchor)
        return DynEvalAdapted(model, self)
