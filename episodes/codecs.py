"""Codecs: how one source piece becomes tokens, and what scores on it are normalised
by.  A track's store is built with one codec, named in every record.

Sequence codecs (MIDI events, text bytes) make ``BOS ... EOS`` sequences whose
tokens after BOS are predicted; the audio codec makes a fixed-size array of
quantised log-mel levels, every one of which is predicted."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from episodes import audio_encoding, encoding, text_encoding


class Codec(Protocol):
    """``encode`` a parsed piece into flat stored tokens; ``crop`` to a length budget
    (and the shape a model sees); ``count_units`` the modality's normalising unit in
    cropped tokens; ``n_predicted`` the number of tokens a model scores.
    ``dependencies``: the libraries whose versions can change what ``encode`` returns
    (`episodes.dependencies`: checked before a build, part of the store's key)."""

    name: str
    version: int
    vocab_size: int
    unit: str
    dependencies: tuple[str, ...]

    def encode(self, payload: Any) -> np.ndarray: ...

    def crop(self, tokens: np.ndarray, max_tokens: int) -> np.ndarray: ...

    def count_units(self, tokens: np.ndarray) -> int: ...

    def n_predicted(self, tokens: np.ndarray) -> int: ...


class SequenceCodec:
    """``BOS ... EOS`` sequences: every token after BOS is predicted."""

    def n_predicted(self, tokens: np.ndarray) -> int:
        return len(tokens) - 1


class MidiEvents(SequenceCodec):
    """`episodes.encoding` (notes -> event tokens); unit: notes."""

    name, version, vocab_size, unit = encoding.ENCODING_NAME, encoding.ENCODING_VERSION, encoding.VOCAB_SIZE, "notes"
    dependencies: tuple[str, ...] = ()

    def encode(self, payload: Any) -> np.ndarray:
        return encoding.encode(payload)

    def crop(self, tokens: np.ndarray, max_tokens: int) -> np.ndarray:
        return encoding.crop(tokens, max_tokens)

    def count_units(self, tokens: np.ndarray) -> int:
        return int(encoding.note_ends(tokens).sum())


class TextBytes(SequenceCodec):
    """`episodes.text_encoding` (text -> UTF-8 byte tokens); unit: characters."""

    name, version = text_encoding.ENCODING_NAME, text_encoding.ENCODING_VERSION
    vocab_size, unit = text_encoding.VOCAB_SIZE, "characters"
    dependencies: tuple[str, ...] = ("unicode",)  # text sources normalise to NFC, which follows the Unicode database

    def encode(self, payload: Any) -> np.ndarray:
        return text_encoding.encode(payload)

    def crop(self, tokens: np.ndarray, max_tokens: int) -> np.ndarray:
        return text_encoding.crop(tokens, max_tokens)

    def count_units(self, tokens: np.ndarray) -> int:
        return text_encoding.count_characters(tokens)


class LogMel8:
    """`episodes.audio_encoding` (4 s note -> 64 x 64 quantised log-mel levels); unit:
    dimensions, all of them predicted.  There is nothing to crop."""

    name, version = audio_encoding.ENCODING_NAME, audio_encoding.ENCODING_VERSION
    vocab_size, unit = audio_encoding.LEVELS, "dims"
    dependencies: tuple[str, ...] = ("torch", "torchaudio")  # the mel filter bank and STFT

    def encode(self, payload: Any) -> np.ndarray:
        return audio_encoding.encode(payload)

    def crop(self, tokens: np.ndarray, max_tokens: int) -> np.ndarray:
        return audio_encoding.as_image(tokens)

    def count_units(self, tokens: np.ndarray) -> int:
        return int(tokens.size)

    def n_predicted(self, tokens: np.ndarray) -> int:
        return int(tokens.size)


CODECS: dict[str, Codec] = {c.name: c for c in (MidiEvents(), TextBytes(), LogMel8())}
