"""Time estimates: ``fsmb`` says how long a corpus build and each quickstart run will
take before it starts them."""

from __future__ import annotations

import re

from benchmark.cli import main as cli
from benchmark.cli import quickstart
from benchmark.contract.protocol import BUDGETS
from benchmark.run.durations import run_estimate
from episodes.synthetic import make_nsynth_corpus
from episodes.timing import Rate, approx


def test_durations_read_as_seconds_minutes_or_hours():
    assert [approx(s) for s in (0.2, 40, 150, 7200)] == ["<1 s", "~40 s", "~2.5 min", "~2.0 h"]
    rate = Rate(0.1, "piece", "measured here")
    assert rate.estimate(300, 2) == 15.0
    assert rate.line("parse x", 300, 2) == (
        "parse x: 300 pieces on 2 workers, ~15 s (at 0.1 s per piece and process, measured here)"
    )


def test_data_build_prints_its_estimate_before_parsing(capsys, tmp_path):
    root = make_nsynth_corpus(tmp_path / "ns", n_instruments=3, notes=12)  # 36 notes: two chunks, two workers
    assert (
        cli.main(
            [
                "data",
                "build",
                "--track",
                "audio/nsynth",
                "--data-dir",
                str(root),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--workers",
                "2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    estimate = re.search(
        r"^parse nsynth: 36 notes on 2 workers, <1 s \(at [0-9.]+ s per note and process, "
        r"measured on 2 idle cores.*\)$",
        out,
        re.MULTILINE,
    )
    assert estimate and estimate.start() < out.index("built nsynth: 36 items")


def test_quick_runs_of_the_quickstart_baselines_are_estimated():
    quick = BUDGETS["quick"]
    line = run_estimate("lstm", "midi/music21", quick, 100)
    assert line == "lstm: training ~2.0 min (250 steps), scoring ~3 s (100 episodes) (measured on 2 idle cores)"
    assert "~4.0 min (500 steps)" in run_estimate("lstm", "midi/music21", quick.with_steps(500), 100)
    assert run_estimate("lstm", "midi/dir", quick, 100) is None  # nothing measured
    assert run_estimate("lstm", "midi/music21", BUDGETS["tiny"], 100) is None  # another batch size


def test_quickstart_prints_an_estimate_before_each_long_run(capsys, monkeypatch, tmp_path, track):
    from benchmark.run import runner
    from episodes.sources import fortunes
    from leaderboard import aggregate

    calls = []
    monkeypatch.setattr(quickstart, "open_track", lambda args, **_: track)  # the small midi/dir track, as midi/music21
    monkeypatch.setattr(runner, "evaluate", lambda spec, *_, **__: calls.append(spec.label))
    monkeypatch.setattr(aggregate, "leaderboard_rows", lambda results: [])
    monkeypatch.setattr(fortunes, "DEFAULT_ROOT", tmp_path / "no-fortunes")
    monkeypatch.setattr(
        quickstart, "check_dependencies", lambda names: (_ for _ in ()).throw(quickstart.DependencyError("no"))
    )
    assert cli.main(["quickstart", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert calls == ["lstm", "lstm-concat", "unigram", "unigram-support"]
    assert out.index("    lstm: training ~2.0 min (250 steps)") < out.index("[2/2] leaderboard")
