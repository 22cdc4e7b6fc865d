"""JSB Chorales calibration: loader, NLL arithmetic, a short training run and the CLI glue,
on tiny generated files (no real data)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from benchmark.calibration import jsb
from benchmark.calibration.jsb import (
    Settings,
    load_jsb,
    score_pieces,
    train_and_score,
)
from benchmark.nn.piano_roll import UNITS, PianoRollConfig, PianoRollLSTM
from episodes.sources.base import DataError


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one torch thread is fastest, and far faster on a busy shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_data(seed: int = 0, pieces: tuple[int, int, int] = (6, 2, 2)) -> dict[str, list]:
    """Four-voice chorale-like pieces: a chord per frame drawn from a few, so that a model
    can learn something in a few steps."""
    rng = np.random.default_rng(seed)
    chords = [[48, 60, 64, 67], [43, 59, 62, 67], [45, 57, 60, 64], [41, 60, 65, 69]]
    out = {}
    for split, n in zip(jsb.SPLITS, pieces):
        out[split] = [
            [list(chords[(start + t) % 4]) for t in range(int(rng.integers(5, 12)))]
            for start in rng.integers(0, 4, size=n)
        ]
    return out


def write(path, obj) -> str:
    path.write_text(json.dumps(obj))
    return str(path)


def test_loader_round_trip(tmp_path):
    data = make_data()
    data["train"][0][0] = [60.0, 64, float("nan"), 64, 67]  # float, NaN (silent voice), duplicate
    data["train"][0][1] = []  # a rest
    rolls = load_jsb(write(tmp_path / "jsb-chorales-quarter.json", data))
    assert list(rolls) == ["train", "valid", "test"]
    for split in jsb.SPLITS:
        assert len(rolls[split]) == len(data[split])
        for roll, piece in zip(rolls[split], data[split]):
            assert roll.dtype == bool and roll.shape == (len(piece), UNITS)
            back = [sorted({int(p) for p in f if not (isinstance(p, float) and math.isnan(p))}) for f in piece]
            assert [sorted((np.flatnonzero(r) + 21).tolist()) for r in roll] == back
    assert np.flatnonzero(rolls["train"][0][0]).tolist() == [60 - 21, 64 - 21, 67 - 21]
    assert not rolls["train"][0][1].any()
    extremes = {"train": [[[21, 108]]], "valid": [[[21]]], "test": [[[108]]]}
    r = load_jsb(write(tmp_path / "x.json", extremes))
    assert r["train"][0][0, 0] and r["train"][0][0, 87] and r["train"][0].sum() == 2


@pytest.mark.parametrize(
    "pitch, message",
    [
        (20, "pitch 20 is outside"),
        (109, "pitch 109 is outside"),
        (-1, "pitch -1 is outside"),
        (60.5, "not a whole MIDI number"),
        ("C4", "not a MIDI number"),
        (True, "not a MIDI number"),
    ],
)
def test_bad_pitch_names_split_piece_and_frame(tmp_path, pitch, message):
    data = make_data()
    data["valid"][1][3] = [60, pitch]
    with pytest.raises(DataError) as err:
        load_jsb(write(tmp_path / "bad.json", data))
    text = str(err.value)
    assert "\n" not in text and message in text and "valid piece 1 frame 3" in text and "bad.json" in text


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "keys train, valid, test"),
        ('{"train": [], "valid": [], "test": []}', "non-empty list of pieces"),
        ('{"train": [[]], "valid": [[[60]]], "test": [[[60]]]}', "non-empty list of frames"),
        ('{"train": [[60]], "valid": [[[60]]], "test": [[[60]]]}', "frame 0: expected a list"),
        ('{"train": [[[60]]], "valid": [[[60]]]}', "keys train, valid, test"),
    ],
)
def test_malformed_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as err:
        load_jsb(path)
    assert "\n" not in str(err.value)
    (tmp_path / "b.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(DataError, match="not UTF-8"):
        load_jsb(tmp_path / "b.json")
    with pytest.raises(DataError, match="no such file"):
        load_jsb(tmp_path / "absent.json")
    (tmp_path / "x.txt").write_text("{}")
    with pytest.raises(DataError, match="expected a .json"):
        load_jsb(tmp_path / "x.txt")


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    path = write(tmp_path / "big.json", make_data())
    monkeypatch.setattr(jsb, "MAX_FILE_BYTES", 100)
    with pytest.raises(DataError, match="over the limit of 100 ") as err:
        load_jsb(path)
    assert "\n" not in str(err.value)


def test_npz_object_arrays_are_refused_numeric_ones_read(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.full((3, 4), 60.0), np.full((5, 4), 62.0)
    np.savez(tmp_path / "obj.npz", train=ragged, valid=ragged, test=ragged)
    with pytest.raises(DataError, match="never unpickles") as err:
        load_jsb(tmp_path / "obj.npz")
    assert "\n" not in str(err.value)
    arr = np.full((2, 4, 4), np.nan)
    arr[0, :3] = [60, 64, 67, np.nan]  # piece 0: 3 frames, then padding
    arr[1] = [[48, 60, 64, 67]] * 4
    arr[1, 2] = np.nan  # a rest inside the piece is kept
    np.savez(tmp_path / "num.npz", train=arr, valid=arr, test=arr)
    rolls = load_jsb(tmp_path / "num.npz")
    assert [r.shape[0] for r in rolls["train"]] == [3, 4]
    assert rolls["train"][0].sum(axis=1).tolist() == [3, 3, 3]
    assert rolls["train"][1].sum(axis=1).tolist() == [4, 4, 0, 4]
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a .npz"):
        load_jsb(tmp_path / "junk.npz")


def test_zero_model_scores_88_log_2_per_frame():
    model = PianoRollLSTM(PianoRollConfig(hidden=8))
    for p in model.out.parameters():
        torch.nn.init.zeros_(p)  # every logit 0: p = 1/2 for every key
    pieces = [np.zeros((4, UNITS), bool), np.ones((7, UNITS), bool)]
    score = score_pieces(model, pieces, batch_size=1)
    assert score.frames == 11 and score.frames_after_first == 9
    assert score.per_frame == pytest.approx(UNITS * math.log(2), rel=1e-6)
    assert score.per_frame_after_first == pytest.approx(UNITS * math.log(2), rel=1e-6)


def test_nll_equals_hand_computed_bce():
    """Known output bias, zero output weights: p_k = sigmoid(b_k) for every frame, so the
    NLL is a sum of Bernoulli log-likelihoods computable by hand."""
    model = PianoRollLSTM(PianoRollConfig(hidden=8))
    torch.nn.init.zeros_(model.out.weight)
    bias = np.linspace(-3.0, 2.0, UNITS)
    with torch.no_grad():
        model.out.bias.copy_(torch.from_numpy(bias))
    rng = np.random.default_rng(1)
    pieces = [rng.random((n, UNITS)) < 0.1 for n in (3, 9, 5)]
    p = 1 / (1 + np.exp(-bias))
    frame = [-(np.log(p) * r + np.log(1 - p) * ~r).sum() for piece in pieces for r in piece]
    first = [-(np.log(p) * piece[0] + np.log(1 - p) * ~piece[0]).sum() for piece in pieces]
    score = score_pieces(model, pieces, batch_size=2)  # padding must not count
    assert score.frames == 17
    assert score.per_frame == pytest.approx(np.sum(frame) / 17, rel=1e-5)
    assert score.per_frame_after_first == pytest.approx((np.sum(frame) - np.sum(first)) / 14, rel=1e-5)


def test_prediction_is_causal():
    """Frame t's logits depend on frames < t only; frame 0 sees the zero vector."""
    torch.manual_seed(0)
    model = PianoRollLSTM(PianoRollConfig(hidden=16, dropout=0.0)).eval()
    a = torch.from_numpy((np.random.default_rng(0).random((1, 6, UNITS)) < 0.2).astype(np.float32))
    b = a.clone()
    b[0, 3] = 1 - b[0, 3]
    la, lb = model(a), model(b)
    assert torch.equal(la[0, :4], lb[0, :4]) and not torch.allclose(la[0, 4:], lb[0, 4:])


