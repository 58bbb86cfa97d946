"""ABC tunes as music21 scores, written as MusicXML (opens in MuseScore).

music21's ABC parser reads one tune.  Before it sees the text, the Nottingham
chord dialect is translated to standard names ("Cd" -> "Cdim", "Ca" -> "Caug",
"D/f+" -> "D/F#", "Gm/bb" -> "Gm/Bb") and stray chord-symbol quotes are
removed.  When music21 still fails, the tune is retried without chord symbols,
then with the bars music21 cannot read dropped; every such repair is reported.
"""

from __future__ import annotations

import io
import os
import re
import warnings
import zipfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from musegen.errors import MusegenError
from musegen.fileio import atomic_path, check_writable
from musegen.fileio import output_errors
from musegen.formats.abc import split_tunes, strip_comments, tune_title

MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")
DEFAULT_TITLE = "Untitled"
_FIELD_LINE = re.compile(r"^[A-Za-z]:")
_QUOTED = re.compile(r'"([^"\n]*)"')
# a chord name: root, flat/sharp, quality, optional bass, in optional brackets
_CHORD = re.compile(r"^\(?([A-G])([#b]?)([^/()\s]*)(?:/([A-Ga-g])([#b+-]?))?\)?$")
_ANNOTATION = "^_<>@"  # "^text" and friends are placed text, not chords
# Nottingham quality codes -> standard ones.  Add an entry here.
NOTTINGHAM_QUALITIES: dict[str, str] = {"d": "dim", "d7": "dim7", "a": "aug", "a7": "aug7"}
_BAR = re.compile(r"[^|]*\|[|:\]]*|[^|]+")


# --------------------------------------------------------------------------- chord symbols


def normalize_chord(name: str) -> str | None:
    """A Nottingham chord name in standard notation, or None when it is not a chord.

    >>> [normalize_chord(c) for c in ("Cd", "Ca", "D/f+", "Gm/bb", "(E7)", "A7")]
    ['Cdim', 'Caug', 'D/F#', 'Gm/Bb', 'E7', 'A7']
    """
    m = _CHORD.match(name.strip())
    if m is None:
        return None
    root, accidental, quality, bass, bass_accidental = m.groups()
    quality = NOTTINGHAM_QUALITIES.get(quality, quality)
    out = root + accidental + quality
    if bass:
        out += "/" + bass.upper() + {"+": "#", "-": "b"}.get(bass_accidental, bass_accidental)
    return out


@lru_cache(maxsize=1024)
def music21_reads_chord(name: str) -> bool:
    """True when music21 turns this chord name into a chord symbol (as its ABC reader does)."""
    from music21 import common, harmony

    cleaned = common.cleanedFlatNotation(re.sub("[()]", "", name.strip()))
    try:
        return bool(harmony.ChordSymbol(cleaned).pitches)
    except Exception:  # music21 raises ValueError and others on odd names
        return False


def _repair_quotes(line: str, where: str, report: list[str]) -> str:
    """Drop stray ``"`` marks: a quote whose partner is missing or encloses bar lines."""
    out, pos = [], 0
    while True:
        q = line.find('"', pos)
        if q < 0:
            out.append(line[pos:])
            return "".join(out)
        close = line.find('"', q + 1)
        content = line[q + 1 : close] if close >= 0 else None
        if content is None or "|" in content or len(content) > 24:
            out.append(line[pos:q])
            report.append(f"{where}: removed a stray '\"' (unclosed chord symbol)")
            pos = q + 1
            continue
        out.append(line[pos : close + 1])
        pos = close + 1


def _fix_chords(line: str, dropped: list[str]) -> str:
    """Translate Nottingham chord names; drop those music21 cannot read (listed in ``dropped``)."""

    def fix(m: re.Match) -> str:
        content = m.group(1)
        if content[:1] in _ANNOTATION:
            return m.group(0)
        chord = normalize_chord(content)
        if chord is not None and music21_reads_chord(chord):
            return f'"{chord}"'
        if content.strip():
            dropped.append(content)
        return ""

    return _QUOTED.sub(fix, line)


def _strip_chords(line: str) -> str:
    return _QUOTED.sub(lambda m: m.group(0) if m.group(1)[:1] in _ANNOTATION else "", line)


# --------------------------------------------------------------------------- parsing


def _split(tune: str, report: list[str]) -> tuple[list[str], list[str]]:
    """One tune's header lines (through ``K:``) and body lines, with a missing X: or K: supplied."""
    tunes = split_tunes(tune) if re.search(r"^X:", tune, re.M) else []
    if len(tunes) > 1:
        report.append(f"the text holds {len(tunes)} tunes: converted the first only")
    text = strip_comments(tunes[0] if tunes else "X:1\n" + tune)
    lines = text.split("\n")[:-1] if text else []
    key = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if key is None:
        key = next((i for i, line in enumerate(lines) if not _FIELD_LINE.match(line)), len(lines))
        lines.insert(key, "K:C")
        report.append("no K: (key) field: assumed K:C")
    if not any(line.startswith(("L:", "M:")) for line in lines[:key]):
        lines.insert(key, "L:1/8")  # the ABC standard's default, which music21 does not assume
        key += 1
    return lines[: key + 1], lines[key + 1 :]


