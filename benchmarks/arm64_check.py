"""The Pi path checked without a Pi: FSMB's exported steps run by the device runner on an emulated arm64 CPU, compared with the host.

    python benchmarks/arm64_check.py [--cache ~/.cache/fsmb/arm64] [--runs 30]
    python benchmarks/arm64_check.py --compare STEP.onnx DEVICE.npz     # a real device's outputs

Needs Debian's ``qemu-user-static`` and ``mmdebstrap`` (``apt-get install
qemu-user-static mmdebstrap``, as root).  The first run builds, once, under
``--cache``:

- an arm64 Debian bookworm root holding ``python3.11`` and the C++ runtime,
  unpacked by ``mmdebstrap --variant=extract`` (nothing in it is run while building,
  so neither binfmt_misc nor a chroot is needed);
- the aarch64 wheels of numpy and onnxruntime at the host's versions (``pip download
  --platform manylinux_2_28_aarch64``), unpacked beside it;
- a Raspberry Pi 4's CPU description inside the root: four Cortex-A72 cores in
  ``/proc/cpuinfo`` and the sysfs topology files.  qemu-user resolves the guest's
  absolute paths inside the root first (``-L``), so onnxruntime's CPU detection reads
  these instead of the host's x86 ones, on which it crashes.

Then, for the committed converged ``lstm``, ``lstm-trim`` and ``vae`` (and the
``lstm``'s int8 graph, as ``lstm-int8`` builds it), it exports each generation step
(``fsmb export``'s file: `benchmark.cost.onnx_export.export_step`), runs
``benchmark/cost/device_runner.py`` with ``--outputs`` under ``qemu-aarch64-static
-cpu cortex-a72`` -- the emulated Python, numpy and onnxruntime are the aarch64 builds a
Pi runs -- and compares every output of its fixed check steps with the host's
onnxruntime running the same steps (`device_runner.check_outputs`): ``MATCH`` when the
largest difference is within ``device_runner.RTOL`` of the output's
scale (`device_runner.compare`).  The timings
it prints are of the *emulation* (qemu translating arm64 code on this host's CPU):
they say nothing about a Pi's latency.

``--compare STEP.onnx DEVICE.npz`` compares the outputs a real device recorded
(``python3 device_runner.py STEP.onnx --out device.json --outputs device.npz``) with
the host's for the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark.cost import device_runner  # noqa: E402

RUNNER = ROOT / "benchmark/cost/device_runner.py"
MODELS = ROOT / "results/models"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6", "libgcc-s1")
EMULATED_CPU = "cortex-a72"  # a Raspberry Pi 4's core
STEPS = {  # name -> (method, committed model folder)
    "lstm": ("lstm", MODELS / "midi-music21/e8ab9a85acdbdb66/lstm/converge-seed0"),
    "lstm-trim": ("lstm-trim", MODELS / "midi-music21/e8ab9a85acdbdb66/lstm-trim/converge-seed0"),
    "lstm-int8": ("lstm", MODELS / "midi-music21/e8ab9a85acdbdb66/lstm/converge-seed0"),
    "vae decoder": ("vae", MODELS / "audio-gm-notes/c3df0fad39532a00/vae/converge-seed0"),
}


def host_outputs(model: Path, steps: int) -> dict[str, np.ndarray]:
    return device_runner.check_outputs(device_runner.session_at(str(model), 1), steps)


def pi4_cpu(root: Path) -> None:
    """A Raspberry Pi 4's CPU description (four Cortex-A72 cores) inside ``root``."""
    cpu = root / "sys/devices/system/cpu"
    cpu.mkdir(parents=True, exist_ok=True)
    for name in ("possible", "present", "online"):
        (cpu / name).write_text("0-3\n")
    for i in range(4):
        topology = cpu / f"cpu{i}/topology"
        topology.mkdir(parents=True, exist_ok=True)
        files = {"core_id": i, "physical_package_id": 0, "thread_siblings_list": i, "core_cpus_list": i}
        files |= {k: "0-3" for k in ("cluster_cpus_list", "core_siblings_list", "package_cpus_list")}
        for name, value in files.items():
            (topology / name).write_text(f"{value}\n")
    core = [
        "BogoMIPS\t: 108.00",
        "Features\t: fp asimd evtstrm crc32 cpuid",
        "CPU implementer\t: 0x41",
        "CPU architecture: 8",
        "CPU variant\t: 0x0",
        "CPU part\t: 0xd08",
        "CPU revision\t: 3",
    ]
    lines = [line for i in range(4) for line in [f"processor\t: {i}", *core, ""]]
    lines += ["Hardware\t: BCM2835", f"Model\t\t: {EMULATED_CPU} x4 (a Raspberry Pi 4's CPU, emulated by qemu-user)"]
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc/cpuinfo").write_text("\n".join(lines) + "\n")


