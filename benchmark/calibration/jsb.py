"""JSB Chorales piano-roll calibration: frame-level NLL of an LSTM against the literature.

The task (Boulanger-Lewandowski et al. 2012) models a chorale as a sequence of frames,
each an 88-d binary vector over the piano keys (MIDI 21..108).  The model here reads the
previous frame (a zero vector before the first) through an ``nn.LSTM`` and predicts the
frame with an independent Bernoulli per key (88 logits, BCE with logits).

**NLL convention.**  ``nll_nats_per_frame`` is the negative log-likelihood in nats of
each frame, summed over the 88 keys, totalled over every frame of every piece of a split
and divided by the number of those frames (a frame-weighted mean, not a mean of
per-piece means).  Every frame is scored, the first one too (predicted from the zero
vector).  Bai et al.'s code (locuslab/TCN, ``poly_music``) scores frames 2..T of each
piece only (total over those frames / their count); that figure is reported as
``nll_nats_per_frame_after_first``.  Published numbers are for the quarter-note data.

**Data.**  ``jsb-chorales-{quarter,8th,16th}.json`` as published with the 2012 split
(e.g. github.com/czhuang/JSB-Chorales-dataset): ``{"train": [...], "valid": [...],
"test": [...]}``, each piece a list of frames, each frame a list of the MIDI pitches
sounding.  Integer-valued floats are accepted, NaN entries are dropped (a silent voice),
duplicates collapse into one key; a pitch outside 21..108 (e.g. the ``-1`` that
``Jsb16thSeparated.json`` uses for silence) is an error naming split, piece and frame.
A ``.npz`` is read with ``allow_pickle=False`` only: numeric arrays ``train``/``valid``/
``test`` of shape (pieces, frames, voices), NaN for silence, trailing all-NaN frames
taken as padding.  The Coconet ``Jsb16thSeparated.npz`` stores object arrays, which only
unpickling can read, so it is refused (use ``jsb-chorales-16th.json``, the same data).
Files over `MAX_FILE_BYTES` are refused before they are read.  Nothing is ever unpickled.

**Defaults** (`DEFAULTS`) were chosen on the real quarter-note file on a shared 2-core
CPU machine (docs/studies.md "JSB Chorales calibration" gives what they reach and what else was
tried).
"""

from __future__ import annotations

import json
import math
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from benchmark.calibration.jsb_settings import DEFAULTS, PUBLISHED, RESOLUTIONS, Settings
from benchmark.nn.piano_roll import UNITS, PianoRollConfig, PianoRollLSTM
from benchmark.run.arguments import ArgumentError
from benchmark.training.loop import train_loop
from episodes.sources.base import DataError

LOWEST = 21  # A0
HIGHEST = 108  # C8
SPLITS = ("train", "valid", "test")
MAX_FILE_BYTES = 64 * 2**20  # the published files are 0.4-1.7 MB


# ----- data ---------------------------------------------------------------------------
def data_file(data_dir: str | Path, resolution: str) -> Path:
    """``DIR/jsb-chorales-<resolution>.json``, checked to exist."""
    if resolution not in RESOLUTIONS:
        raise ArgumentError(f"--resolution {resolution!r}: give one of {', '.join(RESOLUTIONS)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(
            f"--data-dir {data_dir}: no such directory; pass the folder holding jsb-chorales-{resolution}.json"
        )
    path = data_dir / f"jsb-chorales-{resolution}.json"
    if not path.is_file():
        raise DataError(
            f"--data-dir {data_dir}: no jsb-chorales-{resolution}.json there; download it from "
            "github.com/czhuang/JSB-Chorales-dataset into that folder"
        )
    return path


