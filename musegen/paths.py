"""Where musegen keeps files between runs."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache folder: ``$MUSEGEN_CACHE``, else ``~/.cache/musegen``."""
    return Path(os.environ.get("MUSEGEN_CACHE", Path.home() / ".cache" / "musegen"))
