"""What the JSB Chorales calibration (`benchmark.calibration.jsb`) runs with: the data's
resolutions, the published figures it is compared with, and the training settings with
their defaults.  Torch-free, so that ``fsmb``'s parser names them without importing
torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

RESOLUTIONS = ("quarter", "8th", "16th")

# Frame-level test NLL (nats per frame, summed over the 88 keys) on the quarter-note
# JSB Chorales split of Boulanger-Lewandowski et al. (2012).
PUBLISHED: tuple[dict[str, Any], ...] = (
    {
        "model": "LSTM",
        "nll": 8.45,
        "source": "Bai, Kolter & Koltun (2018), An Empirical Evaluation of Generic "
        "Convolutional and Recurrent Networks for Sequence Modeling, arXiv:1803.01271, Table 1",
    },
    {"model": "GRU", "nll": 8.43, "source": "Bai, Kolter & Koltun (2018), Table 1"},
    {"model": "TCN", "nll": 8.10, "source": "Bai, Kolter & Koltun (2018), Table 1"},
    {
        "model": "RNN-NADE",
        "nll": 5.19,
        "source": "Boulanger-Lewandowski, Bengio & Vincent (2012), Modeling "
        "Temporal Dependencies in High-Dimensional Sequences, ICML; models the keys of a frame jointly (NADE), "
        "not as independent Bernoullis",
    },
)


@dataclass(frozen=True)
class Settings:
    """Training settings of `train_and_score`; the shape follows `LSTMConfig`
    (``hidden``, ``layers``, ``dropout``; `LSTM_SIZES` small = 256, base = 512 hidden)."""

    steps: int = 1500
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.4
    batch_size: int = 16  # pieces per step
    lr: float = 2e-3
    val_every: int = 50
    clip: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULTS = Settings()