def load_jsb(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Split name -> pieces, each a ``(frames, 88)`` bool piano roll (column 0 = MIDI 21).

    Raises `DataError` (one line naming the file and, for a bad pitch, split, piece and
    frame) for a missing, oversized, malformed or out-of-range file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DataError(
            f"{path}: {size} bytes, over the limit of {MAX_FILE_BYTES} ({MAX_FILE_BYTES / 2**20:g} MiB) "
            "for a JSB Chorales file (the published ones are under 2 MB); is it the right file?"
        )
    if path.suffix == ".json":
        raw = _read_json(path)
    elif path.suffix == ".npz":
        raw = _read_npz(path)
    else:
        raise DataError(f"{path}: expected a .json file like jsb-chorales-quarter.json (or a numeric .npz)")
    if not isinstance(raw, dict) or any(s not in raw for s in SPLITS):
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise DataError(f"{path}: expected an object with keys train, valid, test; got {keys}")
    out: dict[str, list[np.ndarray]] = {}
    for split in SPLITS:
        pieces = raw[split]
        if not isinstance(pieces, list) or not pieces:
            raise DataError(f"{path}: {split}: expected a non-empty list of pieces")
        out[split] = [_piece_roll(piece, f"{path}: {split} piece {i}") for i, piece in enumerate(pieces)]
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); is it a JSON file?") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply for a JSB Chorales file") from None


def _read_npz(path: Path) -> dict[str, list]:
    """Numeric ``(pieces, frames, voices)`` arrays -> nested lists like the JSON's."""
    try:
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
        if unpacked > MAX_FILE_BYTES:
            raise DataError(
                f"{path}: unpacks to {unpacked} bytes, over the limit of {MAX_FILE_BYTES} "
                f"({MAX_FILE_BYTES / 2**20:g} MiB)"
            )
        with np.load(path, allow_pickle=False) as npz:
            arrays = {s: npz[s] for s in SPLITS if s in npz.files}
    except zipfile.BadZipFile:
        raise DataError(f"{path}: not a .npz (zip) archive") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{path}: holds object arrays, which only unpickling can read, and FSMB never "
                "unpickles; use the JSON of the same data (e.g. jsb-chorales-16th.json)"
            ) from None
        raise DataError(f"{path}: unreadable .npz ({exc})") from None
    out: dict[str, list] = {}
    for split, arr in arrays.items():
        if arr.ndim != 3 or arr.dtype.kind not in "iuf":
            raise DataError(
                f"{path}: {split}: expected a numeric (pieces, frames, voices) array, got "
                f"{arr.dtype} of shape {arr.shape}"
            )
        pieces = []
        for piece in arr.astype(np.float64):
            sounding = ~np.isnan(piece).all(axis=1)
            length = int(np.flatnonzero(sounding)[-1]) + 1 if sounding.any() else 0
            pieces.append(piece[:length].tolist())
        out[split] = pieces
    return out


def _piece_roll(frames: Any, where: str) -> np.ndarray:
    if not isinstance(frames, list) or not frames:
        raise DataError(f"{where}: expected a non-empty list of frames")
    roll = np.zeros((len(frames), UNITS), dtype=bool)
    for t, frame in enumerate(frames):
        if not isinstance(frame, list):
            raise DataError(f"{where} frame {t}: expected a list of MIDI pitches, got {type(frame).__name__}")
        for pitch in frame:
            if isinstance(pitch, float):
                if math.isnan(pitch):  # a silent voice
                    continue
                if not pitch.is_integer():
                    raise DataError(f"{where} frame {t}: pitch {pitch!r} is not a whole MIDI number")
                pitch = int(pitch)
            elif isinstance(pitch, bool) or not isinstance(pitch, int):
                raise DataError(f"{where} frame {t}: pitch {pitch!r} is not a MIDI number")
            if not LOWEST <= pitch <= HIGHEST:
                raise DataError(
                    f"{where} frame {t}: pitch {pitch} is outside the 88 piano keys (MIDI {LOWEST}..{HIGHEST})"
                )
            roll[t, pitch - LOWEST] = True
    return roll


# ----- model (the network: benchmark.nn.piano_roll) --------------------------------------
def pad_rolls(pieces: Sequence[np.ndarray]) -> tuple[Tensor, Tensor]:
    """Pieces ``(T_i, units)`` -> zero-padded float ``(B, T_max, units)`` and a bool
    mask ``(B, T_max)`` of the real frames."""
    longest = max(len(p) for p in pieces)
    rolls = torch.zeros(len(pieces), longest, pieces[0].shape[1])
    mask = torch.zeros(len(pieces), longest, dtype=torch.bool)
    for i, p in enumerate(pieces):
        rolls[i, : len(p)] = torch.from_numpy(np.asarray(p, dtype=np.float32))
        mask[i, : len(p)] = True
    return rolls, mask


