"""A fixed-seed slice of `benchmarks/fuzz_loaders.py`: 100 generated inputs per data
loader (MIDI bytes, lyrics tables, WAV files, NSynth folders), run in-process through
the same generators and harness as the full fuzz, must raise nothing but the
contract's exceptions (`SkipItem` / `DataError`) and encode whatever is accepted.

The full run (10,000 inputs per loader, in worker subprocesses, with time and memory
checks): ``python benchmarks/fuzz_loaders.py --save-failures DIR``.
"""

from __future__ import annotations

import pytest

from tests.scripts import load_script

SLICE = 100  # inputs per loader
SEED = 0


fuzz = load_script("fuzz_loaders")


@pytest.mark.parametrize("loader", fuzz.LOADER_NAMES)
def test_fuzz_slice_has_no_unexpected_exceptions(loader):
    results = fuzz.fuzz_in_process(loader, SLICE, SEED)
    assert len(results) == SLICE
    summary = fuzz.summarise(loader, results, 0.0)
    report = "\n".join(
        f"{g['error']} x{g['count']} in {g['where']}: {(g['message'] or '')[:200]}\n    input: {g['note'][:300]}"
        for g in summary["unexpected_groups"]
    )
    assert not summary["unexpected"], f"{summary['unexpected']} of {SLICE} {loader} inputs unexpected:\n{report}"
    # the generators exercise both paths: inputs turned down and inputs accepted and encoded
    outcomes = {r["outcome"] for r in results}
    assert outcomes == {"accepted", "rejected"}, outcomes


def test_generation_is_deterministic():
    notes = []
    for _ in range(2):
        drawn = []
        fuzz.generate("wav", 123, 5, lambda case: drawn.append((case.note, case.files)))
        notes.append(drawn)
    assert notes[0] == notes[1] and len(notes[0]) == 5
