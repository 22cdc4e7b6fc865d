"""Audio tracks: NSynth-format data, the rendered GM corpus, representation v1 and
the Gaussian baselines (closed forms, dequantisation bound)."""

from __future__ import annotations

import json
import math

import numpy as np
import soundfile

from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec, make_method
from benchmark.run.runner import evaluate
from episodes import audio_encoding
from episodes.audio import N_SAMPLES
from episodes.synthetic import make_nsynth_corpus


def quiet(_msg: str) -> None:
    pass


def tiny_rhvae(**overrides):
    import torch

    from benchmark.nn.rhvae import RHVAE, RHVAEConfig

    torch.manual_seed(0)
    return RHVAE(RHVAEConfig(latent=3, width=4, metric_hidden=8, **overrides)).double()


def test_iwae_bound_is_above_the_elbo_and_tightens_with_more_samples():
    import torch

    from benchmark.nn.conv_vae import ConvVAE, ConvVAEConfig, elbo, iwae

    torch.manual_seed(0)
    net = ConvVAE(ConvVAEConfig(latent=4, width=4))
    x = torch.rand(3, 64, 64)
    with torch.no_grad():
        net.decoder[0].weight.mul_(30.0)  # make p(x|z) depend strongly on z: a loose ELBO
        g = torch.Generator().manual_seed(1)
        bounds = {k: torch.stack([iwae(net, x, k, g) for _ in range(30)]).mean(0) for k in (1, 4, 32)}
        elbos = torch.stack([elbo(net, x, g) for _ in range(30)]).mean(0)
    assert torch.allclose(bounds[1], elbos, rtol=0, atol=0.02 * elbos.abs().max())  # k = 1 is the ELBO
    assert torch.all(bounds[4] > bounds[1]) and torch.all(bounds[32] > bounds[4])


def test_vae_trains_adapts_without_touching_the_base_and_scores(audio_track, tmp_path):
    import torch

    import methods.vae
    from benchmark.contract.protocol import Budget
    from benchmark.run.runner import fit_or_load

    micro = Budget("micro", steps=6, batch_size=4, val_every=6, val_episodes=2, size="small")
    method, meta = fit_or_load(make_method("vae"), audio_track, budget=micro, models=tmp_path / "m", seed=0, log=quiet)
    assert meta["hparams"]["bound"] == "iwae-64" and meta["hparams"]["steps"] in methods.vae.VAE.steps_grid
    method.steps = 10
    before = {k: v.clone() for k, v in method.model.state_dict().items()}
    episode = audio_track.episode(audio_track.manifest("test").episodes[0])
    adapted = method.adapt(episode.support)
    assert all(torch.equal(before[k], v) for k, v in method.model.state_dict().items())
    assert adapted.net is not method.model
    scores = adapted.log_prob(episode.query)
    assert scores.shape == (4,) and np.all(scores < 0)
    assert np.array_equal(scores, method.adapt(episode.support).log_prob(episode.query))  # seeded
    samples = adapted.sample(3, max_len=0, generator=np.random.default_rng(0))
    assert len(samples) == 3 and samples[0].shape == audio_encoding.SHAPE and samples[0].dtype == np.uint8
    wavs = sorted((tmp_path / "m").rglob("samples/sample-*.wav"))
    assert len(wavs) == 4 and soundfile.read(wavs[0])[0].shape == (N_SAMPLES,)  # Griffin-Lim renders
    path = evaluate(
        MethodSpec.parse("vae"),
        audio_track,
        shots=5,
        n_episodes=2,
        out=tmp_path / "r",
        budget=micro,
        models=tmp_path / "m",
        samples=3,
        log=quiet,
    )
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 2 and set(records[0]["quality"]["geometry"]) == {"support_spread", "sample_spread"}
    assert records[0]["quality"]["geometry"]["support_spread"] > 0


