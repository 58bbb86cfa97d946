"""The gallery: one self-contained HTML page that shows and plays every piece of a folder.

``DIR/index.html`` lists each piece (the files of DIR sharing a stem, such
as ``Spallan_Jig.abc``, ``.mid``, ``.svg``, ``.wav``): its title; one
picture (sheet music for ABC tunes and scores, the piano roll of a MIDI
piece, the spectrogram of an audio clip); an ``<audio>`` player for its WAV;
its ABC text; a link to download each file; and how it was made (the
provenance written into its files, :mod:`musegen.formats.provenance`).
Links are relative and the page has no script, font or style from anywhere
else, so it works from ``file://`` and offline.

With ``fill``, the missing picture and WAV of each piece are made first from
its ABC, MusicXML or MIDI (through :data:`musegen.formats.CONVERTERS`).
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from musegen import __version__
from musegen.errors import MusegenError
from musegen.fileio import TEMPORARY, write_text

INDEX = "index.html"
GENERATOR = "musegen gallery"  # the page's <meta name="generator">: an index.html musegen may replace
# suffixes a piece is made of, in the order their download links are listed
SUFFIXES = (".abc", ".musicxml", ".xml", ".mid", ".midi", ".wav", ".svg", ".png", ".pdf", ".npz")
SHEET_SOURCES = (".abc", ".musicxml", ".xml")  # a piece with one of these is drawn as sheet music
MAX_ABC_CHARS = 20_000  # ABC text shown on the page, at most (the file is linked)


# the representation a piece's provenance names -> what the page calls it; a piece without one is named by its files
KINDS = {"abc": "ABC tune", "score": "score", "midi": "MIDI", "audio": "audio"}
PICTURE_KINDS = {"ABC tune": "sheet music", "score": "sheet music", "MIDI": "piano roll", "audio": "spectrogram"}


@dataclass
class Piece:
    stem: str
    files: dict[str, Path] = field(default_factory=dict)  # suffix -> file

    @property
    def kind(self) -> str:
        if ".abc" in self.files:
            return "ABC tune"
        if ".musicxml" in self.files or ".xml" in self.files:
            return "score"
        if ".mid" in self.files or ".midi" in self.files:
            return "MIDI"
        return "audio" if ".wav" in self.files else "file"

    @property
    def picture(self) -> Path | None:
        for suffix in (".svg", ".png"):
            if suffix in self.files:
                return self.files[suffix]
        return None


def pieces(folder: str | os.PathLike) -> list[Piece]:
    """The pieces of ``folder`` (not its subfolders), sorted by stem: its files grouped by stem.

    Hidden files, ``*.part`` temporaries and the gallery's own page are left out.
    """
    folder = Path(folder)
    found: dict[str, Piece] = {}
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.startswith(".") or TEMPORARY.search(name) or not path.is_file():
            continue
        suffix = path.suffix.lower()
        if suffix in SUFFIXES:
            found.setdefault(path.stem, Piece(path.stem)).files[suffix] = path
    return [found[stem] for stem in sorted(found)]


# what a missing picture or WAV is made from: (wanted suffix, sources in order of preference)
FILLS = {
    ".svg": SHEET_SOURCES,
    ".png": (".mid", ".midi", ".wav"),  # a piano roll, a spectrogram
    ".wav": (".abc", ".musicxml", ".xml", ".mid", ".midi"),
}


def fill(piece: Piece) -> list[str]:
    """Make the piece's missing picture and WAV from its sources; one note per file that could not be made."""
    from musegen.formats import ConvertOptions, convert

    notes = []
    wanted = [".wav"] + ([".svg"] if any(s in piece.files for s in SHEET_SOURCES) else [".png"])
    for suffix in wanted:
        if suffix in piece.files or (suffix != ".wav" and piece.picture is not None):
            continue
        source = next((piece.files[s] for s in FILLS[suffix] if s in piece.files), None)
        if source is None:
            continue
        target = source.with_suffix(suffix)
        try:
            convert(source, target, options=ConvertOptions())
            piece.files[suffix] = target
        except MusegenError as exc:
            notes.append(str(exc))
    return notes


# --------------------------------------------------------------------------- reading a piece


def _abc_text(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(MAX_ABC_CHARS + 1)
    return text if len(text) <= MAX_ABC_CHARS else text[:MAX_ABC_CHARS] + "\n% ... (cut: see the file)"


def _title(piece: Piece) -> str:
    """The title written in the piece (ABC ``T:``, MusicXML work or movement title), else its stem."""
    if ".abc" in piece.files:
        match = re.search(r"^T:[ \t]*(.+)$", _abc_text(piece.files[".abc"]), re.M)
        if match and match.group(1).strip():
            return match.group(1).strip()
    for suffix in (".musicxml", ".xml"):
        if suffix in piece.files:
            with open(piece.files[suffix], encoding="utf-8", errors="replace") as f:
                head = f.read(20_000)
            match = re.search(r"<(?:work-title|movement-title)>([^<]+)</", head)
            if match and match.group(1).strip():
                return html.unescape(match.group(1).strip())
    return piece.stem.replace("_", " ")


def _provenance(piece: Piece) -> dict[str, str]:
    from musegen.formats.provenance import FORMATS, read_provenance

    for path in piece.files.values():
        if path.suffix.lower() in FORMATS:
            try:
                found = read_provenance(path)
            except MusegenError:
                continue
            if found:
                return found
    return {}


# --------------------------------------------------------------------------- the page


def _href(path: Path) -> str:
    return quote(path.name)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }
header p { color: #555; }
article { border: 1px solid #ddd; border-radius: 8px; padding: 1rem 1.5rem; margin: 1.5rem 0; }
article h2 { margin: 0 0 .25rem; }
.kind { color: #666; font-size: .9rem; margin: 0 0 .75rem; }
figure { margin: 0 0 .75rem; }
figure img { max-width: 100%; max-height: 24rem; height: auto; background: white; border: 1px solid #eee; }
audio { width: 100%; margin: .25rem 0 .75rem; }
pre { background: #f6f6f6; padding: .75rem; overflow-x: auto; font-size: .85rem; }
.files a { margin-right: .75rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; font-size: .85rem; }
dt { color: #666; } dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
"""


def _piece_html(piece: Piece) -> str:
    title = _title(piece)
    made = _provenance(piece)
    kind = KINDS.get(made.get("representation", ""), piece.kind)  # a score written with its ABC is a score
    parts = [f'<article id="{_esc(quote(piece.stem))}">', f"<h2>{_esc(title)}</h2>",
             f'<p class="kind">{_esc(kind)}</p>']
    picture = piece.picture
    if picture is not None:
        alt = f"{PICTURE_KINDS.get(kind, 'picture')} of {title}"
        parts.append(f'<figure><img src="{_href(picture)}" alt="{_esc(alt)}"></figure>')
    if ".wav" in piece.files:
        parts.append(f'<audio controls preload="none" src="{_href(piece.files[".wav"])}"></audio>')
    if ".abc" in piece.files:
        parts.append(f'<details><summary>ABC</summary><pre>{_esc(_abc_text(piece.files[".abc"]))}</pre></details>')
    links = " ".join(f'<a href="{_href(path)}" download>{_esc(path.name)}</a>'
                     for suffix in SUFFIXES if (path := piece.files.get(suffix)) is not None)
    parts.append(f'<p class="files">Download: {links}</p>')
    if made:
        rows = "".join(f"<dt>{_esc(key)}</dt><dd>{_esc(value)}</dd>" for key, value in made.items())
        parts.append(f"<details><summary>How it was made</summary><dl>{rows}</dl></details>")
    else:
        parts.append('<p class="kind">How it was made: not recorded in its files (not written by musegen sample)</p>')
    parts.append("</article>")
    return "\n".join(parts)


def gallery_html(folder: str | os.PathLike, found: list[Piece]) -> str:
    """The page of ``found``, the pieces of ``folder``."""
    name = Path(folder).resolve().name or str(folder)
    count = f"{len(found)} piece{'s' if len(found) != 1 else ''}"
    body = "\n".join(_piece_html(piece) for piece in found)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR} {_esc(__version__)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(name)}: musegen gallery</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>{_esc(name)}</h1><p>{count}, generated by musegen. Each piece: its picture, a player, its files and
how it was made.</p></header>
<main>
{body}
</main>
</body>
</html>
"""


def _ours(path: Path) -> bool:
    """Whether ``path`` is a page this module wrote (and may replace without force)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f'<meta name="generator" content="{GENERATOR}' in f.read(2000)
    except OSError:
        return False


def check_index(folder: str | os.PathLike, *, force: bool = False) -> None:
    """Refuse, before anything is made, an ``index.html`` in ``folder`` that musegen did not write (unless force)."""
    index = Path(folder) / INDEX
    if os.path.lexists(index) and not force and not (index.is_file() and not index.is_symlink() and _ours(index)):
        raise MusegenError(f"{index} already exists and is not a musegen gallery (use --force to overwrite)")


def build_gallery(folder: str | os.PathLike, *, force: bool = False, fill_missing: bool = False
                  ) -> tuple[Path, list[Piece], list[str]]:
    """Write ``folder/index.html``; return its path, the pieces shown and notes (files ``fill`` could not make).

    A page this module wrote is replaced; any other ``index.html`` only with ``force``.

    Raises
    ------
    MusegenError
        One line: not a folder, no pieces in it, an ``index.html`` not ours
        (without ``force``), or the write failed.
    """
    from musegen.fileio import output_errors

    folder = Path(folder)
    if not folder.is_dir():
        raise MusegenError(f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder")
    found = pieces(folder)
    if not found:
        raise MusegenError(f"{folder}: no pieces in this folder (files ending {', '.join(SUFFIXES)})")
    check_index(folder, force=force)
    notes = [note for piece in found for note in fill(piece)] if fill_missing else []
    index = folder / INDEX
    replace = force or os.path.lexists(index)  # ours (checked above), or --force
    with output_errors(index):
        write_text(index, gallery_html(folder, found), force=replace)
    return index, found, notes