def build(cache: Path) -> tuple[Path, Path]:
    """(arm64 root, unpacked wheels) under ``cache``, built once (see the module
    docstring); a failed step leaves nothing that a later run would take as built."""
    root, site = cache / "root", cache / f"site-numpy{np.__version__}-ort{metadata.version('onnxruntime')}"
    if not (root / "usr/bin/python3.11").exists():
        for tool in ("mmdebstrap", "qemu-aarch64-static"):
            if shutil.which(tool) is None:
                sys.exit(f"{tool} is missing: apt-get install qemu-user-static mmdebstrap (as root)")
        partial = cache / "root.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        print(f"building an arm64 Debian {SUITE} root in {root} (mmdebstrap, once) ...", flush=True)
        subprocess.run(
            ["mmdebstrap", "--variant=extract", "--arch=arm64", f"--include={','.join(PACKAGES)}", "--quiet"]
            + [SUITE, str(partial), MIRROR],
            check=True,
        )
        pi4_cpu(partial)
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    if not site.exists():
        print("downloading the aarch64 wheels of numpy and onnxruntime (once) ...", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            pins = [f"numpy=={np.__version__}", f"onnxruntime=={metadata.version('onnxruntime')}"]
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
                + ["--platform", "manylinux_2_28_aarch64", "--platform", "manylinux2014_aarch64"]
                + ["--python-version", "3.11", "--implementation", "cp", "-d", tmp, *pins],
                check=True,
            )
            partial = site.with_name(site.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            for wheel in Path(tmp).glob("*.whl"):
                zipfile.ZipFile(wheel).extractall(partial)
            partial.rename(site)
    return root, site


def emulated_run(root: Path, site: Path, model: Path, out: Path, runs: int, steps: int) -> dict:
    """``device_runner.py`` on ``model`` under qemu-user; its JSON report, with the
    recorded outputs at ``out``."""
    command = ["qemu-aarch64-static", "-cpu", EMULATED_CPU, "-L", str(root), "-E", f"PYTHONPATH={site}"]
    command += [str(root / "usr/bin/python3.11"), str(RUNNER), str(model), "--threads", "1", "--runs", str(runs)]
    command += ["--out", str(out.with_suffix(".json")), "--outputs", str(out), "--check-steps", str(steps)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.with_suffix(".json").read_text())


def exported_steps(folder: Path) -> dict[str, Path]:
    """The four steps of `STEPS`, exported to ``folder``."""
    import torch

    from benchmark.contract.methods import make_method
    from benchmark.cost.counting import InferenceStep
    from benchmark.cost.onnx_export import export_step
    from methods.int8 import int8_step

    torch.set_num_threads(1)
    out = {}
    for name, (method_name, path) in STEPS.items():
        method = make_method(method_name)
        method.load(path)
        step = method.inference_step()
        if name == "lstm-int8":
            step = InferenceStep(int8_step(method.model), step.inputs, step.unit)
        out[name] = export_step(step, folder / f"{name.replace(' ', '-')}.onnx")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/fsmb/arm64")
    parser.add_argument("--runs", type=int, default=30, help="timed emulated steps per model (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=16, help="check steps compared (default: %(default)s)")
    parser.add_argument("--compare", nargs=2, metavar=("STEP.onnx", "DEVICE.npz"), type=Path)
    args = parser.parse_args()
    if args.compare:
        model, recorded = args.compare
        for path in (model, recorded):
            if not path.is_file():
                sys.exit(f"arm64_check.py --compare: {path} is not a file (give the .onnx and the device's .npz)")
        with np.load(recorded) as device:
            outputs = {k: device[k] for k in device.files}
        steps = next(iter(outputs.values())).shape[0]
        print(f"{model.name}: {device_runner.compare(host_outputs(model, steps), outputs).line()}")
        return
    root, site = build(args.cache)
    host = os.uname().machine
    print(
        f"device runner under qemu-aarch64-static -cpu {EMULATED_CPU} (onnxruntime {metadata.version('onnxruntime')} "
        f"aarch64 wheel) vs this {host} host's onnxruntime; {args.steps} check steps each; timings are of the "
        "EMULATION, not a Pi's latency"
    )
    failed = 0
    with tempfile.TemporaryDirectory(prefix="fsmb-arm64-") as tmp:
        for name, model in exported_steps(Path(tmp)).items():
            report = emulated_run(root, site, model, Path(tmp) / f"{model.stem}.npz", args.runs, args.steps)
            with np.load(Path(tmp) / f"{model.stem}.npz") as device:
                result = device_runner.compare(host_outputs(model, args.steps), {k: device[k] for k in device.files})
            failed += not result.matches
            machine = report["device"]["machine"]
            p50 = report["latency"][0]["p50_ms"]
            print(f"  {name:12s} ({machine}) {result.line()}; emulated p50 {p50:.2f} ms/step")
    print("all four steps MATCH" if not failed else f"{failed} of four steps DIFFER")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
