"""Channel trimming of a `ConvVAE`'s decoder: whole channels of its feature maps are
removed, and the result is a smaller *dense* network (narrower layers), not a mask.

Only the decoder is trimmed.  It is what a device deploys -- one generation step is a
latent code through the decoder (`benchmark.cost.steps`) -- and, with the prior, it is
the model ``p(x)`` that FSMB scores.  The encoder is the amortised posterior ``q(z|x)``
of the importance-weighted bound and of fine-tuning on a support set: a scoring and
adaptation instrument that a device generating notes does not run.  Trimming it too
would loosen the bound, and a paired comparison with the dense ``vae`` would charge
that to the smaller decoder; left at full width, it keeps the bound as tight as the
dense model's (it is still fine-tuned with the trimmed decoder).

What a channel owns: channel ``c`` of decoder feature map ``i`` (4 x 4, 8 x 8,
16 x 16, 32 x 32; `ConvVAEConfig.decoder_widths`) is produced by its producer -- the
latent layer's 16 output rows ``16 c .. 16 c + 15`` (unflattened to the 4 x 4 map) for
``i = 0``, output channel ``c`` (kernel slice and bias) of the ``i``-th transposed
convolution otherwise -- and read by input channel ``c`` of the next transposed
convolution.  The decoder's output (mean and log-scale, 2 channels) and its latent
input are never trimmed.

The removal itself is done by Torch-Pruning's `DependencyGraph` (``torch-pruning``):
each map's group is rooted at the input channels of the transposed convolution that
reads it, which maps a channel of the 4 x 4 map through ``nn.Unflatten`` onto its 16
rows of the latent layer.  (Rooted at the latent layer's output rows instead,
Torch-Pruning maps 16 rows onto 16 *channels*, and its `MagnitudePruner` skips that
group altogether, so the pruner is not used.)  The pruned modules are then copied
into a `ConvVAE` built from a config with the new ``decoder_channels``, so that a
checkpoint rebuilds the exact architecture from its config (no pickled modules).

A trimmed network computes what the full one computes with the removed channels
*silenced* (`silenced`: their incoming weights and biases zeroed, so they are
``SiLU(0) = 0`` everywhere and whatever reads them adds nothing), which the tests check.

Which channels go: those of lowest Torch-Pruning ``MagnitudeImportance(p=2)`` in their
map: the squared L2 norm of the weights the channel owns in each layer of its group
-- incoming (its latent rows or producer kernel slice) and outgoing (its reader's
kernel slice), biases not counted -- averaged over the two layers (then divided by
the map's mean, which leaves the ranking as it is).

`trim_rounds` lays out the rounds between two levels (fractions of the dense
decoder's parameters removed): each round removes ``unit_fraction`` of the remaining
channels of every map, and the last lands exactly on the level's widths
(`widths_for`: every map scaled alike, the widest that has at most the level's share
of the parameters left).
"""

from __future__ import annotations

import copy
import dataclasses

import torch
import torch_pruning as tp
from torch import Tensor, nn

from benchmark.compress.trim import top_units
from benchmark.nn.conv_vae import ConvVAE, ConvVAEConfig

EXAMPLE_LATENTS = 1  # batch of the latent code Torch-Pruning traces the decoder with


def readers(model: ConvVAE) -> list[nn.ConvTranspose2d]:
    """The decoder's transposed convolutions: the ``i``-th reads feature map ``i``."""
    return [m for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]


def channel_groups(model: ConvVAE, removed: list[list[int]] | None = None) -> list[tp.Group]:
    """Torch-Pruning groups of ``model``'s decoder, one per feature map, rooted at the
    input channels of the convolution that reads it; over ``removed[i]`` (channel
    indices of map ``i``) if given, else over every channel."""
    with torch.enable_grad():  # Torch-Pruning traces the graph through autograd
        graph = tp.DependencyGraph().build_dependency(
            model.decoder, example_inputs=torch.zeros(EXAMPLE_LATENTS, model.cfg.latent)
        )
    widths = model.cfg.decoder_widths()
    return [
        graph.get_pruning_group(
            conv, tp.prune_conv_in_channels, idxs=list(range(widths[i])) if removed is None else removed[i]
        )
        for i, conv in enumerate(readers(model))
    ]


def channel_scores(model: ConvVAE) -> list[Tensor]:
    """Importance of each decoder map's channels, ``[(C_i,), ...]``, higher is kept
    (see the module docstring)."""
    importance = tp.importance.MagnitudeImportance(p=2)
    return [importance(group) for group in channel_groups(model)]


def keep_best(model: ConvVAE, widths: tuple[int, ...]) -> tuple[Tensor, ...]:
    """The ``widths[i]`` most important channels of each decoder map ``i`` (ascending
    long indices; ties: the lower index)."""
    return tuple(top_units(scores, n) for scores, n in zip(channel_scores(model), widths))


