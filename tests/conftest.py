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
    from musegen.pipeline import resolve_config, train

    out = tmp_path_factory.mktemp("models") / "abc-tiny"
    config, name = resolve_config("abc", preset="tiny", overrides={"epochs": 2})
    train("abc", small_corpus, out=out, config=config, preset=name)
    return out
