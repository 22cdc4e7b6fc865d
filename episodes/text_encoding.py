"""Text encoding v1 (``text-bytes``): a normalised text <-> its UTF-8 bytes as tokens.

Token ``3 + b`` is the byte ``b`` (0..255); PAD, BOS and EOS are 0, 1, 2, shared with
the MIDI encoding (`episodes.tokens`).  Every item is ``BOS bytes... EOS``.  The encoding is lossless and
needs no unknown token: any text round-trips exactly (tested).  Vocabulary: 259.

Scores on text are reported per token and per **character** (Unicode code point of the
normalised text): bits per character stays comparable when a method brings its own
lossless tokenizer, since it divides by the text, not by the tokens.
"""

from __future__ import annotations

import numpy as np

from episodes.tokens import BOS, EOS, TOKEN_DTYPE

ENCODING_NAME = "text-bytes"
ENCODING_VERSION = 1
BYTE0 = 3
VOCAB_SIZE = BYTE0 + 256


def encode(text: str) -> np.ndarray:
    """``BOS utf8(text) EOS`` as ``uint16`` tokens, shape ``(len(utf8) + 2,)``."""
    body = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(TOKEN_DTYPE) + BYTE0
    return np.concatenate([[BOS], body, [EOS]]).astype(TOKEN_DTYPE)


def decode(tokens: np.ndarray, *, strict: bool = True) -> str:
    """The text of ``BOS bytes... [EOS]``; stops at the first EOS.

    ``strict=False`` (for model samples) drops non-byte tokens and replaces invalid
    UTF-8 with U+FFFD instead of raising ``ValueError``.
    """
    tokens = np.asarray(tokens)
    if strict and (len(tokens) == 0 or tokens[0] != BOS):
        raise ValueError("a text item starts with BOS")
    ends = np.flatnonzero(tokens == EOS)
    body = tokens[1 : ends[0] if len(ends) else len(tokens)]
    is_byte = (body >= BYTE0) & (body < VOCAB_SIZE)
    if strict and not is_byte.all():
        raise ValueError(f"token {int(body[~is_byte][0])} is not a byte token")
    raw = (body[is_byte] - BYTE0).astype(np.uint8).tobytes()
    return raw.decode("utf-8", errors="strict" if strict else "replace")


def char_starts(tokens: np.ndarray) -> np.ndarray:
    """Boolean mask ``(n_tokens,)``: True at byte tokens that start a character
    (anything but a UTF-8 continuation byte ``10xxxxxx``)."""
    tokens = np.asarray(tokens)
    byte = tokens.astype(np.int64) - BYTE0
    return (tokens >= BYTE0) & (tokens < VOCAB_SIZE) & ((byte & 0xC0) != 0x80)


def count_characters(tokens: np.ndarray) -> int:
    """Characters covered by a (possibly cropped) token sequence."""
    return int(char_starts(tokens).sum())


def crop(tokens: np.ndarray, max_tokens: int) -> np.ndarray:
    """At most ``max_tokens`` tokens from the start, cut at a character boundary.

    A sequence that fits is returned whole (with its EOS); a longer one is a prefix
    without EOS, ending with a complete character.
    """
    if len(tokens) <= max_tokens:
        return tokens
    cut = max_tokens
    while cut > 1 and not char_starts(tokens[cut : cut + 1])[0]:
        cut -= 1  # tokens[cut] continues a character: cut before the character's start
    return tokens[:cut]
