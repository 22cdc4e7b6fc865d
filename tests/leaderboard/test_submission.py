"""`fsmb submit`: a complete run on a published track becomes a bundle the leaderboard
renders; an incomplete, mismatched or edited run or bundle is refused with the reason.
The runs are copies of the published midi/music21 records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmark.cli.main import main

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "main"
STEM = "unigram__midi-music21__K5"


@pytest.fixture
def results(tmp_path) -> Path:
    """A results folder holding a copy of the published unigram run on midi/music21."""
    folder = tmp_path / "results"
    folder.mkdir()
    for suffix in (".jsonl", ".run.json"):
        shutil.copyfile(PUBLISHED / f"{STEM}{suffix}", folder / f"{STEM}{suffix}")
    return folder


def submit(results: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "submit",
            "--results",
            str(results),
            "--method",
            "unigram",
            "--track",
            "midi/music21",
            "--trained-on",
            "none",
            "--out",
            str(out),
            *extra,
        ]
    )


def edit_lines(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def test_a_complete_run_becomes_a_bundle_the_leaderboard_renders(results, tmp_path, capsys):
    assert submit(results, tmp_path / "subs") == 0
    bundle = tmp_path / "subs" / STEM
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        ["bundle.json", "method_card.json", f"{STEM}.jsonl", f"{STEM}.run.json"]
    )
    card = json.loads((bundle / "method_card.json").read_text())
    assert card["name"] == "unigram" and card["target"] == "baselines.unigram:Unigram"
    assert len(card["code"]["source_sha256"]) == 64 and card["training_data"]["declared"] == []
    assert card["training_data"]["track_splits"] == {
        "track": "midi/music21",
        "splits": ["train", "val"],
        "split_key": "hash-v1",
        "corpus_fingerprint": card["training_data"]["track_splits"]["corpus_fingerprint"],
    }
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(bundle), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["method"] == "unigram" and row["episodes"] == 600
    published = json.loads((PUBLISHED / f"{STEM}.run.json").read_text())
    assert row["run_key"] == published["run_key"]
    assert main(["leaderboard", "--results", str(bundle), "--format", "html", "--out", str(tmp_path / "site")]) == 0
    page = (tmp_path / "site" / "midi-music21.html").read_text()  # the site shows the method card
    assert "<h2>Method cards</h2>" in page and card["code"]["source_sha256"] in page


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda lines: lines[:-1], "1 of the 600 episodes of the published manifest are missing"),
        (lambda lines: [lines[0].replace('"nll_nats": [', '"nll_nats": [1.0e-3, ', 1)] + lines[1:], "do not line up"),
        (lambda lines: lines + [lines[0]], "episode test-00000 is recorded twice"),
    ],
)
def test_an_incomplete_or_edited_run_is_refused(results, tmp_path, capsys, damage, reason):
    edit_lines(results / f"{STEM}.jsonl", damage)
    assert submit(results, tmp_path / "subs") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and reason in err, err
    assert not (tmp_path / "subs" / STEM).exists()


def test_a_run_on_other_data_is_refused(results, tmp_path, capsys):
    run = json.loads((results / f"{STEM}.run.json").read_text())
    (results / f"{STEM}.run.json").write_text(json.dumps({**run, "manifest_sha256": "0" * 64}))
    assert submit(results, tmp_path / "subs") == 2
    assert "is not the published" in capsys.readouterr().err
    assert (
        main(
            [
                "submit",
                "--results",
                str(results),
                "--method",
                "unigram",
                "--track",
                "midi/dir",
                "--trained-on",
                "none",
                "--out",
                str(tmp_path / "subs"),
            ]
        )
        == 2
    )
    assert "no published manifest" in capsys.readouterr().err


def test_a_bundle_changed_after_submission_is_refused_by_the_leaderboard(results, tmp_path, capsys):
    assert submit(results, tmp_path / "subs") == 0
    bundle = tmp_path / "subs" / STEM
    # a consistent edit: the query nats and every figure recomputed, so only the hashes can tell
    records = [json.loads(line) for line in (bundle / f"{STEM}.jsonl").read_text().splitlines()]
    records[0]["nll_nats"] = [0.0 for _ in records[0]["nll_nats"]]
    records[0].update(nats_per_token=0.0, bits_per_token=0.0, bits_per={u: 0.0 for u in records[0]["bits_per"]})
    (bundle / f"{STEM}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    capsys.readouterr()
    assert main(["leaderboard", "--results", str(bundle)]) == 2
    err = capsys.readouterr().err
    assert "sha256 differs from bundle.json" in err and len(err.strip().splitlines()) == 1


def test_submit_requires_a_training_data_declaration(results, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "submit",
                "--results",
                str(results),
                "--method",
                "unigram",
                "--track",
                "midi/music21",
                "--out",
                str(tmp_path / "subs"),
            ]
        )
    assert "--trained-on" in capsys.readouterr().err
