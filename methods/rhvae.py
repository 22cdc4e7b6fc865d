"""``rhvae``: the Riemannian Hamiltonian VAE (`benchmark.nn.rhvae`) as a few-shot method.

Its encoder and decoder start from the fitted ``vae`` (same budget and seed, shared
through `MetaTrainData.pretrained`); the metric network is new.  It is then trained
on the RHVAE bound (batch metric, Hamiltonian flow, gradients through the leapfrog)
for a quarter of the budget's steps at half the ``vae``'s batch (16 notes at budget
``full``) -- each step differentiates
through 3 leapfrog steps of 4 decoder gradients, about 40x a VAE step on a CPU.
Afterwards the metric is fixed on 256 meta-train notes.  ``adapt`` **rebuilds the
metric on the support notes' centroids**, so that scoring (IWAE over flow samples) and
generation (HMC on the Riemannian volume measure, started at support codes) use the
instrument's own geometry.  Fine-tuning the weights as well is supported (``steps``,
e.g. ``fsmb eval --set steps=10``) but not searched by default: through the flow it
costs about 1 s per step and episode on a CPU.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.nn.rhvae import RHVAE, RHVAEConfig
from methods.vae import VAE

RHVAE_IWAE_SAMPLES = 16  # each sample runs the flow (3 leapfrog steps with gradients)


@register_method(group="adaptive")
class RiemannianHVAE(VAE):
    """RHVAE, fine-tuned on the support set with the metric rebuilt on it."""

    name = "rhvae"
    version = "1"
    net_cls = RHVAE
    config_cls = RHVAEConfig
    metric_from_support = True

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        steps: int = 10,
        adapt_lr: float = 1e-4,
        iwae_samples: int = RHVAE_IWAE_SAMPLES,
    ) -> None:
        super().__init__(lr, weight_decay, steps, adapt_lr, iwae_samples)

    steps_grid = (0,)  # fine-tuning through the flow costs ~1 s per step and episode on a CPU
    lr_grid = (1e-4,)

    def build(self, budget: Budget) -> RHVAE:
        return RHVAE(RHVAEConfig(width=16 if budget.size == "small" else 32))

    def initialise(self, data: MetaTrainData, budget: Budget, x: np.ndarray) -> Budget:
        """The fitted ``vae``'s encoder, decoder and input statistics; a new metric net."""
        self.model = self.build(budget)
        vae = data.pretrained("vae").model
        missing, unexpected = self.model.load_state_dict(vae.state_dict(), strict=False)
        if unexpected or any(not k.startswith("metric_") and k not in ("centroids", "factors") for k in missing):
            raise RuntimeError(f"rhvae: cannot start from the vae ({missing=}, {unexpected=})")
        return replace(
            budget,
            steps=max(1, budget.steps // 4),
            val_every=max(1, budget.val_every // 4),
            batch_size=max(1, budget.batch_size // 2),
        )

    def objective(self, net: RHVAE, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return net.log_weight(x, generator, create_graph=net.training, batch_metric=True)

    def fix_metric(self, net: RHVAE, x: torch.Tensor) -> None:
        net.set_metric(x)
