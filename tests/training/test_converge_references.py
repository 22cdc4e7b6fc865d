"""`benchmarks/converge_references.py`'s plan: which published rows are done, still to
train, or superseded (replaced by hand, so not rerun)."""

from __future__ import annotations

import json

import pytest

from tests.scripts import load_script

converge = load_script("converge_references")


def write_record(path, budget: str):
    path.write_text(json.dumps({"budget": {"name": budget}}))
    return path


@pytest.mark.parametrize("kept_aside", [False, True])
def test_a_published_row_is_done_at_the_budget_and_todo_below_it(tmp_path, kept_aside):
    staged = tmp_path / "staged.run.json"
    assert (
        converge.row_state(kept_aside, write_record(tmp_path / "a.run.json", "converge"), staged, "converge") == "done"
    )
    assert converge.row_state(kept_aside, write_record(tmp_path / "b.run.json", "full"), staged, "converge") == "todo"


def test_a_row_kept_aside_is_superseded_unless_its_rerun_is_staged(tmp_path):
    current, staged = tmp_path / "main.run.json", tmp_path / "staged.run.json"
    assert converge.row_state(True, current, staged, "converge") == "superseded"
    write_record(staged, "converge")  # interrupted between moving the old row aside and publishing the new one
    assert converge.row_state(True, current, staged, "converge") == "todo"
    assert converge.row_state(False, current, tmp_path / "none", "converge") == "todo"  # never published: train it
