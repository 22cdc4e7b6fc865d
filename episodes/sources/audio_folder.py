"""An audio folder with a ``metadata.csv``: ``file_name`` + an artist column.

The layout of Hugging Face's ``audiofolder`` (and of datasets such as FMA once
their track table is reduced to two columns)::

    ROOT/metadata.csv          file_name,artist[,...]
    ROOT/<file_name>           any format libsndfile reads (WAV, FLAC, OGG, ...)

The artist column is ``--artist-column``, by default the first of ``artist`` and
``instrument`` that exists.  Items are named by ``file_name``; each file is read as
one 4 s note (`episodes.audio`: cut or padded, resampled to 16 kHz).  Rows with an
empty file name or artist are left out and counted; files that are missing,
corrupt, silent or NaN are reported and skipped by the store; a file name that
escapes ``ROOT``, or a file listed twice, is refused.  The corpus cache is keyed on the
size and modification time of every listed file, so a file rewritten in place is
read again.
"""

from __future__ import annotations

import csv
from pathlib import Path

from episodes.sources.audio_base import AudioFileSource
from episodes.sources.base import DataError, PieceRef, safe_join

ARTIST_COLUMNS = ("artist", "instrument")


class AudioFolderSource(AudioFileSource):
    """Audio files listed in ``metadata.csv``, grouped by its artist column."""

    name = "audio-folder"
    version = "audio-folder-v1"

    def __init__(self, root: Path, *, artist_column: str | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.metadata = self.root / "metadata.csv"
        if not self.metadata.is_file():
            raise DataError(
                f"--data-dir {root}: no metadata.csv (expected ROOT/metadata.csv with columns "
                "file_name and artist, and the audio files under ROOT)"
            )
        self.artist_column = artist_column

    def cache_key(self) -> str:
        st = self.metadata.stat()
        return self.files_key(self.artist_column, st.st_size, st.st_mtime_ns)

    def scan(self) -> tuple[list[PieceRef], dict]:
        try:
            return self._scan()
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{self.metadata}: not a readable UTF-8 CSV ({exc}); fix or re-export it") from None

    def _scan(self) -> tuple[list[PieceRef], dict]:
        with open(self.metadata, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            wanted = (self.artist_column,) if self.artist_column else ARTIST_COLUMNS
            artist_col = next((c for c in wanted if c in columns), None)
            if "file_name" not in columns or artist_col is None:
                raise DataError(
                    f"{self.metadata}: needs columns file_name and {' or '.join(wanted)} "
                    f"(found {', '.join(columns) or 'none'}); name the artist column with --artist-column"
                )
            pieces: dict[str, PieceRef] = {}
            incomplete = 0
            for row in reader:
                name, artist = (row.get("file_name") or "").strip(), (row.get(artist_col) or "").strip()
                if not name or not artist:
                    incomplete += 1
                    continue
                # one spelling per file (``./a.wav`` is ``a.wav``); names escaping the root are refused
                name = safe_join(self.root, name).relative_to(self.root).as_posix()
                if name in pieces:
                    raise DataError(
                        f"{self.metadata}: {name} is listed twice (as {pieces[name].artist!r} and "
                        f"{artist!r}); list each file once"
                    )
                pieces[name] = PieceRef(name, artist, Path(name).stem, name)
        listing = {"artist_column": artist_col, "rows_without_file_or_artist": incomplete}
        return sorted(pieces.values(), key=lambda p: p.item_id), listing
