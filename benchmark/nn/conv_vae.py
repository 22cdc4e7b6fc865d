"""A convolutional VAE for 64 x 64 log-mel level images (`episodes.audio_encoding`).

Inputs are dequantised levels ``x`` in ``[0, 1)`` (`benchmark.scoring.dequantise`),
standardised per pixel with meta-train statistics (buffers ``shift``/``scale``):
``y = (x - shift) / scale``.  The decoder is Gaussian in ``y`` with a per-pixel mean
and log-scale (clamped below at `MIN_LOG_SCALE`); densities are reported in ``x``
(``log p(x) = log p(y) - sum log scale``).

Shapes: ``x``, ``y``: ``(B, 64, 64)``; ``z``: ``(B, latent)``.

The decoder's widths follow ``width`` unless ``decoder_channels`` lists them (the
channels of its 4 x 4, 8 x 8, 16 x 16 and 32 x 32 feature maps): a decoder whose
channels were trimmed (`benchmark.compress.channels`) is rebuilt from its config.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from benchmark.contract.device import cpu_randn

LOG_2PI = math.log(2 * math.pi)
MIN_LOG_SCALE = -7.0  # std >= 1e-3 in standardised units


@dataclass
class ConvVAEConfig:
    latent: int = 16
    width: int = 32
    decoder_channels: tuple[int, ...] | None = None  # 4x4, 8x8, 16x16, 32x32 maps; None: 8w, 4w, 2w, w

    def __post_init__(self) -> None:
        if self.decoder_channels is not None:
            self.decoder_channels = tuple(self.decoder_channels)

    def decoder_widths(self) -> tuple[int, ...]:
        """Channels of the decoder's 4 x 4, 8 x 8, 16 x 16 and 32 x 32 feature maps."""
        w = self.width
        return self.decoder_channels or (8 * w, 4 * w, 2 * w, w)

    def to_dict(self) -> dict:
        """The fields, without ``decoder_channels`` when unset (as configs before it read)."""
        out = asdict(self)
        if self.decoder_channels is None:
            del out["decoder_channels"]
        return out


def gaussian_log_density(y: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Sum over all but the first dim of ``log N(y; mean, exp(log_scale)^2)``: ``(B,)``."""
    e = (y - mean) * torch.exp(-log_scale)
    return (-0.5 * e**2 - log_scale - 0.5 * LOG_2PI).flatten(1).sum(1)


class ConvVAE(nn.Module):
    """Encoder 64 -> 32 -> 16 -> 8 -> 4 (stride-2 4x4 convs), decoder its mirror."""

    def __init__(self, cfg: ConvVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        chans = [1, w, 2 * w, 4 * w, 8 * w]
        down: list[nn.Module] = []
        for a, b in zip(chans, chans[1:]):
            down += [nn.Conv2d(a, b, 4, 2, 1), nn.SiLU()]
        self.encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(8 * w * 16, 2 * cfg.latent))
        dec = cfg.decoder_widths()
        up: list[nn.Module] = [nn.Linear(cfg.latent, dec[0] * 16), nn.SiLU(), nn.Unflatten(1, (dec[0], 4, 4))]
        for i, (a, b) in enumerate(zip(dec, [*dec[1:], 2])):
            last = i == len(dec) - 1
            up += [nn.ConvTranspose2d(a, b, 4, 2, 1)] + ([] if last else [nn.SiLU()])
        self.decoder = nn.Sequential(*up)
        self.register_buffer("shift", torch.zeros(64, 64))
        self.register_buffer("scale", torch.ones(64, 64))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z|x)``: mean and log-variance, each ``(B, latent)``."""
        mu, logvar = self.encoder(self.standardise(x)[:, None]).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``p(y|z)``: mean and log-scale in standardised units, each ``(B, 64, 64)``."""
        out = self.decoder(z)
        return out[:, 0], out[:, 1].clamp_min(MIN_LOG_SCALE)

    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)`` in x-space, ``(B,)``."""
        mean, log_scale = self.decode(z)
        return gaussian_log_density(self.standardise(x), mean, log_scale) - torch.log(self.scale).sum()

    def iwae(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """IWAE bound with ``k`` samples per item (`iwae`), ``(B,)``."""
        return iwae(self, x, k, generator)

    def sample_latents(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Latents for generation: the prior, ``(n, latent)``."""
        return cpu_randn(n, self.cfg.latent, generator=generator)

    def latent_geometry(self, support: torch.Tensor, samples: torch.Tensor) -> dict[str, float]:
        """Diagnostics of an episode's latent codes: mean pairwise distance of the
        support codes (encoder means, ``(K, d)``) and of the generated ones (``(n, d)``)."""
        spread = lambda z: float(torch.pdist(z).mean()) if len(z) > 1 else float("nan")  # noqa: E731
        return {"support_spread": spread(support), "sample_spread": spread(samples)}

    def sample_x(self, z: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Draw ``x ~ p(x|z)``, ``(B, 64, 64)``."""
        mean, log_scale = self.decode(z)
        noise = cpu_randn(*mean.shape, generator=generator, dtype=mean.dtype)
        return (mean + torch.exp(log_scale) * noise) * self.scale + self.shift


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, diag(exp(logvar)))`` summed over the last dim."""
    return (-0.5 * ((z - mu) ** 2 * torch.exp(-logvar) + logvar + LOG_2PI)).sum(-1)


def elbo(model: ConvVAE, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One-sample ELBO per item, ``(B,)`` nats (x-space)."""
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * cpu_randn(*mu.shape, generator=generator, dtype=mu.dtype)
    prior = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    return model.log_px_given_z(x, z) + prior - log_normal(z, mu, logvar)


def iwae(model: ConvVAE, x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance-weighted bound (Burda et al. 2016) with ``k`` samples per item, ``(B,)``:
    ``log (1/k) sum_j p(x, z_j) / q(z_j|x)``, ``z_j ~ q(z|x)``.  ``k = 1`` is the ELBO."""
    mu, logvar = model.encode(x)  # (B, d)
    z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * cpu_randn(
        k, *mu.shape, generator=generator, dtype=mu.dtype
    ).transpose(0, 1)
    flat = z.reshape(-1, z.shape[-1])  # (B*k, d)
    xs = x.repeat_interleave(k, dim=0)
    log_w = (model.log_px_given_z(xs, flat) + log_normal(flat, torch.zeros_like(flat), torch.zeros_like(flat))).reshape(
        -1, k
    ) - log_normal(z, mu[:, None], logvar[:, None])
    return torch.logsumexp(log_w, dim=1) - math.log(k)
