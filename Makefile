# Two commands do all set-up on a fresh machine:
#   make demo   install musegen in .venv and sample from the shipped models into out/
#               (jigs as .abc/.mid/.wav, piano-roll pieces as .mid/.png/.wav, audio as .wav/.png,
#               a score as .musicxml/.mid/.abc)
#   make test   install musegen in .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(BIN)/musegen info models/abc-jigs
	$(BIN)/musegen sample abc --num 4 --seed 2026 --out out --format abc,mid,wav --force
	$(BIN)/musegen convert tests/data/study_tune.abc out/study_tune.mid --force
	$(BIN)/musegen sample midi --num 2 --seed 2026 --threshold 15 --out out --format mid,png,wav --force
	$(BIN)/musegen sample audio --num 1 --seconds 10 --seed 2026 --out out --force
	$(BIN)/musegen sample score --num 1 --seed 2026 --out out --format musicxml,mid,abc --force

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/sampling_speed.py
	$(BIN)/python bench/training_speed.py
	$(BIN)/python bench/abc_quality.py
	$(BIN)/python bench/abc2midi_agreement.py
	$(BIN)/python bench/synth_speed.py
	$(BIN)/python bench/roll_roundtrip.py
	$(BIN)/python bench/midi_quality.py
	$(BIN)/python bench/audio_frames.py
	$(BIN)/python bench/audio_quality.py
	$(BIN)/python bench/melody_roundtrip.py
	$(BIN)/python bench/score_variants.py

clean:
	rm -rf out .pytest_cache
