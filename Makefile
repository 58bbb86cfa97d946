# Two commands do all set-up on a fresh machine:
#   make demo   install musegen in .venv and sample jigs from the shipped model into out/ (.abc, .mid, .wav)
#   make test   install musegen in .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(BIN)/musegen info models/abc-jigs
	$(BIN)/musegen sample abc --num 4 --seed 2026 --out out --format abc,mid,wav --force
	$(BIN)/musegen convert tests/data/study_tune.abc out/study_tune.mid --force

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/sampling_speed.py
	$(BIN)/python bench/abc_quality.py
	$(BIN)/python bench/abc2midi_agreement.py

clean:
	rm -rf out .pytest_cache
