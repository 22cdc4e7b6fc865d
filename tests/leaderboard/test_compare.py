"""fsmb compare: two rows paired episode by episode, the p-values scipy gives."""

from __future__ import annotations

import dataclasses

import pytest
from scipy import stats

from benchmark.cli.main import main
from benchmark.run.records import RecordError, append_record, file_stem, write_run
from leaderboard.compare import compare
from tests.records import episode, run_record


def publish(
    out, method: str, run_key: str, shift: float, n: int = 8, shots: int = 5, units: dict | None = None
) -> list[float]:
    """A run of ``method`` whose episode i has its nats moved by ``shift * i`` per item;
    returns the recomputed nats/token of its episodes."""
    stem = file_stem(method, "midi/music21", shots)
    scores = []
    for i in range(n):
        base = episode(i, run_key=run_key, method=method, shots=shots)
        base = dataclasses.replace(base, units=units) if units else base
        nll = [x + shift * i for x in base.nll_nats]
        record = dataclasses.replace(base, nll_nats=nll, nats_per_token=sum(nll) / sum(base.units["tokens"]))
        record = dataclasses.replace(
            record,
            bits_per_token=record.nats_per_token / 0.6931471805599453,
            bits_per={u: sum(nll) / sum(c) / 0.6931471805599453 for u, c in base.units.items()},
        )
        append_record(out / f"{stem}.jsonl", record)
        scores.append(record.nats_per_token)
    write_run(out / f"{stem}.run.json", dataclasses.replace(run_record(run_key), method=method, shots=shots))
    return scores


def test_compare_pairs_two_rows_with_scipys_paired_t_and_an_exact_permutation_p(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    a = publish(out, "a", "aaaaaaaaaaaaaaaa", 0.5)
    b = publish(out, "b", "bbbbbbbbbbbbbbbb", 0.0)
    result = compare([out], "a", "b", "midi/music21")
    assert result.test.episodes == 8 and result.test.permutations == 0  # 2^8 sign flips: exact
    assert result.test.delta == pytest.approx(sum(x - y for x, y in zip(a, b)) / 8)
    assert result.test.t_p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    # only all-plus and all-minus reach it, each with either sign of episode 0 (a zero difference)
    assert result.test.permutation_p_value == pytest.approx(4 / 256)
    assert main(["compare", "a", "b", "--track", "midi/music21", "--results", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Δ (a − b) = {result.test.delta:+.4f}" in printed and "8 paired episodes" in printed
    assert "nats/token (paired 95% CI)" in printed and result.per == "token"


def test_compare_counts_nats_per_dimension_on_audio(tmp_path):
    """An audio track's tokens are a note's dimensions: its Δ is said in nats/dim."""
    out = tmp_path / "r"
    out.mkdir()
    dims = {"tokens": [64, 64, 64], "dims": [64, 64, 64]}
    publish(out, "a", "aaaaaaaaaaaaaaaa", 0.5, units=dims)
    publish(out, "b", "bbbbbbbbbbbbbbbb", 0.0, units=dims)
    result = compare([out], "a", "b", "midi/music21")
    assert result.per == "dim" and "nats/dim (paired 95% CI)" in result.text() and "nats/token" not in result.text()


def test_compare_says_what_is_missing_or_does_not_pair(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    publish(out, "a", "aaaaaaaaaaaaaaaa", 0.5)
    publish(out, "b", "bbbbbbbbbbbbbbbb", 0.0, shots=2)
    with pytest.raises(RecordError, match=r"no run of c on midi/music21 under .*; scored there: a, b"):
        compare([out], "a", "c", "midi/music21")
    with pytest.raises(RecordError, match="a is scored at K=5 and b at K=2"):
        compare([out], "a", "b", "midi/music21")
    with pytest.raises(RecordError, match="no run of b on midi/music21 at K=5"):
        compare([out], "a", "b", "midi/music21", 5)