def test_a_few_steps_reduce_training_nll(tmp_path):
    splits = load_jsb(write(tmp_path / "d.json", make_data()))
    settings = Settings(steps=30, hidden=32, dropout=0.0, batch_size=4, lr=1e-2, val_every=10)
    torch.manual_seed(0)
    before = score_pieces(PianoRollLSTM(PianoRollConfig(hidden=32, dropout=0.0)), splits["train"]).per_frame
    result = train_and_score(splits, settings, seed=0, logdir=tmp_path / "logs")
    assert result.nll_nats_per_frame["train"] < before - 10  # from about 61 (88 log 2)
    assert result.frames["train"] == sum(len(p) for p in splits["train"])
    assert [s for s, _ in result.val_curve] == [10, 20, 30] and result.best_step in (10, 20, 30)
    assert result.seed == 0 and result.torch_version == torch.__version__
    assert (tmp_path / "logs" / "train-state.pt").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "logs").iterdir())
    again = train_and_score(splits, settings, seed=0, logdir=tmp_path / "logs2")
    assert again.nll_nats_per_frame == result.nll_nats_per_frame  # seeded


def test_cli_writes_result_and_table(tmp_path, capsys):
    from benchmark.cli.main import main

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write(data_dir / "jsb-chorales-quarter.json", make_data())
    out = tmp_path / "out"
    argv = [
        "calibrate-jsb",
        "--data-dir",
        str(data_dir),
        "--steps",
        "4",
        "--hidden",
        "16",
        "--val-every",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    record = json.loads((out / "result.json").read_text())
    assert set(record["nll_nats_per_frame"]) == {"train", "valid", "test"}
    assert record["settings"]["steps"] == 4 and record["settings"]["hidden"] == 16
    assert record["data"]["file"] == "jsb-chorales-quarter.json" and len(record["data"]["sha256"]) == 64
    assert [p["model"] for p in record["published"]] == ["LSTM", "GRU", "TCN", "RNN-NADE"]
    table = (out / "result.md").read_text()
    assert "| LSTM | 8.45 |" in table and "| TCN | 8.10 |" in table and "FSMB LSTM (this run)" in table
    assert "test" in capsys.readouterr().out
    assert main(argv) == 0  # same command again: resumes from the finished checkpoint
    assert json.loads((out / "result.json").read_text())["nll_nats_per_frame"] == record["nll_nats_per_frame"]
    capsys.readouterr()
    for extra, message in [
        (["--seed", "1"], "other settings"),  # other settings, same --out
        (["--resolution", "8th", "--out", str(tmp_path / "o2")], "no jsb-chorales-8th.json"),
        (["--data-dir", str(tmp_path / "nope")], "no such directory"),
    ]:
        assert main(argv + extra) == 2
        err = capsys.readouterr().err
        assert err.startswith("fsmb: error:") and message in err and err.count("\n") == 1
