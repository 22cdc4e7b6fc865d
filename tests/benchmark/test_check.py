"""`fsmb check`: the README's own example method passes the mock run and `fsmb eval` on
the first try; a method breaking a rule fails it with one line naming the rule; every
built-in method passes it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from benchmark.cli.main import main
from benchmark.contract.methods import METHODS, modalities_of
from benchmark.run.check import check_method

README = Path(__file__).resolve().parents[2] / "README.md"

BROKEN = """
import numpy as np

from readme_bigram import Bigram


class Positive(Bigram):
    name = "positive"

    def adapt(self, support):
        adapted = super().adapt(support)
        adapted.logp = -adapted.logp  # negative log-likelihoods where log-probabilities belong
        return adapted


class Mutating(Bigram):
    name = "mutating"

    def adapt(self, support):
        for item in support:  # adds the support counts to the method itself
            np.add.at(self.counts, (item.tokens[:-1], item.tokens[1:]), 1.0)
        return super().adapt(support)


class Forgetful(Bigram):
    name = "forgetful"

    def load(self, path):  # restores the shape of the state, not its values
        self.counts = np.ones_like(np.load(path / "bigram.npz")["counts"])


class Unseeded(Bigram):
    name = "unseeded"

    def fit(self, data, *, budget, logdir):
        super().fit(data, budget=budget, logdir=logdir)
        self.counts += np.random.default_rng().random(self.counts.shape)  # not drawn from data.seed


class Growing(Bigram):
    name = "growing"

    def adapt(self, support):  # remembers every support set it was given
        self.seen = getattr(self, "seen", []) + [item.item_id for item in support]
        return super().adapt(support)


class Reserved(Bigram):
    name = "reserved"

    def save(self, path):  # the runner's own file
        (path / "meta.json").write_text("{}")
        super().save(path)


class Stamped(Bigram):
    name = "stamped"

    def save(self, path):  # a time stamp in the state file: every save is another model
        import time
        (path / "state.txt").write_text(str(time.time_ns()))
        super().save(path)
"""


def readme_example() -> str:
    """The Python block of README "Your own method" that defines ``class Bigram``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (example,) = [b for b in blocks if "class Bigram" in b]
    return example


@pytest.fixture
def user_modules(tmp_path, monkeypatch) -> Path:
    """The README example as ``readme_bigram``, and broken variants as ``broken_bigram``,
    in the folder fsmb runs in (which `fsmb` puts on the import path, as README says)."""
    (tmp_path / "readme_bigram.py").write_text(readme_example())
    (tmp_path / "broken_bigram.py").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(sys.path))  # main() adds the folder; undone after the test
    return tmp_path


def test_the_readme_example_is_short_and_passes_check_then_eval(user_modules, midi_root, tmp_path, capsys):
    assert len(readme_example().splitlines()) <= 40
    assert main(["check", "readme_bigram:Bigram"]) == 0
    out = capsys.readouterr().out
    assert "readme_bigram:Bigram: passed" in out and "FAIL" not in out
    assert (
        main(
            [
                "eval",
                "--method",
                "readme_bigram:Bigram",
                "--track",
                "midi/dir",
                "--data-dir",
                str(midi_root),
                "--episodes",
                "3",
                "--out",
                str(tmp_path / "r"),
                "--models",
                str(tmp_path / "m"),
                "--cache-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    run = json.loads((tmp_path / "r" / "bigram__midi-dir__K5.run.json").read_text())
    assert run["method"] == "bigram" and run["method_target"] == "readme_bigram:Bigram"
    assert len((tmp_path / "r" / "bigram__midi-dir__K5.jsonl").read_text().splitlines()) == 3
    assert list((tmp_path / "m").rglob("bigram.npz"))


@pytest.mark.parametrize(
    "cls, rule, seen",
    [
        ("Positive", "log_prob", "values > 0 nats"),
        ("Mutating", "adapt-leaves-method", "adapting changed method.counts"),
        ("Forgetful", "save-load", "a fresh object after load scores differently"),
        ("Unseeded", "same-seed", "two fits with seed 0 score differently"),
        ("Stamped", "save-load", "two saves of the same state differ"),
        ("Growing", "adapt-leaves-method", "adapting changed method.seen"),
        ("Reserved", "save-load", "save wrote meta.json, which the runner keeps"),
    ],
)
def test_a_method_breaking_a_rule_fails_check_in_one_line(user_modules, capsys, cls, rule, seen):
    assert main(["check", f"broken_bigram:{cls}", "--modality", "midi"]) == 1
    out = capsys.readouterr().out
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and re.match(rf"FAIL  midi\s+{re.escape(rule)}\s", fails[0]) and seen in fails[0], out
    assert out.strip().splitlines()[-1].startswith(f"broken_bigram:{cls}: FAILED {rule}")


def test_a_class_that_is_not_a_method_or_a_modality_it_lacks_fails_at_the_contract(user_modules, capsys):
    assert main(["check", "readme_bigram:AdaptedBigram"]) == 1
    assert "FAIL  -      contract" in capsys.readouterr().out
    assert main(["check", "readme_bigram:Bigram", "--modality", "audio"]) == 1  # nothing checked is no pass
    assert "models midi/lyrics, not audio" in capsys.readouterr().out


@pytest.mark.parametrize("name", METHODS.names())
def test_every_built_in_method_passes_check(name):
    """On its first modality (``fsmb check NAME`` runs them all)."""
    results = check_method(name, modalities=modalities_of(name)[:1], log=lambda r: None)
    assert all(r.ok for r in results), [r.line() for r in results if not r.ok]
    assert {r.rule for r in results} >= {"fit", "save-load", "sample", "same-seed"}
