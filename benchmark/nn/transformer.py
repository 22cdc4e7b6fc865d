"""A decoder-only transformer language model and windowed scoring of token sequences.

`TransformerLM` is a pre-LayerNorm causal transformer with learned absolute positions
over a fixed ``context`` window.  `score_windows` scores many (prefix, targets)
windows in length-sorted batches; `sample_transformer` draws ancestral samples from
a fixed prefix, sliding over the window when a sample outgrows it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from benchmark.nn.sequence import draw_next, pad_batch, token_nll
from episodes.tokens import BOS, EOS, PAD


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of a `TransformerLM`: ``vocab`` tokens, ``d_model`` width, ``layers``
    blocks of ``heads`` attention heads and an ``ff``-wide MLP, ``context`` positions."""

    vocab: int
    d_model: int = 128
    layers: int = 4
    heads: int = 4
    ff: int = 512
    context: int = 1024
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


TRANSFORMER_SIZES = {
    "small": dict(d_model=128, layers=4, heads=4, ff=512),
    "base": dict(d_model=256, layers=6, heads=8, ff=1024),
}


class TransformerLM(nn.Module):
    """Token + position embeddings -> causal pre-LN transformer -> linear softmax."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.d_model, padding_idx=PAD)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.heads, cfg.ff, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.vocab)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens ``(B, T)`` long, ``T <= context`` -> logits ``(B, T, V)``.

        Causal: position t sees positions <= t only, so right padding never changes
        the logits of earlier positions.
        """
        steps = tokens.shape[1]
        if steps > self.cfg.context:
            raise ValueError(f"sequence of {steps} tokens exceeds the {self.cfg.context}-token context")
        x = self.embed(tokens) + self.pos(torch.arange(steps, device=tokens.device))  # (B, T, D)
        mask = nn.Transformer.generate_square_subsequent_mask(steps, device=tokens.device)
        h = self.blocks(self.drop(x), mask=mask, is_causal=True)  # (B, T, D)
        return self.out(self.norm(h))


@dataclass(frozen=True)
class Window:
    """One forward pass: ``tokens`` (``(T,)``, ``T <= context``) and the positions whose
    next token is scored: ``tokens[i + 1]`` is scored for ``i`` in ``[lo, hi)``."""

    tokens: np.ndarray
    lo: int
    hi: int


@torch.no_grad()
def score_windows(model: TransformerLM, windows: Sequence[Window], *, batch_size: int = 16) -> np.ndarray:
    """Total NLL in nats of each window's scored tokens, shape ``(len(windows),)``."""
    model.eval()
    order = np.argsort([-len(w.tokens) for w in windows], kind="stable")
    out = np.zeros(len(windows), dtype=np.float64)
    for start in range(0, len(windows), batch_size):
        idx = order[start : start + batch_size]
        batch = pad_batch([windows[i].tokens for i in idx])  # (B, T)
        targets = torch.full_like(batch[:, 1:], PAD)  # (B, T-1): PAD = not scored
        for row, i in enumerate(idx):
            w = windows[i]
            targets[row, w.lo : w.hi] = torch.from_numpy(w.tokens[w.lo + 1 : w.hi + 1].astype(np.int64))
        logits = model(batch[:, :-1])
        out[idx] = token_nll(logits, targets).sum(dim=1).double().numpy()
    return out


@torch.no_grad()
def sample_transformer(
    model: TransformerLM, prefix: np.ndarray, n: int, *, max_len: int, generator: np.random.Generator
) -> list[np.ndarray]:
    """``n`` ancestral samples (each starting with BOS, ending at EOS or ``max_len``)
    given the token ``prefix`` (e.g. a support block); when prefix + sample outgrow
    the context, the oldest sample tokens slide out (the prefix stays)."""
    model.eval()
    torch_gen = torch.Generator().manual_seed(int(generator.integers(2**62)))
    head = torch.from_numpy(np.asarray(prefix, dtype=np.int64)).expand(n, -1)  # (n, P)
    room = model.cfg.context - head.shape[1]
    if room < 2:
        raise ValueError(f"a {head.shape[1]}-token prefix leaves no room in the {model.cfg.context}-token context")
    tokens = torch.full((n, 1), BOS, dtype=torch.long)
    done = torch.zeros(n, dtype=torch.bool)
    for _ in range(max_len - 1):
        logits = model(torch.cat([head, tokens[:, -room:]], dim=1))[:, -1]  # (n, V)
        nxt = draw_next(logits, done, torch_gen, bos=BOS)  # (n, 1)
        tokens = torch.cat([tokens, nxt], dim=1)
        done |= nxt[:, 0] == EOS
        if bool(done.all()):
            break
    return [s[s != PAD].astype(np.uint16) for s in tokens.numpy()]
