"""Riemannian Hamiltonian VAE (Chadebec, Mantoux & Allasonnière 2020; Chadebec &
Allasonnière 2021), on the convolutional VAE of `benchmark.nn.conv_vae`.

The latent space carries a learned Riemannian metric, given by its inverse::

    G^-1(z) = sum_i M_i exp(-|z - c_i|^2 / T^2) + lambda I,    M_i = L_i L_i^T

over centroids ``c_i`` (encoder means of reference notes) with ``L_i = L(x_i)`` from a
metric network (lower-triangular, positive diagonal).  While training, the centroids
are the current batch; `RHVAE.set_metric` fixes them afterwards (meta-train notes, or
an episode's support notes when adapting).

The posterior proposal is a Hamiltonian flow: ``z_0 ~ q(z|x)``, ``rho_0 ~ N(0, L(x)
L(x)^T / beta_0)``, then ``n_leapfrog`` generalised-leapfrog steps on

    H(z, rho) = -log p(x|z) - log p(z) + 1/2 log det G(z) + 1/2 rho^T G^-1(z) rho

each followed by tempering ``rho <- sqrt(beta_{k-1} / beta_k) rho`` (``1/sqrt(beta_k)``
quadratic in ``k``, ``beta_K = 1``).  The generalised leapfrog is volume-preserving
(up to the tolerance of its fixed-point iterations) and the tempering scales volume by
``beta_0^{d/2}`` in all, so the importance weight is::

    log w = log p(x, z_K) + log N(rho_K; 0, G(z_K)) - log q(z_0|x)
            - log N(rho_0; 0, L L^T / beta_0) + d/2 log beta_0

whose mean is an ELBO and whose log-mean-exp over ``k`` samples an IWAE bound (unlike
pythae's training loss, which drops constants; compare its ``get_nll``).  Gradients of
``H`` come from autograd (pythae's closed-form sampler gradient is not the gradient of
``log sqrt det G^-1``).

Generation samples the Riemannian volume measure ``pi(z) ∝ sqrt(det G^-1(z))`` with
Hamiltonian Monte Carlo (identity mass, Metropolis correction) started at centroids,
then decodes.  Shapes: ``x`` ``(B, 64, 64)``, ``z`` and ``rho`` ``(B, d)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from benchmark.contract.device import cpu_randn, run_device
from benchmark.nn.conv_vae import LOG_2PI, ConvVAE, ConvVAEConfig, log_normal


@dataclass
class RHVAEConfig(ConvVAEConfig):
    temperature: float = 1.5
    regularisation: float = 0.01
    n_leapfrog: int = 3
    step_size: float = 1e-3
    beta_zero: float = 0.3
    fixed_point_iterations: int = 3
    metric_hidden: int = 256


class RHVAE(ConvVAE):
    """The conv VAE plus a metric network and a stored metric (centroids, factors)."""

    def __init__(self, cfg: RHVAEConfig) -> None:
        super().__init__(cfg)
        d = cfg.latent
        # the metric network reads the note pooled to 16 x 16 (pythae: an MLP on the raw input)
        self.metric_body = nn.Sequential(
            nn.AvgPool2d(4), nn.Flatten(), nn.Linear(16 * 16, cfg.metric_hidden), nn.SiLU()
        )
        self.metric_diag = nn.Linear(cfg.metric_hidden, d)
        self.metric_lower = nn.Linear(cfg.metric_hidden, d * (d - 1) // 2)
        self.register_buffer("centroids", torch.zeros(0, d))
        self.register_buffer("factors", torch.zeros(0, d, d))

    # ----- the metric -------------------------------------------------------------
    def metric_factor(self, x: torch.Tensor) -> torch.Tensor:
        """``L(x)``: lower-triangular with positive diagonal, ``(B, d, d)``."""
        h = self.metric_body(self.standardise(x)[:, None])
        d = self.cfg.latent
        rows, cols = torch.tril_indices(d, d, offset=-1)
        lower = torch.zeros(len(x), d, d, dtype=h.dtype)
        lower[:, rows, cols] = self.metric_lower(h)
        return lower + torch.diag_embed(torch.exp(self.metric_diag(h).clamp(-6.0, 3.0)))

    def inverse_metric(self, z: torch.Tensor, centroids: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        """``G^-1(z)`` over centroids ``(N, d)`` and factors ``L_i`` ``(N, d, d)``: ``(B, d, d)``."""
        sq = ((z[:, None] - centroids[None]) ** 2).sum(-1)  # (B, N); not cdist: no double backward
        weights = torch.exp(-sq / self.cfg.temperature**2)
        m = factors @ factors.transpose(1, 2)  # (N, d, d)
        eye = torch.eye(z.shape[1], dtype=z.dtype)
        return torch.einsum("bn,nij->bij", weights, m) + self.cfg.regularisation * eye

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Stored metrics vary in size: take the checkpoint's shapes first."""
        if "centroids" in state_dict:  # on this network's device, wherever the checkpoint's tensors are
            self.centroids = torch.empty_like(state_dict["centroids"], device=self.centroids.device)
            self.factors = torch.empty_like(state_dict["factors"], device=self.factors.device)
        return super().load_state_dict(state_dict, strict, assign)

    @torch.no_grad()
    def set_metric(self, x: torch.Tensor) -> None:
        """Fix the metric on the notes ``x``: centroids = encoder means, factors = ``L(x)``."""
        self.centroids = self.encode(x)[0].clone()
        self.factors = self.metric_factor(x).clone()

    # ----- the Hamiltonian flow ---------------------------------------------------
    def hamiltonian(self, x, z, rho, centroids, factors) -> torch.Tensor:
        """``H(z, rho)`` per item, ``(B,)``."""
        g_inv = self.inverse_metric(z, centroids, factors)
        prior = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        kinetic = 0.5 * torch.einsum("bi,bij,bj->b", rho, g_inv, rho)
        return -self.log_px_given_z(x, z) - prior - 0.5 * torch.logdet(g_inv) + kinetic

    def _grad_z(self, x, z, rho, centroids, factors, create_graph: bool) -> torch.Tensor:
        if not z.requires_grad:
            z = z.detach().requires_grad_(True)
        h = self.hamiltonian(x, z, rho, centroids, factors).sum()
        return torch.autograd.grad(h, z, create_graph=create_graph)[0]

    def leapfrog(self, x, z, rho, centroids, factors, *, create_graph: bool = False, iterations: int | None = None):
        """One generalised leapfrog step (implicit half-steps solved by fixed-point iteration)."""
        eps, n = self.cfg.step_size, iterations or self.cfg.fixed_point_iterations
        rho_half = rho
        for _ in range(n):
            rho_half = rho - 0.5 * eps * self._grad_z(x, z, rho_half, centroids, factors, create_graph)
        g_inv_z = self.inverse_metric(z, centroids, factors)
        z_new = z
        for _ in range(n):
            g_inv_new = self.inverse_metric(z_new, centroids, factors)
            z_new = z + 0.5 * eps * torch.einsum("bij,bj->bi", g_inv_z + g_inv_new, rho_half)
        rho_new = rho_half - 0.5 * eps * self._grad_z(x, z_new, rho_half, centroids, factors, create_graph)
        return z_new, rho_new

    def tempering(self, k: int) -> float:
        """``sqrt(beta_k)`` for step ``k`` of ``n_leapfrog`` (``beta_K = 1``)."""
        inv0 = 1.0 / math.sqrt(self.cfg.beta_zero)
        return 1.0 / ((1.0 - inv0) * (k / self.cfg.n_leapfrog) ** 2 + inv0)

    def log_weight(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        create_graph: bool = False,
        batch_metric: bool = False,
    ) -> torch.Tensor:
        """One importance weight ``log w`` per item, ``(B,)`` (x-space nats).

        ``batch_metric``: build the metric from this batch (training), else use the stored one."""
        mu, logvar = self.encode(x)
        factor = self.metric_factor(x)  # (B, d, d)
        centroids, factors = (
            (mu, factor) if batch_metric or len(self.centroids) == 0 else (self.centroids, self.factors)
        )
        z0 = mu + torch.exp(0.5 * logvar) * cpu_randn(*mu.shape, generator=generator, dtype=mu.dtype)
        gamma = cpu_randn(*mu.shape, generator=generator, dtype=mu.dtype)
        rho = torch.einsum("bij,bj->bi", factor, gamma) / math.sqrt(self.cfg.beta_zero)
        z = z0
        for k in range(1, self.cfg.n_leapfrog + 1):
            z, rho = self.leapfrog(x, z, rho, centroids, factors, create_graph=create_graph)
            rho = rho * self.tempering(k - 1) / self.tempering(k)
        d = z.shape[1]
        g_inv = self.inverse_metric(z, centroids, factors)
        log_p_rho = -0.5 * (torch.einsum("bi,bij,bj->b", rho, g_inv, rho) + d * LOG_2PI) + 0.5 * torch.logdet(g_inv)
        # rho_0 = L gamma / sqrt(beta_0): log N(rho_0; 0, L L^T / beta_0) = log N(gamma) - log|det L| + d/2 log beta_0
        log_q_rho0 = (
            log_normal(gamma, torch.zeros_like(gamma), torch.zeros_like(gamma))
            - torch.log(torch.diagonal(factor, dim1=1, dim2=2)).sum(1)
            + 0.5 * d * math.log(self.cfg.beta_zero)
        )
        log_joint = self.log_px_given_z(x, z) + log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        return log_joint + log_p_rho - log_normal(z0, mu, logvar) - log_q_rho0 + 0.5 * d * math.log(self.cfg.beta_zero)

    def iwae(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """IWAE bound with ``k`` flow samples per item, ``(B,)``; uses the stored metric."""
        with torch.enable_grad():
            xs = x.repeat_interleave(k, dim=0)
            log_w = self.log_weight(xs, generator).detach().reshape(len(x), k)
        return torch.logsumexp(log_w, dim=1) - math.log(k)

    def latent_geometry(self, support: torch.Tensor, samples: torch.Tensor) -> dict[str, float]:
        """Adds the mean Riemannian log-volume ``log sqrt(det G^-1)`` at support and at
        generated codes: generation from the volume measure should stay where it is high."""
        with torch.no_grad():
            return {
                **super().latent_geometry(support, samples),
                "log_volume_support": float(self.log_volume(support).mean()),
                "log_volume_samples": float(self.log_volume(samples).mean()),
            }

    # ----- generation -------------------------------------------------------------
    def log_volume(self, z: torch.Tensor) -> torch.Tensor:
        """``log sqrt(det G^-1(z))`` under the stored metric, ``(B,)``."""
        return 0.5 * torch.logdet(self.inverse_metric(z, self.centroids, self.factors))

    def sample_latents(
        self, n: int, generator: torch.Generator, *, mcmc_steps: int = 100, n_lf: int = 15, eps: float = 0.03
    ) -> torch.Tensor:
        """HMC on ``pi(z) ∝ sqrt(det G^-1(z))`` from random centroids, ``(n, d)``."""
        start = torch.randint(len(self.centroids), (n,), generator=generator, device="cpu").to(run_device())
        z = self.centroids[start].clone()

        def grad_log_pi(zz: torch.Tensor) -> torch.Tensor:
            zz = zz.detach().requires_grad_(True)
            return torch.autograd.grad(self.log_volume(zz).sum(), zz)[0]

        with torch.enable_grad():
            for _ in range(mcmc_steps):
                rho = cpu_randn(*z.shape, generator=generator, dtype=z.dtype)
                h0 = -self.log_volume(z).detach() + 0.5 * (rho**2).sum(1)
                z_new, r = z, rho + 0.5 * eps * grad_log_pi(z)
                for step in range(n_lf):
                    z_new = z_new + eps * r
                    r = r + (eps if step < n_lf - 1 else 0.5 * eps) * grad_log_pi(z_new)
                h1 = -self.log_volume(z_new).detach() + 0.5 * (r**2).sum(1)
                uniform = torch.rand(n, generator=generator, dtype=z.dtype, device="cpu").to(run_device())
                accept = uniform < torch.exp(h0 - h1)
                z = torch.where(accept[:, None], z_new.detach(), z)
        return z
