"""The runner: fit (or load) a method, then score it on a fixed manifest.

The runner owns batching over episodes, timing and record writing; methods only
adapt and score.  An interrupted evaluation resumes: episodes already in the
results file are skipped, a half-written last line is dropped.  One process at a
time writes a results file (`benchmark.run.records.results_lock`): a second is refused
before any training.  Fitted models are kept per dataset (`model_dir`), so two
datasets sharing ``--models`` never replace each other's models.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tqdm.auto import tqdm

from benchmark.contract.methods import METHODS, check_modality, make_method
from benchmark.contract.overrides import apply_overrides
from benchmark.contract.protocol import Budget, MetaTrainData, Method
from benchmark.run.arguments import check_count, writable_dir
from benchmark.run.env import environment, git_sha
from benchmark.run.records import (
    EpisodeRecord,
    RecordError,
    RunRecord,
    append_record,
    file_stem,
    read_episode_records,
    results_lock,
    safe_name,
    write_run,
)
from benchmark.scoring.nll import adapt_all, episode_score, log_prob_all
from benchmark.scoring.quality import episode_quality, sample_generator
from benchmark.training.identity import state_identity
from episodes.atomic import canonical_json, write_json
from episodes.manifest import EpisodeSpec
from episodes.tracks import Track

CHUNK_EPISODES = 32


def model_dir(models: Path, method: str, track: Track, budget: Budget, seed: int) -> Path:
    """Where a fitted method lives:
    ``<models>/<track>/<data key>/<method>/<budget>-seed<seed>/``, where the data key
    (`episodes.tracks.Track.data_key`) identifies the corpus and its artist split."""
    return Path(models) / track.spec.slug / track.data_key / safe_name(method) / f"{budget.name}-seed{seed}"


def fit_or_load(
    method_name: str,
    track: Track,
    *,
    budget: Budget,
    models: Path,
    seed: int,
    retrain: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[Method, dict]:
    """A fitted method: loaded from ``models`` if trained before, else trained and saved.

    Returns the method and its training metadata (budget, seed, corpus, train log).
    """
    method = make_method(method_name)
    check_modality(method_name, method, track.spec.modality, track.spec.name)
    where = model_dir(models, method_name, track, budget, seed)
    meta_path = where / "meta.json"
    if meta_path.exists() and not retrain:
        meta = json.loads(meta_path.read_text())
        if meta["corpus_fingerprint"] == track.store.fingerprint and meta["method_version"] == method.version:
            method.load(where)
            log(f"loaded {method_name} from {where}")
            return method, meta
        log(f"{where} holds {method_name} v{meta['method_version']} (now v{method.version}) or was edited: retraining")
    if meta_path.exists():  # a finished model is replaced: do not resume its training state
        shutil.rmtree(where)
    log(f"training {method_name} on {track.spec.name} meta-train (budget {budget.name}) -> {where}")
    started = time.perf_counter()
    data = MetaTrainData(
        track,
        seed=seed,
        pretrained=lambda name: fit_or_load(name, track, budget=budget, models=models, seed=seed, log=log)[0],
    )
    method.fit(data, budget=budget, logdir=where / "logs")
    method.save(where)
    meta = {
        "method": method_name,
        "method_version": method.version,
        "hparams": method.hparams(),
        "budget": budget.to_dict(),
        "seed": seed,
        "track": track.spec.name,
        "corpus_fingerprint": track.store.fingerprint,
        "split_key": track.split_key,
        "data_key": track.data_key,
        "train_seconds": round(time.perf_counter() - started, 2),
        "train_log": getattr(method, "train_log", {}),
        "state_sha256": state_identity(where, method.hparams()),
    }
    write_json(meta_path, meta)
    return method, meta


def run_key_of(label: str, method: Method, state_sha256: str, manifest_sha256: str, samples: int) -> str:
    """16 hex digits identifying what a run scores: the method's label, version and
    settings, the fitted model, the manifest, and the number of samples drawn."""
    return hashlib.sha256(
        canonical_json(
            {
                "method": label,
                "version": method.version,
                "hparams": method.hparams(),
                "state": state_sha256,
                "manifest": manifest_sha256,
                **({"samples": samples} if samples else {}),
            }
        )
    ).hexdigest()[:16]


def episodes_to_score(
    records_path: Path, run_key: str, label: str, specs: Sequence[EpisodeSpec], log: Callable[[str], None]
) -> list[EpisodeSpec]:
    """The episodes of ``specs`` not yet in ``records_path`` (repairing a half-written
    last line); a file holding another run's records is refused."""
    existing = read_episode_records(records_path, repair=True)
    foreign = {r["run_key"] for r in existing} - {run_key}
    if foreign:
        raise RecordError(
            f"{records_path} holds results of another configuration of {label} "
            f"(run {sorted(foreign)[0]}); move it away or pass another --out"
        )
    done = {r["episode_id"] for r in existing}
    todo = [s for s in specs if s.episode_id not in done]
    if done:
        log(f"resuming: {len(done)} episodes already scored in {records_path}, {len(todo)} to go")
    return todo


