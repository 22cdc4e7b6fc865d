"""NSynth's on-disk format: ``examples.json`` (note_str -> record) + ``audio/<note_str>.wav``.

``--data-dir`` is either one split folder (``nsynth-test/`` holding ``examples.json``
and ``audio/``) or a folder of them (``nsynth-train/``, ``nsynth-valid/``,
``nsynth-test/``: their notes are pooled, and FSMB draws its own artist split).
The artist of a note is its ``instrument_str``; items are named by ``note_str``.
Records without ``instrument_str``, and records whose ``note_str`` cannot be a file
name (a path separator, ``..``, a NUL byte, a lone surrogate), are left out and
counted (``listing``); a JSON file that does not parse (truncated, nested too
deeply) is a `DataError`; WAVs that
are missing, corrupt, silent or NaN are reported and skipped by the store, and
other sample rates are resampled (`episodes.audio`).
"""

from __future__ import annotations

import json
from pathlib import Path

from episodes.sources.audio_base import AudioFileSource
from episodes.sources.base import DataError, PieceRef, is_unicode, plain_file_name


class NSynthSource(AudioFileSource):
    """Notes of NSynth-format folders, grouped by instrument."""

    name = "nsynth"
    version = "nsynth-v1"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise DataError(f"--data-dir {root}: no such directory (expected NSynth's examples.json + audio/)")

    def _example_files(self) -> list[Path]:
        files = sorted(
            [self.root / "examples.json"]
            if (self.root / "examples.json").is_file()
            else self.root.glob("*/examples.json")
        )
        if not files:
            raise DataError(
                f"--data-dir {self.root}: no examples.json in it or one folder below "
                "(expected NSynth's layout: examples.json + audio/<note_str>.wav)"
            )
        return files

    def cache_key(self) -> str:
        """Changes when an ``examples.json`` or any listed audio file changes."""
        return self.files_key([(st.st_size, st.st_mtime_ns) for st in map(Path.stat, self._example_files())])

    def scan(self) -> tuple[list[PieceRef], dict]:
        pieces: dict[str, PieceRef] = {}
        unlabelled, bad_names = 0, []
        for path in self._example_files():
            try:
                records = json.loads(path.read_text(encoding="utf-8"), parse_int=str)
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError
                reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
                raise DataError(
                    f"{path}: not valid JSON ({reason}); expected NSynth's note_str -> record map"
                ) from None
            if not isinstance(records, dict):
                raise DataError(f"{path}: expected a JSON object mapping note_str to a record")
            folder = path.parent.relative_to(self.root).as_posix()
            for note_str, record in sorted(records.items()):
                instrument = record.get("instrument_str") if isinstance(record, dict) else None
                if not isinstance(instrument, str) or not instrument.strip() or not is_unicode(instrument):
                    unlabelled += 1
                    continue
                if not plain_file_name(note_str):
                    bad_names.append(note_str.encode("utf-8", "backslashreplace").decode()[:80])
                    continue
                if note_str in pieces:
                    raise DataError(f"{path}: note {note_str!r} also appears in {pieces[note_str].path}")
                rel = f"audio/{note_str}.wav" if folder == "." else f"{folder}/audio/{note_str}.wav"
                pieces[note_str] = PieceRef(note_str, instrument, note_str, rel)
        listing = {
            "examples_files": [p.relative_to(self.root).as_posix() for p in self._example_files()],
            "records_without_instrument": unlabelled,
            "records_with_unusable_names": len(bad_names),
            "unusable_names": bad_names[:5],
        }
        return sorted(pieces.values(), key=lambda p: p.item_id), listing
