"""The method contract is checked when a method is loaded, before any work: a user's
class that breaks a rule fails in one line naming the rule, not after training."""

from __future__ import annotations

import pytest

from benchmark.cli.main import main
from benchmark.contract.methods import METHODS, make_method
from benchmark.contract.protocol import MODALITIES, ContractError, Declared, Fingerprinted, SettingsChecked
from tests.spy import SpyMethod


class NoVersion(SpyMethod):
    version = None


class BlankName(SpyMethod):
    name = " "


class WrongModality(SpyMethod):
    modalities = ("video",)


class BadSetting(SpyMethod):
    eval_settings = {"theta": (0, 1)}


class BadBase(SpyMethod):
    base_method = 3


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


@pytest.mark.parametrize(
    "target, rule",
    [
        ("NoVersion", "class attribute 'version' must be a non-empty string (found None)"),
        ("BlankName", "class attribute 'name' must be a non-empty string"),
        ("WrongModality", "'modalities' must be a non-empty tuple of ('midi', 'lyrics', 'audio') (found ('video',))"),
        (
            "BadSetting",
            "'eval_settings' must map setting names to benchmark.contract.settings.Range or Choice (found 'theta')",
        ),
        ("BadBase", "'base_method' must be a method name (found 3)"),
        ("NeedsArguments", "must be constructible without arguments"),
        ("NoSave", "missing method(s) save"),
        ("not_a_class", "it is a function, not a class"),
    ],
)
def test_a_class_breaking_a_rule_is_refused_before_training(midi_root, tmp_path, capsys, target, rule):
    with pytest.raises(ContractError, match="breaks the method contract"):
        make_method(f"tests.benchmark.test_contract:{target}")
    argv = [
        "eval",
        "--method",
        f"tests.benchmark.test_contract:{target}",
        "--track",
        "midi/dir",
        "--data-dir",
        str(midi_root),
        "--out",
        str(tmp_path / "out"),
        "--models",
        str(tmp_path / "models"),
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and rule in err, err
    assert not list((tmp_path / "models").rglob("*"))  # nothing trained


class Fingerprints(SpyMethod):
    modalities = ("midi",)
    train_settings = {}

    def fingerprint(self) -> str:
        return "same"


def test_declarations_are_read_in_one_place_with_the_contracts_defaults():
    class Bare:  # declares nothing optional
        name = "bare"

    plain = Declared.of(Bare)
    assert plain.modalities == MODALITIES and plain.data_parallel is False and plain.base_method is None
    assert Declared.of(Fingerprints()).modalities == ("midi",)  # an instance is read from its class
    assert Declared.of(make_method("lstm-trim")).base_method == "lstm"
    assert "removed" in Declared.of(make_method("lstm-trim")).train_settings
    with pytest.raises(ContractError, match="'base_method' must be a method name"):
        Declared.of(BadBase)


def test_optional_hooks_are_protocols_a_method_meets_by_defining_them():
    assert isinstance(Fingerprints(), Fingerprinted) and not isinstance(SpyMethod(), Fingerprinted)
    assert isinstance(make_method("transformer-icl"), SettingsChecked)
    assert not isinstance(make_method("lstm"), SettingsChecked)
