"""One MAML meta-step: FSMB against the real learn2learn, side by side in one run.

    python benchmarks/bench_maml.py [--peer /tmp/peer-l2l] [--repeats 5] [--threads 2]
                                    [--meta-batch 4] [--shots 5] [--tokens 128] [--inner-steps 1]

Both compute the same meta-gradient of the same network -- FSMB's ``small`` LSTM
(embedding 128, hidden 256, the MIDI vocabulary of 299 tokens), meta-batch 4, K = 5
support and 2 query songs of 128 tokens, one inner step of lr 0.1 -- in both orders:

- FSMB: `methods.maml.meta_gradient` (tasks batched, hand-written backward pass,
  forward-mode Hessian-vector products; no autograd graph);
- learn2learn 0.2.0: ``MAML.clone()`` / ``adapt()`` per task on ``nn.Embedding ->
  nn.LSTM -> nn.Linear`` with the same weights (`peer_l2l_maml.py`, run by the
  peer environment's Python that ``../shared/tools/peer-l2l-env.sh`` builds; without
  it only FSMB is timed).

The script checks that the two meta-gradients agree (computed once in float64 by
each, max |difference| printed), times float32 meta-steps at ``--threads`` threads
(FSMB before and after learn2learn, to share the machine's drift) and prints the
medians and the ratio learn2learn / FSMB.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import tempfile
from pathlib import Path

import torch
from timing import median_seconds

from benchmark.nn.sequence import LSTM_SIZES, LSTMLM, LSTMConfig
from methods.maml import meta_gradient

ORDERS = {"second": False, "first": True}  # order -> first_order


def fsmb_meta_step(
    lm: LSTMLM, supports: torch.Tensor, queries: torch.Tensor, lr: float, steps: int, first_order: bool
) -> dict[str, torch.Tensor]:
    params = {k: v.detach() for k, v in lm.named_parameters()}
    alphas = {k: torch.tensor(lr, dtype=v.dtype) for k, v in params.items()}
    return meta_gradient(params, alphas, supports, queries, steps, first_order).params


def run_peer(python: Path, lm: LSTMLM, supports: torch.Tensor, queries: torch.Tensor, args: argparse.Namespace) -> dict:
    """learn2learn's meta-gradients (float64) and float32 step times, from the peer environment."""
    with tempfile.TemporaryDirectory() as folder:
        request, answer = Path(folder) / "request.pt", Path(folder) / "answer.pt"
        torch.save(
            {
                "state": lm.state_dict(),
                "vocab": lm.cfg.vocab,
                "emb": lm.cfg.emb,
                "hidden": lm.cfg.hidden,
                "supports": supports,
                "queries": queries,
                "lr": args.lr,
                "steps": args.inner_steps,
                "threads": args.threads,
                "repeats": args.repeats,
            },
            request,
        )
        subprocess.run(
            [str(python), str(Path(__file__).with_name("peer_l2l_maml.py")), str(request), str(answer)], check=True
        )
        return torch.load(answer, weights_only=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", type=Path, default=Path("/tmp/peer-l2l"), help="learn2learn's virtual environment")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--meta-batch", type=int, default=4)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128, help="tokens per song in the inner loop")
    parser.add_argument("--inner-steps", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.1, help="inner learning rate")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    lm = LSTMLM(LSTMConfig(vocab=299, dropout=0.0, **LSTM_SIZES["small"])).eval()
    supports = torch.randint(3, 299, (args.meta_batch, args.shots, args.tokens + 1))
    queries = torch.randint(3, 299, (args.meta_batch, 2, args.tokens + 1))
    python = args.peer / "bin" / "python"
    print(
        f"bench_maml: LSTM {lm.cfg.emb}/{lm.cfg.hidden}, vocabulary {lm.cfg.vocab}, meta-batch {args.meta_batch}, "
        f"K={args.shots}, {args.tokens} tokens/song, {args.inner_steps} inner step(s), {args.threads} threads, "
        f"median of {2 * args.repeats} (FSMB) and {args.repeats} (learn2learn) float32 meta-steps"
    )

    def time_fsmb() -> dict[str, float]:
        return {
            order: median_seconds(
                lambda: fsmb_meta_step(lm, supports, queries, args.lr, args.inner_steps, fo), args.repeats
            )
            for order, fo in ORDERS.items()
        }

    before = time_fsmb()
    peer = run_peer(python, lm, supports, queries, args) if python.exists() else None
    after = time_fsmb()
    if peer is None:
        print(
            f"  learn2learn: no environment at {args.peer} (build it with ../shared/tools/peer-l2l-env.sh "
            f"{args.peer}); FSMB only"
        )
    else:
        print(f"  learn2learn {peer['learn2learn']}, torch {peer['torch']} (FSMB: torch {torch.__version__})")
    double = copy.deepcopy(lm).double()  # the float64 check, on a copy
    for order, first_order in ORDERS.items():
        ours = statistics.median([before[order], after[order]])
        line = f"  {order:6s} order: FSMB {ours * 1000:7.0f} ms"
        if peer is not None:
            theirs = statistics.median(peer[order]["seconds"])
            grads = fsmb_meta_step(double, supports.clone(), queries.clone(), args.lr, args.inner_steps, first_order)
            diff = max((grads[k] - g).abs().max().item() for k, g in peer[order]["grads"].items())
            line += (
                f" | learn2learn {theirs * 1000:7.0f} ms | FSMB {theirs / ours:5.2f}x learn2learn's speed | "
                f"max |Δ meta-grad| (float64) {diff:.1e} {'OK' if diff <= 1e-9 else 'MISMATCH'}"
            )
        print(line)


if __name__ == "__main__":
    main()
