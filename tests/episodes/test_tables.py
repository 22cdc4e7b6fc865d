"""Lyrics tables: cells kept as written (numeric artist names), and one-line errors
for malformed files."""

from __future__ import annotations

import json

import pytest

from benchmark.cli.main import main
from episodes.sources import tabular
from episodes.sources.base import DataError
from episodes.sources.tabular import TabularSource
from episodes.tracks import TRACKS, Track


def quiet(message: str) -> None:
    pass


def build(path, cache, capsys):
    code = main(
        ["data", "build", "--track", "lyrics/csv", "--data-dir", str(path), "--cache-dir", str(cache), "--workers", "1"]
    )
    return code, capsys.readouterr()


def good_parquet(path):
    import pandas as pd

    pd.DataFrame({"artist": ["A", "B"], "lyrics": ["la la", "do re"]}).to_parquet(path)
    return path.read_bytes()


MALFORMED = {
    "empty.csv": (b"", "the file is empty"),
    "header.csv": (b"artist,lyrics\n", "no rows"),
    "blank.csv": (b"\n\n  \n", "the file is empty"),
    "utf16.csv": ("artist,lyrics\nA,la la\n".encode("utf-16"), "UTF-16"),
    "utf16le.csv": ("artist,lyrics\nA,la la\n".encode("utf-16-le"), "NUL bytes"),
    "binary.csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "NUL bytes"),
    "fields.csv": (b'artist,lyrics\nA,"la la"\nB,do,re\n', "line 3 has 3 fields, the header 2"),
    "truncated.json": (b'[{"artist": "A", "lyrics": "la la"}, {"artist": "B", "lyr', "truncated JSON at line 1"),
    "object.json": (b'{"artist": ["A"], "lyrics": ["la la"]}', "not a list of objects"),
    "numbers.json": (b"[1, 2, 3]", "row 0 is not an object"),
    "truncated.jsonl": (b'{"artist": "A", "lyrics": "x"}\n{"artist": "B", "ly\n', "line 2: invalid JSON"),
    "long-row.csv": (b"artist,lyrics\nA," + b"," * 1_100_000 + b"la\n", "line 2 has 1,100,002 fields"),
    "unclosed.csv": (b'artist,lyrics\nA,"la la\n' + b"x" * (2**20 + 10), "field larger than field limit"),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, "cannot be read as a table (RecursionError"),
    "damaged.parquet": (None, "cannot be read as a table (ArrowInvalid"),
    "binary.parquet": (b"\x00\x01\x02 not parquet", "cannot be read as a table (ArrowInvalid"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_tables_are_one_line_errors(tmp_path, capsys, name):
    content, message = MALFORMED[name]
    path = tmp_path / name
    if content is None:  # a Parquet file cut in half
        content = good_parquet(path)
        content = content[: len(content) // 2]
    path.write_bytes(content)
    code, captured = build(path, tmp_path / "c", capsys)
    assert code == 2 and captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"fsmb: error: {path}") and message in captured.err, captured.err


def test_memory_and_import_errors_are_not_data_errors(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("artist,lyrics\nA,la\n")
    for error in (MemoryError, ImportError):

        def fail(path, error=error):
            raise error("boom")

        monkeypatch.setattr(tabular, "_read_local", fail)
        tabular._open_table.cache_clear()
        with pytest.raises(error):
            TabularSource(str(path))
    monkeypatch.undo()
    tabular._open_table.cache_clear()
    assert TabularSource(str(path)).text_column == "lyrics"


def artists_of(path, cache):
    track = Track.open(TRACKS["lyrics/csv"], cache_dir=cache, data_dir=path, workers=1, progress=False, log=quiet)
    return sorted({m.artist for m in track.store.items}), track.store.report()


def test_numeric_artist_names_stay_strings(tmp_path):
    import pandas as pd

    texts = ["la la la", "do re mi", "fa so la", "ti do re"]
    (tmp_path / "t.csv").write_text("artist,lyrics\n0,la la la\n1,do re mi\n,fa so la\n01,ti do re\n")
    names, report = artists_of(tmp_path / "t.csv", tmp_path / "c1")
    assert names == ["0", "01", "1"] and [s["reason"] for s in report["skipped"]] == ["missing 'artist'"]
    (tmp_path / "t.tsv").write_text("artist\tlyrics\n0\tla la la\n1.0\tdo re mi\n")
    assert artists_of(tmp_path / "t.tsv", tmp_path / "c2")[0] == ["0", "1.0"]
    rows = [{"artist": artist, "lyrics": text} for artist, text in zip((0, 1.0, None, True), texts)]
    (tmp_path / "t.json").write_text(json.dumps(rows))
    assert artists_of(tmp_path / "t.json", tmp_path / "c3")[0] == ["0", "1.0", "true"]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert artists_of(tmp_path / "t.jsonl", tmp_path / "c4")[0] == ["0", "1.0", "true"]
    pd.DataFrame({"artist": [0, 1, None, 1], "lyrics": texts}).to_parquet(tmp_path / "t.parquet")  # floats + NaN
    names, report = artists_of(tmp_path / "t.parquet", tmp_path / "c5")
    assert names == ["0", "1"] and [s["reason"] for s in report["skipped"]] == ["missing 'artist'"]


def test_json_lines_in_a_json_file_and_a_utf8_bom_read(tmp_path):
    rows = [{"artist": "A", "lyrics": "la la"}, {"artist": "B", "lyrics": "do re"}]
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert artists_of(tmp_path / "lines.json", tmp_path / "c1")[0] == ["A", "B"]
    (tmp_path / "bom.csv").write_bytes("\ufeffartist,lyrics\nA,la la\n".encode("utf-8"))
    assert TabularSource(str(tmp_path / "bom.csv")).artist_column == "artist"
    with pytest.raises(DataError, match="no artist column"):
        (tmp_path / "cols.csv").write_text("singer,lyrics\nA,la\n")
        TabularSource(str(tmp_path / "cols.csv"))


def test_lone_surrogates_in_a_json_table_are_skipped_not_a_crash(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"artist": f"A{i % 3}", "text": f"song {i} la la"} for i in range(30)]
    rows += [{"artist": "A0", "text": "\ud800 broken"}, {"artist": "\udfff", "text": "la"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")  # json.dumps writes \ud800 escapes
    store = Track.open(
        TRACKS["lyrics/csv"], cache_dir=tmp_path / "c", data_dir=path, workers=1, progress=False, log=quiet
    ).store
    reasons = [s["reason"] for s in store.report()["skipped"]]
    assert len(store) == 30 and sum("lone UTF-16 surrogate" in r for r in reasons) == 2


def test_streamed_tables_give_every_cell_as_a_whole_read_does(tmp_path):
    """Listing streams the artist column; each text is read again from its row's offset:
    multi-line quoted cells, CRLF, a BOM, short rows, blank rows, U+2028 inside a JSON
    string (a line break to str.splitlines, not to JSON Lines) and several Parquet row groups."""
    import csv
    import io

    import pandas as pd

    from episodes.sources.table_files import DelimitedTable, JsonLinesTable, ParquetTable

    texts = [f'verse {i}\nline two, with a comma\r\nand "quotes" é\u2028{"x" * (i % 7)}' for i in range(40)]
    rows = [{"artist": f"A{i % 4}", "lyrics": t, "title": f"t{i}"} for i, t in enumerate(texts)]
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, ["artist", "lyrics", "title"], lineterminator="\r\n")
    writer.writeheader()
    for i, row in enumerate(rows):
        writer.writerow(row)
        if i == 5:
            buffer.write(",,\r\n")  # a blank row: not a row
    (tmp_path / "t.csv").write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode() + b"A9\r\n")  # a short last row
    table = DelimitedTable(tmp_path / "t.csv", ",")
    listed = list(table.rows(["artist", "title"]))
    assert table.n_rows == len(listed) == 41 and listed[-1][1] == {"artist": "A9", "title": None}
    assert [table.cell(loc, "lyrics") for loc, _ in listed[:40]] == texts and table.cell(
        listed[40][0], "lyrics"
    ) is None
    assert [cells["artist"] for _, cells in listed[:40]] == [r["artist"] for r in rows]

    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    lines = JsonLinesTable(tmp_path / "t.jsonl")
    assert lines.columns == {"artist", "lyrics", "title"} and lines.n_rows == 40
    assert [lines.cell(loc, "lyrics") for loc, _ in lines.rows(["artist"])] == texts

    (tmp_path / "mac.csv").write_bytes(b'artist,lyrics\rA,"one\rtwo"\rB,three\r')  # lone-CR line ends
    mac = DelimitedTable(tmp_path / "mac.csv", ",")
    assert [(cells["artist"], mac.cell(loc, "lyrics")) for loc, cells in mac.rows(["artist"])] == [
        ("A", "one\rtwo"),
        ("B", "three"),
    ]

    pd.DataFrame(rows).to_parquet(tmp_path / "t.parquet", row_group_size=7)
    parquet = ParquetTable(tmp_path / "t.parquet")
    assert parquet.file.num_row_groups == 6 and parquet.n_rows == 40
    assert [parquet.cell(loc, "lyrics") for loc, _ in parquet.rows(["artist", "title"])] == texts
    assert parquet.cell(39, "title") == "t39" and parquet.cell(0, "artist") == "A0"  # back to the first group
