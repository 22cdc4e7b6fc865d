"""The command line: listings and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
import torch

from benchmark.cli.main import main


def test_tracks_and_methods_list_as_json(capsys):
    assert main(["tracks", "--json"]) == 0
    names = [t["name"] for t in json.loads(capsys.readouterr().out)]
    assert {"midi/music21", "midi/dir"} <= set(names)
    assert main(["methods", "--json"]) == 0
    methods = {m["name"] for m in json.loads(capsys.readouterr().out)}
    assert {"unigram", "unigram-support", "lstm", "lstm-concat"} <= methods
    assert main(["methods", "--names", "--group", "baseline", "--modality", "audio"]) == 0  # what run.sh loops over
    assert capsys.readouterr().out.split() == ["gaussian-global", "gaussian-support", "ppca-support"]


def test_unknown_track_suggests_a_close_name(capsys, tmp_path):
    assert main(["data", "build", "--track", "midi/music2", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown track 'midi/music2'" in err and "'midi/music21'" in err


def test_unknown_method_suggests_a_close_name(capsys, midi_root, cache_dir, tmp_path):
    code = main(
        [
            "eval",
            "--method",
            "lstm-concatt",
            "--track",
            "midi/dir",
            "--data-dir",
            str(midi_root),
            "--cache-dir",
            str(cache_dir),
            "--out",
            str(tmp_path),
            "--workers",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "unknown method 'lstm-concatt'" in err and "'lstm-concat'" in err


def test_an_eval_builds_each_method_once(monkeypatch, midi_root, cache_dir, tmp_path):
    """The method is resolved where the command starts and passed on as an object: one
    build for ``finetune`` at two K (its fitted model loaded once per K into that one
    object), one for the ``lstm`` it fine-tunes."""
    import benchmark.contract.methods as registry

    built, real = [], registry.method_class
    monkeypatch.setattr(registry, "method_class", lambda name: built.append(name) or real(name))
    code = main(
        [
            "eval",
            "--method",
            "finetune",
            "--set",
            "steps=1",
            "--shots",
            "2,3",
            "--episodes",
            "2",
            "--track",
            "midi/dir",
            "--data-dir",
            str(midi_root),
            "--cache-dir",
            str(cache_dir),
            "--workers",
            "1",
            "--budget",
            "tiny",
            "--out",
            str(tmp_path / "out"),
            "--models",
            str(tmp_path / "models"),
        ]
    )
    assert code == 0
    assert sorted(built) == ["finetune", "lstm"]


@pytest.mark.parametrize(
    "command", ["train", "eval", "ablation", "latency", "export", "sparsity", "check", "reproduce", "quickstart"]
)
def test_a_device_this_machine_lacks_is_one_line_before_any_work(capsys, tmp_path, command):
    args = {
        "train": ["--method", "lstm", "--track", "midi/dir"],
        "eval": ["--method", "lstm", "--track", "midi/dir", "--out", str(tmp_path / "out")],
        "ablation": ["--methods", "lstm", "--track", "midi/dir", "--out", str(tmp_path / "out")],
        "latency": ["--method", "lstm", "--track", "midi/dir"],
        "export": ["--method", "lstm", "--track", "midi/dir"],
        "sparsity": ["--methods", "lstm-trim", "--track", "midi/dir", "--out", str(tmp_path / "out")],
        "check": ["lstm"],
        "reproduce": [],
        "quickstart": ["--out", str(tmp_path / "out")],
    }[command]
    device = "cuda:7" if torch.cuda.device_count() < 8 else "tpu"
    code = main(
        [command, *args, "--device", device, "--cache-dir", str(tmp_path / "cache")]
        if command not in ("check",)
        else [command, *args, "--device", device]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"--device {device}" in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # nothing was built


def test_missing_data_dir_is_a_one_line_error(capsys, tmp_path):
    assert main(["data", "build", "--track", "midi/dir", "--cache-dir", str(tmp_path)]) == 2
    assert "pass --data-dir" in capsys.readouterr().err
    assert (
        main(["data", "build", "--track", "midi/dir", "--data-dir", str(tmp_path / "x"), "--cache-dir", str(tmp_path)])
        == 2
    )
    assert "no such directory" in capsys.readouterr().err


def test_verify_before_build_says_what_to_run(capsys, tmp_path, midi_root):
    assert (
        main(
            [
                "data",
                "verify",
                "--track",
                "midi/dir",
                "--data-dir",
                str(midi_root),
                "--cache-dir",
                str(tmp_path / "empty"),
            ]
        )
        == 2
    )
    assert "fsmb data build" in capsys.readouterr().err


def test_build_then_verify_passes_and_detects_tampering(capsys, midi_root, cache_dir):
    args = ["--track", "midi/dir", "--data-dir", str(midi_root), "--cache-dir", str(cache_dir), "--workers", "1"]
    assert main(["data", "build", *args]) == 0
    out = capsys.readouterr().out
    assert "test manifest K=5 Q=4: 600 episodes" in out
    assert main(["data", "verify", *args]) == 0
    manifest_path = next(cache_dir.rglob("test-K5-Q4.json"))
    original = manifest_path.read_text()
    data = json.loads(original)
    data["episodes"][3]["query"], data["episodes"][4]["query"] = (
        data["episodes"][4]["query"],
        data["episodes"][3]["query"],
    )
    manifest_path.write_text(json.dumps(data))
    try:
        assert main(["data", "verify", *args]) == 1
        assert "edited or corrupted" in capsys.readouterr().err
    finally:
        manifest_path.write_text(original)


def test_methods_register_next_to_their_class_and_names_are_unique():
    import pytest

    from baselines.unigram import Unigram
    from benchmark.contract.methods import (
        METHODS,
        names_in,
        register_method,
        registration,
    )
    from benchmark.contract.registry import Registry, RegistryError

    assert registration("lstm").target == "baselines.lstm:LSTMBaseline" and registration("lstm").group == "baseline"
    assert "unigram" in names_in("baseline", "midi") and "vae" in names_in("adaptive", "audio")
    assert "vae" not in names_in(modality="midi") and set(names_in()) == set(METHODS.names())

    class Impostor(Unigram):  # another class under a registered name
        pass

    with pytest.raises(RegistryError, match="already taken by baselines.unigram:Unigram"):
        register_method(group="baseline")(Impostor)
    reg = Registry("method", {"a": "baselines.unigram:Unigram"})
    assert reg.names() == ["a"] and reg.get("a").name == "unigram"
    with pytest.raises(RegistryError, match="no attribute"):
        reg.get("baselines.unigram:Nope")


def test_train_resume_continues_an_interrupted_run_to_the_uninterrupted_model(capsys, midi_root, cache_dir, tmp_path):
    """``fsmb train --resume`` with nothing to resume is one line; given the step-5
    checkpoint of a 10-step run (that of a 5-step run: same seeds, batches and rate), it
    trains steps 6-10 and ends with the model an uninterrupted run fits."""
    import shutil

    common = [
        "train",
        "--method",
        "lstm",
        "--track",
        "midi/dir",
        "--data-dir",
        str(midi_root),
        "--cache-dir",
        str(cache_dir),
        "--workers",
        "1",
        "--device",
        "cpu",
        "--budget",
        "tiny",
    ]
    assert main([*common, "--models", str(tmp_path / "cut"), "--resume"]) == 2
    err = capsys.readouterr().err  # after the corpus build's progress: the model folder depends on the corpus
    assert err.count("error") == 1 and "--resume: no interrupted training of lstm" in err.splitlines()[-1]
    assert main([*common, "--models", str(tmp_path / "whole")]) == 0
    whole = printed_json(capsys.readouterr().out)
    assert main([*common, "--models", str(tmp_path / "cut"), "--steps", "5"]) == 0
    capsys.readouterr()
    folder = next((tmp_path / "cut").rglob("tiny_steps_5_-seed0"))
    shutil.copytree(folder / "logs", folder.with_name("tiny-seed0") / "logs")  # as if killed after step 5
    assert main([*common, "--models", str(tmp_path / "cut"), "--resume"]) == 0
    resumed = printed_json(capsys.readouterr().out)
    assert resumed["training"]["steps"] == whole["training"]["steps"] == 10
    assert resumed["training"]["flops"] == whole["training"]["flops"] > 0
    metas = [json.loads(next((tmp_path / d).rglob("tiny-seed0/meta.json")).read_text()) for d in ("whole", "cut")]
    assert metas[0]["state_sha256"] == metas[1]["state_sha256"]
    assert metas[0]["train_log"]["val_curve"] == metas[1]["train_log"]["val_curve"]


def printed_json(out: str) -> dict:
    """The JSON object a command printed after its log lines."""
    return json.loads(out[out.index("{\n") :] if out.startswith("{\n") else out[out.index("\n{\n") + 1 :])


def _subcommands(parser, prefix=()):
    """Every (sub)command path of ``parser``, e.g. ``("latency", "ingest")``."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*prefix, name)
                yield from _subcommands(child, (*prefix, name))


def test_every_help_page_renders(capsys):
    """argparse formats help strings with %: a bare "95%" in one crashes its --help."""
    from benchmark.cli.main import build_parser

    commands = list(_subcommands(build_parser()))
    assert len(commands) > 10
    for command in [(), *commands]:
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        assert exit_.value.code == 0, command
        assert "usage:" in capsys.readouterr().out


def test_building_a_corpus_through_the_cli_does_not_import_torch(midi_root, tmp_path):
    """``fsmb data build`` (and the parser of every command) without torch: it would add
    ~500 MB to the peak memory of a build (`benchmarks/bench_table_memory.py`)."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom benchmark.cli.main import main\n"
        f"assert main(['data', 'build', '--track', 'midi/dir', '--data-dir', {str(midi_root)!r}, "
        f"'--cache-dir', {str(tmp_path)!r}, '--workers', '1']) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