def _removed(kept: Tensor, width: int) -> list[int]:
    drop = torch.ones(width, dtype=torch.bool)
    drop[kept] = False
    return torch.nonzero(drop)[:, 0].tolist()


def trimmed(model: ConvVAE, kept: tuple[Tensor, ...]) -> ConvVAE:
    """A new `ConvVAE` whose decoder holds only the ``kept`` channels of each map
    (indices per map, as `keep_best` returns); the encoder and input statistics are
    ``model``'s; same train/eval mode."""
    widths = model.cfg.decoder_widths()
    pruned = copy.deepcopy(model)
    for group in channel_groups(pruned, [_removed(k, w) for k, w in zip(kept, widths)]):
        group.prune()
    small = ConvVAE(dataclasses.replace(model.cfg, decoder_channels=tuple(len(k) for k in kept)))
    small.load_state_dict(pruned.state_dict())  # strict: every pruned shape is the new config's
    small.train(model.training)
    return small


@torch.no_grad()
def silenced(model: ConvVAE, kept: tuple[Tensor, ...]) -> ConvVAE:
    """A copy of ``model`` at full width whose decoder channels outside ``kept`` are
    silenced (incoming weights and biases zeroed): what `trimmed` computes, as a mask."""
    masked = copy.deepcopy(model)
    latent_layer = masked.decoder[0]
    for i, (k, width) in enumerate(zip(kept, model.cfg.decoder_widths())):
        drop = _removed(k, width)
        if i == 0:  # channel c of the 4 x 4 map: rows 16 c .. 16 c + 15 of the latent layer
            rows = [16 * c + j for c in drop for j in range(16)]
            latent_layer.weight[rows] = 0
            latent_layer.bias[rows] = 0
        else:  # a ConvTranspose2d weight is (in, out, kh, kw)
            producer = readers(masked)[i - 1]
            producer.weight[:, drop] = 0
            producer.bias[drop] = 0
    return masked


def decoder_params(cfg: ConvVAEConfig) -> int:
    """Parameters of a `ConvVAE` decoder of ``cfg`` (built on the meta device: no memory)."""
    with torch.device("meta"):
        return sum(p.numel() for p in ConvVAE(cfg).decoder.parameters())


def dense(cfg: ConvVAEConfig) -> ConvVAEConfig:
    """``cfg`` at the full widths of its ``width``."""
    return dataclasses.replace(cfg, decoder_channels=None)


def scaled(cfg: ConvVAEConfig, widest: int) -> ConvVAEConfig:
    """The dense ``cfg`` with ``widest`` channels in the 4 x 4 map and every other map
    scaled by as much (at least one channel each)."""
    full = dense(cfg).decoder_widths()
    return dataclasses.replace(cfg, decoder_channels=tuple(max(1, round(c * widest / full[0])) for c in full))


def widths_for(cfg: ConvVAEConfig, removed: float) -> ConvVAEConfig:
    """The widest decoder of ``cfg``, scaled (`scaled`), that has at most ``1 - removed``
    of the dense decoder's parameters (``removed = 0``: the dense widths)."""
    budget = (1 - removed) * decoder_params(dense(cfg))
    for widest in range(dense(cfg).decoder_widths()[0], 0, -1):
        if decoder_params(scaled(cfg, widest)) <= budget:
            return scaled(cfg, widest)
    raise ValueError(
        f"no decoder of {dense(cfg)} removes {removed:.1%} of its parameters (one channel per map is the least)"
    )


def trim_rounds(cfg: ConvVAEConfig, start: float, end: float, unit_fraction: float = 0.2) -> list[ConvVAEConfig]:
    """The configs after each round from the decoder at level ``start`` to the one at
    level ``end`` (fractions of the dense decoder's parameters removed, ``0 <= start <
    end < 1``; `widths_for`): each round removes ``unit_fraction`` of the remaining
    channels (at least one), the last lands exactly on ``end``: a variant at ``end``
    continues the one at ``start`` with these rounds."""
    if not 0 < unit_fraction < 1:
        raise ValueError(f"unit_fraction must be in (0, 1), not {unit_fraction}")
    if not 0 <= start < end < 1:
        raise ValueError(f"levels must satisfy 0 <= start < end < 1, not {start}, {end}")
    widest = widths_for(cfg, start).decoder_widths()[0]
    goal = widths_for(cfg, end).decoder_widths()[0]
    rounds = []
    while widest > goal:
        widest = max(goal, min(widest - 1, int(widest * (1 - unit_fraction))))
        rounds.append(scaled(cfg, widest))
    return rounds
