"""A fifth representation is one module plus one registry entry.

The toy below (a few dozen lines: melodies as MIDI pitch numbers, one token
per pitch) is registered in :data:`REPRESENTATIONS` by this test alone, and
`musegen prepare|train|sample|evaluate pitches` then work through the real
command line, with no other edit to the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from helpers import assert_refused, run

from musegen.config import Settings, option
from musegen.representations import REPRESENTATIONS, InputSpec, OutputSpec, Representation, SamplingPlan

START, END = 0, 1  # the ids before the pitches


@dataclass(frozen=True)
class PitchSettings(Settings):
    owner = "pitches"
    lowest: int = option(0, "Pitches below this are left out.")


@dataclass(frozen=True)
class PitchSampleOptions(Settings):
    temperature: float = option(1.0, "Sampling temperature.")
    length: int = option(12, "Most pitches per piece.")


class PitchRepresentation(Representation):
    """One piece per line of a text file: MIDI pitch numbers; one token per pitch."""

    name: ClassVar[str] = "pitches"
    Settings = PitchSettings
    SampleOptions = PitchSampleOptions
    end_id: ClassVar[int] = END
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "default": dict(layers=1, units=8, embedding=4, seq_len=6, batch_size=4, epochs=2, optimizer="adam",
                        lr=0.01, clipnorm=1.0)}
    output_formats: ClassVar[tuple[str, ...]] = ("txt",)
    default_formats: ClassVar[str] = "txt"

    def read_corpus(self, path):
        lines = Path(path).read_text().splitlines()
        return [[p for p in map(int, line.split()) if p >= self.settings.lowest] for line in lines if line.strip()]

    def fit(self, pieces):
        self.pitches = sorted({p for piece in pieces for p in piece})

    def encode(self, piece):
        return np.array([START, *(self.pitches.index(p) + 2 for p in piece), END], np.int32)

    def decode(self, array):
        return [self.pitches[i - 2] for i in array if i >= 2]

    def input_spec(self):
        return InputSpec("tokens", len(self.pitches) + 2)

    def head(self):
        return OutputSpec("softmax", len(self.pitches) + 2)

    def banned_ids(self):
        return [START]

    def encode_primer(self, primer, **_):
        return np.array(primer, np.int32)

    def plan_sampling(self, bundle_path, options):
        return SamplingPlan([START], options.length, options.temperature)

    def write(self, piece, stem, *, formats, force=False, provenance=None):
        path = stem.with_name(stem.name + ".txt")
        path.write_text(" ".join(map(str, piece)) + "\n")
        return [path]

    def get_config(self):
        return {"name": self.name, "lowest": self.settings.lowest, "pitches": self.pitches}

    def set_config(self, config):
        self.settings, self.pitches = PitchSettings(lowest=config["lowest"]), config["pitches"]

    def evaluate(self, probe, target, options):
        bits = probe.token_bits([self.encode(p) for p in self.read_corpus(target)])
        return {"pitches": int(bits.size), "bits_per_pitch": float(bits.mean())}


@pytest.fixture
def pitches(monkeypatch, tmp_path) -> Path:
    monkeypatch.setitem(REPRESENTATIONS, PitchRepresentation.name, PitchRepresentation)
    corpus = tmp_path / "scales.txt"
    rng = np.random.default_rng(0)
    corpus.write_text("".join(" ".join(str(60 + s + k) for k in (0, 2, 4, 5, 7, 9, 11, 12)) + "\n"
                              for s in rng.integers(0, 5, 12)))
    return corpus


def test_a_registered_toy_representation_runs_every_command(pitches, tmp_path):
    r = run("prepare", "pitches", pitches, "--lowest", 61, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["representation"] == "pitches" and summary["pieces"] == 12

    model = tmp_path / "model"
    r = run("train", "pitches", pitches, "--out", model, "--units", 12, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["epochs"] == 2
    assert json.loads((model / "config.json").read_text())["units"] == 12

    r = run("sample", "pitches", "--model", model, "--num", 3, "--seed", 4, "--out", tmp_path / "out", "--json")
    assert r.exit_code == 0, r.output
    files = [Path(f) for f in json.loads(r.stdout)["files"]]
    assert len(files) == 3 and all(f.suffix == ".txt" for f in files)
    for f in files:  # every pitch written is one the corpus has
        assert set(map(int, f.read_text().split())) <= set(range(60, 78))

    r = run("evaluate", "pitches", pitches, "--model", model, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["pitches"] == 12 * 8 + 12 and 0 < result["bits_per_pitch"] < 8


def test_a_toy_setting_misspelt_or_out_of_place_is_refused(pitches, tmp_path):
    assert_refused(run("prepare", "pitches", pitches, "--lowest", "x"), contains="lowest")
    assert_refused(run("train", "pitches", pitches, "--out", tmp_path / "m", "--threshold", 3),
                   contains="--threshold")
    from musegen.errors import UsageError

    with pytest.raises(UsageError, match="unknown pitches setting 'lowset'"):
        PitchRepresentation.from_settings({"lowset": 3})
