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
# libfluidsynth3 renders the audio/gm-notes corpus.
debian_packages() {
  local missing=()
  [ -d /usr/share/games/fortunes ] || missing+=(fortunes)
  ldconfig -p 2>/dev/null | grep -q libfluidsynth.so.3 || missing+=(libfluidsynth3)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; })
  else
    echo "run.sh: Debian packages missing: ${missing[*]} (apt-get install ${missing[*]}); " \
      "lyrics/fortunes needs fortunes, audio/gm-notes needs libfluidsynth3" >&2
  fi
}

setup() {
  debian_packages
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
  test) setup; "$BIN/python" -m pytest -q tests ;;
  bench) setup; "$BIN/python" benchmarks/bench_data.py; "$BIN/python" benchmarks/bench_maml.py
    "$BIN/python" benchmarks/hostile_inputs.py; "$BIN/python" benchmarks/cost_estimator.py
    "$BIN/python" benchmarks/compression_goals.py ;;
  fuzz) setup; "$BIN/python" benchmarks/fuzz_loaders.py --n 10000 --seed 0 --workers 2 ;;  # ~11 min on 2 cores
  reproduce)  # the published tables, budget "full": 600 test episodes at K = 5, the midi/music21 shots
    setup       # curve (first 100 episodes at K = 0, 1, 2, 4, 8), lyrics/fortunes (+ sample quality),
                # audio/gm-notes (+ variants and the K ablation), the compression study on midi/music21.
                # Method lists come from the registry.
    methods() { "$BIN/fsmb" methods --names "$@"; }
    uncompressed() { methods --group baseline "$@"; methods --group adaptive "$@"; }
    for m in $(uncompressed --modality midi); do
      "$BIN/fsmb" eval --method "$m" --track midi/music21 --budget full --models runs/models \
        --out results/main
    done
    for m in $(uncompressed --modality midi); do
      "$BIN/fsmb" eval --method "$m" --track midi/music21 --budget full --models runs/models \
        --shots 0,1,2,4,8 --episodes 100 --out results/shots
    done
    for m in $(uncompressed --modality lyrics); do
      "$BIN/fsmb" eval --method "$m" --track lyrics/fortunes --budget full --models runs/models \
        --out results/main
    done
    for m in $(uncompressed --modality lyrics); do  # not unigram (ignores the support set) nor cache
      case $m in unigram|cache) continue ;; esac  # (its sampler ignores the cache): README "lyrics/fortunes"
      "$BIN/fsmb" eval --method "$m" --track lyrics/fortunes --budget full --models runs/models \
        --samples 8 --episodes 100 --out results/quality-lyrics
    done
    audio() { "$BIN/fsmb" eval --track audio/gm-notes --budget full --models runs/models --samples 16 \
      --out results/main "$@"; }
    for m in $(uncompressed --modality audio); do audio --method "$m"; done
    audio --method vae --set iwae_samples=16           # the like-for-like variants of README "audio/gm-notes"
    audio --method vae --set iwae_samples=16 --set steps=0
    audio --method rhvae --set steps=10 --episodes 32
    audio --method vae --set iwae_samples=16 --set steps=0 --shots 1,2,4,8,16 --episodes 100 --out results/ablation
    "$BIN/fsmb" ablation --track audio/gm-notes --methods "$(uncompressed --modality audio | tr ' ' ,)" --shots 1,2,4,8,16 \
      --episodes 100 --samples 16 --budget full --models runs/models --out results/ablation
    # the compression study (README "Compressed variants"), paired against its own dense lstm
    C="--track midi/music21 --budget full --models runs/models --out results/compressed"
    "$BIN/fsmb" sparsity --methods lstm-trim --levels 50,80,90,95,98 $C
    "$BIN/fsmb" sparsity --methods 'lstm-trim,lstm-imp,lstm-imp[reinit=true]' --levels 50,80,90 $C
    for m in lstm-int8 finetune cache 'finetune[base="lstm-trim"]' 'cache[base="lstm-trim"]'; do
      "$BIN/fsmb" eval --method "$m" $C
    done
    "$BIN/fsmb" leaderboard --results results/compressed --format md --pareto results/pareto.png
    "$BIN/fsmb" leaderboard --results results/main --format md
    "$BIN/fsmb" leaderboard --results results/shots --format md --plot results/shots.png ;;
  *) echo "usage: bash run.sh setup|quickstart|test|bench|fuzz|reproduce" >&2; exit 2 ;;
esac
