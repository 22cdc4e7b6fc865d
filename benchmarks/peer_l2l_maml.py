"""The learn2learn side of ``bench_maml.py``: one MAML meta-step with learn2learn 0.2.0's
``MAML.clone()`` / ``adapt()`` on a plain ``nn.Embedding -> nn.LSTM -> nn.Linear``
model (the layout and parameter names of FSMB's ``LSTMLM``).  Run by the peer
environment's Python (``../shared/tools/peer-l2l-env.sh`` builds it), which has
learn2learn and torch but not FSMB, so this file imports neither FSMB nor its
dependencies:

    PEER/bin/python benchmarks/peer_l2l_maml.py REQUEST.pt ANSWER.pt

``REQUEST.pt`` (written by ``bench_maml.py``): the model's ``state`` and sizes, the
``supports`` ``(M, K, T+1)`` and ``queries`` ``(M, Q, T+1)`` token tensors, the inner
``lr`` and ``steps``, ``threads`` and ``repeats``.  ``ANSWER.pt``: per order
(``"second"``, ``"first"``) the meta-gradients computed in float64 and the seconds of
each timed float32 meta-step.
"""

from __future__ import annotations

import sys
import time

import learn2learn as l2l
import torch
from torch import nn
from torch.nn import functional as F

PAD = 0  # FSMB's padding token, ignored by the loss


class LM(nn.Module):
    def __init__(self, vocab: int, emb: int, hidden: int) -> None:
        super().__init__()
        self.embed, self.lstm, self.out = (
            nn.Embedding(vocab, emb),
            nn.LSTM(emb, hidden, batch_first=True),
            nn.Linear(hidden, vocab),
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.lstm(self.embed(tokens))[0])


def nll(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean NLL in nats/token of ``batch[:, 1:]`` given ``batch[:, :-1]``, PAD ignored."""
    return F.cross_entropy(model(batch[:, :-1]).transpose(1, 2), batch[:, 1:], ignore_index=PAD)


def meta_step(maml: l2l.algorithms.MAML, supports: torch.Tensor, queries: torch.Tensor, steps: int) -> dict:
    """Mean query NLL after ``steps`` inner steps per task, back-propagated; the meta-gradients."""
    maml.zero_grad(set_to_none=True)
    for support, query in zip(supports, queries):
        learner = maml.clone()
        for _ in range(steps):
            learner.adapt(nll(learner, support))
        (nll(learner, query) / len(supports)).backward()
    return {k: p.grad.clone() for k, p in maml.module.named_parameters()}


def main(request_path: str, answer_path: str) -> None:
    request = torch.load(request_path, weights_only=True)
    torch.set_num_threads(request["threads"])
    answer = {"learn2learn": str(l2l.__version__), "torch": str(torch.__version__)}
    for order in ("second", "first"):
        model = LM(request["vocab"], request["emb"], request["hidden"])
        model.load_state_dict(request["state"])
        args = request["supports"], request["queries"], request["steps"]
        grads = meta_step(l2l.algorithms.MAML(model.double(), lr=request["lr"], first_order=order == "first"), *args)
        maml = l2l.algorithms.MAML(model.float(), lr=request["lr"], first_order=order == "first")
        meta_step(maml, *args)  # warm-up
        seconds = []
        for _ in range(request["repeats"]):
            started = time.perf_counter()
            meta_step(maml, *args)
            seconds.append(time.perf_counter() - started)
        answer[order] = {"grads": grads, "seconds": seconds}
    torch.save(answer, answer_path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
