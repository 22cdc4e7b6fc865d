"""The docs site: it builds with ``mkdocs build --strict`` (a broken link or anchor fails),
its result tables are the records' (`leaderboard.pages`), the README's headline is
current, and a real browser opens the built site and follows its navigation."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from leaderboard.aggregate import leaderboard_rows
from leaderboard.pages import ROOT, expand, headline, main, refresh_headlines
from leaderboard.render import fmt_num
from tests.browser import chromium


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_results_page_holds_the_records_tables(site):
    page = (site / "results" / "index.html").read_text()
    rows = [r for r in leaderboard_rows(ROOT / "results" / "main") if r.track == "midi/music21"]
    assert "fsmb:leaderboard" not in page  # every marker was replaced
    for r in rows:
        assert f"<td>{r.method}</td>" in page and f"{fmt_num(r.nll_nats_per_token)} ± {fmt_num(r.ci95)}" in page
    assert (site / "results" / "shots.png").read_bytes()[:4] == b"\x89PNG"  # the figures came along


def test_the_readme_headline_is_what_the_records_say(capsys):
    assert main(["--readme", str(ROOT / "README.md"), "--check"]) == 0
    stale = (ROOT / "README.md").read_text().replace("| lstm | ", "| lstm-old | ", 1)
    assert refresh_headlines(stale) == (ROOT / "README.md").read_text()


def test_markers_refuse_paths_outside_the_repository_and_missing_tracks(tmp_path):
    (tmp_path / "table.md").write_text("# A title\n\n| a |\n|---|\n| 1 |\n")
    assert expand("<!-- fsmb:include table.md -->", tmp_path) == "**A title**\n\n| a |\n|---|\n| 1 |"
    with pytest.raises(ValueError, match="outside the repository"):
        expand("<!-- fsmb:include ../secret.md -->", tmp_path)
    with pytest.raises(ValueError, match="no rows of track"):
        expand("<!-- fsmb:leaderboard results/main midi/nowhere -->")
    rows = [r for r in leaderboard_rows(ROOT / "results" / "main") if r.track == "lyrics/fortunes"]
    assert headline(rows).count("\n") == len(rows) + 2


def test_a_browser_opens_the_site_and_follows_its_navigation(site):
    from selenium.webdriver.common.by import By

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = chromium()
    try:
        browser.get(f"http://127.0.0.1:{server.server_port}/")
        assert "FSMB" in browser.title
        link = next(
            a for a in browser.find_elements(By.CSS_SELECTOR, "nav a") if a.get_attribute("href").endswith("/results/")
        )
        browser.get(link.get_attribute("href"))
        from selenium.webdriver.support.ui import WebDriverWait

        # a loaded machine can return before the long results page is laid out
        tables = WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, "article table"))
        assert tables and any("lstm" in t.text for t in tables)
    finally:
        browser.quit()
        server.shutdown()
