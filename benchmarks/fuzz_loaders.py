"""Fuzz the data loaders with generated inputs and count the unexpected exceptions.

The contract under test -- a loader may turn an input down only with the named
exception, and whatever it accepts must encode:

- ``midi``: `episodes.midi_notes.read_midi_notes(path)` returns notes or raises
  `SkipItem`; ``CODECS["midi-events"].encode(notes)`` then succeeds.
- ``table``: `TabularSource(path)` and ``.list_pieces()`` raise only `DataError`;
  ``.read(ref)`` raises only `SkipItem` and returns a string that
  ``CODECS["text-bytes"].encode`` takes.
- ``wav``: `episodes.audio.read_note(path)` returns a finite float32 array of shape
  ``(N_SAMPLES,)`` or raises `SkipItem`; ``CODECS["logmel8"].encode(wave)`` succeeds.
- ``nsynth``: `NSynthSource(root)`, ``.list_pieces()`` and ``.listing()`` raise only
  `DataError`; ``.read(ref)`` of the first pieces (tiny, missing, corrupt or linked
  WAVs) raises only `SkipItem`, and what it returns encodes as for ``wav``.

(`UnreadableItem` is a `SkipItem`.)  Anything else -- another exception, a wrong
return type, a dead or hung interpreter -- is *unexpected*.  Each input is also
timed and the growth of the worker's peak RSS (``ru_maxrss``) over it measured;
inputs over ``--slow-s`` seconds or ``--mem-mb`` MB are flagged (reported, but
not counted as unexpected).

Inputs come from one hypothesis strategy per loader (`fuzz_inputs.py`: `midi_cases`,
`table_cases`, `wav_cases`, `nsynth_cases`): the structure (header fields, columns, cells, JSON
shapes, note names) is drawn by hypothesis, bulk bytes and byte-level mutations
(flips, truncation, insertions) by a numpy generator seeded from a drawn integer.
The ``--n`` inputs of a loader are cut into chunks, each run by a worker
subprocess (``--workers`` at a time) under an address-space limit
(``--mem-limit-gb``), so a segfault, an out-of-memory kill or a hang (no answer
within ``--timeout`` seconds) costs one input, which is recorded (and saved)
as unexpected, and the chunk goes on in a fresh worker.  A run is deterministic
for a given ``--seed`` and ``--n`` (chunking does not depend on ``--workers``).

    python benchmarks/fuzz_loaders.py [--loaders midi,table,wav,nsynth] [--n 10000]
        [--seed 0] [--workers 2] [--save-failures DIR]

prints one row per loader (inputs run, expected rejections, accepted, unexpected,
slowest input, largest peak-RSS growth, wall time), then every distinct unexpected
exception with an example (the generator's description of the input, and where it
was saved), the flagged slow / memory-hungry inputs and the commonest rejection
reasons.  ``--save-failures DIR`` keeps each failing input (its files plus
``case.json``: loader, description, error, traceback) under ``DIR/<loader>/`` and
writes ``DIR/summary.json``.  Exit status 1 if anything unexpected happened.
`tests/test_fuzz.py` runs a fixed-seed slice of this in-process (`fuzz_in_process`).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import queue
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "benchmarks"):  # FSMB itself, and fuzz_inputs beside this file
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from fuzz_inputs import (  # noqa: E402 - after the path set-up
    END_OF_TRACK,
    MAX_NSYNTH_READS,
    Case,
    midi_cases,
    note_wav,
    nsynth_cases,
    smf,
    table_cases,
    track_chunk,
    wav_cases,
)

LOADER_NAMES = ("midi", "table", "wav", "nsynth")
MAX_TABLE_READS = 2000  # rows read per table
MAX_SAVED_PER_ERROR = 5  # failing inputs saved per worker and error type


# --------------------------------------------------------------------------- inputs
# --------------------------------------------------------------------------- checks


class ContractViolation(Exception):
    """A loader returned something outside its contract (type, shape, tokens)."""


def check_tokens(codec, tokens) -> None:
    if not isinstance(tokens, np.ndarray) or tokens.dtype.kind not in "iu" or tokens.size == 0:
        raise ContractViolation(f"{codec.name}.encode returned {type(tokens).__name__} {getattr(tokens, 'dtype', '')}")
    if int(tokens.max()) >= codec.vocab_size:
        raise ContractViolation(f"{codec.name} token {int(tokens.max())} >= vocab size {codec.vocab_size}")


def check_wave(wave) -> None:
    from episodes.audio import N_SAMPLES

    if not isinstance(wave, np.ndarray) or wave.dtype != np.float32 or wave.shape != (N_SAMPLES,):
        raise ContractViolation(
            f"read_note returned {type(wave).__name__} {getattr(wave, 'dtype', '')} "
            f"{getattr(wave, 'shape', '')}, not float32 ({N_SAMPLES},)"
        )
    if not np.isfinite(wave).all():
        raise ContractViolation("read_note returned non-finite samples")


def reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


REJECTED = object()  # what `attempt` returns when the loader turned the input down


def attempt(
    what: str, call: Callable[[], object], allowed: type[BaseException], where: list[str], reasons: list[str]
) -> object:
    """``call()``, noting ``what`` in ``where``; an ``allowed`` exception is a rejection
    (its reason recorded, `REJECTED` returned), any other propagates as unexpected."""
    where.append(what)
    try:
        return call()
    except allowed as exc:
        reasons.append(reason(exc))
        return REJECTED


def check_encodes(codec_name: str, payload: object, label: str, where: list[str]) -> None:
    """What a loader accepted must encode into in-vocabulary tokens."""
    from episodes.codecs import CODECS

    where.append(f"{codec_name}.encode{label}")
    check_tokens(CODECS[codec_name], CODECS[codec_name].encode(payload))


def check_pieces(pieces: object) -> None:
    from episodes.sources.base import PieceRef

    if not isinstance(pieces, list) or not all(isinstance(p, PieceRef) for p in pieces):
        raise ContractViolation("list_pieces() did not return a list of PieceRef")


def check_midi(path: Path, where: list[str], reasons: list[str]) -> str:
    from episodes.midi_notes import read_midi_notes
    from episodes.sources.base import SkipItem

    notes = attempt("read_midi_notes", lambda: read_midi_notes(path), SkipItem, where, reasons)
    if notes is REJECTED:
        return "rejected"
    if not isinstance(notes, list):
        raise ContractViolation(f"read_midi_notes returned {type(notes).__name__}")
    check_encodes("midi-events", notes, "", where)
    return "accepted"


def check_table(path: Path, where: list[str], reasons: list[str]) -> str:
    from episodes.sources.base import DataError, SkipItem
    from episodes.sources.tabular import TabularSource

    source = attempt("TabularSource()", lambda: TabularSource(str(path)), DataError, where, reasons)
    pieces = REJECTED if source is REJECTED else attempt("list_pieces()", source.list_pieces, DataError, where, reasons)
    if pieces is REJECTED:
        return "rejected"
    check_pieces(pieces)
    for ref in pieces[:MAX_TABLE_READS]:
        text = attempt(f"read({ref.item_id})", lambda: source.read(ref), SkipItem, where, reasons)
        if text is REJECTED:
            continue
        if not isinstance(text, str):
            raise ContractViolation(f"read() returned {type(text).__name__}")
        check_encodes("text-bytes", text, f"({ref.item_id})", where)
    return "accepted"


def check_wav(path: Path, where: list[str], reasons: list[str]) -> str:
    from episodes.audio import read_note
    from episodes.sources.base import SkipItem

    wave = attempt("read_note", lambda: read_note(path), SkipItem, where, reasons)
    if wave is REJECTED:
        return "rejected"
    check_wave(wave)
    check_encodes("logmel8", wave, "", where)
    return "accepted"


def check_nsynth(path: Path, where: list[str], reasons: list[str]) -> str:
    from episodes.sources.base import DataError, SkipItem
    from episodes.sources.nsynth import NSynthSource

    def listed() -> tuple[NSynthSource, list, dict]:
        source = NSynthSource(path)
        return source, source.list_pieces(), source.listing()

    found = attempt("NSynthSource().list_pieces()/listing()", listed, DataError, where, reasons)
    if found is REJECTED:
        return "rejected"
    source, pieces, listing = found
    check_pieces(pieces)
    if [p.item_id for p in pieces] != sorted(p.item_id for p in pieces) or not isinstance(listing, dict):
        raise ContractViolation("pieces not sorted by item_id, or listing() not a dict")
    for ref in pieces[:MAX_NSYNTH_READS]:
        wave = attempt(f"read({ref.item_id!r})", lambda: source.read(ref), SkipItem, where, reasons)
        if wave is REJECTED:
            continue
        check_wave(wave)
        check_encodes("logmel8", wave, f"({ref.item_id!r})", where)
    return "accepted"


@dataclass(frozen=True)
class Loader:
    strategy: Callable[[], st.SearchStrategy[Case]]
    check: Callable[[Path, list, list], str]
    warmup: Callable[[], Case]  # a valid input run (uncounted) before measuring, to load libraries


def _warm_midi() -> Case:
    return Case("w.mid", "warm-up", {"w.mid": smf([track_chunk(b"\x00\x90\x3c\x40\x0c\x3c\x00" + END_OF_TRACK)])})


def _warm_table() -> Case:
    return Case("w.csv", "warm-up", {"w.csv": b"artist,lyrics\nA,la la la\n"})


def _warm_wav() -> Case:
    return Case("w.wav", "warm-up", {"w.wav": note_wav(44100, "sine")})


def _warm_nsynth() -> Case:
    return Case(
        "root",
        "warm-up",
        {"root/examples.json": b'{"n": {"instrument_str": "x"}}', "root/audio/n.wav": note_wav(16000, "sine")},
    )


LOADERS = {
    "midi": Loader(midi_cases, check_midi, _warm_midi),
    "table": Loader(table_cases, check_table, _warm_table),
    "wav": Loader(wav_cases, check_wav, _warm_wav),
    "nsynth": Loader(nsynth_cases, check_nsynth, _warm_nsynth),
}


# --------------------------------------------------------------------------- harness


def materialise(case: Case, folder: Path) -> None:
    """Write ``case`` under ``folder``; files whose names the file system refuses
    (NUL, too long, lone surrogates) or that would land outside it are left out."""
    folder.mkdir(parents=True)
    top = folder.resolve()
    for rel, data in [*case.files.items(), *case.links.items()]:
        path = folder / rel
        try:
            if not path.resolve().is_relative_to(top):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if rel in case.links:
                path.symlink_to(case.links[rel])
            elif data is None:
                path.mkdir(exist_ok=True)
            else:
                path.write_bytes(data)
        except (OSError, ValueError, UnicodeError):
            continue


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def save_case(folder: Path, dest: Path, info: dict) -> str:
    dest.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        shutil.copytree(folder, dest / "input", symlinks=True, dirs_exist_ok=True)
    (dest / "case.json").write_text(json.dumps(info, indent=1, ensure_ascii=True))
    return str(dest)


@dataclass
class Limits:
    slow_s: float = 2.0
    mem_mb: float = 500.0


def run_case(
    loader: str,
    case: Case,
    workdir: Path,
    label: str,
    *,
    limits: Limits = Limits(),
    save: Callable[[Path, dict], str | None] | None = None,
) -> dict:
    """Write ``case`` to ``workdir/label`` (a fresh path: loaders may cache by path), run
    the loader's check on it and return the outcome ("accepted" / "rejected" /
    "unexpected"), the expected rejection reasons, any unexpected error with where it
    happened, seconds, peak-RSS growth (MB) and flags ("slow", "memory")."""
    folder = workdir / label
    materialise(case, folder)
    where, reasons = ["materialise"], []
    error = message = tb = None
    before, t0 = maxrss_mb(), time.perf_counter()
    try:
        outcome = LOADERS[loader].check(folder / case.entry, where, reasons)
    except Exception as exc:  # noqa: BLE001 - the point: anything but the contract's exceptions
        outcome, error, tb = "unexpected", type(exc).__name__, traceback.format_exc()
        message = str(exc) or repr(exc)  # MemoryError() has no message
    seconds, growth = time.perf_counter() - t0, maxrss_mb() - before
    scrub = lambda s: s.replace(str(folder.resolve()), "<input>").replace(str(folder), "<input>")  # noqa: E731
    result = {
        "outcome": outcome,
        "reasons": [scrub(r)[:160] for r in reasons[:3]],
        "error": error,
        "message": scrub(message)[:400] if error else None,
        "where": where[-1],
        "seconds": seconds,
        "mem_mb": growth,
        "note": case.note[:600],
        "flags": [],
        "saved": None,
    }
    if seconds > limits.slow_s:
        result["flags"].append("slow")
    if growth > limits.mem_mb:
        result["flags"].append("memory")
    if save is not None and (error or result["flags"]):
        result["saved"] = save(folder, {**result, "loader": loader, "traceback": tb and scrub(tb)})
    shutil.rmtree(folder, ignore_errors=True)
    return result


def derive_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def generate(loader: str, seed: int, count: int, consume: Callable[[Case], None]) -> None:
    """Draw ``count`` cases from the loader's strategy (hypothesis, seeded) and pass each
    to ``consume`` (which must not raise).  Reruns with a derived seed should
    hypothesis stop early (an exhausted search space), so exactly ``count`` run."""
    done = 0
    for attempt in range(100):
        if done >= count:
            return

        @settings(
            max_examples=count - done,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=False,
        )
        @hypothesis_seed(derive_seed(seed, attempt))
        @given(LOADERS[loader].strategy())
        def draw_cases(case: Case) -> None:
            nonlocal done
            if done < count:
                done += 1
                consume(case)

        draw_cases()
    raise RuntimeError(f"{loader}: hypothesis produced only {done} of {count} cases")


def fuzz_in_process(loader: str, n: int, seed: int = 0, *, limits: Limits = Limits()) -> list[dict]:
    """Run ``n`` generated inputs through ``loader`` in this process (no worker, no
    timeout or memory limit): the slice `tests/test_fuzz.py` runs."""
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{loader}-") as tmp:
        run_case(loader, LOADERS[loader].warmup(), Path(tmp), "warmup")
        generate(
            loader,
            derive_seed(seed, LOADER_NAMES.index(loader)),
            n,
            lambda case: results.append(run_case(loader, case, Path(tmp), f"{len(results):05d}", limits=limits)),
        )
    return results


# ---- worker subprocesses ---------------------------------------------------------


def worker_main(args: argparse.Namespace) -> None:
    """Run ``args.n`` cases drawn with ``args.worker_seed``; answer on the original
    stdout with one JSON line per input before it runs ({"start"}) and after
    ({"result"}); libraries' own prints go to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    limit = int(args.mem_limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    workdir = Path(args.workdir)
    saved: collections.Counter = collections.Counter()

    def save(folder: Path, info: dict) -> str | None:
        key = info["error"] or "+".join(info["flags"])
        if not args.save_failures or saved[key] >= MAX_SAVED_PER_ERROR:
            return None
        saved[key] += 1
        dest = Path(args.save_failures) / args.worker / f"{args.worker_seed}-{info['label']}-{key}"
        return save_case(folder, dest, info)

    limits = Limits(args.slow_s, args.mem_mb)
    run_case(args.worker, LOADERS[args.worker].warmup(), workdir, "warmup")
    count = 0

    def consume(case: Case) -> None:
        nonlocal count
        label = f"{count:05d}"
        count += 1
        proto.write(json.dumps({"start": label, "note": case.note[:600]}) + "\n")
        result = run_case(
            args.worker,
            case,
            workdir,
            label,
            limits=limits,
            save=lambda folder, info: save(folder, {**info, "label": label}),
        )
        proto.write(json.dumps({"result": result}) + "\n")

    try:
        generate(args.worker, args.worker_seed, args.n, consume)
    except Exception:  # noqa: BLE001 - a bug of this harness (a generator), not of a loader: stop the run
        proto.write(json.dumps({"harness_error": traceback.format_exc()}) + "\n")
        sys.exit(3)


