"""Training FLOPs: the formulas registered for fused kernels agree with torch's counter
on the same computation run unfused."""

from __future__ import annotations

import weakref

import pytest
import torch
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from benchmark.cost.flops import count_flops
from benchmark.nn.sequence import LSTMLM, LSTMConfig, lm_loss


@pytest.mark.filterwarnings("ignore:TF32")
def test_fused_lstm_counts_what_the_unfused_lstm_computes():
    torch.manual_seed(0)
    model = LSTMLM(LSTMConfig(vocab=50, emb=16, hidden=32, layers=2, dropout=0.0))
    batch = torch.randint(3, 50, (4, 20))
    with count_flops() as fused:
        lm_loss(model, batch).backward()
    with torch.backends.mkldnn.flags(enabled=False), count_flops() as unfused:
        lm_loss(model, batch).backward()  # decomposed into matrix products torch's counter knows
    assert unfused.flops > 0
    # the fused backward also counts the first step's recurrent product, which the
    # unfused one skips (its state gradient is not needed): < 1 %
    assert fused.flops == pytest.approx(unfused.flops, rel=0.01)
    hidden, emb, vocab, positions = 32, 16, 50, 4 * 19
    per_position = 2 * 4 * hidden * (emb + hidden) + 2 * 4 * hidden * (hidden + hidden) + 2 * hidden * vocab
    assert fused.flops == pytest.approx(3 * positions * per_position, rel=0.01)  # forward + twice it backward


def test_fused_cpu_attention_counts_what_the_math_attention_computes():
    q, k, v = (torch.randn(2, 4, 16, 8) for _ in range(3))
    with count_flops() as fused:
        F.scaled_dot_product_attention(q, k, v)
    with sdpa_kernel(SDPBackend.MATH), count_flops() as math:
        F.scaled_dot_product_attention(q, k, v)
    assert fused.flops == math.flops == 2 * (2 * 2 * 4 * 16 * 16 * 8)  # Q K^T and (softmax) V


def test_counting_keeps_no_autograd_graph_alive():
    """A graph built and dropped inside the block is freed at once (torch's module
    tracker would hold every module call's graph until the block ends: gigabytes over
    a chunk of ``rhvae`` fine-tunings), and the total is still counted."""
    layer = torch.nn.Linear(8, 8)
    with count_flops() as counted:
        x = torch.randn(4, 8, requires_grad=True)
        y = layer(x)  # y's graph saves x for the weight gradient
        seen = weakref.ref(x)
        del x, y
        assert seen() is None
    assert counted.flops == 2 * 4 * 8 * 8
