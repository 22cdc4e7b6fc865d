#!/usr/bin/env bash
# FSMB entry points.  `bash run.sh quickstart` and `bash run.sh test` are the README's
# two commands; each first creates .venv and installs FSMB into it (once).
#   bash run.sh setup | quickstart | test | bench | fuzz | reproduce
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
BIN=$VENV/bin
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

# Debian packages: fortunes is the offline stand-in corpus of the lyrics/fortunes track;
# libfluidsynth3 renders the audio/gm-notes corpus; the tests (`debian_packages test`) also
# drive the leaderboard site in Debian's headless Chromium (chromium, chromium-driver).
debian_packages() {
  local missing=()
  [ -d /usr/share/games/fortunes ] || missing+=(fortunes)
  ldconfig -p 2>/dev/null | grep -q libfluidsynth.so.3 || missing+=(libfluidsynth3)
  if [ "${1:-}" = test ]; then
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; })
  else
    echo "run.sh: Debian packages missing: ${missing[*]} (apt-get install ${missing[*]}); " \
      "lyrics/fortunes needs fortunes, audio/gm-notes libfluidsynth3, the browser test chromium" >&2
  fi
}

setup() {
  debian_packages "${1:-}"
  if [ ! -x "$BIN/python" ]; then
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv "$VENV"
      else
        echo "run.sh: cannot create a virtual environment; install python3-venv (apt-get install python3-venv)" >&2
        exit 1
      fi
    fi
  fi
  if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    "$BIN/pip" install --quiet --upgrade pip
    "$BIN/pip" install --quiet -e '.[test]'
    touch "$VENV/.installed"
  fi
}

case "${1:-}" in
  setup) setup ;;
  quickstart) setup; "$BIN/fsmb" quickstart --out quickstart-out ;;
  test) setup test; "$BIN/python" -m pytest -q tests ;;
  bench) setup; "$BIN/python" benchmarks/bench_data.py; "$BIN/python" benchmarks/bench_maml.py
    "$BIN/python" benchmarks/hostile_inputs.py; "$BIN/python" benchmarks/cost_estimator.py
    "$BIN/python" benchmarks/compression_goals.py; "$BIN/python" benchmarks/bench_sampling.py
    "$BIN/python" benchmarks/bench_selection.py; "$BIN/python" benchmarks/bench_scoring.py
    "$BIN/python" benchmarks/bench_torchrun.py; "$BIN/python" benchmarks/bench_table_memory.py ;;
  fuzz) setup; "$BIN/python" benchmarks/fuzz_loaders.py --n 10000 --seed 0 --workers 2 ;;  # ~11 min on 2 cores
  reproduce)  # rerun every published run from its run record into runs/reproduce and check it against the
    setup       # published one (docs/reproducing.md); extra arguments go to fsmb
    "$BIN/fsmb" reproduce --results results/main results/shots results/quality-lyrics results/quality-midi \
      results/compressed --out runs/reproduce --check "${@:2}" ;;
  *) echo "usage: bash run.sh setup|quickstart|test|bench|fuzz|reproduce" >&2; exit 2 ;;
esac
