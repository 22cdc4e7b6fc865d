"""A directory of MIDI files laid out ``ROOT/<artist>/<song>.mid`` (or ``.midi``).

This is the layout of Lakh MIDI ``clean_midi`` (``Artist/Title.mid``, with
``Title.1.mid`` for alternative versions) and of the AI-ON freemidi data.  A flat
collection named ``Composer - Title.mid`` reads with ``artist_from="{artist} - {title}"``
(``--artist-from``; `episodes.sources.folder`).
"""

from __future__ import annotations

from episodes.encoding import Note
from episodes.midi_notes import read_midi_notes
from episodes.sources.base import PieceRef
from episodes.sources.folder import ArtistFolderSource


class MidiDirSource(ArtistFolderSource):
    """MIDI files grouped by their parent folder (the artist)."""

    name = "midi-dir"
    version = "dir-v1"
    suffixes = (".mid", ".midi")
    codec, dedupe, parallel = "midi-events", False, True
    dependencies = ("symusic",)

    def read(self, ref: PieceRef) -> list[Note]:
        return read_midi_notes(self.path(ref))
