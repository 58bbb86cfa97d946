"""Corpora bundled with music21, named ``music21:NAME`` on the command line (no download)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from musegen.errors import MusegenError


def _bach_sources() -> list[Path]:
    """The Bach chorales (and other Bach pieces) in music21's corpus; Roman-numeral analyses left out."""
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getComposer("bach") if Path(p).suffix in (".mxl", ".xml", ".krn"))


# corpus name -> function listing its source files; add an entry for a new bundled corpus
BUNDLED: dict[str, Callable[[], list[Path]]] = {"bach": _bach_sources}


def bundled_sources(name: str) -> list[Path]:
    """The source files of the bundled corpus ``name``, or a one-line refusal."""
    if name not in BUNDLED:
        raise MusegenError(f"music21:{name}: unknown bundled corpus; choose one of "
                           + ", ".join(f"music21:{n}" for n in BUNDLED))
    return BUNDLED[name]()


def bundled_midi(name: str, *, progress: Callable[[int, int], None] | None = None) -> Path:
    """A folder of MIDI files, one per piece of the bundled corpus ``name``, written once with music21.

    The folder lives under the musegen cache (``MUSEGEN_CACHE``), keyed on the
    music21 version, and is built in a temporary folder then renamed, so an
    interrupted run leaves nothing half-written.  Pieces music21 cannot read
    are skipped.
    """
    import music21

    from musegen.pipeline import cache_dir

    sources = bundled_sources(name)
    folder = cache_dir() / "music21" / f"{name}-midi-{music21.__version__}"
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(folder.name + f".part{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        written = 0
        for i, src in enumerate(sources):
            try:
                with contextlib.redirect_stderr(io.StringIO()):
                    score = music21.converter.parse(src)
                    score.write("midi", fp=tmp / f"{src.stem}.mid")
                written += 1
            except Exception:  # noqa: BLE001 - music21 raises many kinds on pieces it cannot read
                continue
            finally:
                if progress is not None:
                    progress(i + 1, len(sources))
        if not written:
            raise MusegenError(f"music21:{name}: music21 could not write any piece as MIDI")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
