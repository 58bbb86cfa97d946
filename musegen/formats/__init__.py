"""File formats and converters.  No network code here.

:data:`CONVERTERS` maps a (source, destination) format pair to a function
``f(src, dst, *, options) -> report``; add an entry to support a new pair.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musegen.errors import MusegenError, UsageError

# file suffix -> format name; add an entry for a new suffix
SUFFIXES: dict[str, str] = {
    ".abc": "abc",
    ".mid": "mid",
    ".midi": "mid",
    ".musicxml": "musicxml",
    ".xml": "musicxml",
    ".mxl": "musicxml",
    ".wav": "wav",
}


def format_of(path: str | os.PathLike) -> str:
    """The format name of ``path`` from its suffix, or a one-line refusal."""
    suffix = Path(path).suffix.lower()
    try:
        return SUFFIXES[suffix]
    except KeyError:
        known = ", ".join(sorted(SUFFIXES))
        raise UsageError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; known suffixes: {known}") from None


@dataclass
class ConvertOptions:
    """Options shared by every converter (each reads the ones it needs)."""

    tune: int | None = None  # 1-based tune number in a multi-tune ABC file
    all_tunes: bool = False
    to: str | None = None  # output format when the destination is a folder (--all)
    chords: bool = True
    soundfont: Path | None = None
    synth: str = "auto"
    sample_rate: int = 44100
    force: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConvertReport:
    files: list[Path]
    notes: list[str]


# -- ABC sources ------------------------------------------------------------------------------------------


def _select_tunes(src: Path, options: ConvertOptions) -> list[str]:
    from musegen.formats.abc import read_tunes

    tunes = read_tunes(src, clean=True)
    if options.all_tunes:
        return tunes
    n = options.tune or 1
    if not 1 <= n <= len(tunes):
        raise UsageError(f"{src}: --tune {n} is out of range (the file holds {len(tunes)} tune(s))")
    return [tunes[n - 1]]


def _abc_to_mid(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    from musegen.formats.abcparse import abc_to_midi

    return abc_to_midi(tune, dst, chords=options.chords, force=options.force)


def _abc_to_musicxml(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    import contextlib
    import io

    from musegen.formats.score import abc_to_musicxml

    with contextlib.redirect_stderr(io.StringIO()):  # music21 prints its parser warnings there
        return abc_to_musicxml(tune, dst, force=options.force)


def _abc_to_abc(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    from musegen.fileio import write_text

    write_text(dst, tune, force=options.force)
    return []


def _abc_to_wav(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    from musegen.formats.abcparse import abc_to_song
    from musegen.formats.synth import song_to_wav

    song, report = abc_to_song(tune, chords=options.chords)
    song_to_wav(song, dst, soundfont=options.soundfont, synth=options.synth, sample_rate=options.sample_rate,
                force=options.force)
    return report


# tune writer per output format (ABC text in); add an entry for a new format
TUNE_WRITERS: dict[str, Callable[[str, Path, ConvertOptions], list[str]]] = {
    "abc": _abc_to_abc,
    "mid": _abc_to_mid,
    "musicxml": _abc_to_musicxml,
    "wav": _abc_to_wav,
}


def write_tune(tune: str, stem: Path, *, formats: tuple[str, ...], force: bool = False,
               options: ConvertOptions | None = None) -> list[Path]:
    """Write one ABC tune as ``stem.abc``, ``stem.mid``... for each format."""
    options = options or ConvertOptions(force=force)
    options.force = force
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        TUNE_WRITERS[fmt](tune, path, options)
        paths.append(path)
    return paths


def _from_abc(fmt: str) -> Callable[[Path, Path, ConvertOptions], ConvertReport]:
    def convert_abc(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
        from musegen.formats.abc import sanitize_filename, tune_title, unique_stem

        tunes = _select_tunes(src, options)
        if not options.all_tunes:
            notes = TUNE_WRITERS[fmt](tunes[0], dst, options)
            return ConvertReport([dst], notes)
        # --all: dst is a folder, one file per tune named from its title
        taken: set[str] = set()
        plans = []
        for i, tune in enumerate(tunes, 1):
            stem = unique_stem(sanitize_filename(tune_title(tune), default=f"tune_{i}"), taken)
            plans.append((tune, dst / f"{stem}.{fmt}"))
        for _, path in plans:
            if path.exists() and not options.force:
                raise MusegenError(f"{path} already exists (use --force to overwrite)")
        files, notes = [], []
        for tune, path in plans:
            notes.extend(f"{path.name}: {n}" for n in TUNE_WRITERS[fmt](tune, path, options))
            files.append(path)
        return ConvertReport(files, notes)

    return convert_abc


def _mid_to_wav(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
    from musegen.formats.synth import midi_to_wav

    midi_to_wav(src, dst, soundfont=options.soundfont, synth=options.synth, sample_rate=options.sample_rate,
                force=options.force)
    return ConvertReport([dst], [])


# (source format, destination format) -> converter; add an entry to support a new pair
CONVERTERS: dict[tuple[str, str], Callable[[Path, Path, ConvertOptions], ConvertReport]] = {
    ("abc", "abc"): _from_abc("abc"),  # one tune of a tune book, or --all: one file per tune
    ("abc", "mid"): _from_abc("mid"),
    ("abc", "musicxml"): _from_abc("musicxml"),
    ("abc", "wav"): _from_abc("wav"),
    ("mid", "wav"): _mid_to_wav,
}


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, options: ConvertOptions | None = None) -> ConvertReport:
    """Convert ``src`` to ``dst``, the conversion picked from the two suffixes.

    With ``options.all_tunes`` and an ABC source, ``dst`` is a folder and
    ``options.to`` names the output format (default ``mid``); one file per tune
    is written there, named from its title.
    """
    options = options or ConvertOptions()
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise MusegenError(f"{src}: no such file")
    if src.is_dir():
        raise MusegenError(f"{src} is a folder; give one file to convert")
    if options.all_tunes:
        if dst.exists() and not dst.is_dir():
            raise MusegenError(f"{dst} is a file; with --all the destination is a folder")
        to = (options.to or "mid").lower().lstrip(".")
        dst_fmt = SUFFIXES.get("." + to, to)
    else:
        if options.to:
            raise UsageError("--to names the output format of --all; for one tune the suffix of OUT does")
        dst_fmt = format_of(dst)
    pair = (format_of(src), dst_fmt)
    if pair not in CONVERTERS:
        supported = ", ".join(f"{a}->{b}" for a, b in CONVERTERS)
        raise UsageError(f"cannot convert {pair[0]} to {pair[1]}; supported: {supported}")
    if not options.all_tunes and dst.exists() and not options.force:
        raise MusegenError(f"{dst} already exists (use --force to overwrite)")
    return CONVERTERS[pair](src, dst, options)
