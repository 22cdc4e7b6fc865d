"""Text files laid out ``ROOT/<artist>/<song>.txt`` (the AI-ON lyrics layout), or flat
with the artist in the file name (``artist_from``, ``--artist-from "{artist} - {title}"``;
`episodes.sources.folder`).

Files must be UTF-8 (a leading byte-order mark is allowed); a file that is not, that
is empty after normalisation (`episodes.lyrics`), or that is larger than
`episodes.limits.MAX_TEXT_BYTES`, is reported and skipped.
"""

from __future__ import annotations

from episodes.limits import MAX_TEXT_BYTES, check_cap
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
        path = self.path(ref)
        check_cap("file size", path.stat().st_size, MAX_TEXT_BYTES, " bytes")
        return normalise_text(decode_utf8(path.read_bytes()))
