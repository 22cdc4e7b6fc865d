"""Reusable sequence models and batched scoring over token items."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from benchmark.contract.device import to_run_device
from benchmark.nn.dropout import BatchDropout
from benchmark.runtime.distributed import rank_rows, rows_of_batch
from episodes.tokens import PAD

LSTMState = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class LSTMConfig:
    """Shape of an `LSTMLM`; ``vocab`` tokens, ``emb``/``hidden`` widths, ``layers``."""

    vocab: int
    emb: int = 128
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


LSTM_SIZES = {"small": dict(emb=128, hidden=256, layers=1), "base": dict(emb=256, hidden=512, layers=1)}


class LSTMLM(nn.Module):
    """Token embedding -> LSTM -> linear softmax over the vocabulary."""

    def __init__(self, cfg: LSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.emb, padding_idx=PAD)
        self.lstm = nn.LSTM(cfg.emb, cfg.hidden, cfg.layers, batch_first=True)
        self.drop = BatchDropout(cfg.dropout)  # nn.Dropout, with masks that do not depend on the ranks
        self.out = nn.Linear(cfg.hidden, cfg.vocab)

    def forward(self, tokens: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        """tokens ``(B, T)`` long -> logits ``(B, T, V)`` and the final state
        (``h``, ``c``, each ``(layers, B, hidden)``)."""
        h, state = self.hidden(tokens, state)  # (B, T, H)
        return self.out(self.drop(h)), state

    def hidden(self, tokens: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        """tokens ``(B, T)`` -> LSTM outputs ``(B, T, H)`` (before the softmax layer) and state."""
        return self.lstm(self.drop(self.embed(tokens)), state)


def pad_batch(seqs: Sequence[np.ndarray]) -> Tensor:
    """Right-pad token arrays with PAD -> long tensor ``(B, T_max)`` on the run's device
    (filled in numpy, moved once)."""
    longest = max(len(s) for s in seqs)
    out = np.full((len(seqs), longest), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return to_run_device(out)


def token_nll(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-position NLL in nats ``(B, T)``; zero where the target is PAD."""
    nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none", ignore_index=PAD)
    return nll


def lm_loss(model: LSTMLM, batch: Tensor) -> Tensor:
    """Mean NLL (nats/token) of predicting ``batch[:, 1:]`` from ``batch[:, :-1]``.

    Under data-parallel training this rank's share of it: the NLL of its rows
    (`benchmark.runtime.distributed.rank_rows`) over the whole batch's token count."""
    return share_of_mean_nll(lambda rows: model(rows[:, :-1])[0], batch)


def distilled_lm_loss(model: LSTMLM, teacher: LSTMLM, batch: Tensor, weight: float) -> Tensor:
    """`lm_loss` mixed with knowledge distillation (Hinton et al. 2015, at temperature 1):
    ``(1 - weight)`` times the NLL of ``batch[:, 1:]`` plus ``weight`` times the
    cross-entropy from ``teacher``'s next-token distribution to ``model``'s, both in
    nats/token over the batch's non-PAD targets (this rank's share, as `lm_loss`).

    The soft term is the KL divergence to the teacher plus the teacher's entropy, a
    constant: its gradient is the KL's.  ``teacher`` runs in eval mode without gradients
    (its forward is part of the step's cost)."""
    teacher.eval()

    def per_token(rows: Tensor) -> Tensor:
        logits, targets = model(rows[:, :-1])[0], rows[:, 1:]
        with torch.no_grad():
            soft_targets = F.softmax(teacher(rows[:, :-1])[0], dim=-1)
        soft = -(soft_targets * F.log_softmax(logits, dim=-1)).sum(dim=-1) * (targets != PAD)
        return (1 - weight) * token_nll(logits, targets) + weight * soft

    return share_of_mean(per_token, batch)


LENGTH_GROUPS = 4  # a training batch runs as up to this many sub-batches of rows of similar length


