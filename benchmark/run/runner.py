"""The runner: fit (or load) a method, then score it on a fixed manifest.

The runner owns batching over episodes, timing and record writing; methods only
adapt and score.  An interrupted evaluation resumes: episodes already in the
results file are skipped, a half-written last line is dropped.  One process at a
time writes a results file (`benchmark.run.records.results_lock`): a second is refused
before any training.  Fitted models are kept per dataset (`model_dir`), so two
datasets sharing ``--models`` never replace each other's models.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from benchmark.contract.methods import MethodSpec, check_modality, make_method
from benchmark.contract.overrides import apply_overrides, trained_label
from benchmark.contract.protocol import Budget, Declared, Deployable, MetaTrainData, Method, TrainLogged
from benchmark.contract.registry import target_of
from benchmark.cost.onnx_export import deployed_cost
from benchmark.run.arguments import check_count, writable_dir
from benchmark.run.env import environment, git_sha
from benchmark.run.records import (
    EpisodeRecord,
    RecordError,
    RunRecord,
    append_record,
    exclusive_lock,
    file_stem,
    read_episode_records,
    read_run,
    results_lock,
    safe_name,
    write_run,
)
from benchmark.runtime.distributed import broadcast_from_main, gather
from benchmark.runtime.world import SOLO, active_in, active_world
from benchmark.scoring.nll import ScoredEpisode, scored_chunks
from benchmark.scoring.previews import preview_folder, write_previews
from benchmark.scoring.quality import episode_quality, sample_generator
from benchmark.training.identity import NOT_MODEL, code_identity, fitted_identity
from benchmark.training.loop import CHECKPOINT_FILE
from episodes.atomic import canonical_json, write_json
from episodes.manifest import EpisodeSpec, Manifest
from episodes.tracks import Track

CHUNK_EPISODES = 32


def model_dir(models: Path, method: str, track: Track, budget: Budget, seed: int) -> Path:
    """Where a fitted method lives:
    ``<models>/<track>/<data key>/<method>/<budget>-seed<seed>/``, where the data key
    (`episodes.tracks.Track.data_key`) identifies the corpus and its artist split."""
    return Path(models) / track.spec.slug / track.data_key / safe_name(method) / f"{safe_name(budget.name)}-seed{seed}"


def fit_lock_path(where: Path) -> Path:
    """The lock held while a process fits the model folder ``where``: a hidden file beside
    it (inside, `clear_model_files` and a retraining's removal would delete it)."""
    return where.with_name(f".{where.name}.lock")


def has_checkpoint(where: Path) -> bool:
    """Whether the model folder ``where`` holds a training checkpoint (`train_loop`'s;
    compressed variants keep one per round under ``logs/``)."""
    return (where / "logs").is_dir() and any((where / "logs").rglob(CHECKPOINT_FILE))


def clear_model_files(where: Path) -> None:
    """Make ``where`` an empty folder for ``save``, but for the runner's own entries
    (`benchmark.training.identity.NOT_MODEL`: the training logs): files of an
    interrupted save are not taken for part of the new model."""
    where.mkdir(parents=True, exist_ok=True)
    for entry in where.iterdir():
        if entry.name in NOT_MODEL:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def fit_or_load(
    method: Method,
    track: Track,
    *,
    budget: Budget,
    models: Path,
    seed: int,
    retrain: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[Method, dict]:
    """A fitted method: loaded from ``models`` if trained before, else trained and saved.

    ``method``: a new method (`benchmark.contract.methods.make_method`), fitted or
    loaded in place.  Returns it and its training metadata (budget, seed, corpus, train
    log, identity, the device it was trained on).  A base method it asks for by name
    (``data.pretrained("lstm")``) is built once and fitted or loaded the same way.

    Under torchrun every rank calls this: a method that declares ``data_parallel`` is
    fitted by all ranks together (`benchmark.runtime.distributed`); any other is fitted
    by rank 0 alone while the others wait, then loaded by them.  Rank 0 writes the files.
    """
    check_modality(method.name, method, track.spec.modality, track.spec.name)
    label = trained_label(method)
    where = model_dir(models, label, track, budget, seed)
    meta_path = where / "meta.json"
    world = active_world()
    # rank 0 alone decides between loading and fitting: a rank that looked later could see
    # a meta.json that rank 0 has just written, and skip the collectives of the fit
    meta = broadcast_from_main(reusable_meta(meta_path, method, track, retrain, where, log) if world.is_main else None)
    if meta is not None:
        method.load(where)
        log(f"loaded {label} from {where}")
        return method, meta
    if world.size > 1 and not Declared.of(method).data_parallel:
        # rank 0 fits alone (the others wait), then every other rank loads what it saved
        if world.is_main:
            with active_in(SOLO):
                fitted = fit_or_load(method, track, budget=budget, models=models, seed=seed, retrain=retrain, log=log)
        world.barrier()
        if not world.is_main:
            with active_in(SOLO):
                fitted = fit_or_load(method, track, budget=budget, models=models, seed=seed, log=log)
        return fitted
    # one process fits a model folder at a time; one that waited for another loads what it fitted
    busy = (
        f"{where} is being trained by another fsmb process ({{holder}}); wait for it to finish (its model "
        "is then loaded) or pass another --models"
    )
    with exclusive_lock(fit_lock_path(where), busy) if world.is_main else contextlib.nullcontext():
        meta = broadcast_from_main(
            reusable_meta(meta_path, method, track, retrain, where, lambda _: None) if world.is_main else None
        )
        if meta is not None:
            method.load(where)
            log(f"loaded {label} from {where}")
            return method, meta
        if meta_path.exists() and world.is_main:  # a finished model is replaced: do not resume its training state
            shutil.rmtree(where)
        world.barrier()
        resuming = has_checkpoint(where)
        log(
            f"{'resuming the training of' if resuming else 'training'} {label} on {track.spec.name} meta-train "
            f"(budget {budget.name}) -> {where}"
            + (f", data-parallel over {world.size} processes" if world.size > 1 else "")
        )
        started = time.perf_counter()
        data = MetaTrainData(
            track,
            seed=seed,
            pretrained=lambda name: fit_or_load(
                make_method(name), track, budget=budget, models=models, seed=seed, log=log
            )[0],
        )
        torch.manual_seed(seed)  # as `fsmb check` does: a method drawing from torch's global generator is seeded
        method.fit(data, budget=budget, logdir=where / "logs")
        if not world.is_main:  # every rank holds the same fitted weights; rank 0 saves them
            world.barrier()
            return method, json.loads(meta_path.read_text())
        clear_model_files(where)
        method.save(where)  # meta.json is written only after save returns: a half-saved model is retrained
        meta = {
            "method": label,
            "method_target": target_of(type(method)),
            "method_version": method.version,
            "hparams": method.hparams(),
            "budget": budget.to_dict(),
            "seed": seed,
            "track": track.spec.name,
            "corpus_fingerprint": track.store.fingerprint,
            "split_key": track.split_key,
            "data_key": track.data_key,
            "train_seconds": round(time.perf_counter() - started, 2),
            "train_log": method.train_log if isinstance(method, TrainLogged) else {},
            "state_sha256": fitted_identity(method, where),
            "trained_on": {
                **{k: v for k, v in environment().items() if k in ("device", "device_name")},
                "world_size": world.size,
            },
        }
        write_json(meta_path, meta)
        world.barrier()
        return method, meta


def reusable_meta(
    meta_path: Path, method: Method, track: Track, retrain: bool, where: Path, log: Callable[[str], None]
) -> dict | None:
    """The ``meta.json`` of a model fitted before that can be loaded instead of fitting
    ``method`` again (same corpus, version and class; not ``retrain``), else ``None``."""
    if retrain or not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    if (
        meta["corpus_fingerprint"] == track.store.fingerprint
        and meta["method_version"] == method.version
        and meta.get("method_target") == target_of(type(method))
    ):
        return meta
    log(
        f"{where} holds {meta.get('method_target') or meta['method']} v{meta['method_version']} fitted on "
        f"another corpus or by another version (now {target_of(type(method))} v{method.version}): retraining"
    )
    return None


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
    foreign = {r.run_key for r in existing} - {run_key}
    if foreign:
        raise RecordError(
            f"{records_path} holds results of another configuration of {label} "
            f"(run {sorted(foreign)[0]}); move it away or pass another --out"
        )
    done = {r.episode_id for r in existing}
    todo = [s for s in specs if s.episode_id not in done]
    if done:
        log(f"resuming: {len(done)} episodes already scored in {records_path}, {len(todo)} to go")
    return todo


@dataclass(frozen=True)
class Run:
    """One evaluation: what is scored (``label`` on ``manifest``'s first episodes
    ``specs``), with what (the fitted ``method``), and where its files go."""

    label: str
    track: Track
    manifest: Manifest
    specs: Sequence[EpisodeSpec]
    method: Method
    train_meta: dict
    run_key: str
    records_path: Path
    run_path: Path
    samples: int
    seed: int


def score_and_record(run: Run, todo: Sequence[EpisodeSpec]) -> None:
    """Score the episodes ``todo`` in chunks of `CHUNK_EPISODES` (one batch each, with a
    progress bar) and append one `EpisodeRecord` each, in the order of ``todo``; the
    records of the run's first chunk also hold the FLOPs of adapting and scoring, counted
    in a second, untimed pass over it (`benchmark.scoring.nll.scored_chunks`).

    Under torchrun (`benchmark.runtime.distributed`) chunk *c* goes to rank *c mod N*:
    the chunk, not the episode, is the unit shared out, because a batched method's float
    rounding depends on which episodes share its batch, and a rank scoring the very
    batches of a one-process run writes the very same records.  Rank 0 gathers each
    round of N chunks and appends their records in order, so an interrupted run resumes
    as a one-process run does."""
    world = active_world()
    chunks = [todo[start : start + CHUNK_EPISODES] for start in range(0, len(todo), CHUNK_EPISODES)]
    with tqdm(
        total=len(todo), desc=f"eval {run.label} K={run.manifest.shots}", unit="episode", disable=not world.is_main
    ) as bar:
        for first in range(0, len(chunks), world.size):
            mine = chunks[first + world.rank] if first + world.rank < len(chunks) else []
            episodes = [run.track.episode(s) for s in mine]
            # the chunk of the run's first episode also counts its FLOPs (`scored_chunks`)
            count = bool(mine) and mine[0].episode_id == run.specs[0].episode_id
            with active_in(SOLO):  # scoring is one process's work (finetune's loss is not shared out)
                records = [
                    episode_record(run, scored)
                    for part in scored_chunks(run.method, [episodes] if mine else [], count=count)
                    for scored in part
                ]
            for share in gather(records):
                if world.is_main:
                    for record in share:
                        append_record(run.records_path, record)
                bar.update(len(share))


def episode_record(run: Run, scored: ScoredEpisode) -> EpisodeRecord:
    """The record of one scored episode (with sample quality when ``run.samples``)."""
    episode, score = scored.episode, scored.score
    quality = None
    if run.samples:
        modality = run.track.spec.modality
        keep = None
        if episode.episode_id == run.specs[0].episode_id:  # the run's first episode: previews beside the records

            def keep(drawn: list) -> None:
                write_previews(
                    preview_folder(run.records_path),
                    run_key=run.run_key,
                    method=run.label,
                    track=run.track.spec.name,
                    shots=run.manifest.shots,
                    modality=modality,
                    episode_id=episode.episode_id,
                    artist=episode.artist,
                    drawn=drawn,
                )

        quality = episode_quality(
            modality,
            scored.adapted,
            episode.query,
            n=run.samples,
            max_len=run.track.spec.max_tokens,
            generator=sample_generator(run.seed, episode.episode_id),
            keep=keep,
        )
    return EpisodeRecord(
        run_key=run.run_key,
        method=run.label,
        track=run.track.spec.name,
        shots=run.manifest.shots,
        split=run.manifest.split,
        episode_id=episode.episode_id,
        artist=episode.artist,
        manifest_sha256=run.manifest.sha256,
        support_ids=[it.item_id for it in episode.support],
        query_ids=[it.item_id for it in episode.query],
        nll_nats=list(score.nll_nats),
        units={u: list(v) for u, v in score.units.items()},
        nats_per_token=score.per_unit("tokens"),
        bits_per_token=score.bits_per("tokens"),
        bits_per={u: score.bits_per(u) for u in score.units},
        adapt_seconds=scored.adapt_seconds,
        score_seconds=scored.score_seconds,
        adapt_flops=scored.adapt_flops,
        score_flops=scored.score_flops,
        quality=quality,
    )


def generation_cost(method: Method) -> dict | None:
    """The counted cost of the method's generation step, if it defines ``inference_step``
    (with its ONNX graph's counts where the step exports: `deployed_cost`)."""
    step = method.inference_step() if isinstance(method, Deployable) else None
    return deployed_cost(step).to_dict() if step is not None else None


def run_record(run: Run, budget: Budget, *, started: str, wall_seconds: float, eval_seconds: float) -> RunRecord:
    """Everything needed to reproduce and interpret the run."""
    track, method, manifest = run.track, run.method, run.manifest
    return RunRecord(
        run_key=run.run_key,
        method=run.label,
        method_target=target_of(type(method)),
        method_code=code_identity(type(method)),
        cost=generation_cost(method),
        method_version=method.version,
        hparams=method.hparams(),
        budget=budget.to_dict(),
        train={k: run.train_meta.get(k) for k in ("train_seconds", "train_log", "seed", "state_sha256")},
        track=track.spec.name,
        track_version=track.spec.version,
        track_spec=track.spec.to_dict(),
        stand_in=track.spec.stand_in,
        source_version=track.store.meta["source_version"],
        encoding=track.store.meta["encoding"],
        encoding_version=track.store.meta["encoding_version"],
        corpus_fingerprint=track.store.fingerprint,
        split_key=track.split_key,
        data_key=track.data_key,
        split=manifest.split,
        shots=manifest.shots,
        query_size=manifest.query_size,
        manifest_sha256=manifest.sha256,
        manifest_episodes=len(manifest.episodes),
        episodes_evaluated=len(run.specs),
        params=method.n_params(),
        seed=run.seed,
        git_sha=git_sha(),
        env=environment(),
        started=started,
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        wall_seconds=round(wall_seconds, 2),
        eval_seconds=round(eval_seconds, 2),
    )


def evaluate(
    spec: MethodSpec,
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
    log: Callable[[str], None] = print,
) -> Path:
    """Score the method of ``spec`` on the first ``n_episodes`` of the fixed (split, K)
    manifest: its method is fitted or loaded (`fit_or_load`), then given the spec's
    evaluation-time settings (`benchmark.contract.overrides`); the run is recorded under
    ``spec.label`` (``name[setting=value,...]`` for a variant).

    ``samples > 0`` also draws that many samples per episode from the adapted model
    and records their quality (`benchmark.scoring.quality`).  Returns the path
    of the episode-records file.
    """
    check_count("--episodes", n_episodes, minimum=1)
    check_count("--samples", samples, minimum=0)
    label = spec.label
    stem = file_stem(label, track.spec.name, shots) + ("" if split == "test" else f"__{split}")
    records_path, run_path = writable_dir(out, "--out") / f"{stem}.jsonl", out / f"{stem}.run.json"
    world = active_world()
    # a second writer is refused before any training; under torchrun rank 0 writes for all
    with results_lock(records_path) if world.is_main else contextlib.nullcontext():
        started_wall = time.perf_counter()
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest = track.manifest(split, shots)
        specs = manifest.episodes[: n_episodes or len(manifest.episodes)]
        method, train_meta = fit_or_load(spec.method, track, budget=budget, models=models, seed=seed, log=log)
        apply_overrides(method, spec.overrides)
        run = Run(
            label,
            track,
            manifest,
            specs,
            method,
            train_meta,
            run_key_of(label, method, train_meta["state_sha256"], manifest.sha256, samples),
            records_path,
            run_path,
            samples,
            seed,
        )
        eval_started = time.perf_counter()
        todo = broadcast_from_main(
            episodes_to_score(records_path, run.run_key, label, specs, log) if world.is_main else []
        )
        score_and_record(run, todo)
        if world.is_main and not (not todo and run_path.exists() and read_run(run_path).run_key == run.run_key):
            # a complete run's record stays as written by the machine that scored it
            write_run(
                run_path,
                run_record(
                    run,
                    budget,
                    started=started,
                    wall_seconds=time.perf_counter() - started_wall,
                    eval_seconds=time.perf_counter() - eval_started,
                ),
            )
        world.barrier()  # the results are complete on disk when any rank returns
        return records_path
