"""``vae-int8``: the fitted ``vae`` whose generator -- the decoder, the step a device
runs -- is int8 where ONNX Runtime's dynamic quantisation reaches, scored, adapted and
sampled as a device would run it.

Quantisation: `benchmark.compress.int8` -- the decoder exported once (any batch size)
and each network's decoder quantised by ``quantize_dynamic`` of ONNX Runtime (int8
weights, one scale per tensor; activations quantised to uint8 at every call).  ORT
has no dynamic int8 ``ConvTranspose``, so the decoder is int8 in its latent layer
(``MatMulInteger``; 34,816 of the decoder's 207,474 parameters at the ``small``
width, 17%) and its transposed convolutions stay fp32; its stored bytes are what the
Pi estimates read.  (Torch's deprecated ``quantize_dynamic``, vae-int8 version 1,
reached the same layer.)

The encoder stays fp32: it is not part of the generative model p(x) -- it is the
proposal q(z|x) of the IWAE bound the scores are, and of the support codes -- and
quantising it (ORT makes its four convolutions ``ConvInteger``) would mix the int8
generator's quality with that of a worse estimator (on the test model of
``tests/methods/test_vae_compressed.py`` it moved the scores by a further -2.6e-5
nats per dimension on average, the decoder's int8 by -1.8e-4).

Only the fp32 weights are fitted state (``self.model``, the ``vae``'s, with its
meta-val choice of fine-tuning steps and learning rate); quantisation is
deterministic from them, so `fit` and `load` build the same int8 network
(``self.quantised``).  ``adapt`` fine-tunes the fp32 weights on the support notes as
the ``vae`` does (int8 weights take no gradient steps) and quantises the result --
the fine-tuned decoder's weights written into the exported graph, no second export:
scoring and sampling run the int8 decoder, and `inference_step` is it (``fsmb
latency`` times it, ``fsmb export`` writes it).

A note is scored alone (`AdaptedVAE.log_prob`), its ``iwae_samples`` latent codes in
one decoder call, so the latent layer's activation scale is taken over those codes:
a note's score depends on its own seeded samples only.  The int8 decoder runs on the
CPU (ONNX Runtime's CPU provider) whatever the run's device (`Int8AdaptedVAE`);
fine-tuning stays on the run's device.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.compress.int8 import Int8Graph
from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.cost.counting import InferenceStep, cpu_step, on_cpu
from benchmark.cost.onnx_export import io_names
from benchmark.cost.steps import network_step
from benchmark.nn.conv_vae import ConvVAE
from benchmark.scoring.dequantise import dequantised
from benchmark.training.state import require_fitted
from episodes.types import Item
from methods.int8 import Int8Copy
from methods.vae import IWAE_SAMPLES, VAE, AdaptedVAE, as_tensor, codes


class Int8Decoder:
    """The decoder graph of one `ConvVAE` architecture (exported once from ``net``), and
    `quantise`, which makes a copy of a network of that architecture with an int8
    decoder."""

    @on_cpu()
    def __init__(self, net: ConvVAE) -> None:
        step = cpu_step(require_fitted(network_step(net), "vae"))  # the decoder, batch 1
        self.graph = Int8Graph(step.module, step.inputs, *io_names(step), batch_dynamic=True)

    @on_cpu()
    def quantise(self, net: ConvVAE) -> ConvVAE:
        """A CPU copy of ``net`` whose decoder is an int8 graph (`OnnxModule`)."""
        out = copy.deepcopy(net).cpu().eval()
        out.decoder = self.graph.quantise(out.decoder)
        return out


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
    """The fitted ``vae`` with an int8 decoder (its latent layer) in ONNX Runtime."""

    name = "vae-int8"
    version = "2"
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
        self.decoder_graph: Int8Decoder | None = None

    def quantise(self, model: ConvVAE) -> ConvVAE:
        """``model`` with an int8 decoder (its graph exported on the first call)."""
        if self.decoder_graph is None:
            self.decoder_graph = Int8Decoder(model)
        return self.decoder_graph.quantise(model)

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        """Quantise the fitted ``vae`` (shared fp32 weights, read only) and take its
        settings (fine-tuning steps and learning rate chosen on meta-val); no training."""
        for key, value in self.take_base(data).init_args().items():
            setattr(self, key, value)

    def hparams(self) -> dict[str, Any]:
        return {
            **super().hparams(),
            "base": self.base_method,
            "weights": "int8 decoder latent layer, fp32 transposed convolutions and encoder",
            "activations": "uint8, dynamic (latent layer)",
            "runtime": "onnxruntime",
        }

    def adapt(self, support: Sequence[Item]) -> Int8AdaptedVAE:
        """The ``vae``'s adaptation of the fp32 weights, then quantised (the fitted
        int8 network itself when nothing was fine-tuned)."""
        fp32 = super().adapt(support)
        net = require_fitted(self.quantised, self.name) if fp32.net is self.model else self.quantise(fp32.net)
        with on_cpu():
            support_codes = codes(net, as_tensor(dequantised(support))) if support else None
        return Int8AdaptedVAE(net, self.iwae_samples, support_codes)

    def inference_step(self) -> InferenceStep | None:
        """The int8 decoder's step (inputs as the fp32 decoder's)."""
        step = require_fitted(network_step(self._model()), self.name)
        return InferenceStep(require_fitted(self.quantised, self.name).decoder, step.inputs, step.unit)
