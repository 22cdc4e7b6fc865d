"""Audio tracks: NSynth-format data, the rendered GM corpus, representation v1 and
the Gaussian baselines (closed forms, dequantisation bound)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import soundfile
from scipy import stats

from baselines.gaussian import (
    RANK_GRID,
    DiagonalGaussian,
    GaussianSupport,
    LowRankGaussian,
    PPCASupport,
)
from benchmark.cli.main import main
from benchmark.contract.registry import RegistryError
from benchmark.run.runner import evaluate
from benchmark.scoring.dequantise import LOG_LEVELS, dequantised, discrete_log_prob
from episodes import audio_encoding
from episodes.audio import N_SAMPLES, SAMPLE_RATE, read_note, write_note
from episodes.sources.audio_folder import AudioFolderSource
from episodes.sources.base import DataError
from episodes.sources.nsynth import NSynthSource
from episodes.store import open_store
from episodes.tracks import Track
from episodes.types import Item
from tests.conftest import TINY_BUDGET, instrument_note, make_nsynth_corpus


def quiet(_msg: str) -> None:
    pass


def test_representation_v1_places_a_tone_in_its_mel_band_and_quantises_to_half_a_step():
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    low, high = (0.5 * np.sin(2 * np.pi * f * t).astype(np.float32) for f in (200.0, 3000.0))
    db_low, db_high = audio_encoding.log_mel_db(low), audio_encoding.log_mel_db(high)
    assert db_low.shape == audio_encoding.SHAPE
    assert db_low.mean(1).argmax() < db_high.mean(1).argmax()  # higher tone, higher band
    q = audio_encoding.quantise(db_low)
    inside = (db_low > audio_encoding.DB_MIN) & (db_low < audio_encoding.DB_MAX)
    assert np.abs(audio_encoding.to_db(q) - db_low)[inside].max() <= audio_encoding.DB_STEP / 2 + 1e-4
    assert audio_encoding.quantise(np.array([-500.0, 500.0])).tolist() == [0, 255]


def test_griffin_lim_rendering_keeps_spectrum_and_envelope():
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    wave = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-t)).astype(np.float32)
    original = audio_encoding.log_mel_db(wave)
    rendered = audio_encoding.log_mel_db(audio_encoding.to_waveform(audio_encoding.quantise(original)))
    assert original.mean(1).argmax() == rendered.mean(1).argmax()
    assert np.corrcoef(original.mean(1), rendered.mean(1))[0, 1] > 0.85  # spectrum over bands
    assert np.corrcoef(original.mean(0), rendered.mean(0))[0, 1] > 0.85  # envelope over time


def test_wav_round_trip_resampling_and_bad_files(tmp_path):
    wave = instrument_note(3, 60, 100)
    write_note(tmp_path / "a.wav", wave)
    assert np.abs(read_note(tmp_path / "a.wav") - wave).max() < 1e-4  # 16-bit PCM
    soundfile.write(tmp_path / "b.wav", wave[::2].copy(), 8000)  # another rate: resampled, still 4 s
    assert read_note(tmp_path / "b.wav").shape == (N_SAMPLES,)
    soundfile.write(tmp_path / "silent.wav", np.zeros(N_SAMPLES, np.float32), SAMPLE_RATE)
    nan = wave.copy()
    nan[100] = np.nan
    soundfile.write(tmp_path / "nan.wav", nan, SAMPLE_RATE, subtype="FLOAT")
    for name, reason in (("silent.wav", "silent"), ("nan.wav", "NaN")):
        with pytest.raises(Exception, match=reason):
            read_note(tmp_path / name)
    # only the first 4 s are read and resampled: what comes after (here NaN) is never seen
    long = np.full(44_100 * 60, np.nan, np.float32)
    long[: 44_100 * 5] = np.resize(wave, 44_100 * 5)
    soundfile.write(tmp_path / "long.wav", long, 44_100, subtype="FLOAT")
    assert np.isfinite(read_note(tmp_path / "long.wav")).all()


def test_nsynth_build_reports_bad_files_and_keeps_the_rest(tmp_path):
    root = make_nsynth_corpus(tmp_path / "ns", n_instruments=3, notes=4)
    examples = json.loads((root / "examples.json").read_text())
    (root / "audio" / "mallet_electronic_000-048-064.wav").write_bytes(b"RIFF not really a wav")
    soundfile.write(root / "audio" / "mallet_electronic_001-048-064.wav", np.zeros(N_SAMPLES), SAMPLE_RATE)
    (root / "audio" / "mallet_electronic_002-048-064.wav").unlink()
    examples["orphan-000-000"] = {"pitch": 60}  # no instrument_str
    (root / "examples.json").write_text(json.dumps(examples))
    store = open_store(NSynthSource(root), tmp_path / "c", workers=1, progress=False, log=quiet)
    report = store.report()
    reasons = {s["item_id"].split("-")[0][-3:]: s["reason"] for s in report["skipped"]}
    assert len(store) == 9 and report["n_skipped"] == 3
    assert "unreadable" in reasons["000"] and "silent" in reasons["001"] and "unreadable" in reasons["002"]
    assert report["source_listing"]["records_without_instrument"] == 1
    assert {m.artist for m in store.items} == {f"mallet_electronic_{i:03d}" for i in range(3)}


def test_nsynth_split_folders_pool_and_bad_json_is_explained(tmp_path):
    make_nsynth_corpus(tmp_path / "ns" / "nsynth-valid", n_instruments=2, notes=2)
    (tmp_path / "ns" / "nsynth-test" / "audio").mkdir(parents=True)
    (tmp_path / "ns" / "nsynth-test" / "examples.json").write_text("{}")
    pieces = NSynthSource(tmp_path / "ns").list_pieces()
    assert len(pieces) == 4 and pieces[0].path.startswith("nsynth-valid/audio/")
    (tmp_path / "ns" / "nsynth-test" / "examples.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        NSynthSource(tmp_path / "ns").list_pieces()
    with pytest.raises(DataError, match="no examples.json"):
        NSynthSource(tmp_path).list_pieces()


def test_audio_folder_metadata_columns_and_escaping_paths(tmp_path):
    write_note(tmp_path / "clips" / "x.wav", instrument_note(0, 60, 100))
    (tmp_path / "metadata.csv").write_text("file_name,instrument\nclips/x.wav,Oboe\n,Oboe\n")
    source = AudioFolderSource(tmp_path)
    assert [(p.item_id, p.artist) for p in source.list_pieces()] == [("clips/x.wav", "Oboe")]
    assert source.listing() == {"artist_column": "instrument", "rows_without_file_or_artist": 1}
    assert source.read(source.list_pieces()[0]).shape == (N_SAMPLES,)
    (tmp_path / "metadata.csv").write_text("path,label\nx.wav,a\n")
    with pytest.raises(DataError, match="needs columns file_name and artist or instrument"):
        AudioFolderSource(tmp_path).list_pieces()
    (tmp_path / "metadata.csv").write_text("file_name,artist\n../../etc/passwd,a\n")
    with pytest.raises(DataError, match="escapes"):
        AudioFolderSource(tmp_path).list_pieces()
    # one file under two spellings would be two items, possibly support and query of one episode
    (tmp_path / "metadata.csv").write_text("file_name,artist\nclips/x.wav,a\n./clips/x.wav,b\n")
    with pytest.raises(DataError, match="clips/x.wav is listed twice"):
        AudioFolderSource(tmp_path).list_pieces()
    # the corpus cache notices an audio file rewritten in place (the CSV untouched)
    (tmp_path / "metadata.csv").write_text("file_name,artist\nclips/x.wav,a\n")
    before = AudioFolderSource(tmp_path).cache_key()
    write_note(tmp_path / "clips" / "x.wav", instrument_note(1, 62, 100))
    os.utime(tmp_path / "clips" / "x.wav", ns=(1, 1))
    assert AudioFolderSource(tmp_path).cache_key() != before


def test_gm_notes_render_in_nsynth_format_deterministically(tmp_path):
    from episodes.render_gm import FAMILIES, PROGRAMS, render_corpus

    assert 55 not in PROGRAMS and not set(range(96, 104)) & set(PROGRAMS) and 0 in PROGRAMS
    for out in ("a", "b"):
        render_corpus(tmp_path / out, programs=(0, 40), pitches=(48, 60), velocities=(100,), progress=False,
                      log=quiet)
    examples = json.loads((tmp_path / "a" / "examples.json").read_text())
    assert sorted(examples) == ["keyboard_acoustic_000-048-100", "keyboard_acoustic_000-060-100",
                                "string_acoustic_040-048-100", "string_acoustic_040-060-100"]
    record = examples["string_acoustic_040-060-100"]
    assert FAMILIES[record["instrument_family"]] == record["instrument_family_str"] == "string"
    assert record["pitch"] == 60 and record["sample_rate"] == SAMPLE_RATE and record["gm_name"] == "Violin"
    for name in examples:
        data, rate = soundfile.read(tmp_path / "a" / "audio" / f"{name}.wav")
        assert rate == SAMPLE_RATE and data.shape == (N_SAMPLES,) and np.abs(data).max() > 1e-3
        assert (tmp_path / "a" / "audio" / f"{name}.wav").read_bytes() == \
            (tmp_path / "b" / "audio" / f"{name}.wav").read_bytes()
    assert len(NSynthSource(tmp_path / "a").list_pieces()) == 4


def test_audio_items_are_level_images_counted_in_dims(audio_track):
    item = audio_track.episode(audio_track.manifest("test").episodes[0]).query[0]
    assert item.tokens.shape == audio_encoding.SHAPE and item.tokens.dtype == np.uint8
    assert item.units == {"tokens": audio_encoding.N_DIMS, "dims": audio_encoding.N_DIMS}


def item_of(levels: np.ndarray, item_id: str = "x") -> Item:
    return Item(item_id, "a", levels.astype(np.uint8).reshape(audio_encoding.SHAPE))


def test_diagonal_and_low_rank_gaussians_match_closed_forms():
    rng = np.random.default_rng(0)
    items = [item_of(rng.integers(0, 256, audio_encoding.N_DIMS), f"i{k}") for k in range(3)]
    x = dequantised(items)
    assert x.min() >= 0 and x.max() < 1 and np.all(np.floor(x * 256) == np.stack([i.tokens.ravel() for i in items]))
    mean, var = rng.random(x.shape[1]), rng.uniform(0.01, 0.2, x.shape[1])
    expected = stats.norm.logpdf(x, mean, np.sqrt(var)).sum(1) - x.shape[1] * math.log(256)
    assert DiagonalGaussian(mean, var).log_prob(items) == pytest.approx(expected, rel=1e-10)
    # low rank + isotropic, checked densely on a small dimension
    small = rng.random((4, 12))
    factor, noise, centre = rng.normal(size=(12, 3)), 0.05, rng.random(12)
    dense = stats.multivariate_normal(centre, noise * np.eye(12) + factor @ factor.T).logpdf(small)
    assert LowRankGaussian(centre, noise, factor).log_density(small) == pytest.approx(dense, rel=1e-9)
    assert discrete_log_prob(np.zeros(2), 10).tolist() == [-10 * LOG_LEVELS] * 2  # uniform: ln 256 per dim


def test_dequantised_score_bounds_the_exact_discrete_likelihood():
    """E_u[log p(x)] - D log L <= log P(q) (Jensen); P(q) integrates p over each cell."""
    rng = np.random.default_rng(1)
    mean, sd = rng.uniform(0.3, 0.7, audio_encoding.N_DIMS), rng.uniform(0.005, 0.1, audio_encoding.N_DIMS)
    levels = np.clip(np.floor((mean + sd * rng.standard_normal(mean.size)) * 256), 0, 255)
    cells = stats.norm.cdf((levels + 1) / 256, mean, sd) - stats.norm.cdf(levels / 256, mean, sd)
    exact = np.log(cells).sum()
    model = DiagonalGaussian(mean, sd**2)
    bound = np.mean([model.log_prob([item_of(levels, f"draw{k}")])[0] for k in range(20)])
    assert bound <= exact and bound > exact - 0.05 * audio_encoding.N_DIMS


def test_support_shrinkage_limits(audio_track):
    method = PPCASupport(kappa=1e9)
    method.fit(_meta_train(audio_track), budget=TINY_BUDGET, logdir=audio_track.store.root / "unused")
    episode = audio_track.episode(audio_track.manifest("test").episodes[0])
    global_model = GaussianSupport.adapt(method, [])  # the diagonal global model
    diag = GaussianSupport(kappa=1e9)
    diag.state = method.state
    assert diag.adapt(episode.support).log_prob(episode.query) == pytest.approx(
        global_model.log_prob(episode.query), rel=1e-6)
    diag.kappa = 1e-9  # no prior: the support's own mean and variance
    x = dequantised(episode.support)
    assert diag.adapt(episode.support).mean == pytest.approx(x.mean(0))
    assert method.rank in RANK_GRID


def _meta_train(track: Track):
    from benchmark.contract.protocol import MetaTrainData

    return MetaTrainData(track, seed=0)


def test_audio_baselines_run_through_the_runner_and_adapting_helps(audio_track, tmp_path, capsys):
    for method in ("gaussian-global", "gaussian-support", "ppca-support"):
        evaluate(method, audio_track, shots=5, n_episodes=20, out=tmp_path / "r", budget=TINY_BUDGET,
                 models=tmp_path / "m", log=quiet)
    record = json.loads((tmp_path / "r" / "ppca-support__audio_nsynth__K5.jsonl").read_text().splitlines()[0])
    assert record["units"]["dims"] == [audio_encoding.N_DIMS] * 4
    assert 0 < record["nats_per_token"] < LOG_LEVELS
    run = json.loads((tmp_path / "r" / "ppca-support__audio_nsynth__K5.run.json").read_text())
    assert run["encoding"] == "logmel8" and run["hparams"]["rank"] in RANK_GRID
    from leaderboard.aggregate import leaderboard_rows

    rows = {r.method: r for r in leaderboard_rows(tmp_path / "r")}
    assert rows["gaussian-global"].reference == "gaussian-support" and rows["gaussian-global"].unit == "dims"
    assert rows["ppca-support"].nll_nats_per_token < rows["gaussian-global"].nll_nats_per_token  # adapting helps
    assert rows["ppca-support"].delta_vs_reference < 0
    assert main(["leaderboard", "--results", str(tmp_path / "r")]) == 0
    assert "bits/dim (±95% CI)" in capsys.readouterr().out


def test_methods_refuse_tracks_of_another_modality(audio_track, track, tmp_path):
    with pytest.raises(RegistryError, match="models midi/lyrics tracks, not audio.*gaussian-support"):
        evaluate("lstm", audio_track, shots=5, n_episodes=1, out=tmp_path, budget=TINY_BUDGET, models=tmp_path)
    with pytest.raises(RegistryError, match="models audio tracks, not midi"):
        evaluate("gaussian-global", track, shots=5, n_episodes=1, out=tmp_path, budget=TINY_BUDGET, models=tmp_path)


def test_kernel_statistics_are_unbiased_and_see_a_shift():
    from benchmark.scoring.audio_quality import unbiased_mmd2

    rng = np.random.default_rng(2)

    def rbf(a, b):
        return np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / 2)

    same, shifted = [], []
    for _ in range(300):
        x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
        same.append(unbiased_mmd2(rbf(x, x), rbf(y, y), rbf(x, y)))
        shifted.append(unbiased_mmd2(rbf(x, x), rbf(y + 1.5, y + 1.5), rbf(x, y + 1.5)))
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(300)  # zero in expectation
    assert np.mean(shifted) > 10 * np.std(same) / np.sqrt(300)
    brute = np.mean([rbf(x[i:i + 1], x[j:j + 1])[0, 0] for i in range(6) for j in range(6) if i != j])
    k = rbf(x, x)
    assert (k.sum() - np.trace(k)) / 30 == pytest.approx(brute)


def test_coverage_and_recall_see_mode_collapse():
    from benchmark.scoring.audio_quality import audio_quality

    refs = [np.full(audio_encoding.SHAPE, 50 * i) for i in range(6)]  # six well-separated notes
    perfect = audio_quality(refs, refs)
    assert perfect.precision == perfect.recall == perfect.coverage == 1.0 and perfect.kid < 0.01
    collapsed = audio_quality([refs[0]] * 6, refs)
    assert collapsed.recall < 0.5 and collapsed.coverage <= 0.5 and collapsed.mmd_rbf > perfect.mmd_rbf


def test_audio_samples_are_scored_and_reproducible(audio_track, tmp_path):
    paths = [evaluate("gaussian-support", audio_track, shots=5, n_episodes=3, out=tmp_path / out,
                      budget=TINY_BUDGET, models=tmp_path / "m", samples=6, log=quiet) for out in ("a", "b")]
    first, second = ([json.loads(line) for line in p.read_text().splitlines()] for p in paths)
    metrics = first[0]["quality"]["metrics"]
    assert set(metrics) == {"kid", "mmd_rbf", "precision", "recall", "coverage", "n_samples"}
    assert 0 <= metrics["coverage"] <= 1 and metrics["n_samples"] == 6
    assert [r["quality"] for r in first] == [r["quality"] for r in second]


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
    method, meta = fit_or_load("vae", audio_track, budget=micro, models=tmp_path / "m", seed=0, log=quiet)
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
    path = evaluate("vae", audio_track, shots=5, n_episodes=2, out=tmp_path / "r", budget=micro,
                    models=tmp_path / "m", samples=3, log=quiet)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 2 and set(records[0]["quality"]["geometry"]) == {"support_spread", "sample_spread"}
    assert records[0]["quality"]["geometry"]["support_spread"] > 0


def tiny_rhvae(**overrides):
    import torch

    from benchmark.nn.rhvae import RHVAE, RHVAEConfig

    torch.manual_seed(0)
    return RHVAE(RHVAEConfig(latent=3, width=4, metric_hidden=8, **overrides)).double()


def test_rhvae_metric_is_spd_and_matches_its_formula():
    import torch

    net = tiny_rhvae(temperature=0.8, regularisation=0.05)
    x = torch.rand(4, 64, 64, dtype=torch.float64)
    factors = net.metric_factor(x)
    assert torch.all(torch.diagonal(factors, dim1=1, dim2=2) > 0) and torch.equal(factors, torch.tril(factors))
    centroids, z = torch.randn(4, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    g_inv = net.inverse_metric(z, centroids, factors)
    for b in range(5):
        expected = sum(factors[i] @ factors[i].T * math.exp(-float(((z[b] - centroids[i]) ** 2).sum()) / 0.8**2)
                       for i in range(4)) + 0.05 * torch.eye(3, dtype=torch.float64)
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
    path = evaluate("rhvae", audio_track, shots=5, n_episodes=1, out=tmp_path / "r", budget=micro,
                    models=tmp_path / "m", samples=2, log=quiet)
    record = json.loads(path.read_text())
    assert 0 < record["nats_per_token"] and record["quality"]["metrics"]["n_samples"] == 2
    geometry = record["quality"]["geometry"]
    assert {"log_volume_support", "log_volume_samples"} <= set(geometry)
    assert all(math.isfinite(v) for v in geometry.values())
    run = json.loads(path.with_name(path.name.replace(".jsonl", ".run.json")).read_text())
    assert run["hparams"]["bound"] == "iwae-16" and run["hparams"]["temperature"] == 1.5


def test_ablation_command_writes_the_table_and_plot(tmp_path, capsys):
    root = make_nsynth_corpus(tmp_path / "ns")
    args = ["ablation", "--track", "audio/nsynth", "--data-dir", str(root), "--cache-dir", str(tmp_path / "c"),
            "--workers", "1", "--methods", "gaussian-global,gaussian-support", "--shots", "1,4", "--episodes", "3",
            "--samples", "3", "--out", str(tmp_path / "ab"), "--models", str(tmp_path / "m")]
    assert main(args) == 0
    table = (tmp_path / "ab" / "ablation.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| gaussian")]
    assert len(lines) == 4 and "coverage" in table and "Δ vs gaussian-support" in table
    assert (tmp_path / "ab" / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert table in capsys.readouterr().out