def frame_nll(logits: Tensor, rolls: Tensor) -> Tensor:
    """NLL in nats of each frame, summed over the keys: ``(B, T)``."""
    return F.binary_cross_entropy_with_logits(logits, rolls, reduction="none").sum(dim=-1)


def batch_loss(model: PianoRollLSTM, pieces: Sequence[np.ndarray]) -> Tensor:
    """Mean NLL (nats per frame) over all real frames of ``pieces``."""
    rolls, mask = pad_rolls(pieces)
    nll = frame_nll(model(rolls), rolls)
    return nll[mask].sum() / mask.sum()


@dataclass
class SplitScore:
    """Totals of one split: NLL over all frames, and over frames 2..T of each piece."""

    nats: float
    frames: int
    nats_after_first: float
    frames_after_first: int

    @property
    def per_frame(self) -> float:
        return self.nats / self.frames

    @property
    def per_frame_after_first(self) -> float:
        return self.nats_after_first / max(self.frames_after_first, 1)


@torch.no_grad()
def score_pieces(model: PianoRollLSTM, pieces: Sequence[np.ndarray], *, batch_size: int = 64) -> SplitScore:
    """Total NLL of ``pieces`` (eval mode, float64 totals), batched by length."""
    model.eval()
    order = sorted(range(len(pieces)), key=lambda i: -len(pieces[i]))
    nats = first = 0.0
    for start in range(0, len(order), batch_size):
        rolls, mask = pad_rolls([pieces[i] for i in order[start : start + batch_size]])
        nll = frame_nll(model(rolls), rolls).double()
        nats += float(nll[mask].sum())
        first += float(nll[:, 0].sum())
    frames = sum(len(p) for p in pieces)
    return SplitScore(nats, frames, nats - first, frames - len(pieces))


# ----- training -----------------------------------------------------------------------
@dataclass
class JSBResult:
    """What `train_and_score` measured.  NLLs are nats per frame summed over the 88
    keys, frame-weighted over the split (see the module docstring)."""

    nll_nats_per_frame: dict[str, float]
    nll_nats_per_frame_after_first: dict[str, float]
    frames: dict[str, int]
    pieces: dict[str, int]
    settings: dict[str, Any]  # `Settings.to_dict()`
    seed: int
    wall_seconds: float  # training (all sessions, if resumed) + scoring the three splits
    train_wall_seconds: float
    best_step: int  # the step whose weights were kept (best valid NLL)
    val_curve: list[tuple[int, float]]  # (step, valid NLL per frame)
    torch_version: str
    torch_threads: int
    parameters: int
    data: dict[str, Any] = field(default_factory=dict)  # file name, resolution, sha256

    def to_dict(self) -> dict:
        return asdict(self)


def _seed_for(seed: int, step: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, step, stream])


