"""``vae``: a convolutional VAE (`benchmark.nn.conv_vae`) trained on meta-train notes and
adapted to an instrument by fine-tuning on its support notes.

Training maximises the ELBO of meta-train notes (fresh dequantisation noise every
step), keeping the weights best on meta-val.  ``adapt`` copies the network and takes
``steps`` Adam steps (learning rate ``adapt_lr``) on the support notes' ELBO; both are
chosen on meta-val from ``steps_grid`` x ``lr_grid`` after training (``steps = 0`` is the
non-adaptive VAE).  Query notes are scored with the importance-weighted bound (IWAE)
with `IWAE_SAMPLES` samples -- recorded in the hyper-parameters as ``bound`` -- turned
into a bound on the discrete NLL by `benchmark.scoring.dequantise`.  After training, a few
samples are rendered to WAV (Griffin-Lim) and logged to TensorBoard as audio.
"""

from __future__ import annotations

import copy
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from benchmark.contract.device import to_run_device
from benchmark.contract.methods import register_method
from benchmark.contract.protocol import Budget, MetaTrainData
from benchmark.contract.settings import Range
from benchmark.nn.conv_vae import ConvVAE, ConvVAEConfig, elbo
from benchmark.scoring.dequantise import (
    dequantised,
    discrete_log_prob,
    jittered,
    quantised,
)
from benchmark.training.neural import NeuralMethod
from benchmark.training.selection import select_on_val
from episodes.audio import SAMPLE_RATE, write_note
from episodes.audio_encoding import N_DIMS, SHAPE, to_waveform
from episodes.types import Item

IWAE_SAMPLES = 64
VAL_IWAE_SAMPLES = 8  # while training, to keep meta-val checks cheap
METRIC_NOTES = 256  # meta-train notes a latent metric is fixed on after training (`fix_metric`)


def as_tensor(x: np.ndarray) -> torch.Tensor:
    """``(n, D)`` (or ``(n, 64, 64)``) float64 points -> ``(n, 64, 64)`` float32 tensor on
    the run's device."""
    return to_run_device(x).float().reshape(-1, *SHAPE)


def seeded(items: Sequence[Item]) -> torch.Generator:
    """A torch generator seeded by the items' ids (the same on every machine and rerun)."""
    return torch.Generator().manual_seed(zlib.crc32("\n".join(it.item_id for it in items).encode()))


@torch.no_grad()
def codes(net: ConvVAE, x: torch.Tensor) -> torch.Tensor:
    """Encoder means of notes ``x`` (``(n, 64, 64)``), ``(n, d)``."""
    return net.encode(x)[0]


class AdaptedVAE:
    """A (fine-tuned) VAE: IWAE scores, samples, and latent diagnostics.

    ``support_codes``: the support notes' encoder means ``(K, d)`` (``None`` at K = 0);
    the latents of the last `sample` call are kept for `diagnostics`."""

    def __init__(self, net: ConvVAE, iwae_samples: int, support_codes: torch.Tensor | None = None) -> None:
        self.net, self.k, self.support_codes = net, iwae_samples, support_codes
        self.sampled: torch.Tensor | None = None

    def diagnostics(self) -> dict[str, float] | None:
        """Latent-geometry figures of this episode (`ConvVAE.latent_geometry`), once sampled."""
        if self.support_codes is None or self.sampled is None:
            return None
        return self.net.latent_geometry(self.support_codes, self.sampled)

    @torch.no_grad()
    def log_prob(self, items: Sequence[Item]) -> np.ndarray:
        bounds = [self.net.iwae(as_tensor(dequantised([it])), self.k, seeded([it])) for it in items]
        return discrete_log_prob(torch.cat(bounds).double().cpu().numpy(), N_DIMS)

    @torch.no_grad()
    def sample(self, n: int, *, max_len: int, generator: np.random.Generator) -> list[np.ndarray]:
        g = torch.Generator().manual_seed(int(generator.integers(2**62)))
        self.sampled = self.net.sample_latents(n, g)
        x = self.net.sample_x(self.sampled, g).reshape(n, -1).double().cpu().numpy()
        return quantised(x, SHAPE)


