"""One MAML meta-step: FSMB's ``torch.func`` implementation against the standard
per-task clone-and-step loop (the learn2learn pattern), same LSTM, same meta-batch.

    python benchmarks/bench_maml.py [--repeats 5] [--meta-batch 4] [--tokens 128]

The reference below is written the way learn2learn's ``MAML.clone()`` / ``adapt()``
works: for each task, start from the live parameters, take inner steps with
``torch.autograd.grad(..., create_graph=True)`` (second order) or without it (first
order), compute the query loss and back-propagate it into the shared parameters.
Both use the same functional LSTM (`benchmark.nn.functional_lstm.lm_nll`), so the math is
identical; the script checks that both meta-gradients agree to 1e-5 and prints the
median time of each and their ratio.
"""

from __future__ import annotations

import argparse

import torch
from timing import median_seconds
from torch.func import grad_and_value

from benchmark.nn.functional_lstm import lm_nll
from benchmark.nn.sequence import LSTM_SIZES, LSTMLM, LSTMConfig
from methods.maml import meta_loss


def reference_meta_step(lm: LSTMLM, supports, queries, *, lr: float, steps: int, first_order: bool):
    """Per-task clone-and-step (learn2learn pattern); returns (meta-grads, loss)."""
    lm.zero_grad(set_to_none=True)
    names = [k for k, _ in lm.named_parameters()]
    total = 0.0
    for support, query in zip(supports, queries):
        fast = dict(lm.named_parameters())  # the "clone": a view of the live parameters
        for _ in range(steps):
            loss = lm_nll(fast, support)
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=not first_order)
            fast = {k: p - lr * g for (k, p), g in zip(fast.items(), grads)}
        q_loss = lm_nll(fast, query) / len(supports)
        q_loss.backward()
        total += q_loss.item()
    return {k: p.grad.clone() for k, p in zip(names, lm.parameters())}, total


def project_meta_step(lm: LSTMLM, supports, queries, *, lr: float, steps: int, first_order: bool):
    params = {k: v.detach() for k, v in lm.named_parameters()}
    alphas = {k: torch.tensor(lr) for k in params}
    grads, loss = grad_and_value(meta_loss)(params, alphas, supports, queries, steps, first_order)
    return grads, loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128, help="tokens per song in the inner loop")
    parser.add_argument("--inner-steps", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    lm = LSTMLM(LSTMConfig(vocab=299, dropout=0.0, **LSTM_SIZES["small"])).eval()
    supports = torch.randint(3, 299, (args.meta_batch, args.shots, args.tokens + 1))
    queries = torch.randint(3, 299, (args.meta_batch, 2, args.tokens + 1))
    print(
        f"bench_maml: LSTM {lm.cfg.hidden} hidden, meta-batch {args.meta_batch}, K={args.shots}, "
        f"{args.tokens} tokens/song, {args.inner_steps} inner step(s), {torch.get_num_threads()} threads, "
        f"median of {args.repeats}"
    )
    for first_order in (False, True):
        kw = dict(lr=0.1, steps=args.inner_steps, first_order=first_order)
        ref_g, ref_loss = reference_meta_step(lm, supports, queries, **kw)
        our_g, our_loss = project_meta_step(lm, supports, queries, **kw)
        diff = max((ref_g[k] - our_g[k]).abs().max().item() for k in ref_g)
        t_ref = median_seconds(lambda: reference_meta_step(lm, supports, queries, **kw), args.repeats)
        t_our = median_seconds(lambda: project_meta_step(lm, supports, queries, **kw), args.repeats)
        label = "first-order " if first_order else "second-order"
        print(
            f"  {label}: clone-and-step {t_ref * 1000:8.0f} ms | torch.func vmap {t_our * 1000:8.0f} ms | "
            f"speed-up {t_ref / t_our:4.2f}x | max |Δ meta-grad| {diff:.1e} "
            f"({'OK' if diff <= 1e-5 else 'MISMATCH'}) | loss {ref_loss:.4f} vs {our_loss:.4f}"
        )


if __name__ == "__main__":
    main()