def train_and_score(
    splits: dict[str, list[np.ndarray]],
    settings: Settings = DEFAULTS,
    *,
    seed: int = 0,
    logdir: Path,
    data: dict[str, Any] | None = None,
) -> JSBResult:
    """Train on ``train`` with Adam for ``settings.steps`` steps (``batch_size`` pieces
    drawn at random each step, whole pieces, full back-propagation through time), keep
    the weights best on ``valid`` NLL (checked every ``val_every`` steps), then score
    train, valid and test with them.

    Runs through `benchmark.training.loop.train_loop`: TensorBoard curves and a resumable
    checkpoint in ``logdir`` (an interrupted call with the same ``logdir`` resumes).
    The loop's curves are named ``*/nats_per_token``: here a token is a frame.  Seeded:
    the initial weights from ``torch.manual_seed(seed)``, each step's pieces and dropout
    masks from ``(seed, step)`` (torch's global generator is re-seeded every step), so a
    resumed run draws what an uninterrupted one would.  ``data``: recorded as is (file
    name, hash)."""
    if seed < 0:
        raise ArgumentError(f"--seed {seed}: give an integer >= 0")
    torch.manual_seed(seed)
    model = PianoRollLSTM(PianoRollConfig(hidden=settings.hidden, layers=settings.layers, dropout=settings.dropout))
    train, valid = splits["train"], splits["valid"]
    batch = min(settings.batch_size, len(train))
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)

    def step_fn(step: int) -> Tensor:
        idx = _seed_for(seed, step, 0).choice(len(train), size=batch, replace=False)
        torch.manual_seed(int(_seed_for(seed, step, 1).integers(2**62)))  # dropout masks
        return batch_loss(model, [train[i] for i in idx])

    log = train_loop(
        model,
        opt,
        step_fn,
        lambda: score_pieces(model, valid).per_frame,
        steps=settings.steps,
        val_every=settings.val_every,
        logdir=Path(logdir),
        desc="calibrate-jsb",
        clip=settings.clip,
    )
    t_scoring = time.perf_counter()
    scores = {s: score_pieces(model, splits[s]) for s in SPLITS if s in splits}
    return JSBResult(
        nll_nats_per_frame={s: sc.per_frame for s, sc in scores.items()},
        nll_nats_per_frame_after_first={s: sc.per_frame_after_first for s, sc in scores.items()},
        frames={s: sc.frames for s, sc in scores.items()},
        pieces={s: len(splits[s]) for s in scores},
        settings=settings.to_dict(),
        seed=seed,
        wall_seconds=round(log.wall_seconds + (time.perf_counter() - t_scoring), 2),
        train_wall_seconds=round(log.wall_seconds, 2),
        best_step=log.best_step,
        val_curve=[(int(s), float(v)) for s, v in log.val_curve],
        torch_version=torch.__version__,
        torch_threads=torch.get_num_threads(),
        parameters=sum(p.numel() for p in model.parameters()),
        data=dict(data or {}),
    )


# ----- report -------------------------------------------------------------------------
def markdown(result: JSBResult, resolution: str = "quarter") -> str:
    """Published vs this run (test NLL), then this run's splits and settings."""
    nll, after_first, cfg = result.nll_nats_per_frame, result.nll_nats_per_frame_after_first, result.settings
    lines = [f"# JSB Chorales ({resolution}): frame-level NLL, nats per frame (sum over 88 keys), test split", ""]
    if resolution != "quarter":
        note = (
            f"The published numbers are for the quarter-note data; this run used the {resolution} data, "
            "whose NLLs are not comparable with them."
        )
        lines += [note, ""]
    lines += ["| model | test NLL | source |", "|---|---:|---|"]
    lines += [f"| {p['model']} | {p['nll']:.2f} | {p['source']} |" for p in PUBLISHED]
    ours = f"hidden {cfg['hidden']}, {cfg['steps']} steps, seed {result.seed}"
    lines += [f"| **FSMB LSTM (this run)** | **{nll['test']:.2f}** | {ours} |", ""]
    lines += [
        "| split | pieces | frames | NLL (all frames) | NLL (frames 2..T, as Bai et al.'s code) |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in SPLITS:
        lines.append(f"| {s} | {result.pieces[s]} | {result.frames[s]} | {nll[s]:.3f} | {after_first[s]:.3f} |")
    settings = ", ".join(f"{k}={v}" for k, v in cfg.items())
    timing = (
        f"training {result.train_wall_seconds:.0f} s, total {result.wall_seconds:.0f} s on "
        f"{result.torch_threads} torch thread(s); torch {result.torch_version}"
    )
    lines += [
        "",
        f"Settings: {settings}; best valid step {result.best_step}; {result.parameters} parameters; {timing}.",
        (
            "NLL = total NLL over all frames of all pieces of the split / number of frames; the first frame "
            "of each piece is predicted from a zero vector.  Published rows are copied from the papers."
        ),
        "",
    ]
    return "\n".join(lines)
