"""Codecs: how one source piece becomes a token sequence, and what scores on it are
normalised by.  A track's store is built with one codec, named in every record."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from episodes import encoding, text_encoding


class Codec(Protocol):
    """``encode`` a parsed piece into ``BOS ... EOS`` tokens; ``crop`` to a length
    budget; ``count_units`` the modality's normalising unit in a (cropped) sequence."""

    name: str
    version: int
    vocab_size: int
    unit: str

    def encode(self, payload: Any) -> np.ndarray: ...

    def crop(self, tokens: np.ndarray, max_tokens: int) -> np.ndarray: ...

    def count_units(self, tokens: np.ndarray) -> int: ...


class MidiEvents:
    """`episodes.encoding` (notes -> event tokens); unit: notes."""

    name, version, vocab_size, unit = encoding.ENCODING_NAME, encoding.ENCODING_VERSION, encoding.VOCAB_SIZE, "notes"

    def encode(self, payload: Any) -> np.ndarray:
        return encoding.encode(payload)

    def crop(self, tokens: np.ndarray, max_tokens: int) -> np.ndarray:
        return encoding.crop(tokens, max_tokens)

    def count_units(self, tokens: np.ndarray) -> int:
        return int(encoding.note_ends(tokens).sum())


class TextBytes:
    """`episodes.text_encoding` (text -> UTF-8 byte tokens); unit: characters."""

    name, version = text_encoding.ENCODING_NAME, text_encoding.ENCODING_VERSION
    vocab_size, unit = text_encoding.VOCAB_SIZE, "characters"

    def encode(self, payload: Any) -> np.ndarray:
        return text_encoding.encode(payload)

    def crop(self, tokens: np.ndarray, max_tokens: int) -> np.ndarray:
        return text_encoding.crop(tokens, max_tokens)

    def count_units(self, tokens: np.ndarray) -> int:
        return text_encoding.count_characters(tokens)


CODECS: dict[str, Codec] = {c.name: c for c in (MidiEvents(), TextBytes())}
