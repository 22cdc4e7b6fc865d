"""Lyrics tables: CSV / TSV / JSON / JSON Lines / Parquet files, or a Hugging Face hub dataset.

Local files are read directly so that every cell is the string written in the file
(``datasets`` infers column types: an artist column ``0, 1`` became integers, and
one with a missing value floats, so artist ``1`` came back as ``"1.0"``): CSV/TSV
with the standard ``csv`` module (an empty cell is ``""``; a row longer than the
header is an error, so a hostile row cannot become a million columns); JSON with the
standard library, numbers kept as their literal text (``parse_int=str``,
``parse_float=str``; ``null`` is a missing cell, ``true``/``false`` stay as written) --
pandas' ``read_json`` has no way to keep number literals; Parquet with pyarrow, whose
typed columns are cast to strings by Arrow (integers ``0`` -> ``"0"``, and a float
column of whole numbers, pandas' form of an integer column with gaps, gives ``"1"``).
A ``.json`` file may be one array of row objects or JSON Lines.  A file that cannot
be read (empty, header only, UTF-16, binary, truncated, nested too deeply, damaged,
not a list of objects, a row longer than the header, a cell over
`episodes.limits.MAX_TEXT_BYTES`) is one `DataError` naming the file and the line
or reason.  Only hub
datasets (``hf:<owner>/<name>``) go through ``datasets``.  Files are streamed
(`episodes.sources.table_files`): listing the pieces reads the artist and title
columns in one pass, and each text is read again from its row's offset when it is
parsed, so a build's memory does not grow with the file (JSON arrays and hub
datasets, single documents, are held whole).  Columns are configurable; by
default the artist column is ``artist`` and the text column the first of ``lyrics``
and ``text`` that exists (the common public lyrics tables: ``artist`` + ``lyrics``,
or ``artist`` + ``song`` + ``text``); the title column (optional) is the first of
``title`` and ``song``.  Rows are items ``row-<index>``.

Artist cells are kept as written but for surrounding whitespace.  Text cells are
decoded with invalid UTF-8 replaced by U+FFFD; a row whose text holds
U+FFFD, or whose artist, title or text holds a lone UTF-16 surrogate, or whose artist
or text is missing, or whose text is empty after normalisation (`episodes.lyrics`)
or longer than `episodes.limits.MAX_TEXT_BYTES`, is reported and skipped.  A hub name needs the
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

from episodes.limits import MAX_TEXT_BYTES, check_cap
from episodes.lyrics import TEXT_NORM_VERSION, normalise_text
from episodes.sources.base import DataError, PieceRef, SkipItem, is_unicode
from episodes.sources.table_files import (
    DelimitedTable,
    InMemoryTable,
    JsonLinesTable,
    ParquetTable,
    Table,
    cell_text,
    read_json_document,
)

HF_PREFIX = "hf:"
BUILDERS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}
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
    return any(
        os.environ.get(k, "").upper() in ("1", "ON", "YES", "TRUE") for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


@functools.lru_cache(maxsize=4)
def _open_table(location: str, split: str) -> Table:
    if location.startswith(HF_PREFIX):
        return _load_hub(location, split)
    try:
        table = _read_local(Path(location))
    except (MemoryError, ImportError, DataError):
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is one line naming the file
        raise DataError(f"{location}: cannot be read as a table ({type(exc).__name__}: {_one_line(exc)})") from None
    if not table.n_rows:
        raise DataError(f"{location}: the table has no rows (a header only?); add rows or fix the file")
    return table


def _load_hub(location: str, split: str) -> Table:
    import datasets

    datasets.disable_progress_bars()
    try:
        table = datasets.load_dataset(location[len(HF_PREFIX) :], split=split)
    except (OSError, ValueError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise DataError(f"{location}: cannot be read as a table ({type(exc).__name__}: {_one_line(exc)})") from None
    return InMemoryTable([{k: cell_text(v) for k, v in row.items()} for row in table.to_list()])


def _read_local(path: Path) -> Table:
    """A local table (`episodes.sources.table_files`), checked: every cell a string or
    ``None`` (missing)."""
    kind = BUILDERS[path.suffix.lower()]
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if not head.strip() and path.stat().st_size <= len(head):
        raise DataError(f"{path}: the file is empty; export the table with a header row and rows")
    if kind == "parquet":
        return ParquetTable(path)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{path}: UTF-16 text (byte-order mark); save the table as UTF-8")
    if b"\x00" in head:
        raise DataError(f"{path}: holds NUL bytes (a binary file, or UTF-16 text); give a UTF-8 {kind.upper()} file")
    if kind in ("csv", "tsv"):
        return DelimitedTable(path, "\t" if kind == "tsv" else ",")
    return read_json_document(path) if kind == "json" else JsonLinesTable(path)


class TabularSource:
    """One row per song: an artist column, a text column, optionally a title column."""

    name = "lyrics-table"
    codec, dedupe, parallel = "text-bytes", True, False  # one open table per process: parse in-process
    dependencies = ("pyarrow",)  # how Parquet cells are read (the table is read at construction)

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
                raise DataError(f"--data-dir {location}: no such file (a .csv, .tsv, .json, .jsonl or .parquet table)")
            if path.suffix.lower() not in BUILDERS:
                raise DataError(f"--data-dir {location}: unknown table type {path.suffix!r}; use {', '.join(BUILDERS)}")
            self.location = str(path)
        columns = self._table().columns
        self.artist_column = self._column(artist_column, ARTIST_COLUMNS, columns, "artist", required=True)
        self.text_column = self._column(text_column, TEXT_COLUMNS, columns, "text", required=True)
        self.title_column = self._column(title_column, TITLE_COLUMNS, columns, "title", required=False)
        self.version = (
            f"table-v2-n{TEXT_NORM_VERSION}-{self.artist_column}-{self.text_column}-{self.title_column}-{split}"
        )

    def _table(self) -> Table:
        return _open_table(self.location, self.split)

    def _column(self, given: str | None, defaults: tuple[str, ...], columns: set, what: str, *, required: bool):
        if given is not None:
            if given not in columns:
                raise DataError(
                    f"{self.location}: no column {given!r} (columns: {sorted(columns)}); fix --{what}-column"
                )
            return given
        found = next((c for c in defaults if c in columns), None)
        if found is None and required:
            raise DataError(f"{self.location}: no {what} column among {sorted(columns)}; name it with --{what}-column")
        return found

    def cache_key(self) -> str:
        h = hashlib.sha256(f"{self.version}\x00{self.location}".encode())
        if not self.location.startswith(HF_PREFIX):
            st = Path(self.location).stat()
            h.update(f"{st.st_size}\x00{st.st_mtime_ns}".encode())
        else:
            for _, row in self._table().rows([self.artist_column, self.text_column]):
                h.update(repr((row[self.artist_column], row[self.text_column])).encode())
        return f"lyrics-table-{h.hexdigest()[:16]}"

    def list_pieces(self) -> list[PieceRef]:
        """One piece per row, ``row-<index>``; ``part`` is the row's `Locator` (its text is
        read again by `read`, so no text is held)."""
        table = self._table()
        width = len(str(table.n_rows))
        columns = [self.artist_column, *([self.title_column] if self.title_column else [])]
        pieces = []
        for i, (locator, row) in enumerate(table.rows(columns)):
            artist = row[self.artist_column]
            title = row[self.title_column] if self.title_column else None
            pieces.append(PieceRef(f"row-{i:0{width}d}", (artist or "").strip(), title or "", self.location, locator))
        return pieces

    def read(self, ref: PieceRef) -> str:
        text = self._table().cell(ref.part_index(), self.text_column)
        if not ref.artist:
            raise SkipItem(f"missing {self.artist_column!r}")
        if not isinstance(text, str) or not text.strip():
            raise SkipItem(f"missing or empty {self.text_column!r}")
        if "\ufffd" in text:
            raise SkipItem("invalid UTF-8 (or U+FFFD) in the text")
        for what, value in (("artist", ref.artist), ("title", ref.title), ("text", text)):
            if not is_unicode(value):
                raise SkipItem(f"the {what} holds a lone UTF-16 surrogate (e.g. a JSON \\ud800 escape), not text")
        check_cap("text size", len(text.encode("utf-8", "surrogatepass")), MAX_TEXT_BYTES, " bytes")
        return normalise_text(text)
