"""``vae-int8``: the fitted ``vae`` with int8 weights where torch's dynamic quantisation
reaches, scored, adapted and sampled as a device would run it.

Quantisation: `methods.int8.quantised`, torch's ``quantize_dynamic`` of ``nn.Linear``
(``nn.LSTM`` too; a `ConvVAE` has none): int8 weights, one symmetric scale per
tensor, activations quantised on the fly at every call.  Dynamic quantisation has no
convolution kernels, so it reaches two layers: the encoder's output layer and the
decoder's latent layer -- 34,816 of the decoder's 207,474 parameters at the
``small`` width (17%), and 33 k of its 6.85 M MACs per note: the transposed
convolutions stay fp32.  Static int8 quantisation of the convolutions (FX graph mode, x86
qconfig, calibrated on prior latents) runs, but was not used: SiLU has no quantised
kernel, so every layer dequantises and requantises around it; on an untrained
decoder its outputs were off by 14% (mean relative error; dynamic: 0.015%) for a 10%
faster step; and `benchmark.cost.counting` does not see statically quantised layers
(it counts no MACs or parameters for them).

Only the fp32 weights are fitted state (``self.model``, the ``vae``'s, with its
meta-val choice of fine-tuning steps and learning rate); quantisation is
deterministic from them, so `fit` and `load` build the same int8 network
(``self.quantised``).  ``adapt`` fine-tunes the fp32 weights on the support notes as
the ``vae`` does (int8 weights take no gradient steps) and quantises the result:
scoring, the support codes and sampling run the int8 network, and `inference_step`
is its decoder (``fsmb latency`` times the int8 kernel).

A note is scored alone (`AdaptedVAE.log_prob`), its ``iwae_samples`` latent codes in
one decoder call, so the latent layer's activation scale is taken over those codes:
a note's score depends on its own seeded samples only.  The int8 network is a CPU copy
(`methods.int8.quantised`: torch's int8 kernels are CPU ones), so it computes on the
CPU whatever the run's device (`Int8AdaptedVAE`); fine-tuning stays on the run's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.cost.counting import InferenceStep, on_cpu
from benchmark.cost.steps import network_step
from benchmark.nn.conv_vae import ConvVAE
from benchmark.scoring.dequantise import dequantised
from benchmark.training.state import require_fitted
from episodes.types import Item
from methods.int8 import Int8Copy, quantised
from methods.vae import IWAE_SAMPLES, VAE, AdaptedVAE, as_tensor, codes


class Int8AdaptedVAE(AdaptedVAE):
    """An `AdaptedVAE` of an int8 network: scores and samples on the CPU."""

    @on_cpu()
    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        return super().log_prob(items)

    @on_cpu()
    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        return super().sample(n, max_len=max_len, generator=generator)


@register_method(group="compressed")
class VAEInt8(Int8Copy, VAE):
    """The fitted ``vae`` with int8 linear layers (dynamic quantisation)."""

    name = "vae-int8"
    version = "1"
    base_method: ClassVar[str] = "vae"  # the dense method it quantises (the paired reference)

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        steps: int = 10,
        adapt_lr: float = 1e-4,
        iwae_samples: int = IWAE_SAMPLES,
    ) -> None:
        super().__init__(lr, weight_decay, steps, adapt_lr, iwae_samples)
        self.quantised: ConvVAE | None = None

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        """Quantise the fitted ``vae`` (shared fp32 weights, read only) and take its
        settings (fine-tuning steps and learning rate chosen on meta-val); no training."""
        for key, value in self.take_base(data).init_args().items():
            setattr(self, key, value)

    def hparams(self) -> dict[str, Any]:
        return {
            **super().hparams(),
            "base": self.base_method,
            "weights": "int8 linear layers, fp32 convolutions",
            "activations": "int8, dynamic (linear layers)",
        }

    def adapt(self, support: Sequence[Item]) -> Int8AdaptedVAE:
        """The ``vae``'s adaptation of the fp32 weights, then quantised (the fitted
        int8 network itself when nothing was fine-tuned)."""
        fp32 = super().adapt(support)
        net = require_fitted(self.quantised, self.name) if fp32.net is self.model else quantised(fp32.net)
        with on_cpu():
            support_codes = codes(net, as_tensor(dequantised(support))) if support else None
        return Int8AdaptedVAE(net, self.iwae_samples, support_codes)

    def inference_step(self) -> InferenceStep | None:
        """The int8 network's decoder step."""
        return network_step(require_fitted(self.quantised, self.name))
