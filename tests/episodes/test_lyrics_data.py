"""Lyrics: text encoding, normalisation, the fortunes / folder / table sources and their
build reports, and lyrics tracks through the runner and leaderboard."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmark.cli.main import main
from episodes import text_encoding
from episodes.lyrics import normalise_text
from episodes.sources.base import DataError, SkipItem
from episodes.sources.fortunes import FortunesSource, parse_author, parse_fortunes
from episodes.sources.tabular import TabularSource
from episodes.sources.text_dir import TextDirSource
from episodes.store import open_store
from episodes.synthetic import artist_text, make_lyrics_corpus
from episodes.tokens import BOS, EOS
from episodes.tracks import TRACKS, Track


def quiet(message: str) -> None:
    pass


FORTUNE_FILE = """A first entry
on two lines.
\t\t-- Dorothy Parker
%
Unattributed wisdom.
%
Another one.
\t\t-- Dorothy Parker, "Enough Rope", 1926
%
Long attribution.
\t\t-- Dave Barry, "Kids Today: They Don't Know
\t\tDum Diddly Do"
%
The -- dash inside a line is not an attribution.
%
Definitions.
\t\t-- "Sniglets", Rich Hall & Friends
"""


def write_fortunes(root, authors: int = 12, entries: int = 11):
    root.mkdir(parents=True, exist_ok=True)
    blocks = []
    for a in range(authors):
        for e in range(entries if a < authors - 1 else 3):  # the last author has too few
            blocks.append(f'{artist_text(a, e)}\n\t\t-- Author {a:02d}, "Collected", 19{e:02d}')
    blocks.append("No author here.")
    blocks.append(blocks[0])  # an exact duplicate entry
    (root / "quotes").write_text("\n%\n".join(blocks) + "\n", encoding="utf-8")
    (root / "quotes.dat").write_bytes(b"\x00\x01binary index")
    (root / "broken").write_bytes(b"Bad \xff bytes\n\t\t-- Author 00\n")
    return root


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_text_encoding_round_trips_any_text(text):
    tokens = text_encoding.encode(text)
    assert tokens[0] == BOS and tokens[-1] == EOS and tokens.max() < text_encoding.VOCAB_SIZE
    assert text_encoding.decode(tokens) == text
    assert text_encoding.count_characters(tokens) == len(text)


@given(st.text(min_size=1, max_size=80), st.integers(2, 60))
@settings(max_examples=300, deadline=None)
def test_crop_cuts_at_a_character_boundary(text, budget):
    tokens = text_encoding.encode(text)
    cropped = text_encoding.crop(tokens, budget)
    assert len(cropped) <= max(budget, 1)
    if len(tokens) <= budget:
        assert np.array_equal(cropped, tokens)
    else:  # a prefix without EOS that decodes to a prefix of the text
        prefix = text_encoding.decode(cropped)
        assert text.startswith(prefix) and text_encoding.count_characters(cropped) == len(prefix)


def test_normalisation_keeps_lines_and_drops_tags_and_noise():
    raw = "[Intro]\r\nHello   wor\u0301ld \t\n\n\n\n_\bB_\bi_\bg line\x07 two\n[Verse 2: X]\nend [x]\n\n"
    assert normalise_text(raw) == "Hello wor\u0301ld\n\nBig line two\nend".replace("r\u0301", "\u0155")
    with pytest.raises(SkipItem, match="empty"):
        normalise_text(" [Chorus] \n\n\t")


def test_fortune_entries_and_attributions():
    entries = parse_fortunes(FORTUNE_FILE)
    assert [e.author for e in entries] == [
        "Dorothy Parker",
        None,
        "Dorothy Parker",
        "Dave Barry",
        None,
        "Rich Hall & Friends",
    ]
    assert entries[0].text == "A first entry\non two lines."
    assert entries[3].text == "Long attribution."
    assert parse_author("Steve Jobs (1955-2011)") == "Steve Jobs"
    assert parse_author("Marshall McLuhan.") == "Marshall McLuhan"
    assert parse_author("Larry Wall in <199705101952.MAA00756@wall.org>") == "Larry Wall"
    assert parse_author('"The Treasure of the Sierra Madre"') == "The Treasure of the Sierra Madre"


def test_fortunes_source_keeps_authors_with_enough_entries_and_reports(tmp_path):
    source = FortunesSource(write_fortunes(tmp_path / "f"), min_entries=9)
    listing = source.listing()
    assert listing["authors"] == 12 and listing["authors_with_min_entries"] == 11
    assert listing["unreadable_files"] == ["broken: invalid UTF-8 at byte 4"]
    store = open_store(source, tmp_path / "c", workers=1, progress=False, log=quiet)
    assert len({m.artist for m in store.items}) == 11 and len(store) == 11 * 11
    reasons = [s["reason"] for s in store.report()["skipped"]]
    assert reasons == ["duplicate of quotes/00000"]
    assert store.report()["source_listing"] == listing
    with pytest.raises(DataError, match="apt-get install fortunes"):
        FortunesSource(tmp_path / "nothing-here")


def test_lyrics_folder_build_reports_bad_files(tmp_path):
    root = make_lyrics_corpus(tmp_path / "data", n_artists=2, songs=3)
    (root / "Singer 00" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / "Singer 00" / "blank.txt").write_text("[Chorus]\n\n  \n")
    (root / "Singer 01" / "copy.txt").write_text(artist_text(1, 0))
    (root / "Singer 01" / "bom.txt").write_bytes("\ufeff[Verse]\nÇa va\r\n".encode("utf-8"))
    store = open_store(TextDirSource(root), tmp_path / "c", workers=1, progress=False, log=quiet)
    reasons = {s["path"]: s["reason"] for s in store.report()["skipped"]}
    assert reasons == {
        "Singer 00/latin1.txt": "invalid UTF-8 at byte 3",
        "Singer 00/blank.txt": "empty text",
        "Singer 01/song00.txt": "duplicate of Singer 01/copy.txt",
    }
    bom = store.index["Singer 01/bom.txt"]
    assert text_encoding.decode(store.tokens_of(bom)) == "Ça va" and store.items[bom].n_units == 5


def test_tables_in_every_format_with_malformed_rows(tmp_path):
    import pandas as pd

    rows = [
        {"artist": "A", "song": "one", "text": "[Chorus]\nla la"},
        {"artist": None, "song": "x", "text": "orphan"},
        {"artist": "B", "song": "two", "text": ""},
        {"artist": "B", "song": "three", "text": "do re\nmi"},
    ]
    frame = pd.DataFrame(rows)
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.jsonl", "t.parquet"):
        source = TabularSource(str(tmp_path / name))
        assert (source.artist_column, source.text_column, source.title_column) == ("artist", "text", "song")
        store = open_store(source, tmp_path / f"c-{name}", workers=1, progress=False, log=quiet)
        assert [text_encoding.decode(store.tokens_of(i)) for i in range(len(store))] == ["la la", "do re\nmi"]
        assert sorted(s["reason"] for s in store.report()["skipped"]) == ["missing 'artist'", "missing or empty 'text'"]
    (tmp_path / "bad.csv").write_bytes(b"artist,lyrics\nA,caf\xe9\nB,fine\n")
    store = open_store(TabularSource(str(tmp_path / "bad.csv")), tmp_path / "cb", workers=1, progress=False, log=quiet)
    assert [s["reason"] for s in store.report()["skipped"]] == ["invalid UTF-8 (or U+FFFD) in the text"]
    with pytest.raises(DataError, match="no column 'words'.*--text-column"):
        TabularSource(str(tmp_path / "t.csv"), text_column="words")
    (tmp_path / "t.xml").write_text("<songs/>")
    with pytest.raises(DataError, match="unknown table type"):
        TabularSource(str(tmp_path / "t.xml"))


def test_hub_dataset_fails_at_once_when_offline(tmp_path, monkeypatch):
    import episodes.sources.tabular as tabular

    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(tabular, "hub_reachable", lambda timeout_s=3.0: False)
    started = time.perf_counter()
    assert (
        main(["data", "build", "--track", "lyrics/hf", "--source", "hf:someone/lyrics", "--cache-dir", str(tmp_path)])
        == 2
    )
    assert time.perf_counter() - started < 5
    assert (
        main(
            ["data", "build", "--track", "lyrics/csv", "--data-dir", "hf:someone/lyrics", "--cache-dir", str(tmp_path)]
        )
        == 2
    )


def test_lyrics_tracks_are_listed_and_fortunes_is_a_stand_in(capsys):
    assert TRACKS["lyrics/fortunes"].stand_in and not TRACKS["lyrics/dir"].stand_in
    assert main(["tracks"]) == 0
    out = capsys.readouterr().out
    assert "lyrics/fortunes" in out and "[stand-in data]" in out.split("lyrics/fortunes")[1].split("\n")[0]


def test_fortunes_track_builds_from_a_fortune_dir(tmp_path):
    track = Track.open(
        TRACKS["lyrics/fortunes"],
        cache_dir=tmp_path / "c",
        data_dir=write_fortunes(tmp_path / "f", authors=40),
        workers=1,
        progress=False,
        log=quiet,
    )
    assert track.vocab_size == text_encoding.VOCAB_SIZE
    episode = track.episode(track.manifest("test").episodes[0])
    assert len(episode.support) == 5 and len(episode.query) == 4
    assert all("characters" in it.units for it in episode.query)


def test_the_installed_fortunes_package_gives_a_hundred_authors():
    """The stand-in corpus itself (.ci/run installs Debian's fortunes package)."""
    listing = FortunesSource().listing()
    assert listing["authors_with_min_entries"] >= 100 and listing["entries_of_eligible_authors"] >= 2000
    assert listing["unreadable_files"] == []


def test_committed_fortunes_manifests_apply_to_the_default_data_only(tmp_path):
    from episodes.manifest import ManifestError

    custom = write_fortunes(tmp_path / "f", authors=40)
    store = open_store(FortunesSource(custom), tmp_path / "c", workers=1, progress=False, log=quiet)
    as_default = Track(TRACKS["lyrics/fortunes"], store, default_data=True)  # pretend it were the package's data
    with pytest.raises(ManifestError):
        as_default.manifest("test")  # the committed manifest belongs to another corpus: refused
    assert len(Track(TRACKS["lyrics/fortunes"], store, default_data=False).manifest("test").episodes) == 600
