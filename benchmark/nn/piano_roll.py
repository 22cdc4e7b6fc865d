"""The JSB-chorales calibration's network: an LSTM over piano-roll frames, one
independent Bernoulli per key (`benchmark.calibration.jsb` trains and scores it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

UNITS = 88  # piano keys, MIDI 21..108


@dataclass(frozen=True)
class PianoRollConfig:
    """Shape of a `PianoRollLSTM`: ``units`` keys in and out, ``hidden``/``layers`` as
    in `benchmark.nn.sequence.LSTMConfig` (no embedding: the input is the 0/1 frame)."""

    units: int = UNITS
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.4

    def to_dict(self) -> dict:
        return asdict(self)


class PianoRollLSTM(nn.Module):
    """Previous frame (0/1, ``units``) -> LSTM -> dropout -> linear -> ``units`` logits,
    one independent Bernoulli per key."""

    def __init__(self, cfg: PianoRollConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(
            cfg.units, cfg.hidden, cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, cfg.units)

    def forward(self, rolls: Tensor) -> Tensor:
        """rolls ``(B, T, units)`` (float 0/1) -> logits ``(B, T, units)`` for each frame,
        frame ``t`` predicted from frames ``< t`` (frame 0 from a zero vector)."""
        inputs = torch.cat([torch.zeros_like(rolls[:, :1]), rolls[:, :-1]], dim=1)
        h, _ = self.lstm(inputs)
        return self.out(self.drop(h))
