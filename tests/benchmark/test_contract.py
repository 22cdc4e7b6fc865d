"""The method contract is checked when a method is loaded, before any work: a user's
class that breaks a rule fails in one line naming the rule, not after training."""

from __future__ import annotations

import pytest

from benchmark.cli.main import main
from benchmark.contract.methods import METHODS, make_method
from benchmark.contract.protocol import ContractError
from tests.spy import SpyMethod


class NoVersion(SpyMethod):
    version = None


class BlankName(SpyMethod):
    name = " "


class WrongModality(SpyMethod):
    modalities = ("video",)


class BadSetting(SpyMethod):
    eval_settings = {"theta": (0, 1)}


class NeedsArguments(SpyMethod):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width


class NoSave(SpyMethod):
    save = None


def not_a_class() -> None:
    pass


def test_every_built_in_method_keeps_the_contract():
    for name in METHODS.names():
        assert make_method(name).name == name


@pytest.mark.parametrize("target, rule", [
    ("NoVersion", "class attribute 'version' must be a non-empty string (found None)"),
    ("BlankName", "class attribute 'name' must be a non-empty string"),
    ("WrongModality", "'modalities' must be a non-empty tuple of ('midi', 'lyrics', 'audio') (found ('video',))"),
    ("BadSetting", "'eval_settings' must map setting names to benchmark.contract.overrides.Range or Choice (found 'theta')"),
    ("NeedsArguments", "must be constructible without arguments"),
    ("NoSave", "missing method(s) save"),
    ("not_a_class", "it is a function, not a class"),
])
def test_a_class_breaking_a_rule_is_refused_before_training(midi_root, tmp_path, capsys, target, rule):
    with pytest.raises(ContractError, match="breaks the method contract"):
        make_method(f"tests.benchmark.test_contract:{target}")
    argv = ["eval", "--method", f"tests.benchmark.test_contract:{target}", "--track", "midi/dir", "--data-dir", str(midi_root),
            "--out", str(tmp_path / "out"), "--models", str(tmp_path / "models"), "--cache-dir", str(tmp_path / "c")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and rule in err, err
    assert not list((tmp_path / "models").rglob("*"))  # nothing trained
