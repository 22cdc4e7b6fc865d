"""Table files read in one streamed pass, with any row's cell fetched again on demand.

A lyrics table can be larger than memory allows to hold whole (its texts, as Python
strings, and the parsed rows cost several times the file's size).  A `Table` holds
only where each row starts (`Locator`: a byte offset in CSV / TSV / JSON Lines, a row
number in Parquet) and the set of its columns; `Table.rows` streams the chosen
columns of every row once (the artist and title columns, when pieces are listed), and
`Table.cell` reads one row's cell again (its text, when the piece is parsed).  Memory
is then bounded by one row (CSV, JSON Lines) or one Parquet row group's column, plus
8 bytes per row, whatever the size of the file.  A JSON array and a hub dataset are
single documents: they are held whole (`InMemoryTable`); save a large one as JSON Lines.

Cells are the strings written in the file (`episodes.sources.tabular` says why):
CSV/TSV through the standard ``csv`` module, record by record on binary lines decoded
as UTF-8 with invalid bytes replaced (a UTF-8 byte-order mark is dropped); JSON with
number literals kept as text; Parquet cast to strings by Arrow.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Protocol, Sequence

from episodes.limits import MAX_TEXT_BYTES
from episodes.sources.base import DataError

Locator = int  # where a row starts: a byte offset (CSV, TSV, JSON Lines) or a row number
Cells = dict[str, "str | None"]
JSON_HOOKS: dict[str, Any] = {"parse_int": str, "parse_float": str, "parse_constant": str}


class Table(Protocol):
    """A table's columns, its rows streamed, and any row's cell on demand."""

    columns: set[str]

    @property
    def n_rows(self) -> int:
        """How many rows the table has."""
        ...

    def rows(self, columns: Sequence[str]) -> Iterator[tuple[Locator, Cells]]:
        """Every row in file order: its locator and its cells of ``columns`` (``None``: missing)."""
        ...

    def cell(self, locator: Locator, column: str) -> str | None:
        """One cell of the row at ``locator``."""
        ...


def cell_text(value: object) -> str | None:
    """A typed cell (a hub dataset's, Parquet's odd types) as text: ``None`` and NaN
    stay missing, strings as they are, whole floats as integers (an integer column
    with gaps), other values as JSON writes them."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False, default=str)


def unique_names(header: list[str]) -> list[str]:
    """Column names made unique as pandas does: a repeated ``x`` becomes ``x.1``, ``x.2``."""
    seen: dict[str, int] = {}
    out = []
    for name in header:
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        out.append(name)
    return out


def json_row(path: Path, where: str, row: object) -> Cells:
    """A parsed JSON row as cells: strings as they are, other values as JSON text."""
    if not isinstance(row, dict):
        raise DataError(f"{path}: {where} is not an object; the table must be a list of {{column: value}} objects")
    return {
        str(k): None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for k, v in row.items()
    }


@dataclass
class InMemoryTable:
    """Rows held whole (a JSON array, a hub dataset); the locator is the row number."""

    data: list[Cells]
    columns: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.columns = {c for row in self.data for c in row}

    @property
    def n_rows(self) -> int:
        return len(self.data)

    def rows(self, columns: Sequence[str]) -> Iterator[tuple[Locator, Cells]]:
        for i, row in enumerate(self.data):
            yield i, {c: row.get(c) for c in columns}

    def cell(self, locator: Locator, column: str) -> str | None:
        return self.data[locator].get(column)


LONE_CR = re.compile(rb"(?<=\r)(?!\n)")  # after a CR that ends a line by itself (old Mac files)


def _lines(fh: BinaryIO, starts: list[int]) -> Iterator[str]:
    """Lines of ``fh`` from where it stands, ended by LF, CRLF or a lone CR (as text
    mode's universal newlines end them), decoded (invalid UTF-8 replaced, a byte-order
    mark at offset 0 dropped); each line's byte offset is appended to ``starts``."""
    while True:
        start = fh.tell()
        raw = fh.readline()
        if not raw:
            return
        for piece in LONE_CR.split(raw):
            if piece:
                starts.append(start)
                text = piece[3:] if start == 0 and piece.startswith(b"\xef\xbb\xbf") else piece
                start += len(piece)
                yield text.decode("utf-8", errors="replace")


