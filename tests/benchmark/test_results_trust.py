"""Results files are trusted only as far as they check out: one writer at a time, no
glued or duplicated lines, and leaderboard figures recomputed from the per-item nats."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.run.records import (
    EpisodeRecord,
    RecordError,
    append_record,
    file_stem,
    lock_path,
    read_episode_records,
    read_run,
    results_lock,
    write_run,
)
from leaderboard.aggregate import leaderboard_rows
from tests.records import episode, run_record

REPO = Path(__file__).resolve().parents[2]


def results(tmp_path: Path, records: list[EpisodeRecord]) -> tuple[Path, Path]:
    """A results folder holding one run and ``records``; returns (folder, .jsonl path)."""
    out = tmp_path / "r"
    out.mkdir()
    stem = file_stem("unigram", "midi/music21", 5)
    for r in records:
        append_record(out / f"{stem}.jsonl", r)
    write_run(out / f"{stem}.run.json", run_record())
    return out, out / f"{stem}.jsonl"


# -- one writer per results file --------------------------------------------------

HOLDER = """
import sys
from pathlib import Path
from benchmark.run.records import results_lock
with results_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_second_process_is_refused_while_the_first_writes(tmp_path):
    records = tmp_path / "out" / "x.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(records)], cwd=REPO, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(RecordError) as refused:
            with results_lock(records):
                raise AssertionError("two writers at once")
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith(
            f"{records} is being written by another fsmb process (pid {holder.pid} on {socket.gethostname()} since 20"
        )
        assert message.endswith("wait for it to finish or pass another --out")
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
    with results_lock(records):  # released: now this process writes
        append_record(records, episode(0))
        assert json.loads(lock_path(records).read_text())["pid"] != holder.pid
    assert lock_path(records).exists()  # left in place ...
    assert list((tmp_path / "out").glob("*.jsonl")) == [records]  # ... where no results glob sees it
    assert not list((tmp_path / "out").rglob("*.run.json"))


def test_the_lock_is_released_when_the_writer_fails(tmp_path):
    records = tmp_path / "x.jsonl"
    with pytest.raises(KeyError):
        with results_lock(records):
            with pytest.raises(RecordError, match="being written by another fsmb process"):
                with results_lock(records):  # a second writer, even in the same process
                    pass
            raise KeyError("crash")
    with results_lock(records):
        pass


# -- lines are never glued together ------------------------------------------------


def test_append_after_a_lost_final_newline_starts_a_new_line(tmp_path):
    path = tmp_path / "x.jsonl"
    append_record(path, episode(0))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    append_record(path, episode(1))
    assert [r.episode_id for r in read_episode_records(path)] == ["ep-0", "ep-1"]
    assert path.read_bytes().endswith(b"}\n") and path.read_bytes().count(b"\n") == 2


def test_repair_restores_a_lost_final_newline_and_still_drops_a_cut_line(tmp_path):
    path = tmp_path / "x.jsonl"
    append_record(path, episode(0))
    append_record(path, episode(1))
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])
    assert len(read_episode_records(path)) == 2 and path.read_bytes() == whole[:-1]  # reading alone changes nothing
    assert len(read_episode_records(path, repair=True)) == 2 and path.read_bytes() == whole
    path.write_bytes(whole + b'{"run_key": "cut sh')
    assert len(read_episode_records(path, repair=True)) == 2 and path.read_bytes() == whole


# -- records are read back as the dataclasses written ------------------------------


def test_records_read_back_are_the_dataclasses_written(tmp_path):
    out, path = results(tmp_path, [episode(0), episode(1)])
    assert read_episode_records(path) == [episode(0), episode(1)]
    assert read_run(out / f"{file_stem('unigram', 'midi/music21', 5)}.run.json") == run_record()


@pytest.mark.parametrize(
    "edit, complaint",
    [
        (
            lambda r: {k: v for k, v in r.items() if k != "artist"},
            r"x\.jsonl:1: not an episode record of this FSMB \(missing artist\)",
        ),
        (lambda r: {**r, "colour": "red"}, r"x\.jsonl:1: episode record with unknown fields colour; .*upgrade FSMB"),
        (lambda r: {**r, "format": 99}, r"x\.jsonl:1: a record of kind 'episode' and format 99, not an episode record"),
        (lambda r: {**r, "kind": "run"}, r"x\.jsonl:1: a record of kind 'run'"),
    ],
)
def test_a_record_that_is_not_this_formats_dataclass_is_refused_naming_its_line(tmp_path, edit, complaint):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(edit(dataclasses.asdict(episode(0)))) + "\n")
    with pytest.raises(RecordError, match=complaint):
        read_episode_records(path)


def test_a_run_record_without_its_method_code_or_split_is_refused(tmp_path):
    """What identifies the scored method and the artist split is required: a record
    without them cannot say what it measured (FSMB's own records all carry them)."""
    path = tmp_path / "x.run.json"
    written = dataclasses.asdict(run_record())
    for name in ("method_target", "method_code", "split_key", "data_key"):
        path.write_text(json.dumps({k: v for k, v in written.items() if k != name}))
        with pytest.raises(
            RecordError, match=rf"x\.run\.json: not a run record of this FSMB \(missing {name}\); rerun"
        ):
            read_run(path)


