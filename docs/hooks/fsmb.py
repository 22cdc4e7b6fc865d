"""MkDocs hooks: the result tables are generated from the records at build time
(`leaderboard.pages.expand`), and the result figures are taken from ``results/``."""

from __future__ import annotations

from mkdocs.structure.files import File, Files

from leaderboard.pages import ROOT, expand

FIGURES = ("results/*.png", "results/*/*.png", "results/logmel8-v1/*/*.png")


def on_files(files: Files, config) -> Files:
    """Add the committed figures (``results/…png``) to the site at their repository paths."""
    for pattern in FIGURES:
        for path in sorted(ROOT.glob(pattern)):
            files.append(
                File(path.relative_to(ROOT).as_posix(), str(ROOT), config["site_dir"], config["use_directory_urls"])
            )
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace each ``<!-- fsmb:… -->`` marker by the Markdown the records give."""
    return expand(markdown)
