"""The leaderboard site: escaping, previews, and sorting in a real (headless Chromium) browser."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from benchmark.cli.main import main
from benchmark.contract.methods import MethodSpec
from benchmark.run.records import RecordError
from benchmark.scoring.previews import preview_folder, write_previews
from leaderboard.aggregate import leaderboard_rows
from leaderboard.site import MARKER, write_site
from tests.browser import chromium
from tests.conftest import TEST_BUDGET

HOSTILE = "<script>alert(1)</script>"
HOSTILE_TEXT = '<img src=x onerror=alert(2)> & "quotes"'
# Where the browser test leaves its screenshot (CI keeps the folder; git ignores it).
ARTIFACTS = Path(os.environ.get("FSMB_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))


@pytest.fixture(scope="module")
def results(track, tmp_path_factory) -> Path:
    """Two scored runs on the synthetic MIDI track, 20 episodes each."""
    from benchmark.run.runner import evaluate

    out = tmp_path_factory.mktemp("results")
    for method in ("unigram", "unigram-support"):
        evaluate(
            MethodSpec.parse(method),
            track,
            shots=5,
            n_episodes=20,
            out=out,
            budget=TEST_BUDGET,
            models=tmp_path_factory.mktemp("models"),
            log=lambda m: None,
        )
    return out


def hostile_rows(results: Path) -> list:
    """The real rows, plus a copy of one named `HOSTILE`, with a lyrics preview of
    `HOSTILE_TEXT` written beside the results."""
    rows = leaderboard_rows(results)
    bad = dataclasses.replace(rows[0], method=HOSTILE, run_key="hostile-run", reference=HOSTILE)
    write_previews(
        results / "hostile.samples",
        run_key="hostile-run",
        method=HOSTILE,
        track=rows[0].track,
        shots=5,
        modality="lyrics",
        episode_id=HOSTILE,
        artist=HOSTILE_TEXT,
        drawn=[HOSTILE_TEXT],
    )
    return rows + [bad]


def test_site_escapes_every_record_string(results, tmp_path):
    site = tmp_path / "site"
    write_site(hostile_rows(results), [results], site)
    pages = {p.name: p.read_text(encoding="utf-8") for p in site.glob("*.html")}
    assert set(pages) == {"index.html", "midi-dir.html"}
    text = "".join(pages.values())
    assert HOSTILE not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["midi-dir.html"]
    assert "&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quotes&quot;" in pages["midi-dir.html"]
    assert text.count("<script") == len(pages)  # only the site's own sort.js, once per page


def test_site_is_replaced_whole_and_never_over_a_foreign_folder(results, tmp_path):
    rows = leaderboard_rows(results)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(RecordError, match="not a site fsmb wrote"):
        write_site(rows, [results], foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    site = tmp_path / "site"
    write_site(rows, [results], site)
    (site / "stale.html").write_text("old")
    write_site(rows, [results], site)  # a site fsmb wrote is replaced, stale files and all
    assert (site / MARKER).is_file() and not (site / "stale.html").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_cli_html_needs_out_and_says_so(results, tmp_path, capsys):
    assert main(["leaderboard", "--results", str(results), "--format", "html"]) == 2
    assert "--format html writes a site and needs --out" in capsys.readouterr().err
    assert main(["leaderboard", "--results", str(results), "--format", "html", "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "index.html").is_file()


def test_malformed_previews_are_skipped_and_reported(results, tmp_path, capsys):
    bad = preview_folder(results / "broken.jsonl")
    bad.mkdir()
    (bad / "previews.json").write_text('{"format": "fsmb-previews-1", "samples": [{"file": "../../etc/passwd"}]}')
    try:
        assert main(["leaderboard", "--results", str(results), "--format", "html", "--out", str(tmp_path / "s")]) == 0
        assert "skipped sample previews" in capsys.readouterr().err
    finally:
        shutil.rmtree(bad)


@pytest.mark.parametrize(
    "fixture, method, suffix",
    [
        ("track", "unigram-support", ".mid"),
        ("lyrics_track", "unigram-support", None),
        ("audio_track", "gaussian-support", ".wav"),
    ],
)
def test_eval_with_samples_keeps_previews_that_the_site_shows(fixture, method, suffix, request, tmp_path):
    from benchmark.run.runner import evaluate
    from benchmark.scoring.previews import read_previews

    track = request.getfixturevalue(fixture)
    records = evaluate(
        MethodSpec.parse(method),
        track,
        shots=track.spec.shots,
        n_episodes=3,
        out=tmp_path / "r",
        budget=TEST_BUDGET,
        models=tmp_path / "m",
        samples=2,
        log=lambda m: None,
    )
    previews = read_previews(preview_folder(records))
    first = track.manifest("test", track.spec.shots).episodes[0]
    assert previews.episode_id == first.episode_id and previews.method == method and len(previews.samples) == 2
    assert [s.file.suffix if s.file else None for s in previews.samples] == [suffix, suffix]
    write_site(leaderboard_rows(tmp_path / "r"), [tmp_path / "r"], tmp_path / "site")
    page = (tmp_path / "site" / f"{track.spec.name.replace('/', '-')}.html").read_text()
    shown = sorted(p.name for p in (tmp_path / "site" / "samples").rglob("*") if p.is_file())
    if suffix == ".mid":  # a piano roll and the file to download
        assert shown == ["sample-0.mid", "sample-0.png", "sample-1.mid", "sample-1.png"] and "download" in page
    elif suffix == ".wav":  # a spectrogram and a player
        assert shown == ["sample-0.png", "sample-0.wav", "sample-1.png", "sample-1.wav"] and "<audio controls" in page
    else:
        assert shown == [] and page.count('<div class="preview"><pre>') == 2


@pytest.mark.parametrize("fixture", ["track", "lyrics_track"])
def test_runs_without_preview_folders_show_the_samples_their_records_keep(fixture, request, tmp_path):
    from benchmark.run.runner import evaluate

    track = request.getfixturevalue(fixture)
    records = evaluate(
        MethodSpec.parse("unigram-support"),
        track,
        shots=track.spec.shots,
        n_episodes=2,
        out=tmp_path / "r",
        budget=TEST_BUDGET,
        models=tmp_path / "m",
        samples=3,
        log=lambda m: None,
    )
    shutil.rmtree(preview_folder(records))  # as runs scored before FSMB kept preview folders
    write_site(leaderboard_rows(tmp_path / "r"), [tmp_path / "r"], tmp_path / "site")
    page = (tmp_path / "site" / f"{track.spec.name.replace('/', '-')}.html").read_text()
    shown = sorted(p.name for p in (tmp_path / "site").rglob("sample-*"))
    if fixture == "track":  # the .mid written from the kept tokens, with its piano roll
        assert shown == [f"sample-{i}.{ext}" for i in range(3) for ext in ("mid", "png")]
    else:
        assert shown == [] and page.count('<div class="preview"><pre>') == 3


def column(browser, table_id: str, index: int, attribute: str | None = None) -> list[str]:
    """The cells (their text, or an attribute) of one column of a table, top to bottom."""
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr td:nth-child({index + 1})")
    return [c.get_attribute(attribute) if attribute else c.text for c in cells]


def test_browser_sorts_a_column_and_renders_escaped_text(results, tmp_path):
    from selenium.webdriver.common.by import By

    site = tmp_path / "site"
    write_site(hostile_rows(results), [results], site)
    browser = chromium()
    try:
        browser.get((site / "midi-dir.html").as_uri())
        headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#results-K5 thead th")]
        nll, method = headers.index("nats/token"), headers.index("method")
        assert HOSTILE in column(browser, "results-K5", method)  # shown as text, not run
        marks = dict(
            zip(column(browser, "results-K5", method), column(browser, "results-K5", headers.index("vs best")))
        )
        assert marks["unigram-support"] == "best" and marks["unigram"].startswith("worse (q ")  # support helps
        button = browser.find_element(By.CSS_SELECTOR, f"#results-K5 thead th:nth-child({nll + 1}) button")
        button.click()
        up = [float(x) for x in column(browser, "results-K5", nll, "data-sort")]
        assert up == sorted(up) and len(up) == 3
        button.click()
        down = [float(x) for x in column(browser, "results-K5", nll, "data-sort")]
        assert down == sorted(up, reverse=True)
        th = browser.find_element(By.CSS_SELECTOR, f"#results-K5 thead th:nth-child({nll + 1})")
        assert th.get_attribute("aria-sort") == "descending"
        browser.find_element(By.CSS_SELECTOR, f"#results-K5 thead th:nth-child({method + 1}) button").click()
        names = column(browser, "results-K5", method)
        assert names == sorted(names, key=str.lower)
        preview = browser.find_element(By.CSS_SELECTOR, ".preview pre").text
        assert preview == HOSTILE_TEXT
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "leaderboard-site.png"
        assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        browser.quit()