@register_method(group="adaptive")
class VAE(NeuralMethod):
    """Convolutional VAE, fine-tuned on the support set."""

    name = "vae"
    version = "1"
    modalities = ("audio",)
    net_cls = ConvVAE
    config_cls = ConvVAEConfig
    metric_from_support = False  # whether `fix_metric` must run on every support set
    steps_grid: tuple[int, ...] = (0, 10, 30)  # fine-tuning steps tried on meta-val
    lr_grid: tuple[float, ...] = (1e-4, 1e-3)
    # `fsmb eval --set`: settings that need no retraining
    eval_settings = {"steps": Range(0), "adapt_lr": Range(0, low_open=True), "iwae_samples": Range(1)}

    def __init__(
        self,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        steps: int = 10,
        adapt_lr: float = 1e-4,
        iwae_samples: int = IWAE_SAMPLES,
    ) -> None:
        super().__init__(lr, weight_decay)
        self.steps, self.adapt_lr, self.iwae_samples = steps, adapt_lr, iwae_samples

    def init_args(self) -> dict[str, Any]:
        return {
            **super().init_args(),
            "steps": self.steps,
            "adapt_lr": self.adapt_lr,
            "iwae_samples": self.iwae_samples,
        }

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "bound": f"iwae-{self.iwae_samples}"}

    def build(self, budget: Budget) -> ConvVAE:
        """A fresh network for ``budget`` (width 16 for ``small``, else 32)."""
        return ConvVAE(ConvVAEConfig(width=16 if budget.size == "small" else 32))

    def objective(self, net: ConvVAE, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The per-note training bound, ``(B,)`` nats: the one-sample ELBO."""
        return elbo(net, x, generator)

    def fix_metric(self, net: ConvVAE, x: torch.Tensor) -> None:
        """After training / adapting on notes ``x`` (``(n, 64, 64)``): nothing for a VAE."""

    def initialise(self, data: MetaTrainData, budget: Budget, x: np.ndarray) -> Budget:
        """Build ``self.model`` and return the training budget: a fresh VAE with input
        statistics of the jittered meta-train notes ``x`` (``(n, 64, 64)``), the full budget."""
        self.model = self.build(budget)
        self.model.shift.copy_(torch.from_numpy(x.mean(0)).float())
        self.model.scale.copy_(torch.from_numpy(x.std(0)).float().clamp_min(1e-3))
        return budget

    def fit(self, data: MetaTrainData, *, budget: Budget, logdir: Path) -> None:
        levels = np.stack([it.tokens for it in data.train_items()])  # (n, 64, 64) uint8
        x = jittered(levels, np.random.default_rng(data.seed))
        train_budget = self.initialise(data, budget, x)
        batch = min(2 * train_budget.batch_size, len(levels))  # a tiny corpus: all its notes each step

        def loss(step: int) -> torch.Tensor:
            rng = np.random.default_rng([data.seed, step, 5])
            chosen = levels[rng.choice(len(levels), size=batch, replace=False)]
            g = torch.Generator().manual_seed(int(rng.integers(2**62)))
            return -self.objective(self.model, as_tensor(jittered(chosen, rng)), g).mean() / N_DIMS

        final = (self.steps, self.iwae_samples)
        self.steps, self.iwae_samples = 0, VAL_IWAE_SAMPLES
        self.train_network(data, train_budget, logdir, loss)
        self.fix_metric(
            self.model,
            as_tensor(x[np.random.default_rng(data.seed).permutation(len(x))[:METRIC_NOTES]].reshape(-1, N_DIMS)),
        )
        self.iwae_samples = final[1]
        self.select(data.val_episodes(budget.val_episodes))
        self.log_samples(logdir)

    def log_samples(self, logdir: Path, n: int = 4) -> None:
        """Render ``n`` samples of the fitted (unadapted) model to audio with Griffin-Lim:
        WAVs in ``logdir/samples/`` and audio in TensorBoard."""
        from torch.utils.tensorboard import SummaryWriter

        levels = AdaptedVAE(self._model(), self.iwae_samples).sample(n, max_len=0, generator=np.random.default_rng(0))
        with SummaryWriter(str(logdir)) as writer:
            for i, sample in enumerate(levels):
                wave = to_waveform(sample)
                write_note(Path(logdir) / "samples" / f"sample-{i}.wav", wave)
                writer.add_audio(f"samples/{i}", torch.from_numpy(wave)[None], sample_rate=SAMPLE_RATE)

    def select(self, episodes: list) -> None:
        """Fine-tuning steps and learning rate with the best meta-val score."""
        settings = [{"steps": 0, "adapt_lr": self.lr_grid[0]}]  # no fine-tuning: the learning rate is moot
        settings += [{"steps": s, "adapt_lr": lr} for s in self.steps_grid if s for lr in self.lr_grid]
        table = select_on_val(self, settings, episodes)
        self.train_log["selection"] = [[r["steps"], r["adapt_lr"], r["val_nats_per_token"]] for r in table]

    def adapt(self, support: Sequence[Item]) -> AdaptedVAE:
        base = self._model()
        if not support:
            return AdaptedVAE(base, self.iwae_samples)
        x = as_tensor(dequantised(support))
        if self.steps == 0 and not self.metric_from_support:
            return AdaptedVAE(base, self.iwae_samples, codes(base, x))
        net = copy.deepcopy(base)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=self.adapt_lr)
        levels = np.stack([it.tokens for it in support])
        g = seeded(support)
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=g, device="cpu")))
        for _ in range(self.steps):
            opt.zero_grad(set_to_none=True)
            (-self.objective(net, as_tensor(jittered(levels, rng)), g).mean() / N_DIMS).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        net.eval()
        self.fix_metric(net, x)
        return AdaptedVAE(net, self.iwae_samples, codes(net, x))
