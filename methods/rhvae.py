"""``rhvae``: the Riemannian Hamiltonian VAE (`benchmark.rhvae`) as a few-shot method.

Trained like `methods.vae` but on the RHVAE bound (batch metric, Hamiltonian flow,
gradients through the leapfrog); afterwards the metric is fixed on 256 meta-train
notes.  ``adapt`` fine-tunes a copy on the support notes (steps and learning rate
chosen on meta-val) and **rebuilds the metric on the support notes' centroids**, so
that scoring (IWAE over flow samples) and generation (HMC on the Riemannian volume
measure, started at support codes) use the instrument's own geometry.
"""

from __future__ import annotations

import torch

from benchmark.protocol import Budget
from benchmark.rhvae import RHVAE, RHVAEConfig
from methods.vae import VAE

RHVAE_IWAE_SAMPLES = 16  # each sample runs the flow (3 leapfrog steps with gradients)


class RiemannianHVAE(VAE):
    """RHVAE, fine-tuned on the support set with the metric rebuilt on it."""

    name = "rhvae"
    version = "1"
    net_cls = RHVAE
    config_cls = RHVAEConfig
    metric_from_support = True

    def __init__(self, lr: float = 1e-3, weight_decay: float = 0.0, steps: int = 10, adapt_lr: float = 1e-4,
                 iwae_samples: int = RHVAE_IWAE_SAMPLES) -> None:
        super().__init__(lr, weight_decay, steps, adapt_lr, iwae_samples)

    def build(self, budget: Budget) -> RHVAE:
        return RHVAE(RHVAEConfig(width=16 if budget.size == "small" else 32))

    def objective(self, net: RHVAE, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return net.log_weight(x, generator, create_graph=net.training, batch_metric=True)

    def fix_metric(self, net: RHVAE, x: torch.Tensor) -> None:
        net.set_metric(x)
