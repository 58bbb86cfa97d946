"""Where musegen keeps and finds files: the cache, the shipped models and corpora."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """The cache folder: ``$MUSEGEN_CACHE``, else ``~/.cache/musegen``."""
    return Path(os.environ.get("MUSEGEN_CACHE", Path.home() / ".cache" / "musegen"))


def shipped_dir() -> Path:
    """The folder holding the shipped ``models/`` and ``corpora/``.

    An installed package carries them as package data (``musegen/data``, put
    there when the wheel is built); a checkout has them at its root.
    """
    installed = _PACKAGE / "data"
    return installed if installed.is_dir() else _PACKAGE.parent


def shipped_models() -> dict[str, Path]:
    """The shipped model bundles by name (``abc-jigs`` ...)."""
    folder = shipped_dir() / "models"
    found = sorted(p for p in folder.iterdir() if (p / "model.keras").is_file()) if folder.is_dir() else []
    return {p.name: p for p in found}


def shipped_corpora() -> dict[str, Path]:
    """The shipped corpora by name (``jigs``)."""
    folder = shipped_dir() / "corpora"
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_dir()} if folder.is_dir() else {}


def model_path(model: str | os.PathLike | None, *, default: str) -> Path:
    """The bundle folder ``--model`` names: a folder, else a shipped model's name; the shipped ``default`` if None."""
    if model is None:
        return shipped_dir() / "models" / default
    path = Path(model)
    if not path.exists() and str(model) in shipped_models():
        return shipped_models()[str(model)]
    return path


def corpus_path(corpus: str | os.PathLike) -> Path:
    """The file or folder a corpus argument names: a path, else a shipped corpus's name (``jigs``)."""
    path = Path(corpus)
    if not path.exists() and str(corpus) in shipped_corpora():
        return shipped_corpora()[str(corpus)]
    return path