class DelimitedTable:
    """A CSV or TSV file: the header, then one record per row (a quoted cell may span
    lines).  A row longer than the header, a cell longer than `MAX_TEXT_BYTES` (an
    unclosed quote reads on to the end of the file) or malformed quoting is a
    `DataError` at its line, found by the first pass; rows whose cells are all empty
    are not rows.  The locator is the byte offset of a record's first line."""

    def __init__(self, path: Path, delimiter: str) -> None:
        self.path, self.delimiter = path, delimiter
        self.what = "TSV" if delimiter == "\t" else "CSV"
        csv.field_size_limit(MAX_TEXT_BYTES)
        with open(path, "rb") as fh:
            records = self._records(fh, validate=True)
            first = next(records, None)
            if first is None or not any(c.strip() for c in first[1]):
                raise DataError(f"{path}: no header row; the first line must name the columns")
            self.header = unique_names(first[1])
            self.offsets = [offset for offset, row in records if any(row)]
        self.index = {name: i for i, name in enumerate(self.header)}
        self.columns = set(self.header)
        self.n_rows = len(self.offsets)

    def _records(self, fh: BinaryIO, *, validate: bool = False) -> Iterator[tuple[Locator, list[str]]]:
        """(offset, fields) of each record from where ``fh`` stands."""
        starts: list[int] = []
        reader = csv.reader(_lines(fh, starts), delimiter=self.delimiter)
        header_fields = None
        try:
            for row in reader:
                if validate and header_fields is not None and len(row) > header_fields:
                    raise DataError(
                        f"{self.path}: line {reader.line_num} has {len(row):,} fields, the header "
                        f"{header_fields}; quote cells that hold "
                        f"{'tabs' if self.delimiter == chr(9) else 'commas'}"
                    )
                header_fields = len(row) if header_fields is None else header_fields
                yield starts[0], row
                starts.clear()
        except csv.Error as exc:
            raise DataError(
                f"{self.path}: malformed {self.what} at line {reader.line_num} ({exc}); check quoting there"
            ) from None

    def _cells(self, row: list[str], columns: Sequence[str]) -> Cells:
        """A short row lacks its last cells (``None``); an empty cell is ``""``."""
        return {c: row[self.index[c]] if self.index.get(c, len(row)) < len(row) else None for c in columns}

    def rows(self, columns: Sequence[str]) -> Iterator[tuple[Locator, Cells]]:
        with open(self.path, "rb") as fh:
            records = self._records(fh)
            next(records, None)  # the header
            for offset, row in records:
                if any(row):
                    yield offset, self._cells(row, columns)

    def cell(self, locator: Locator, column: str) -> str | None:
        with open(self.path, "rb") as fh:
            fh.seek(locator)
            _, row = next(self._records(fh))
        return self._cells(row, [column])[column]


class JsonLinesTable:
    """A JSON Lines file: one object per non-blank line; the locator is the line's byte offset."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: set[str] = set()
        self.offsets: list[int] = []
        for offset, row in self._parsed(0):
            self.columns.update(row)
            self.offsets.append(offset)
        self.n_rows = len(self.offsets)

    def _parsed(self, start: int, *, one: bool = False) -> Iterator[tuple[Locator, Cells]]:
        starts: list[int] = []
        with open(self.path, "rb") as fh:
            fh.seek(start)
            number = 0
            for line in _lines(fh, starts):
                number += 1
                if not line.strip():
                    continue
                try:
                    row = json.loads(line, **JSON_HOOKS)
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"{self.path}: line {number}: invalid JSON at column {exc.colno} ({exc.msg})"
                    ) from None
                yield starts[-1], json_row(self.path, f"line {number}", row)
                if one:
                    return

    def rows(self, columns: Sequence[str]) -> Iterator[tuple[Locator, Cells]]:
        for offset, row in self._parsed(0):
            yield offset, {c: row.get(c) for c in columns}

    def cell(self, locator: Locator, column: str) -> str | None:
        _, row = next(self._parsed(locator, one=True))
        return row.get(column)


class ParquetTable:
    """A Parquet file read one row group at a time, only the columns asked for; the
    locator is the row number."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.file = pq.ParquetFile(path)
        self.columns = set(self.file.schema_arrow.names)
        sizes = [self.file.metadata.row_group(g).num_rows for g in range(self.file.num_row_groups)]
        self.group_starts = [sum(sizes[:g]) for g in range(len(sizes) + 1)]
        self.n_rows = self.group_starts[-1]
        self._held: tuple[int, str, list[str | None]] | None = None  # the last row group's column read

    def _group(self, group: int, column: str) -> list[str | None]:
        if self._held is None or self._held[:2] != (group, column):
            self._held = (group, column, _strings(self.file.read_row_group(group, columns=[column]).column(0)))
        return self._held[2]

    def rows(self, columns: Sequence[str]) -> Iterator[tuple[Locator, Cells]]:
        for g in range(self.file.num_row_groups):
            table = self.file.read_row_group(g, columns=list(dict.fromkeys(columns)))
            values = {c: _strings(table.column(c)) for c in dict.fromkeys(columns)}
            for i in range(table.num_rows):
                yield self.group_starts[g] + i, {c: values[c][i] for c in columns}

    def cell(self, locator: Locator, column: str) -> str | None:
        group = next(g for g in range(len(self.group_starts) - 1) if locator < self.group_starts[g + 1])
        return self._group(group, column)[locator - self.group_starts[group]]


def _strings(column: Any) -> list[str | None]:
    """An Arrow column as text cells (typed columns cast by Arrow, odd types via `cell_text`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.to_pylist()
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return [cell_text(v) for v in column.to_pylist()]
    try:
        return pc.cast(column, pa.string()).to_pylist()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return [cell_text(v) for v in column.to_pylist()]


def read_json_document(path: Path) -> Table:
    """A ``.json`` file: one array of row objects (held whole), or JSON Lines (streamed).

    The file is parsed whole once to tell the two apart (a single document, or "extra
    data" after the first line's object); name a large JSON Lines file ``.jsonl`` to
    stream it from the start."""
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    try:
        table = json.loads(text, **JSON_HOOKS)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":  # not JSON Lines either
            raise DataError(
                f"{path}: invalid or truncated JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
            ) from None
        del text
        return JsonLinesTable(path)
    if not isinstance(table, list):
        raise DataError(f"{path}: not a list of objects; give a JSON array of {{column: value}} rows, or JSON Lines")
    return InMemoryTable([json_row(path, f"row {i}", row) for i, row in enumerate(table)])