def share_of_mean_nll(logits_of: Callable[[Tensor], Tensor], batch: Tensor, groups: int = LENGTH_GROUPS) -> Tensor:
    """This rank's share of the mean NLL (nats/token) of ``batch[:, 1:]``, ``(B, T)``
    right-padded with PAD: ``logits_of(rows) -> (b, t - 1, V)`` on rows cut to ``t``
    positions, their summed token NLL over the token count of the whole batch (alone:
    the mean NLL).  `share_of_mean` with the token NLL as the loss."""
    return share_of_mean(lambda rows: token_nll(logits_of(rows), rows[:, 1:]), batch, groups)


def share_of_mean(token_loss_of: Callable[[Tensor], Tensor], batch: Tensor, groups: int = LENGTH_GROUPS) -> Tensor:
    """This rank's share of the mean per-token loss of ``batch[:, 1:]``, ``(B, T)``
    right-padded with PAD: ``token_loss_of(rows) -> (b, t - 1)`` on rows cut to ``t``
    positions (zero at PAD targets), summed over the token count of the whole batch.

    The rows run as up to ``groups`` sub-batches of rows of similar length (sorted by
    length), each cut to its longest row, so that padding is not computed: the sum is the
    same, as rows do not interact (on ``midi/music21`` a padded batch of 16 songs is 35 %
    tokens and an ``lstm`` step 1.8x faster this way; ``lstm-concat``'s 4 episode
    sequences, 43-63 % tokens, run one by one 1.8x faster).  The groups depend on the
    batch alone; under data-parallel training each is shared out over the ranks
    (`rank_rows`; a rank may hold no row of one), so every rank draws the dropout masks
    one process draws."""
    lengths = (batch != PAD).sum(dim=1)
    tokens = (batch[:, 1:] != PAD).sum().clamp(min=1)
    order = torch.argsort(lengths, stable=True)
    total = batch.new_zeros((), dtype=torch.float32)
    for idx in torch.tensor_split(order, max(1, min(groups, len(batch)))):
        group = batch[idx, : int(lengths[idx].max())]
        rows = rank_rows(group)
        with rows_of_batch(len(group)):
            total = total + token_loss_of(rows).sum()
    return total / tokens


@torch.no_grad()
def score_sequences(
    model: LSTMLM,
    seqs: Sequence[np.ndarray],
    state: LSTMState | None = None,
    *,
    batch_size: int = 64,
) -> np.ndarray:
    """Total NLL in nats of each sequence's tokens after the first, shape ``(N,)``.

    ``state``, if given, holds one initial state per sequence (``(layers, N, H)``
    each), e.g. the state after reading an episode's support set.  Sequences are
    sorted by length so that each batch wastes little padding.
    """
    model.eval()
    order = np.argsort([-len(s) for s in seqs], kind="stable")
    out = np.zeros(len(seqs), dtype=np.float64)
    for start in range(0, len(seqs), batch_size):
        idx = order[start : start + batch_size]
        batch = pad_batch([seqs[i] for i in idx])
        init = None if state is None else (state[0][:, idx], state[1][:, idx])
        logits, _ = model(batch[:, :-1], init)
        out[idx] = token_nll(logits, batch[:, 1:]).sum(dim=1).double().cpu().numpy()
    return out


