"""The generation step of each FSMB network, as a device would run it (`InferenceStep`).

- `LSTMLM`: one token and the recurrent state in, logits and state out (streaming,
  `StreamingLSTM`).
- `TransformerLM`: FSMB's sampler has no key-value cache and reruns the whole context
  for every token, so one token costs a forward pass over the context so far; the
  step is a forward over half the context window, the mean over a full-window
  generation of the linear layers' cost.
- `ConvVAE` (and `RHVAE`): one latent code through the decoder -> one note.  A sampler
  that iterates the decoder (RHVAE's Hamiltonian Monte Carlo) costs that many steps.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.cost.counting import InferenceStep
from benchmark.nn.conv_vae import ConvVAE
from benchmark.nn.sequence import LSTMLM, StreamingLSTM
from benchmark.nn.transformer import TransformerLM
from episodes.tokens import BOS


def network_step(model: nn.Module) -> InferenceStep | None:
    """The generation step of ``model``, or ``None`` for a network FSMB does not deploy."""
    if isinstance(model, LSTMLM):
        h, c = (torch.zeros(model.cfg.layers, 1, model.cfg.hidden) for _ in range(2))
        return InferenceStep(StreamingLSTM(model), (torch.full((1, 1), BOS, dtype=torch.long), h, c), "token")
    if isinstance(model, TransformerLM):
        return InferenceStep(model, (torch.full((1, model.cfg.context // 2), BOS, dtype=torch.long),), "token")
    if isinstance(model, ConvVAE):
        return InferenceStep(model.decoder, (torch.zeros(1, model.cfg.latent),), "note")
    return None
