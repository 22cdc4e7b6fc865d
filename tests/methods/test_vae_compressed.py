"""``vae-trim`` and ``vae-int8``: a trimmed decoder has the channels it claims and
computes what the full one computes with those channels silenced; the rounds land on
the sweep levels; variants chain along one trajectory and save -> load scores
identically; int8 scores stay close to the fp32 ``vae``'s."""

from __future__ import annotations

import collections
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from benchmark.compress.channels import (
    decoder_params,
    keep_best,
    readers,
    scaled,
    silenced,
    trim_rounds,
    trimmed,
    widths_for,
)
from benchmark.contract.methods import make_method
from benchmark.cost.counting import step_cost
from benchmark.cost.steps import network_step
from benchmark.nn.conv_vae import ConvVAE, ConvVAEConfig
from benchmark.nn.onnx_module import OnnxModule
from benchmark.run.runner import fit_or_load
from benchmark.training.loop import load_checkpoint
from episodes.audio_encoding import N_DIMS
from methods.levelled import SWEEP_LEVELS
from methods.vae import VAE
from methods.vae_int8 import VAEInt8
from methods.vae_trim import VAETrim
from tests.conftest import TEST_BUDGET

# Int8 weights of the decoder's latent layer (one scale per tensor) and 8-bit
# activations into it (ONNX Runtime 1.32) move a note's IWAE bound by about 1e-3 nats
# per dimension on this model (measured: mean |d| 3.4e-4, max 1.2e-3, mean d -1.8e-4
# over 12 notes of 4096 dimensions, against ~4.2 nats per dimension); the bounds leave
# a margin of ~2.5x over the largest and over the mean shift.
INT8_TOLERANCE = 3e-3  # |int8 - fp32| nats per dimension, per note
INT8_MEAN_TOLERANCE = 5e-4  # |mean (int8 - fp32)| nats per dimension: the shift of a reported figure


def tiny_vae(seed: int = 0) -> ConvVAE:
    """An untrained VAE with decoder maps of 32, 16, 8 and 4 channels."""
    torch.manual_seed(seed)
    return ConvVAE(ConvVAEConfig(latent=4, width=4)).eval()


def test_trimmed_decoder_has_the_channels_it_claims_fewer_parameters_and_their_macs():
    net = tiny_vae()
    with torch.no_grad():  # channels 3 (4 x 4 map) and 5 (16 x 16 map) own no weights: the first to go
        net.decoder[0].weight[48:64] = 0
        readers(net)[0].weight[3] = 0
        readers(net)[1].weight[:, 5] = 0
        readers(net)[2].weight[5] = 0
    kept = keep_best(net, (20, 9, 5, 2))
    assert 3 not in kept[0] and 5 not in kept[2]
    small = trimmed(net, kept)
    assert small.cfg.decoder_channels == (20, 9, 5, 2) and small.decoder[0].out_features == 20 * 16
    assert [(c.in_channels, c.out_channels) for c in readers(small)] == [(20, 9), (9, 5), (5, 2), (2, 2)]
    assert decoder_params(small.cfg) == sum(p.numel() for p in small.decoder.parameters()) < decoder_params(net.cfg)
    assert all(
        torch.equal(a, b) for a, b in zip(small.encoder.state_dict().values(), net.encoder.state_dict().values())
    )
    # one latent code through the decoder: the latent layer, then each transposed conv's
    # in x out x 4 x 4 kernel over its input map (4, 8, 16, 32 pixels a side)
    cost = step_cost(network_step(small))
    assert cost.macs == 4 * 20 * 16 + 16 * (20 * 9 * 4**2 + 9 * 5 * 8**2 + 5 * 2 * 16**2 + 2 * 2 * 32**2)
    assert cost.params == decoder_params(small.cfg)