def test_rhvae_metric_is_spd_and_matches_its_formula():
    import torch

    net = tiny_rhvae(temperature=0.8, regularisation=0.05)
    x = torch.rand(4, 64, 64, dtype=torch.float64)
    factors = net.metric_factor(x)
    assert torch.all(torch.diagonal(factors, dim1=1, dim2=2) > 0) and torch.equal(factors, torch.tril(factors))
    centroids, z = torch.randn(4, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    g_inv = net.inverse_metric(z, centroids, factors)
    for b in range(5):
        expected = sum(
            factors[i] @ factors[i].T * math.exp(-float(((z[b] - centroids[i]) ** 2).sum()) / 0.8**2) for i in range(4)
        ) + 0.05 * torch.eye(3, dtype=torch.float64)
        assert torch.allclose(g_inv[b], expected)
    assert torch.allclose(g_inv, g_inv.transpose(1, 2)) and torch.all(torch.linalg.eigvalsh(g_inv) > 0)


def test_generalised_leapfrog_is_time_reversible():
    import torch

    net = tiny_rhvae(step_size=0.05)  # larger steps than the default, so that the flow moves
    x = torch.rand(2, 64, 64, dtype=torch.float64)
    centroids, factors = torch.randn(3, 3, dtype=torch.float64), net.metric_factor(torch.rand(3, 64, 64).double())
    z0, rho0 = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    z, rho = z0, rho0
    for _ in range(3):
        z, rho = net.leapfrog(x, z, rho, centroids, factors, iterations=30)
    assert not torch.allclose(z, z0, atol=1e-3)  # it moved
    rho = -rho
    for _ in range(3):
        z, rho = net.leapfrog(x, z, rho, centroids, factors, iterations=30)
    assert torch.allclose(z, z0, atol=1e-8) and torch.allclose(-rho, rho0, atol=1e-8)


def test_rhvae_bound_iwae_tightens_and_the_method_runs(audio_track, tmp_path, monkeypatch):
    import torch

    import methods.rhvae
    import methods.vae
    from benchmark.contract.protocol import Budget

    monkeypatch.setattr(methods.vae.VAE, "steps_grid", (0, 2))  # a short meta-val selection
    monkeypatch.setattr(methods.rhvae.RiemannianHVAE, "steps_grid", (0, 2))

    net = tiny_rhvae()
    x = torch.rand(2, 64, 64, dtype=torch.float64)
    net.set_metric(torch.rand(5, 64, 64, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        one = torch.stack([net.iwae(x, 1, g) for _ in range(10)]).mean(0)
        many = torch.stack([net.iwae(x, 16, g) for _ in range(10)]).mean(0)
    assert torch.all(torch.isfinite(one)) and torch.all(many > one)
    micro = Budget("micro", steps=3, batch_size=2, val_every=3, val_episodes=1, size="small")
    path = evaluate(
        MethodSpec.parse("rhvae"),
        audio_track,
        shots=5,
        n_episodes=1,
        out=tmp_path / "r",
        budget=micro,
        models=tmp_path / "m",
        samples=2,
        log=quiet,
    )
    record = json.loads(path.read_text())
    assert 0 < record["nats_per_token"] and record["quality"]["metrics"]["n_samples"] == 2
    geometry = record["quality"]["geometry"]
    assert {"log_volume_support", "log_volume_samples"} <= set(geometry)
    assert all(math.isfinite(v) for v in geometry.values())
    run = json.loads(path.with_name(path.name.replace(".jsonl", ".run.json")).read_text())
    assert run["hparams"]["bound"] == "iwae-16" and run["hparams"]["temperature"] == 1.5


def test_ablation_command_writes_the_table_and_plot(tmp_path, capsys):
    root = make_nsynth_corpus(tmp_path / "ns")
    args = [
        "ablation",
        "--track",
        "audio/nsynth",
        "--data-dir",
        str(root),
        "--cache-dir",
        str(tmp_path / "c"),
        "--workers",
        "1",
        "--methods",
        "gaussian-global,gaussian-support",
        "--shots",
        "1,4",
        "--episodes",
        "3",
        "--samples",
        "3",
        "--out",
        str(tmp_path / "ab"),
        "--models",
        str(tmp_path / "m"),
    ]
    assert main(args) == 0
    table = (tmp_path / "ab" / "ablation.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| gaussian")]
    assert len(lines) == 4 and "coverage" in table and "Δ vs gaussian-support" in table
    assert (tmp_path / "ab" / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert table in capsys.readouterr().out
