"""A decoder-only transformer language model and windowed scoring of token sequences.

`TransformerLM` is a pre-LayerNorm causal transformer with learned absolute positions
over a fixed ``context`` window.  `score_windows` scores many (prefix, targets)
windows in length-sorted batches; `sample_transformer` draws ancestral samples from
a fixed prefix with a key-value cache (`KVCache`), sliding over the window when a
sample outgrows it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from benchmark.contract.device import to_run_device
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
        targets = np.full((len(idx), batch.shape[1] - 1), PAD, dtype=np.int64)  # (B, T-1): PAD = not scored
        for row, i in enumerate(idx):
            w = windows[i]
            targets[row, w.lo : w.hi] = w.tokens[w.lo + 1 : w.hi + 1]
        logits = model(batch[:, :-1])
        out[idx] = token_nll(logits, to_run_device(targets)).sum(dim=1).double().cpu().numpy()
    return out


class KVCache:
    """Incremental decoding of a `TransformerLM` with a key-value cache.

    `prefill` runs the tokens ``(B, T)`` at positions ``0..T-1`` and keeps each block's
    keys and values ``(B, heads, T, d_model / heads)``; each `step` then runs one token
    per row at the next position against the cache, at the cost of one position instead
    of the whole window.  Inference only (dropout off): the logits equal `TransformerLM.
    forward`'s at the same positions (to float rounding; tested).
    """

    def __init__(self, model: TransformerLM) -> None:
        self.model = model
        self.keys: list[Tensor] = []
        self.values: list[Tensor] = []

    @property
    def length(self) -> int:
        """Positions held in the cache."""
        return self.keys[0].shape[2] if self.keys else 0

    def prefill(self, tokens: Tensor) -> Tensor:
        """tokens ``(B, T)`` -> last-position logits ``(B, V)``; replaces the cache."""
        self.keys, self.values = [], []
        return self._run(tokens, start=0, causal=True)

    def step(self, tokens: Tensor) -> Tensor:
        """tokens ``(B, 1)`` at the next position -> their logits ``(B, V)``."""
        if self.length >= self.model.cfg.context:
            raise ValueError(f"the cache holds the whole {self.model.cfg.context}-token context")
        return self._run(tokens, start=self.length, causal=False)

    def _run(self, tokens: Tensor, *, start: int, causal: bool) -> Tensor:
        m = self.model
        steps = tokens.shape[1]
        x = m.embed(tokens) + m.pos(torch.arange(start, start + steps, device=tokens.device))  # (B, T, D)
        for i, layer in enumerate(m.blocks.layers):
            attn = layer.self_attn
            heads = attn.num_heads
            q, k, v = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))  # (B, H, T, Dh)
            if i < len(self.keys):
                k, v = torch.cat([self.keys[i], k], dim=2), torch.cat([self.values[i], v], dim=2)
                self.keys[i], self.values[i] = k, v
            else:
                self.keys.append(k)
                self.values.append(v)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B, H, T, Dh)
            x = x + attn.out_proj(a.transpose(1, 2).flatten(2))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        return m.out(m.norm(x[:, -1]))


@torch.no_grad()
def sample_transformer(
    model: TransformerLM, prefix: np.ndarray, n: int, *, max_len: int, generator: np.random.Generator
) -> list[np.ndarray]:
    """``n`` ancestral samples (each starting with BOS, ending at EOS or ``max_len``)
    given the token ``prefix`` (e.g. a support block), decoded with a `KVCache`.  When
    prefix + sample fill the context, the oldest half of the sample's tokens in view
    slide out (the prefix stays) and the cache is rebuilt from what remains: the model
    always sees the prefix and at least the last half-window of its own sample."""
    model.eval()
    torch_gen = torch.Generator().manual_seed(int(generator.integers(2**62)))
    head = to_run_device(np.asarray(prefix, dtype=np.int64)).expand(n, -1)  # (n, P)
    room = model.cfg.context - head.shape[1]
    if room < 2:
        raise ValueError(f"a {head.shape[1]}-token prefix leaves no room in the {model.cfg.context}-token context")
    tokens = torch.full((n, 1), BOS, dtype=torch.long)
    done = torch.zeros(n, dtype=torch.bool)
    cache = KVCache(model)
    logits = cache.prefill(torch.cat([head, tokens], dim=1))  # (n, V)
    for _ in range(max_len - 1):
        nxt = draw_next(logits, done, torch_gen, bos=BOS)  # (n, 1)
        tokens = torch.cat([tokens, nxt], dim=1)
        done |= nxt[:, 0] == EOS
        if bool(done.all()):
            break
        if cache.length < model.cfg.context:
            logits = cache.step(nxt)
        else:
            logits = cache.prefill(torch.cat([head, tokens[:, -max(1, room // 2) :]], dim=1))
    return [s[s != PAD].astype(np.uint16) for s in tokens.cpu().numpy()]