def _parse(header: list[str], body: list[str]):
    """music21's reading of the tune, or None when it fails or finds no notes."""
    import music21

    text = "\n".join(header + body) + "\n"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = music21.converter.parse(text, format="abc", forceSource=True)
    except Exception:  # music21's ABC reader raises many kinds on bad input
        return None
    if isinstance(score, music21.stream.Opus):
        score = score.scores[0] if score.scores else None
    if score is None or not score.recurse().notes:
        return None
    return score


def _salvage(header: list[str], body: list[str], report: list[str]):
    """Keep the lines, else the bars, that music21 can read.

    Lines and bars are first tried alone (header plus that line: fast); when
    the kept whole still fails, each is tried after everything kept before it.
    """
    for alone in (True, False):
        mark = len(report)
        kept: list[str] = []
        for number, line in enumerate(body, start=1):
            context = [] if alone else kept
            if _FIELD_LINE.match(line) or _parse(header, context + [line]) is not None:
                kept.append(line)
                continue
            good: list[str] = []
            for bar in _BAR.findall(line):
                if _parse(header, context + ["".join(good + [bar])]) is not None:
                    good.append(bar)
                elif bar.strip():
                    report.append(f"body line {number}: dropped an unreadable bar {bar.strip()!r}")
            if good:
                kept.append("".join(good))
        score = _parse(header, kept)
        if score is not None:
            return score
        del report[mark:]
    return None


def parse_abc_score(tune: str) -> tuple[object, list[str]]:
    """Read one ABC tune with music21, repairing what it cannot read.

    Parameters
    ----------
    tune : str
        The text of one tune (``X:`` line optional).

    Returns
    -------
    score : music21.stream.Score
        Title from ``T:`` (``"Untitled"`` without one).
    report : list of str
        One line per repair or omission; empty when the tune was read as is.

    Raises
    ------
    MusegenError
        When nothing readable is left.
    """
    report: list[str] = []
    header, body = _split(tune, report)
    dropped: list[str] = []
    fixed = []
    for number, line in enumerate(body, start=1):
        if not _FIELD_LINE.match(line):
            line = _fix_chords(_repair_quotes(line, f"body line {number}", report), dropped)
        fixed.append(line)
    if dropped:
        report.append(f"dropped {len(dropped)} chord symbol(s) music21 cannot read: {', '.join(sorted(set(dropped)))}")

    def without_chords(lines: list[str]) -> list[str]:
        return [line if _FIELD_LINE.match(line) else _strip_chords(line) for line in lines]

    # each attempt: (what the report says if it is the one that works, how to read)
    attempts: list[tuple[str | None, Callable[[], object]]] = [
        (None, lambda: _parse(header, fixed)),
        ("music21 failed on the chord symbols: converted without them", lambda: _parse(header, without_chords(fixed))),
        (None, lambda: _salvage(header, fixed, report)),
        ("converted without chord symbols", lambda: _salvage(header, without_chords(fixed), report)),
    ]
    for note, attempt in attempts:
        mark = len(report)
        score = attempt()
        if score is not None:
            if note:
                report.append(note)
            break
        del report[mark:]  # a failed attempt's repairs did not happen
    else:
        raise MusegenError(f"music21 cannot read the ABC tune {tune_title(tune, default='(untitled)')!r}, "
                           "even with its unreadable bars removed")
    _set_title(score, tune_title("\n".join(header), default=DEFAULT_TITLE))
    return score, report


def _set_title(score, title: str) -> None:
    from music21 import metadata

    if score.metadata is None:
        score.insert(0, metadata.Metadata())
    score.metadata.title = title
    score.metadata.movementName = title


def abc_to_score(tune: str):
    """Read one ABC tune as a music21 score (see :func:`parse_abc_score`).

    Returns
    -------
    music21.stream.Score
    """
    return parse_abc_score(tune)[0]


# --------------------------------------------------------------------------- MusicXML


def score_to_musicxml_bytes(score, *, compressed: bool = False) -> bytes:
    """MusicXML of a music21 score: plain XML, or a compressed ``.mxl`` archive."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    from music21 import defaults

    saved, defaults.author = defaults.author, ""  # else the composer reads "Music21"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = GeneralObjectExporter(score).parse()
    finally:
        defaults.author = saved
    if not compressed:
        return data
    container = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<container>\n  <rootfiles>\n'
        '    <rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>\n'
        "  </rootfiles>\n</container>\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.recordare.musicxml", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", container)
        archive.writestr("score.musicxml", data)
    return buffer.getvalue()


def write_musicxml(score, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a music21 score as MusicXML, atomically (``.mxl`` suffix: compressed).

    The bytes come from music21's MusicXML writer and go to a temporary name
    that is renamed over ``path``; ``score.write`` is not used because it
    renames ``.mxl`` output itself.
    """
    path = Path(path)
    data = score_to_musicxml_bytes(score, compressed=path.suffix.lower() == ".mxl")
    with output_errors(path), atomic_path(path, force=force) as tmp:
        tmp.write_bytes(data)
    return path


def abc_to_musicxml(tune: str, path: str | os.PathLike, *, force: bool = False) -> list[str]:
    """Convert one ABC tune to a MusicXML file.

    Parameters
    ----------
    tune : str
        The text of one tune.
    path : path-like
        ``.musicxml`` or ``.xml`` (plain) or ``.mxl`` (compressed).
    force : bool
        Replace an existing file.

    Returns
    -------
    report : list of str
        What was repaired or left out (see :func:`parse_abc_score`).
    """
    check_writable(path, force=force)  # fail before the slow parse
    score, report = parse_abc_score(tune)
    write_musicxml(score, path, force=force)
    return report
