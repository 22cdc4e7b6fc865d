"""The token ids every sequence codec shares, and how tokens are stored.

A sequence item is ``BOS tokens... EOS``; batches are right-padded with ``PAD``.  The
ids are the same for MIDI events (`episodes.encoding`) and text bytes
(`episodes.text_encoding`), so a sequence method needs only these three and its
track's vocabulary size (``Track.vocab_size``, the codec's) -- never a codec module.
Tokens are stored as ``uint16`` (`TOKEN_DTYPE`).
"""

from __future__ import annotations

import numpy as np

PAD, BOS, EOS = 0, 1, 2
TOKEN_DTYPE = np.uint16
