"""Lyrics tables: CSV / JSON / JSON Lines / Parquet files, or a Hugging Face hub dataset.

Everything is read through the ``datasets`` library, so a local table and a hub
dataset (``hf:<owner>/<name>``) behave the same.  Columns are configurable; by
default the artist column is ``artist`` and the text column the first of ``lyrics``
and ``text`` that exists (the common public lyrics tables: ``artist`` + ``lyrics``,
or ``artist`` + ``song`` + ``text``); the title column (optional) is the first of
``title`` and ``song``.  Rows are items ``row-<index>``.

Text cells are decoded with invalid UTF-8 replaced by U+FFFD; a row whose text holds
U+FFFD, or whose artist or text is missing, or whose text is empty after
normalisation (`episodes.lyrics`), is reported and skipped.  A hub name needs the
network: when the hub cannot be reached it fails at once with what to do instead
(unless ``HF_DATASETS_OFFLINE=1`` / ``HF_HUB_OFFLINE=1`` asks for the local cache).
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from episodes.lyrics import TEXT_NORM_VERSION, normalise_text
from episodes.sources.base import DataError, PieceRef, SkipItem

HF_PREFIX = "hf:"
BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
ARTIST_COLUMNS, TEXT_COLUMNS, TITLE_COLUMNS = ("artist",), ("lyrics", "text"), ("title", "song")


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to the hub (``HF_ENDPOINT``, default huggingface.co) opens."""
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _offline_mode() -> bool:
    return any(os.environ.get(k, "").upper() in ("1", "ON", "YES", "TRUE") for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


@functools.lru_cache(maxsize=4)
def _load_rows(location: str, split: str) -> list[dict]:
    import datasets

    datasets.disable_progress_bars()
    try:
        if location.startswith(HF_PREFIX):
            table = datasets.load_dataset(location[len(HF_PREFIX) :], split=split)
        else:
            path = Path(location)
            builder = BUILDERS[path.suffix.lower()]
            kwargs = {"encoding_errors": "replace"} if builder == "csv" else {}
            table = datasets.load_dataset(builder, data_files=str(path), split="train", **kwargs)
    except (OSError, ValueError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise DataError(f"{location}: cannot be read as a table ({type(exc).__name__}: {str(exc)[:200]})") from None
    return table.to_list()


class TabularSource:
    """One row per song: an artist column, a text column, optionally a title column."""

    name = "lyrics-table"
    codec, dedupe, parallel = "text-bytes", True, False  # rows live in memory: parse in-process

    def __init__(
        self,
        location: str,
        *,
        artist_column: str | None = None,
        text_column: str | None = None,
        title_column: str | None = None,
        split: str = "train",
    ) -> None:
        self.location, self.split = location, split
        if location.startswith(HF_PREFIX):
            if not _offline_mode() and not hub_reachable():
                raise DataError(
                    f"{location}: the Hugging Face hub cannot be reached (offline?). Load it once while online "
                    "(it is then cached; rerun with HF_DATASETS_OFFLINE=1), or export it to CSV/Parquet and use "
                    "--track lyrics/csv --data-dir FILE"
                )
        else:
            path = Path(location).expanduser().resolve()
            if not path.is_file():
                raise DataError(f"--data-dir {location}: no such file (a .csv, .json, .jsonl or .parquet table)")
            if path.suffix.lower() not in BUILDERS:
                raise DataError(f"--data-dir {location}: unknown table type {path.suffix!r}; use {', '.join(BUILDERS)}")
            self.location = str(path)
        columns = set(self._rows()[0]) if self._rows() else set()
        self.artist_column = self._column(artist_column, ARTIST_COLUMNS, columns, "artist", required=True)
        self.text_column = self._column(text_column, TEXT_COLUMNS, columns, "text", required=True)
        self.title_column = self._column(title_column, TITLE_COLUMNS, columns, "title", required=False)
        self.version = (
            f"table-v1-n{TEXT_NORM_VERSION}-{self.artist_column}-{self.text_column}-{self.title_column}-{split}"
        )

    def _rows(self) -> list[dict]:
        return _load_rows(self.location, self.split)

    def _column(self, given: str | None, defaults: tuple[str, ...], columns: set, what: str, *, required: bool):
        if given is not None:
            if given not in columns:
                raise DataError(f"{self.location}: no column {given!r} (columns: {sorted(columns)}); fix --{what}-column")
            return given
        found = next((c for c in defaults if c in columns), None)
        if found is None and required:
            raise DataError(
                f"{self.location}: no {what} column among {sorted(columns)}; name it with --{what}-column"
            )
        return found

    def cache_key(self) -> str:
        h = hashlib.sha256(f"{self.version}\x00{self.location}".encode())
        if not self.location.startswith(HF_PREFIX):
            st = Path(self.location).stat()
            h.update(f"{st.st_size}\x00{st.st_mtime_ns}".encode())
        else:
            for row in self._rows():
                h.update(repr((row.get(self.artist_column), row.get(self.text_column))).encode())
        return f"lyrics-table-{h.hexdigest()[:16]}"

    def list_pieces(self) -> list[PieceRef]:
        width = len(str(len(self._rows())))
        pieces = []
        for i, row in enumerate(self._rows()):
            artist = row.get(self.artist_column)
            title = row.get(self.title_column) if self.title_column else None
            pieces.append(
                PieceRef(f"row-{i:0{width}d}", str(artist).strip() if artist else "", str(title or ""), self.location, i)
            )
        return pieces

    def read(self, ref: PieceRef) -> str:
        row = self._rows()[ref.part]
        text = row.get(self.text_column)
        if not ref.artist:
            raise SkipItem(f"missing {self.artist_column!r}")
        if not isinstance(text, str) or not text.strip():
            raise SkipItem(f"missing or empty {self.text_column!r}")
        if "\ufffd" in text:
            raise SkipItem("invalid UTF-8 (or U+FFFD) in the text")
        return normalise_text(text)
