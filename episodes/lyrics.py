"""Normalising lyrics and other texts before they are encoded (`episodes.text_encoding`).

`normalise_text` (version ``TEXT_NORM_VERSION``, part of every text source's cache key):

1. Unicode NFC; line endings ``\\r\\n`` / ``\\r`` become ``\\n``;
2. terminal overstriking (``X\\bY``, as in old fortune files) keeps the overstriking
   character ``Y``; other control characters except newline and tab are removed;
3. section tags in square brackets (``[Chorus]``, ``[Verse 2: Artist]``, at most 60
   characters, on one line) are removed, with their line if they stood alone on it --
   in version 1 *any* such bracketed span is, ``[sic]`` and ``[a-z]`` included (a known
   limitation, kept so that published corpora stay what they were; see docs/tracks.md);
4. within each line, runs of whitespace become one space and the line is stripped;
5. runs of blank lines become one blank line (stanza breaks are kept), and leading and
   trailing blank lines are dropped.

Line breaks are kept: they carry a song's form.  A text left empty is refused.
"""

from __future__ import annotations

import re
import unicodedata

from episodes.sources.base import SkipItem

TEXT_NORM_VERSION = 1
_OVERSTRIKE = re.compile(r".\x08")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SECTION_TAG = re.compile(r"\[[^\]\n]{0,60}\]")
_TAG_LINE = re.compile(r"^[ \t]*\[[^\]\n]{0,60}\][ \t]*(?:\n|$)", re.MULTILINE)
_SPACES = re.compile(r"\s+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """The normalised form of ``text`` (see the module doc); raises `SkipItem` if empty."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", _OVERSTRIKE.sub("", text))
    text = _SECTION_TAG.sub("", _TAG_LINE.sub("", text))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")
    if not text:
        raise SkipItem("empty text")
    return text


def decode_utf8(raw: bytes) -> str:
    """``raw`` as UTF-8 (a leading BOM dropped); raises `SkipItem` naming the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SkipItem(f"invalid UTF-8 at byte {exc.start}") from None
