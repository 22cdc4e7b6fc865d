"""torchrun on the CPU (gloo): 2-process evaluation gives the one-process records (and
resumes), 2-process data-parallel training follows the one-process loss curve; and, in
one process, the ranks' loss shares add up to the one-process loss."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.nn.sequence import (
    LSTMLM,
    LSTMConfig,
    lm_loss,
    pad_batch,
    share_of_mean_nll,
)
from benchmark.nn.transformer import TransformerConfig, TransformerLM
from benchmark.run.records import EpisodeRecord, read_episode_records
from benchmark.runtime.world import World, active_in

TIMING = ("adapt_seconds", "score_seconds")
# Relative tolerance of a 2-process loss curve against the 1-process one: each rank
# computes its rows' losses in its own batch, which changes float rounding only.
CURVE_RTOL = 1e-5


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def fsmb(args: list[str], *, ranks: int, cwd: Path) -> subprocess.CompletedProcess:
    """``fsmb ARGS`` in a subprocess, under ``torchrun --nproc-per-node ranks`` if > 1."""
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}", "-m", "benchmark"]
        if ranks > 1
        else [sys.executable, "-m", "benchmark"]
    )
    done = subprocess.run(
        [*launcher, *args, "--threads", "1"], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_args(midi_root: Path, cache: Path) -> list[str]:
    return ["--track", "midi/dir", "--data-dir", str(midi_root), "--cache-dir", str(cache), "--workers", "1"]


def without_timing(records: list[EpisodeRecord]) -> list[dict]:
    return [{k: v for k, v in asdict(r).items() if k not in TIMING} for r in records]


def train_curve(model_root: Path, method: str) -> list[tuple[int, float]]:
    """(step, train nats/token) of ``method``'s TensorBoard run under ``model_root``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (logs,) = {
        p.parent for p in model_root.rglob("events.out.tfevents.*") if any(part.startswith(method) for part in p.parts)
    }
    events = EventAccumulator(str(logs))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("train/nats_per_token")]


def test_two_process_eval_writes_the_one_process_records_in_the_same_order(midi_root, tmp_path):
    cache, models = tmp_path / "cache", tmp_path / "models"
    common = [
        *data_args(midi_root, cache),
        "--models",
        str(models),
        "--budget",
        "tiny",
        "--steps",
        "4",
        "--episodes",
        "80",
        "--device",
        "cpu",
    ]  # chunks of 32, 32 and 16
    for method in ("lstm-concat", "unigram-support", "finetune"):
        fsmb(["eval", "--method", method, "--out", str(tmp_path / "one"), *common], ranks=1, cwd=tmp_path)
    # finetune, loaded: each rank adapts to whole support sets (scoring is not shared out below the episode)
    fsmb(["eval", "--method", "finetune", "--out", str(tmp_path / "two"), *common], ranks=2, cwd=tmp_path)
    # a run interrupted after its first round (chunks 0 and 1: one per rank; a round's records are appended
    # together, so an interrupted run resumes at a chunk boundary) ...
    interrupted = [a if a != "80" else "64" for a in common]
    fsmb(["eval", "--method", "lstm-concat", "--out", str(tmp_path / "two"), *interrupted], ranks=2, cwd=tmp_path)
    resumed = fsmb(
        ["eval", "--method", "lstm-concat", "--out", str(tmp_path / "two"), *common], ranks=2, cwd=tmp_path
    )  # ... resumed: chunk 2
    assert "64 episodes already scored" in resumed.stdout + resumed.stderr
    assert resumed.stdout.count("records: ") == 1  # rank 0 prints, rank 1 does not
    # unigram-support is fitted again, by rank 0 alone while rank 1 waits, then loaded by rank 1
    fsmb(
        [
            "eval",
            "--method",
            "unigram-support",
            "--out",
            str(tmp_path / "two"),
            *common,
            "--models",
            str(tmp_path / "models-two"),
        ],
        ranks=2,
        cwd=tmp_path,
    )
    for stem in ("lstm-concat__midi-dir__K5", "unigram-support__midi-dir__K5", "finetune__midi-dir__K5"):
        one = read_episode_records(tmp_path / "one" / f"{stem}.jsonl")
        two = read_episode_records(tmp_path / "two" / f"{stem}.jsonl")
        assert len(one) == 80 and [r.episode_id for r in two] == [r.episode_id for r in one]
        assert without_timing(two) == without_timing(one)
        run = json.loads((tmp_path / "two" / f"{stem}.run.json").read_text())
        assert run["env"]["world_size"] == 2 and run["env"]["device"] == "cpu"


