# FSMB set-up and entry points.  `make quickstart` and `make test` are the two
# README commands; each creates the virtual environment it needs first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

BASELINES = unigram unigram-support lstm lstm-concat
ADAPTIVE  = cache fomaml maml metasgd finetune dyneval

.PHONY: setup quickstart test bench reproduce clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

quickstart: $(STAMP)
	$(BIN)/fsmb quickstart --out quickstart-out

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_maml.py

# The published table: full 600-episode test manifest, K = 5, budget "full".
reproduce: $(STAMP)
	for m in $(BASELINES) $(ADAPTIVE); do \
	  $(BIN)/fsmb eval --method $$m --track midi/music21 --budget full --models runs/models \
	    --out leaderboard/results || exit 1; \
	done
	$(BIN)/fsmb leaderboard --results leaderboard/results --format md

clean:
	rm -rf $(VENV) quickstart-out .pytest_cache