@torch.no_grad()
def read_state(model: LSTMLM, seqs: Sequence[np.ndarray], *, batch_size: int = 32) -> LSTMState:
    """The LSTM state after reading each token sequence, ``(layers, N, H)`` each.

    Sequences of different lengths are run in length-sorted batches; each one's state
    is taken at its own last token (packed sequences, so padding is never read).
    """
    model.eval()
    n, cfg = len(seqs), model.cfg
    h = torch.zeros(cfg.layers, n, cfg.hidden)
    c = torch.zeros(cfg.layers, n, cfg.hidden)
    nonempty = [i for i in range(n) if len(seqs[i]) > 0]
    order = sorted(nonempty, key=lambda i: -len(seqs[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = pad_batch([seqs[i] for i in idx])
        lengths = [len(seqs[i]) for i in idx]  # packing wants them on the CPU
        x = model.embed(batch)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=True)
        _, (hn, cn) = model.lstm(packed)
        h[:, idx], c[:, idx] = hn, cn
    return h, c


def draw_next(logits: Tensor, done: Tensor, generator: torch.Generator, *, bos: int = 1) -> Tensor:
    """Next tokens ``(n, 1)`` drawn from last-position logits ``(n, V)``; PAD and BOS are
    never drawn, and rows already ``done`` (``(n,)`` bool) get PAD.  Drawn on the CPU
    from the CPU ``generator`` (the same draws on every device), then moved back."""
    logits = logits.clone()
    logits[:, [PAD, bos]] = -math.inf
    probs = torch.softmax(logits, dim=-1).cpu()
    tokens = torch.multinomial(probs, 1, generator=generator).to(logits.device)
    tokens[done] = PAD
    return tokens


@torch.no_grad()
def sample_lstm(
    model: LSTMLM,
    n: int,
    *,
    max_len: int,
    generator: np.random.Generator,
    state: LSTMState | None = None,
    bos: int = 1,
    eos: int = 2,
) -> list[np.ndarray]:
    """Ancestral samples: ``n`` sequences starting with BOS, ending at EOS or ``max_len``.

    ``state``: a single initial state (``(layers, 1, H)`` each) shared by all samples.
    PAD and BOS are never sampled after the first position.
    """
    model.eval()
    torch_gen = torch.Generator().manual_seed(int(generator.integers(2**62)))
    if state is not None:
        state = (state[0].expand(-1, n, -1).contiguous(), state[1].expand(-1, n, -1).contiguous())
    tokens = torch.full((n, 1), bos, dtype=torch.long)
    out = [tokens]
    done = torch.zeros(n, dtype=torch.bool)
    for _ in range(max_len - 1):
        logits, state = model(tokens, state)
        tokens = draw_next(logits[:, -1], done, torch_gen, bos=bos)
        out.append(tokens)
        done |= tokens[:, 0] == eos
        if bool(done.all()):
            break
    seqs = torch.cat(out, dim=1).cpu().numpy()
    return [s[s != PAD].astype(np.uint16) for s in seqs]


class StreamingLSTM(nn.Module):
    """One streaming step of an `LSTMLM`: token ``(1, 1)`` long and state ``h``, ``c``
    (each ``(layers, 1, hidden)``) in; the next token's logits ``(1, V)`` and the new
    state out -- the graph a device runs, exported as is by `benchmark.cost.onnx_export`."""

    def __init__(self, model: LSTMLM) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, (h, c) = self.model(token, (h, c))
        return logits[:, -1], h, c


@torch.no_grad()
def sample_streamed(
    step: nn.Module,
    layers: int,
    hidden: int,
    *,
    max_len: int,
    generator: np.random.Generator,
    bos: int = 1,
    eos: int = 2,
) -> np.ndarray:
    """One ancestral sample through a streaming step ``step(token, h, c) -> (logits, h,
    c)`` (a `StreamingLSTM`, or its int8 graph) from the zero state ``(layers, 1,
    hidden)``: BOS first, ending at EOS or ``max_len`` tokens; the draws of `sample_lstm`
    with ``n = 1`` (PAD and BOS never drawn after the first position)."""
    torch_gen = torch.Generator().manual_seed(int(generator.integers(2**62)))
    h = c = torch.zeros(layers, 1, hidden)
    token = torch.full((1, 1), bos, dtype=torch.long)
    out = [bos]
    done = torch.zeros(1, dtype=torch.bool)
    while len(out) < max_len and out[-1] != eos:
        logits, h, c = step(token, h, c)
        token = draw_next(logits, done, torch_gen, bos=bos)
        out.append(int(token))
    return np.array(out, dtype=np.uint16)