def test_two_nodes_through_torchruns_rendezvous_write_the_one_process_records(midi_root, tmp_path):
    """Two torchrun agents on this machine stand in for two machines (``--nnodes 2``,
    c10d rendezvous on one endpoint), one process each: the multi-node command line."""
    common = [
        "eval",
        "--method",
        "unigram-support",
        *data_args(midi_root, tmp_path / "cache"),
        "--budget",
        "tiny",
        "--episodes",
        "40",
        "--device",
        "cpu",
        "--models",
        str(tmp_path / "models"),
        "--threads",
        "1",
    ]
    fsmb([*common[:-2], "--out", str(tmp_path / "one")], ranks=1, cwd=tmp_path)
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                endpoint,
                "--rdzv-id",
                "fsmb-test",
                "-m",
                "benchmark",
                *common,
                "--out",
                str(tmp_path / "two"),
            ],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for node in nodes:
        _, err = node.communicate(timeout=600)
        assert node.returncode == 0, err[-3000:]
    stem = "unigram-support__midi-dir__K5"
    one = read_episode_records(tmp_path / "one" / f"{stem}.jsonl")
    two = read_episode_records(tmp_path / "two" / f"{stem}.jsonl")
    assert len(one) == 40 and without_timing(two) == without_timing(one)
    assert json.loads((tmp_path / "two" / f"{stem}.run.json").read_text())["env"]["world_size"] == 2


@pytest.mark.parametrize("method", ["lstm", "fomaml"])
def test_two_process_training_follows_the_one_process_loss_curve(midi_root, tmp_path, method):
    """lstm: each rank the rows of a batch (dropout masks as one process draws them);
    fomaml (a meta-step per budget step): each rank 2 of the meta-batch's 4 tasks, after
    the data-parallel lstm it starts from."""
    cache = tmp_path / "cache"
    spec = "fomaml[meta_fraction=1.0]" if method == "fomaml" else method
    common = [
        "train",
        "--method",
        spec,
        *data_args(midi_root, cache),
        "--budget",
        "tiny",
        "--steps",
        "6",
        "--device",
        "cpu",
    ]
    fsmb([*common, "--models", str(tmp_path / "one")], ranks=1, cwd=tmp_path)
    fsmb([*common, "--models", str(tmp_path / "two")], ranks=2, cwd=tmp_path)
    one, two = train_curve(tmp_path / "one", method), train_curve(tmp_path / "two", method)
    assert len(one) == len(two) >= 6 and [s for s, _ in one] == [s for s, _ in two]
    assert [v for _, v in two] == pytest.approx([v for _, v in one], rel=CURVE_RTOL)
    (meta,) = (p for p in (tmp_path / "two").rglob("meta.json") if any(x.startswith(method) for x in p.parts))
    assert json.loads(meta.read_text())["trained_on"]["world_size"] == 2
    if method == "lstm":  # cache on that lstm: each rank scores its share of meta-val for the grid search
        selection = [
            "train",
            "--method",
            "cache",
            *data_args(midi_root, cache),
            "--budget",
            "tiny",
            "--steps",
            "6",
            "--device",
            "cpu",
        ]
        for ranks, models in ((1, "one"), (2, "two")):
            fsmb([*selection, "--models", str(tmp_path / models)], ranks=ranks, cwd=tmp_path)
        one, two = (
            [
                row
                for p in (tmp_path / models).rglob("meta.json")
                if "cache" in p.parts
                for row in json.loads(p.read_text())["train_log"]["val_grid"]
            ]
            for models in ("one", "two")
        )
        assert len(one) == len(two) > 1 and [r["val_nats_per_token"] for r in two] == pytest.approx(
            [r["val_nats_per_token"] for r in one], rel=1e-6
        )


def shares(loss_of, ranks: int = 2) -> list[torch.Tensor]:
    """Each rank's ``loss_of()`` computed in this process, from the same random state."""
    state, out = torch.get_rng_state(), []
    for rank in range(ranks):
        torch.set_rng_state(state)
        with active_in(World(rank, ranks)):
            out.append(loss_of())
    return out


def test_rank_shares_of_a_batch_loss_add_up_to_the_one_process_loss():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batch = pad_batch([rng.integers(3, 40, size=rng.integers(4, 30)) for _ in range(5)])  # 5 rows: 3 + 2
    lstm = LSTMLM(LSTMConfig(vocab=40, emb=16, hidden=32, layers=1)).train()  # dropout on: masks as one process's
    state = torch.get_rng_state()
    alone = lm_loss(lstm, batch)
    torch.set_rng_state(state)
    assert sum(shares(lambda: lm_loss(lstm, batch), ranks=2)).item() == pytest.approx(alone.item(), rel=1e-6)
    torch.set_rng_state(state)
    assert sum(shares(lambda: lm_loss(lstm, batch), ranks=3)).item() == pytest.approx(alone.item(), rel=1e-6)
    # the transformer's attention dropout is drawn inside torch's fused kernel: its shares add up with dropout off
    net = TransformerLM(TransformerConfig(vocab=40, d_model=16, layers=1, heads=2, ff=32, context=64)).eval()
    alone = share_of_mean_nll(lambda rows: net(rows[:, :-1]), batch)
    parts = shares(lambda: share_of_mean_nll(lambda rows: net(rows[:, :-1]), batch))
    assert sum(parts).item() == pytest.approx(alone.item(), rel=1e-6)


@pytest.mark.parametrize("command", [["check", "lstm"], ["latency", "--method", "lstm", "--track", "midi/dir"]])
def test_commands_that_run_as_one_process_refuse_torchrun_in_one_line(capsys, monkeypatch, command):
    from benchmark.cli.main import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([*command, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torchrun is for train and eval" in err