def run_chunk(
    loader: str, seed: int, chunk: int, count: int, args: argparse.Namespace, progress: Callable[[int], None]
) -> list[dict]:
    """``count`` inputs of ``loader`` in worker subprocesses; a worker that dies or hangs
    costs the input it was on (an unexpected result, saved) and a fresh worker
    (with a derived seed) runs the rest."""
    results: list[dict] = []
    for attempt in range(count + 3):
        if len(results) >= count:
            break
        worker_seed = derive_seed(seed, LOADER_NAMES.index(loader), chunk, attempt)
        workdir = Path(tempfile.mkdtemp(prefix=f"fuzz-{loader}-"))
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            loader,
            "--worker-seed",
            str(worker_seed),
            "--n",
            str(count - len(results)),
            "--workdir",
            str(workdir),
            "--mem-limit-gb",
            str(args.mem_limit_gb),
            "--slow-s",
            str(args.slow_s),
            "--mem-mb",
            str(args.mem_mb),
        ]
        if args.save_failures:
            cmd += ["--save-failures", str(args.save_failures)]
        env = {
            **os.environ,
            "HF_DATASETS_CACHE": str(workdir / "hf-cache"),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0",
        }
        with open(workdir / "stderr.log", "wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=lambda: ([lines.put(x) for x in proc.stdout], lines.put(None)), daemon=True).start()
            current, died, progressed = None, None, False
            while True:
                try:
                    line = lines.get(timeout=args.timeout if current else max(args.timeout, 180))
                except queue.Empty:
                    proc.kill()
                    died = f"Timeout (no answer in {args.timeout:g} s)"
                    break
                if line is None:
                    break
                msg = json.loads(line)
                if "harness_error" in msg:
                    proc.kill()
                    raise RuntimeError(f"{loader}: the input generator failed (a harness bug):\n{msg['harness_error']}")
                if "start" in msg:
                    current = msg
                else:
                    results.append(msg["result"])
                    current, progressed = None, True
                    progress(1)
            proc.wait()
        if died is None and proc.returncode != 0:
            sig = -proc.returncode
            died = f"WorkerDied (signal {sig})" if proc.returncode < 0 else f"WorkerDied (exit {proc.returncode})"
        if died is not None or len(results) < count:
            tail = (workdir / "stderr.log").read_bytes()[-1500:].decode("utf-8", "replace")
            if current is None and not progressed:  # a broken worker, not a hostile input: stop
                raise RuntimeError(f"{loader} worker failed before any input ({died or proc.returncode}):\n{tail}")
            error = died or "WorkerDied (exit 0 with inputs left)"
            result = {
                "outcome": "unexpected",
                "reasons": [],
                "error": error.split(" ")[0],
                "where": "worker",
                "message": f"{error}; stderr tail: {tail[-300:]}",
                "seconds": args.timeout if "Timeout" in error else 0.0,
                "mem_mb": 0.0,
                "note": current["note"] if current else "(between inputs)",
                "flags": [],
                "saved": None,
            }
            if current and args.save_failures:
                dest = Path(args.save_failures) / loader / f"{worker_seed}-{current['start']}-{result['error']}"
                result["saved"] = save_case(
                    workdir / current["start"], dest, {**result, "loader": loader, "stderr_tail": tail}
                )
            results.append(result)
            progress(1)
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def fuzz(loader: str, args: argparse.Namespace) -> tuple[list[dict], float]:
    from tqdm import tqdm

    chunk = args.chunk or max(50, min(1000, math.ceil(args.n / 12)))
    sizes = [min(chunk, args.n - start) for start in range(0, args.n, chunk)]
    t0 = time.perf_counter()
    with tqdm(
        total=args.n,
        desc=f"{loader:6s}",
        unit="input",
        dynamic_ncols=True,
        mininterval=0.2 if sys.stderr.isatty() else 15,
    ) as bar:
        lock = threading.Lock()

        def progress(k: int) -> None:
            with lock:
                bar.update(k)

        with ThreadPoolExecutor(args.workers) as pool:
            futures = [
                pool.submit(run_chunk, loader, args.seed, i, size, args, progress) for i, size in enumerate(sizes)
            ]
            results = [r for f in futures for r in f.result()]
    return results, time.perf_counter() - t0


# ---- report ----------------------------------------------------------------------


def shape(message: str) -> str:
    """A message with numbers and quoted values blanked, to group alike ones."""
    message = re.sub(r"(?<![A-Za-z])('[^']*'|\"[^\"]*\")", "'…'", message or "")
    return re.sub(r"\d+(\.\d+)?", "N", message)[:110]


def summarise(loader: str, results: list[dict], wall: float) -> dict:
    unexpected = [r for r in results if r["outcome"] == "unexpected"]
    groups: dict[tuple, dict] = {}
    for r in unexpected:
        key = (r["error"], re.sub(r"\(.*", "", r["where"]), shape(r["message"]))
        g = groups.setdefault(
            key,
            {
                "error": r["error"],
                "where": r["where"],
                "count": 0,
                "message": r["message"],
                "note": r["note"],
                "saved": r["saved"],
            },
        )
        g["count"] += 1
        g["saved"] = g["saved"] or r["saved"]
    reasons = collections.Counter(shape(x) for r in results for x in r["reasons"])
    kinds = collections.Counter(r["note"].split(" ")[0] for r in results)
    flagged = [r for r in results if r["flags"]]
    return {
        "loader": loader,
        "inputs": len(results),
        "rejected": sum(r["outcome"] == "rejected" for r in results),
        "accepted": sum(r["outcome"] == "accepted" for r in results),
        "unexpected": len(unexpected),
        "slowest_s": max((r["seconds"] for r in results), default=0.0),
        "max_mem_mb": max((r["mem_mb"] for r in results), default=0.0),
        "wall_s": wall,
        "unexpected_groups": sorted(groups.values(), key=lambda g: -g["count"]),
        "flagged": [
            {k: r[k] for k in ("flags", "seconds", "mem_mb", "outcome", "note", "saved")}
            for r in sorted(flagged, key=lambda r: -r["seconds"])[:10]
        ],
        "n_flagged": len(flagged),
        "top_reasons": reasons.most_common(8),
        "kinds": kinds.most_common(8),
    }


def print_report(summaries: list[dict], total_wall: float) -> None:
    head = (
        f"{'loader':8s} {'inputs':>7s} {'rejected':>9s} {'accepted':>9s} {'unexpected':>10s} {'slowest s':>9s} "
        f"{'max mem MB':>10s} {'flagged':>7s} {'wall s':>8s}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for s in summaries:
        print(
            f"{s['loader']:8s} {s['inputs']:7d} {s['rejected']:9d} {s['accepted']:9d} {s['unexpected']:10d} "
            f"{s['slowest_s']:9.2f} {s['max_mem_mb']:10.1f} {s['n_flagged']:7d} {s['wall_s']:8.1f}"
        )
    print(f"total wall time {total_wall:.1f} s")
    for s in summaries:
        for g in s["unexpected_groups"]:
            message = (g["message"] or "")[:300]
            print(
                f"\n[{s['loader']}] UNEXPECTED {g['error']} x{g['count']} in {g['where']}: {message}\n"
                f"    input: {g['note'][:300]}" + (f"\n    saved: {g['saved']}" if g["saved"] else "")
            )
    for s in summaries:
        for r in s["flagged"][:5]:
            print(
                f"\n[{s['loader']}] FLAGGED {'+'.join(r['flags'])}: {r['seconds']:.2f} s, +{r['mem_mb']:.0f} MB "
                f"({r['outcome']})\n    input: {r['note'][:300]}" + (f"\n    saved: {r['saved']}" if r["saved"] else "")
            )
    for s in summaries:
        print(f"\n[{s['loader']}] input kinds: " + ", ".join(f"{k} {n}" for k, n in s["kinds"]))
        print(f"[{s['loader']}] commonest rejection reasons:")
        for text, n in s["top_reasons"][:6]:
            print(f"    {n:6d}  {text}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--loaders", default=",".join(LOADER_NAMES), help="comma-separated subset of midi,table,wav,nsynth"
    )
    parser.add_argument("--n", type=int, default=10_000, help="inputs per loader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="worker subprocesses at a time")
    parser.add_argument(
        "--save-failures",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep failing / flagged inputs (and summary.json) under DIR",
    )
    parser.add_argument("--chunk", type=int, default=0, help="inputs per worker subprocess (default: n/12, 50..1000)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds without an answer before a worker counts as hung"
    )
    parser.add_argument("--mem-limit-gb", type=float, default=6.0, help="address-space limit of each worker")
    parser.add_argument("--slow-s", type=float, default=2.0, help="flag inputs slower than this")
    parser.add_argument("--mem-mb", type=float, default=500.0, help="flag inputs growing peak RSS by more than this")
    parser.add_argument("--worker", choices=LOADER_NAMES, help=argparse.SUPPRESS)
    parser.add_argument("--worker-seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    loaders = [name.strip() for name in args.loaders.split(",") if name.strip()]
    unknown = set(loaders) - set(LOADER_NAMES)
    if unknown:
        parser.error(f"unknown loaders {sorted(unknown)}; choose from {','.join(LOADER_NAMES)}")
    print(
        f"fuzz_loaders: {', '.join(loaders)}; n={args.n} seed={args.seed} workers={args.workers} "
        f"(python {' '.join(sys.argv)})",
        flush=True,
    )
    t0, summaries = time.perf_counter(), []
    for loader in loaders:
        results, wall = fuzz(loader, args)
        summaries.append(summarise(loader, results, wall))
    total = time.perf_counter() - t0
    if args.save_failures:
        args.save_failures.mkdir(parents=True, exist_ok=True)
        (args.save_failures / "summary.json").write_text(
            json.dumps(
                {"argv": sys.argv, "seed": args.seed, "n": args.n, "total_wall_s": total, "loaders": summaries},
                indent=1,
            )
        )
    print_report(summaries, total)
    return 1 if any(s["unexpected"] for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
