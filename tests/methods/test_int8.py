"""``lstm-int8``: int8 scores stay close to the fp32 ``lstm``'s; each song is scored on
its own and causally; save -> load scores identically; the deployed step is ONNX
Runtime's int8 graph, costs what the fp32 step costs in MACs and parameters, and reads
the bytes the graph stores; a sample is drawn through the int8 step as `sample_lstm`
draws it."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest
import torch

from baselines.lstm import LSTMBaseline
from benchmark.contract.protocol import MetaTrainData
from benchmark.cost.counting import step_cost
from benchmark.nn.onnx_module import OnnxModule
from benchmark.nn.sequence import StreamingLSTM, sample_lstm, sample_streamed
from benchmark.training.loop import load_checkpoint
from episodes.types import Item
from methods.int8 import LSTMInt8, streamed_token_nll
from tests.conftest import TEST_BUDGET

# Int8 weights (one scale per tensor: rounding error up to max|w| / 254 per weight) and
# 8-bit activations perturb the logits by ~1e-2, so each token's NLL moves by about as
# much; measured on this model (ONNX Runtime 1.32): mean |d| 0.0079, mean d 0.0004,
# max 0.10 nats/token.  The bounds leave a margin of ~2.5x and ~12x over those and are
# below 1 % of the ~2 nats/token the model scores.
MEAN_ABS_TOLERANCE = 0.02  # mean |int8 - fp32| nats per token
MEAN_TOLERANCE = 0.005  # |mean (int8 - fp32)| nats per token: the shift of a reported figure


@pytest.fixture(scope="module")
def base(track, tmp_path_factory) -> LSTMBaseline:
    method = LSTMBaseline()
    method.fit(MetaTrainData(track, seed=0), budget=TEST_BUDGET, logdir=tmp_path_factory.mktemp("lstm"))
    return method


@pytest.fixture(scope="module")
def int8(base, track, tmp_path_factory) -> LSTMInt8:
    method = LSTMInt8()
    data = MetaTrainData(track, seed=0, pretrained={"lstm": base}.__getitem__)
    method.fit(data, budget=TEST_BUDGET, logdir=tmp_path_factory.mktemp("int8"))
    return method


@pytest.fixture(scope="module")
def queries(track) -> list[list[Item]]:
    """The query sets of the first three test episodes."""
    return [list(track.episode(spec).query) for spec in track.manifest("test").episodes[:3]]


def test_int8_scores_stay_close_to_the_fp32_lstm(base, int8, queries):
    songs = [it for q in queries for it in q]
    cfg = base.model.cfg
    fp32 = np.concatenate(
        [streamed_token_nll(StreamingLSTM(base.model), it.tokens, cfg.layers, cfg.hidden) for it in songs]
    )
    quantised = np.concatenate([int8.adapt([]).token_nll(it) for it in songs])
    assert len(fp32) > 500
    assert np.abs(quantised - fp32).mean() < MEAN_ABS_TOLERANCE
    assert abs((quantised - fp32).mean()) < MEAN_TOLERANCE
    assert not np.array_equal(quantised, fp32)  # the int8 network is what scored


def test_each_song_is_scored_alone_and_causally(int8, queries):
    adapted = int8.adapt([])
    song = queries[0][0]
    p = len(song.tokens) // 2
    tokens = song.tokens.copy()
    tokens[p + 1 :] = np.random.default_rng(0).integers(3, 299, size=len(tokens) - p - 1)
    before, after = adapted.token_nll(song), adapted.token_nll(Item(song.item_id, song.artist, tokens, song.units))
    assert np.array_equal(before[:p], after[:p]) and not np.array_equal(before[p:], after[p:])
    alone = [np.array([adapted.log_prob([it])[0] for it in q]) for q in queries]
    together = int8.log_prob_many(int8.adapt_many([[] for _ in queries]), queries)
    assert all(np.array_equal(a, b) for a, b in zip(alone, together))


def test_save_keeps_the_fp32_weights_and_load_scores_identically(int8, queries, tmp_path):
    int8.save(tmp_path)
    state = load_checkpoint(tmp_path / "state.pt")
    assert all(t.dtype == torch.float32 for t in state["model"].values())
    fresh = LSTMInt8()
    fresh.load(tmp_path)
    assert fresh.quantised.graph == int8.quantised.graph and fresh.train_log == int8.train_log
    for query in queries:
        assert np.array_equal(fresh.adapt([]).log_prob(query), int8.adapt([]).log_prob(query))


def test_the_deployed_step_is_the_int8_graph_and_costs_the_fp32_macs(base, int8):
    step = int8.inference_step()
    assert isinstance(step.module, OnnxModule)
    ops = collections.Counter(n.op_type for n in onnx.load_model_from_string(step.module.graph).graph.node)
    assert ops["DynamicQuantizeLSTM"] == 1 and ops["MatMulInteger"] == 1 and "LSTM" not in ops
    cost, fp32 = step_cost(step), step_cost(base.inference_step())
    assert cost.macs == fp32.macs and cost.params == fp32.params == int8.n_params() == base.n_params()
    assert cost.bytes_fp32 == fp32.bytes_fp32 and cost.bytes_int8 < cost.bytes_fp32 / 3
    assert cost.weights_int8 and cost.read_bytes() == cost.bytes_int8 and fp32.read_bytes() == fp32.bytes_fp32
    assert int8.hparams() == {
        **base.hparams(),
        "base": "lstm",
        "weights": "int8",
        "activations": "uint8, dynamic",
        "runtime": "onnxruntime",
    }


def test_a_sample_through_the_step_draws_as_the_batched_sampler(base):
    """`sample_streamed` (what the int8 method samples with) on the fp32 step draws the
    song `sample_lstm` draws for one sequence from the same generator."""
    cfg = base.model.cfg
    streamed = sample_streamed(
        StreamingLSTM(base.model), cfg.layers, cfg.hidden, max_len=40, generator=np.random.default_rng(3)
    )
    (batched,) = sample_lstm(base.model, 1, max_len=40, generator=np.random.default_rng(3))
    assert np.array_equal(streamed, batched) and len(streamed) > 2