def evaluate(
    method_name: str,
    track: Track,
    *,
    shots: int,
    n_episodes: int | None,
    out: Path,
    budget: Budget,
    models: Path,
    seed: int = 0,
    split: str = "test",
    samples: int = 0,
    overrides: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Score ``method_name`` on the first ``n_episodes`` of the fixed (split, K) manifest.

    ``samples > 0`` also draws that many samples per episode from the adapted model
    and records their quality (`benchmark.scoring.quality`).  ``overrides`` sets evaluation-time
    settings of the fitted method (`benchmark.contract.overrides`); the run is then recorded as
    the variant ``method[name=value,...]``.  Returns the path of the episode-records file.
    """
    METHODS.target(method_name)  # an unknown name fails here, before any work, with "did you mean"
    check_count("--episodes", n_episodes, minimum=1)
    check_count("--samples", samples, minimum=0)
    label = apply_overrides(make_method(method_name), method_name, overrides)  # a bad --set fails here too
    stem = file_stem(label, track.spec.name, shots) + ("" if split == "test" else f"__{split}")
    records_path, run_path = writable_dir(out, "--out") / f"{stem}.jsonl", out / f"{stem}.run.json"
    with results_lock(records_path):  # a second writer is refused before any training
        started_wall = time.perf_counter()
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest = track.manifest(split, shots)
        specs = manifest.episodes[: n_episodes or len(manifest.episodes)]
        method, train_meta = fit_or_load(method_name, track, budget=budget, models=models, seed=seed, log=log)
        apply_overrides(method, method_name, overrides)
        run_key = run_key_of(label, method, train_meta["state_sha256"], manifest.sha256, samples)
        todo = episodes_to_score(records_path, run_key, label, specs, log)

        eval_started = time.perf_counter()
        bar = tqdm(total=len(todo), desc=f"eval {label} K={shots}", unit="episode")
        with bar:
            for start in range(0, len(todo), CHUNK_EPISODES):
                part = [track.episode(s) for s in todo[start : start + CHUNK_EPISODES]]
                t0 = time.perf_counter()
                adapted = adapt_all(method, [e.support for e in part])
                t1 = time.perf_counter()
                scores = log_prob_all(method, adapted, [e.query for e in part])
                t2 = time.perf_counter()
                for episode, log_probs, model in zip(part, scores, adapted):
                    score = episode_score(episode.query, log_probs)
                    quality = None
                    if samples:
                        quality = episode_quality(track.spec.modality, model, episode.query, n=samples,
                                                  max_len=track.spec.max_tokens,
                                                  generator=sample_generator(seed, episode.episode_id))
                    append_record(
                        records_path,
                        EpisodeRecord(
                            run_key=run_key,
                            method=label,
                            track=track.spec.name,
                            shots=shots,
                            split=split,
                            episode_id=episode.episode_id,
                            artist=episode.artist,
                            manifest_sha256=manifest.sha256,
                            support_ids=[it.item_id for it in episode.support],
                            query_ids=[it.item_id for it in episode.query],
                            nll_nats=list(score.nll_nats),
                            units={u: list(v) for u, v in score.units.items()},
                            nats_per_token=score.per_unit("tokens"),
                            bits_per_token=score.bits_per("tokens"),
                            bits_per={u: score.bits_per(u) for u in score.units},
                            adapt_seconds=(t1 - t0) / len(part),
                            score_seconds=(t2 - t1) / len(part),
                            quality=quality,
                        ),
                    )
                bar.update(len(part))

        source_version = track.store.meta["source_version"]
        write_run(
            run_path,
            RunRecord(
                run_key=run_key,
                method=label,
                method_version=method.version,
                hparams=method.hparams(),
                budget=budget.to_dict(),
                train={k: train_meta.get(k) for k in ("train_seconds", "train_log", "seed", "state_sha256")},
                track=track.spec.name,
                track_version=track.spec.version,
                track_spec=track.spec.to_dict(),
                stand_in=track.spec.stand_in,
                source_version=source_version,
                encoding=track.store.meta["encoding"],
                encoding_version=track.store.meta["encoding_version"],
                corpus_fingerprint=track.store.fingerprint,
                split_key=track.split_key,
                data_key=track.data_key,
                split=split,
                shots=shots,
                query_size=manifest.query_size,
                manifest_sha256=manifest.sha256,
                manifest_episodes=len(manifest.episodes),
                episodes_evaluated=len(specs),
                params=method.n_params(),
                seed=seed,
                git_sha=git_sha(),
                env=environment(),
                started=started,
                finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                wall_seconds=round(time.perf_counter() - started_wall, 2),
                eval_seconds=round(time.perf_counter() - eval_started, 2),
            ),
        )
        return records_path
