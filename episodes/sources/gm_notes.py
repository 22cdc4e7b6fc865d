"""``audio/gm-notes``: GM soundfont notes rendered offline (`episodes.render_gm`),
read back as NSynth (`NSynthSource`).  The render happens on the first build."""

from __future__ import annotations

from pathlib import Path

from episodes.render_gm import render_corpus, render_key
from episodes.sources.base import PieceRef
from episodes.sources.nsynth import NSynthSource


class GMNotesSource(NSynthSource):
    """The rendered corpus under ``<render_root>/<render key>/``."""

    name = "gm-notes"
    version = "gm-notes-v1"
    dependencies = (*NSynthSource.dependencies, "pyfluidsynth")

    def __init__(self, render_root: Path) -> None:
        self.key = render_key()
        root = Path(render_root) / f"gm-notes-{self.key}"
        root.mkdir(parents=True, exist_ok=True)
        super().__init__(root)

    def cache_key(self) -> str:
        """The render key: renderer version, FluidSynth version and soundfont hash."""
        return f"{self.name}-{self.key}"

    def list_pieces(self) -> list[PieceRef]:
        render_corpus(self.root)
        return super().list_pieces()

    def listing(self) -> dict:
        report = render_corpus(self.root)
        return {
            **super().listing(),
            "render": {k: v for k, v in report.items() if k != "silent_left_out"},
            "silent_left_out": len(report["silent_left_out"]),
        }
