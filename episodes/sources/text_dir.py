"""Text files laid out ``ROOT/<artist>/<song>.txt`` (the AI-ON lyrics layout).

Files must be UTF-8 (a leading byte-order mark is allowed); a file that is not, or
that is empty after normalisation (`episodes.lyrics`), is reported and skipped.
"""

from __future__ import annotations

from episodes.lyrics import TEXT_NORM_VERSION, decode_utf8, normalise_text
from episodes.sources.base import PieceRef
from episodes.sources.folder import ArtistFolderSource


class TextDirSource(ArtistFolderSource):
    """Text files grouped by their parent folder (the artist)."""

    name = "text-dir"
    version = f"text-dir-v1-n{TEXT_NORM_VERSION}"
    suffixes = (".txt",)
    codec, dedupe, parallel = "text-bytes", True, True

    def read(self, ref: PieceRef) -> str:
        return normalise_text(decode_utf8(self.path(ref).read_bytes()))