# -- an episode is scored once -----------------------------------------------------


def test_a_duplicated_episode_is_refused_by_the_runner_and_the_leaderboard(tmp_path):
    out, path = results(tmp_path, [episode(0), episode(1), episode(2)])
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + [lines[1]]))
    for read in (
        lambda: read_episode_records(path),
        lambda: read_episode_records(path, repair=True),
        lambda: leaderboard_rows(out),
    ):
        with pytest.raises(RecordError, match=r"episode ep-1 is recorded twice \(lines 2 and 4\)") as refused:
            read()
        assert str(path) in str(refused.value) and "remove one of the lines" in str(refused.value)


def test_the_same_episode_of_another_run_is_not_a_duplicate(tmp_path):
    path = tmp_path / "x.jsonl"
    append_record(path, episode(0))
    append_record(path, episode(0, run_key="0123456789abcdef"))
    assert len(read_episode_records(path)) == 2


# -- stored figures are recomputed -------------------------------------------------


def test_untouched_records_pass_and_rows_use_recomputed_figures(tmp_path):
    eps = [episode(i) for i in range(3)]
    out, _ = results(tmp_path, eps)
    (row,) = leaderboard_rows(out)
    assert row.episodes == 3 and row.unit == "notes"
    assert row.nll_nats_per_token == pytest.approx(sum(e.nats_per_token for e in eps) / 3, rel=1e-15)
    assert row.bits_per_unit == pytest.approx(sum(e.bits_per["notes"] for e in eps) / 3, rel=1e-15)


def test_float_summation_noise_is_tolerated(tmp_path):
    e = episode(1)
    out, _ = results(tmp_path, [episode(0), dataclasses.replace(e, nats_per_token=e.nats_per_token * (1 + 1e-13))])
    (row,) = leaderboard_rows(out)
    assert row.nll_nats_per_token == (episode(0).nats_per_token + e.nats_per_token) / 2  # recomputed, not stored


@pytest.mark.parametrize(
    "edit, figure",
    [
        (lambda r: {**r, "nats_per_token": r["nats_per_token"] * 0.99}, "nats_per_token"),
        (lambda r: {**r, "bits_per_token": r["bits_per_token"] + 1e-6}, "bits_per_token"),
        (lambda r: {**r, "bits_per": {**r["bits_per"], "notes": r["bits_per"]["notes"] - 0.5}}, r"bits_per\[notes\]"),
        (lambda r: {**r, "nll_nats": [r["nll_nats"][0] * 0.5] + r["nll_nats"][1:]}, "nats_per_token"),
    ],
    ids=["nats_per_token", "bits_per_token", "bits_per_notes", "nll_nats"],
)
def test_a_hand_edited_figure_is_refused_with_its_line(tmp_path, edit, figure):
    out, path = results(tmp_path, [episode(0), episode(1), episode(2)])
    lines = path.read_text().splitlines()
    lines[1] = json.dumps(edit(json.loads(lines[1])))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError) as refused:
        leaderboard_rows(out)
    message = str(refused.value)
    assert message.startswith(f"{path}:2: episode ep-1: stored ") and "\n" not in message
    assert re.search(f"stored {figure} .* != .* recomputed from nll_nats and units", message)
    assert message.endswith("delete that line and rerun `fsmb eval` to score it again")


@pytest.mark.parametrize(
    "changes",
    [
        {"nll_nats": [1.0, 2.0]},  # fewer nats than query items
        {"query_ids": ["a", "b", "c", "d"]},
        {"units": {"tokens": [12, 9, 7], "notes": [4, 3]}},
        {"nll_nats": [1.0, math.inf, 2.0]},
        {"nll_nats": [1.0, math.nan, 2.0]},
    ],
    ids=["short_nll", "long_query_ids", "short_units", "inf_nll", "nan_nll"],
)
def test_lists_that_do_not_line_up_or_are_not_finite_are_refused(tmp_path, changes):
    out, path = results(tmp_path, [episode(0), episode(1, **changes)])
    with pytest.raises(RecordError, match=rf"^{re.escape(str(path))}:2: episode ep-1: .*rerun `fsmb eval`"):
        leaderboard_rows(out)


# -- a results folder must hold results ---------------------------------------------


def test_a_folder_without_run_records_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    unrelated = tmp_path / "unrelated"
    (unrelated / "sub").mkdir(parents=True)
    (unrelated / "notes.txt").write_text("hello")
    append_record(unrelated / "sub" / "running.jsonl", episode(0))  # an eval still running: no run.json yet
    for folder in (empty, unrelated):
        with pytest.raises(RecordError, match=r"holds no run records \(\*\.run\.json\); run `fsmb eval --out"):
            leaderboard_rows(folder)
