"""Shared fixtures: a small corpus and a tiny trained ABC model, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
JIGS = ROOT / "corpora" / "jigs" / "jigs.abc"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    os.environ["MUSEGEN_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def rule_ops():
    """``ops(engine)``: the array functions a sampling rule runs with, and how its inputs are made, per engine."""

    def ops(engine: str):
        if engine == "numpy":
            from musegen.rules import NUMPY_OPS

            return NUMPY_OPS, np.asarray
        import tensorflow as tf

        from musegen.sampling import TF_OPS

        return TF_OPS, tf.constant

    return ops


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """The first 24 Nottingham jigs as one file."""
    from musegen.formats.abc import read_tunes

    tunes = read_tunes(JIGS, clean=False)[:24]
    path = tmp_path_factory.mktemp("corpus") / "small.abc"
    path.write_text("\n".join(tunes), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, small_corpus) -> Path:
    """A 1 x LSTM 16 model trained for 2 epochs on the small corpus (seconds)."""
    return _train_tiny(tmp_path_factory, "abc", small_corpus)


def _train_tiny(tmp_path_factory, rep: str, corpus: Path) -> Path:
    from musegen.pipeline import resolve_config, train

    out = tmp_path_factory.mktemp("models") / f"{rep}-tiny"
    config, name = resolve_config(rep, preset="tiny", overrides={"epochs": 2})
    train(rep, corpus, out=out, config=config, preset=name)
    return out


@pytest.fixture(scope="session")
def tiny_midi_model(tmp_path_factory, small_corpus) -> Path:
    """A 1 x LSTM 16 roll model trained for 2 epochs on the small ABC corpus played as MIDI."""
    return _train_tiny(tmp_path_factory, "midi", small_corpus)


@pytest.fixture(scope="session")
def audio_corpus(tmp_path_factory) -> Path:
    """Four WAV files of 3 s: notes of a scale on a harmonic tone, at 22.05 kHz stereo (read as 16 kHz mono)."""
    import soundfile as sf

    folder = tmp_path_factory.mktemp("wavs")
    sr = 22050
    t = np.arange(int(0.25 * sr)) / sr
    for i in range(4):
        notes = []
        for k in range(12):
            f0 = 220 * 2 ** (((i + k * 2) % 12) / 12)
            tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in (1, 2, 3)) * np.exp(-4 * t)
            notes.append(0.3 * tone)
        mono = np.concatenate(notes)
        sf.write(folder / f"tune{i}.wav", np.stack([mono, mono], axis=1), sr, subtype="PCM_16")
    return folder


@pytest.fixture(scope="session")
def tiny_audio_model(tmp_path_factory, audio_corpus) -> Path:
    """A tiny Gaussian-head FFT-frame model trained for 2 epochs on the WAV corpus."""
    return _train_tiny(tmp_path_factory, "audio", audio_corpus)


@pytest.fixture(scope="session")
def tiny_score_model(tmp_path_factory, small_corpus) -> Path:
    """A tiny measure-network score model (autoencoder and 1 x LSTM 16) trained on the small corpus (seconds)."""
    return _train_tiny(tmp_path_factory, "score", small_corpus)