def test_trimmed_network_computes_the_silenced_full_one_before_fine_tuning():
    """A silenced channel has zero incoming weights and bias, so it is SiLU(0) = 0 at every
    pixel and what reads it adds nothing: removing it changes no output (up to the
    summation order of the narrower kernels)."""
    net = tiny_vae()
    g = torch.Generator().manual_seed(0)
    kept = tuple(torch.sort(torch.randperm(w, generator=g)[:n]).values for w, n in zip((32, 16, 8, 4), (11, 7, 3, 2)))
    small, masked = trimmed(net, kept), silenced(net, kept)
    z, x = torch.randn(6, 4, generator=g), torch.rand(3, 64, 64, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(small.decoder(z), masked.decoder(z), rtol=1e-6, atol=1e-6)
        assert not torch.allclose(masked.decoder(z), net.decoder(z), atol=1e-3)  # the removed channels mattered
        bounds = [m.iwae(x, 4, torch.Generator().manual_seed(1)) for m in (small, masked)]
    torch.testing.assert_close(bounds[0], bounds[1], rtol=1e-6, atol=0)


def test_rounds_land_on_the_sweep_levels_and_configs_round_trip():
    cfg = ConvVAEConfig(latent=16, width=16)
    dense = decoder_params(cfg)
    for level in SWEEP_LEVELS:
        goal = widths_for(cfg, level)
        widest = goal.decoder_widths()[0]
        assert 1 - decoder_params(goal) / dense >= level > 1 - decoder_params(scaled(cfg, widest + 1)) / dense
    first, second = trim_rounds(cfg, 0.0, 0.5), trim_rounds(cfg, 0.5, 0.8)
    assert first[-1] == widths_for(cfg, 0.5) and second[-1] == widths_for(cfg, 0.8)
    widest = [c.decoder_widths()[0] for c in [cfg, *first, *second]]
    assert all(b < a and b >= int(a * 0.8) for a, b in pairwise(widest))  # at most a fifth a round
    for args in [(0.5, 0.5, 0.2), (0.0, 0.5, 0.0)]:
        with pytest.raises(ValueError):
            trim_rounds(cfg, *args)
    # a dense config reads as before decoder_channels existed; a trimmed one is rebuilt from its dict
    assert cfg.to_dict() == {"latent": 16, "width": 16}
    assert ConvVAEConfig(**first[0].to_dict()) == first[0] and ConvVAE(first[0]).decoder[0].out_features == 102 * 16


def quiet(_msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def fit(audio_track, tmp_path_factory):
    """``spec -> fitted method`` on `TEST_BUDGET`, models kept for the module; the ``vae``'s
    meta-val selection tries 0 and 2 fine-tuning steps only (time)."""
    models = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(VAE, "steps_grid", (0, 2))
        yield lambda spec: fit_or_load(
            make_method(spec), audio_track, budget=TEST_BUDGET, models=models, seed=0, log=quiet
        )[0]


@pytest.fixture(scope="module")
def episodes(audio_track) -> list:
    return [audio_track.episode(spec) for spec in audio_track.manifest("test").episodes[:3]]


def scores(method, episodes) -> np.ndarray:
    """Nats of every query note of ``episodes`` (``(n,)``), each episode adapted on its support."""
    return np.concatenate([method.adapt(e.support).log_prob(e.query) for e in episodes])


def test_trim_variants_share_one_trajectory_are_smaller_and_load_identically(fit, episodes, tmp_path: Path):
    dense, half, further = fit("vae"), fit("vae-trim"), fit("vae-trim[removed=0.8]")
    dense_decoder = decoder_params(dense.model.cfg)
    assert half.model.cfg == widths_for(dense.model.cfg, 0.5) and decoder_params(half.model.cfg) <= 0.5 * dense_decoder
    assert (
        decoder_params(further.model.cfg) <= 0.2 * dense_decoder
        and further.n_params() < half.n_params() < dense.n_params()
    )
    assert half.train_log["base"] == "vae" and further.train_log["base"] == "vae-trim"
    assert further.train_log["rounds"][: len(half.train_log["rounds"])] == half.train_log["rounds"]
    assert [r["channels"] for r in further.train_log["rounds"]][-1] == list(further.model.cfg.decoder_channels)
    step = further.inference_step()
    assert step.module is further.model.decoder and step_cost(step).params == decoder_params(further.model.cfg)
    further.save(tmp_path)
    assert load_checkpoint(tmp_path / "state.pt")["config"]["decoder_channels"] == further.model.cfg.decoder_channels
    fresh = VAETrim()
    fresh.load(tmp_path)
    assert fresh.model.cfg == further.model.cfg and fresh.removed == 0.8 and fresh.steps == further.steps
    nats = scores(further, episodes)
    assert np.array_equal(scores(fresh, episodes), nats) and np.all(np.isfinite(nats)) and np.all(nats < 0)


def test_int8_scores_stay_close_to_the_fp32_vae_and_load_identically(fit, episodes, tmp_path: Path):
    dense, int8 = fit("vae"), fit("vae-int8")
    fp32, quantised = scores(dense, episodes), scores(int8, episodes)
    assert len(fp32) >= 12 and not np.array_equal(quantised, fp32)  # the int8 network is what scored
    assert np.abs(quantised - fp32).max() / N_DIMS < INT8_TOLERANCE
    assert abs((quantised - fp32).mean()) / N_DIMS < INT8_MEAN_TOLERANCE
    int8.save(tmp_path)
    assert all(t.dtype == torch.float32 for t in load_checkpoint(tmp_path / "state.pt")["model"].values())
    fresh = VAEInt8()
    fresh.load(tmp_path)
    assert fresh.steps == dense.steps and np.array_equal(scores(fresh, episodes), quantised)
    step, reference = int8.inference_step(), dense.inference_step()
    assert isinstance(step.module, OnnxModule) and step.module is int8.adapt([]).net.decoder
    ops = collections.Counter(n.op_type for n in onnx.load_model_from_string(step.module.graph).graph.node)
    assert ops["MatMulInteger"] == 1 and ops["ConvTranspose"] == 4  # ORT has no dynamic int8 ConvTranspose
    cost, fp32_cost = step_cost(step), step_cost(reference)
    assert cost.macs == fp32_cost.macs and cost.params == fp32_cost.params
    assert cost.bytes_fp32 == fp32_cost.bytes_fp32 and cost.bytes_int8 < cost.bytes_fp32
