"""Corpora bundled with music21, named ``music21:NAME`` on the command line (no download).

:data:`BUNDLED` is the one list of them: the MIDI representation reads a
corpus written to MIDI once (:func:`bundled_midi`), the score representation
reads its melodies (:func:`musegen.formats.melody.read_melodies`).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from musegen.errors import MusegenError


def _bach_sources() -> list[Path]:
    """The Bach chorales (and other Bach pieces) in music21's corpus; Roman-numeral analyses left out."""
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getComposer("bach") if Path(p).suffix in (".mxl", ".xml", ".krn"))


def _oneills_sources() -> list[Path]:
    """O'Neill's Music of Ireland (1850) in music21's corpus: ABC tune books."""
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getComposer("oneills1850"))


@dataclass(frozen=True)
class Bundled:
    """A corpus bundled with music21.

    ``sources`` lists its files; ``midi`` is False for a corpus read as
    melodies only (ABC tune books: the ABC representation reads the files
    themselves, and :func:`bundled_midi` refuses it).
    """

    sources: Callable[[], list[Path]]
    midi: bool = True


# corpus name -> its files; add an entry for a new bundled corpus
BUNDLED: dict[str, Bundled] = {
    "bach": Bundled(_bach_sources),  # the Bach chorales (the score representation reads each soprano)
    "oneills1850": Bundled(_oneills_sources, midi=False),  # O'Neill's Music of Ireland (1850), ABC books
}


def bundled_names(*, midi: bool = False) -> list[str]:
    """The bundled corpora as ``music21:NAME``; with ``midi``, only those :func:`bundled_midi` writes."""
    return [f"music21:{n}" for n, b in BUNDLED.items() if b.midi or not midi]


def bundled_sources(name: str, *, midi: bool = False) -> list[Path]:
    """The source files of the bundled corpus ``name`` (with ``midi``: one written to MIDI), or a one-line refusal."""
    if name not in BUNDLED:
        raise MusegenError(f"music21:{name}: unknown bundled corpus; choose one of "
                           + ", ".join(bundled_names(midi=midi)))
    if midi and not BUNDLED[name].midi:
        raise MusegenError(f"music21:{name}: a corpus of ABC tunes, read as melodies (the score representation), "
                           "not as MIDI; MIDI corpora: " + ", ".join(bundled_names(midi=True)))
    return BUNDLED[name].sources()


def bundled_midi(name: str, *, progress: Callable[[int, int], None] | None = None) -> Path:
    """A folder of MIDI files, one per piece of the bundled corpus ``name``, written once with music21.

    The folder lives under the musegen cache (``MUSEGEN_CACHE``), keyed on the
    music21 version, and is built in a temporary folder then renamed, so an
    interrupted run leaves nothing half-written.  Pieces music21 cannot read
    are skipped.
    """
    import music21

    from musegen.paths import cache_dir

    sources = bundled_sources(name, midi=True)
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
