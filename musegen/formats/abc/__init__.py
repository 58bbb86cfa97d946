"""ABC notation at the text level: read files, split tunes, clean, name.

Playing ABC (notes, repeats, chords) lives in :mod:`musegen.formats.abc.player`;
checking and repairing generated tunes in :mod:`musegen.formats.abc.check`.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from musegen.errors import MusegenError
from musegen.fileio import input_file, path_files
from musegen.formats.abc.lexer import unix_newlines
from musegen.limits import MAX_TUNE_CHARS

ABC_SUFFIXES = (".abc",)
_X_LINE = re.compile(r"^X:", re.MULTILINE)
_FIELD = re.compile(r"^([A-Za-z]):(.*)$")


def decode_text(data: bytes, *, source: str = "input") -> str:
    """Decode ABC bytes as UTF-8, else Latin-1; refuse binary data."""
    if b"\x00" in data[:4096]:
        raise MusegenError(f"{source}: binary data, not an ABC text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    control = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if control > max(8, len(text[:8192]) // 100):
        raise MusegenError(f"{source}: binary data, not an ABC text file")
    return unix_newlines(text)


def read_abc_text(path: str | os.PathLike) -> str:
    """Read one ABC file as text (UTF-8 or Latin-1)."""
    path = input_file(path)
    return decode_text(path.read_bytes(), source=str(path))


def split_tunes(text: str) -> list[str]:
    """Split a tune book into tunes, each starting at its ``X:`` line.

    Text before the first ``X:`` (the file header) is dropped.  Each tune is
    returned with trailing blank lines stripped and one final newline.
    """
    starts = [m.start() for m in _X_LINE.finditer(text)]
    tunes = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(text)
        tune = text[s:e].strip("\n")
        tune = "\n".join(line.rstrip() for line in tune.split("\n")).strip("\n")
        if tune:
            tunes.append(tune + "\n")
    return tunes


def strip_comments(tune: str) -> str:
    """Drop ``%`` comments (whole lines and line ends) and blank lines.

    ``%%`` directives are dropped too; ``\\%`` (an escaped percent) is kept.
    """
    out = []
    for line in tune.split("\n"):
        cut = re.search(r"(?<!\\)%", line)
        if cut is not None:
            if not line[: cut.start()].strip():
                continue
            line = line[: cut.start()]
        line = line.rstrip()
        if line:
            out.append(line)
    return "\n".join(out) + "\n" if out else ""


def header_field(tune: str, key: str, default: str = "") -> str:
    """The first value of header field ``key`` (e.g. ``"T"``), stripped."""
    for line in tune.split("\n"):
        m = _FIELD.match(line)
        if m and m.group(1) == key:
            return m.group(2).strip()
    return default


def has_body(tune: str) -> bool:
    """True when the tune has a ``K:`` field followed by at least one note."""
    lines = tune.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("K:"):
            rest = "\n".join(lines[i + 1 :])
            return bool(re.search(r"[A-Ga-g]", re.sub(r"\"[^\"\n]*\"|^[A-Za-z]:.*$", "", rest, flags=re.M)))
    return False


def tune_title(tune: str, default: str = "untitled") -> str:
    """The tune's first ``T:`` title, or ``default``."""
    return header_field(tune, "T") or default


def sanitize_filename(name: str, *, default: str = "untitled", max_length: int = 80) -> str:
    """Turn a tune title into a safe file stem.

    Keeps letters, digits, ``-`` and ``_``; spaces become ``_``; no path
    separators, no leading dots, no reserved device names.

    >>> sanitize_filename("../The Irish Washerwoman: (reel)")
    'The_Irish_Washerwoman_reel'
    """
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[\s]+", "_", name.strip())
    name = re.sub(r"[^A-Za-z0-9_-]", "", name)
    name = re.sub(r"_+", "_", name).strip("._-")[:max_length].strip("._-")
    if not name or name.upper() in {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}:
        return default
    return name


def unique_stem(stem: str, taken: set[str]) -> str:
    """``stem``, or ``stem_2``, ``stem_3``... not yet in ``taken`` (which is updated)."""
    candidate, i = stem, 2
    while candidate.lower() in taken:
        candidate, i = f"{stem}_{i}", i + 1
    taken.add(candidate.lower())
    return candidate


def abc_files(path: str | os.PathLike) -> list[Path]:
    """The ABC files at ``path``: the file itself, or every ``*.abc`` in a folder.

    A folder is searched recursively, leaving out hidden files and folders
    and the ``*.part`` temporaries of an unfinished write.
    """
    return path_files(path, ABC_SUFFIXES, what=".abc files")


def read_tunes(path: str | os.PathLike, *, clean: bool = True) -> list[str]:
    """Every tune in an ABC file or folder, in file order.

    With ``clean`` comments are dropped; without, each tune is kept verbatim.
    Raises :class:`MusegenError` when no tune is found.
    """
    tunes = []
    for f in abc_files(path):
        for number, tune in enumerate(split_tunes(read_abc_text(f)), start=1):
            if len(tune) > MAX_TUNE_CHARS:
                raise MusegenError(f"{f}: tune {number} has {len(tune):,} characters, more than the "
                                   f"{MAX_TUNE_CHARS:,} a tune may have")
            if has_body(strip_comments(tune)):
                tunes.append(strip_comments(tune) if clean else tune)
    if not tunes:
        raise MusegenError(f"{path}: no ABC tunes found (a tune starts with an X: line and has a K: line and notes)")
    return tunes
