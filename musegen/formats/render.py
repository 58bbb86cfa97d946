"""Sheet music of a melody as SVG, PNG or PDF, drawn by an engraver in a subprocess.

musegen's own dependencies draw all three (verovio, resvg-py, svglib with
ReportLab: wheels, no system package); the system tools below are optional
fallbacks.  Each tool runs in a child process with a time limit, so a crash
or a hang in it (an engraver fed a broken score) never takes musegen down: a
missing or failing tool is reported as one :class:`MusegenError` line.

Engravers (:data:`RENDERERS`, the first available one that succeeds is used):

* ``verovio`` (a dependency): engraves the melody's MusicXML;
* ``abcm2ps`` (a program on PATH, ``apt-get install abcm2ps``): engraves the
  melody's ABC (:func:`~musegen.formats.melody.melody_to_abc`).

Both write SVG.  A PNG also needs an SVG rasteriser (:data:`RASTERISERS`):
``resvg-py`` (a dependency) or ``cairosvg`` (pip), or ``rsvg-convert`` on
PATH.  A PDF needs an SVG-to-PDF converter (:data:`PDF_WRITERS`): ``svglib``
(a dependency: pure Python over ReportLab, vector PDF, deterministic output)
or ``cairosvg``, or ``rsvg-convert``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from musegen.errors import MusegenError, UsageError
from musegen.fileio import check_writable, write_bytes
from musegen.fileio import output_errors
from musegen.formats.melody import Melody, melody_to_abc, melody_to_score

TIMEOUT_S = 120  # seconds one engraver or rasteriser may run
PNG_WIDTH = 1600  # pixels
SUFFIXES = (".svg", ".png", ".pdf")

_VEROVIO = """\
import sys
import verovio
try:
    verovio.enableLog(verovio.LOG_OFF)
except Exception:
    pass
tk = verovio.toolkit()
tk.setOptions({"pageWidth": 2100, "pageHeight": 60000, "adjustPageHeight": True, "scale": 40,
               "breaks": "auto", "footer": "none", "xmlIdSeed": 1})  # the same ids: the same file every time
if not tk.loadFile(sys.argv[1]):
    sys.exit("verovio could not read the MusicXML")
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write(tk.renderToSVG(1))
"""

# resvg lays out verovio's titles (text of font size 0 holding sized spans) at the wrong place
_RESVG = """\
import sys
import resvg_py
fonts = {"font_family": sys.argv[4], "serif_family": sys.argv[4]} if sys.argv[4] else {}
with open(sys.argv[1], encoding="utf-8") as f:
    svg = f.read().replace('<text font-size="0px">', "<text>")
png = resvg_py.svg_to_bytes(svg_string=svg, background="white", width=int(sys.argv[3]), **fonts)
with open(sys.argv[2], "wb") as f:
    f.write(bytes(png))
"""

_CAIROSVG = """\
import sys
import cairosvg
cairosvg.svg2png(url=sys.argv[1], write_to=sys.argv[2], background_color="white", output_width=int(sys.argv[3]))
"""

# vector PDF, one page the size of the drawing; invariant: no date or random id, the same file every time
_SVGLIB = """\
import logging
import sys
logging.disable(logging.WARNING)  # svglib logs every SVG attribute it does not use
from reportlab.graphics import renderPDF
from reportlab.pdfgen.canvas import Canvas
from svglib.svglib import svg2rlg
import re


def flat(match):  # verovio's titles: text of size 0 holding placed and sized spans; svglib places only <text>
    inner = match.group(1)
    place = re.search(r'<tspan[^>]*? x="([^"]+)" y="([^"]+)"(?: text-anchor="([^"]+)")?', inner)
    size = re.findall(r'font-size="([^"]+)"', inner)
    words = re.sub(r"<title[^>]*>.*?</title>|<[^>]+>", "", inner, flags=re.S)
    if not place or not size:
        return match.group(0)
    anchor = f' text-anchor="{place.group(3)}"' if place.group(3) else ""
    return (f'<text x="{place.group(1)}" y="{place.group(2)}"{anchor} font-size="{size[-1]}">'
            + " ".join(words.split()) + "</text>")


with open(sys.argv[1], encoding="utf-8") as f:
    svg = re.sub(r'<text font-size="0px">(.*?)</text>', flat, f.read(), flags=re.S)
with open(sys.argv[2] + ".svg", "w", encoding="utf-8") as f:
    f.write(svg)
drawing = svg2rlg(sys.argv[2] + ".svg")
if drawing is None:
    sys.exit("svglib could not read the SVG")
page = Canvas(sys.argv[2], pagesize=(drawing.width, drawing.height), invariant=1)
page.setCreator("musegen")
renderPDF.draw(drawing, page, 0, 0)
page.showPage()
page.save()
"""

_CAIROSVG_PDF = """\
import sys
import cairosvg
cairosvg.svg2pdf(url=sys.argv[1], write_to=sys.argv[2])
"""


@dataclass(frozen=True)
class Tool:
    """An optional external tool: how to tell it is there, how to install it, what it does.

    ``action`` is, for an engraver, ``(melody, temporary folder) -> SVG file``;
    for a rasteriser, ``(svg, png) -> command line``.
    """

    available: Callable[[], bool]
    install: str  # what to tell a user who has none
    action: Callable


def _module(name: str) -> Callable[[], bool]:
    return lambda: importlib.util.find_spec(name) is not None


def _program(name: str) -> Callable[[], bool]:
    return lambda: shutil.which(name) is not None


# --------------------------------------------------------------------------- engravers


def _verovio(melody: Melody, tmp: Path) -> Path:
    from musegen.formats.score import write_musicxml

    source, svg = tmp / "melody.musicxml", tmp / "melody.svg"
    write_musicxml(melody_to_score(melody), source)
    _run([sys.executable, "-c", _VEROVIO, str(source), str(svg)], "verovio")
    return svg


def _abcm2ps(melody: Melody, tmp: Path) -> Path:
    source = tmp / "melody.abc"
    source.write_text(melody_to_abc(melody), encoding="utf-8")
    _run(["abcm2ps", "-q", "-g", "-O", str(tmp / "page.svg"), str(source)], "abcm2ps")
    pages = sorted(tmp.glob("page*.svg"))
    if not pages:
        raise MusegenError("abcm2ps wrote no SVG")
    return pages[0]


# name -> engraver, in order of preference.  Add an entry here.
RENDERERS: dict[str, Tool] = {
    "verovio": Tool(_module("verovio"), "pip install verovio", _verovio),
    "abcm2ps": Tool(_program("abcm2ps"), "apt-get install abcm2ps", _abcm2ps),
}


# --------------------------------------------------------------------------- rasterisers


def _serif_font() -> str:
    """An installed serif font family for resvg, which does not read fontconfig's aliases ("" if unknown)."""
    if shutil.which("fc-match") is None:
        return ""
    try:
        out = subprocess.run(["fc-match", "-f", "%{family[0]}", "serif"], check=False, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


# name -> SVG-to-PNG rasteriser, in order of preference.  Add an entry here.
RASTERISERS: dict[str, Tool] = {
    "resvg": Tool(_module("resvg_py"), "pip install resvg-py",
                  lambda svg, png: [sys.executable, "-c", _RESVG, str(svg), str(png), str(PNG_WIDTH), _serif_font()]),
    "cairosvg": Tool(_module("cairosvg"), "pip install cairosvg",
                     lambda svg, png: [sys.executable, "-c", _CAIROSVG, str(svg), str(png), str(PNG_WIDTH)]),
    "rsvg-convert": Tool(_program("rsvg-convert"), "apt-get install librsvg2-bin",
                         lambda svg, png: ["rsvg-convert", "-b", "white", "-w", str(PNG_WIDTH), "-o", str(png),
                                           str(svg)]),
}


# name -> SVG-to-PDF converter, in order of preference.  Add an entry here.
PDF_WRITERS: dict[str, Tool] = {
    "svglib": Tool(_module("svglib"), "pip install svglib",
                   lambda svg, pdf: [sys.executable, "-c", _SVGLIB, str(svg), str(pdf)]),
    "cairosvg": Tool(_module("cairosvg"), "pip install cairosvg",
                     lambda svg, pdf: [sys.executable, "-c", _CAIROSVG_PDF, str(svg), str(pdf)]),
    "rsvg-convert": Tool(_program("rsvg-convert"), "apt-get install librsvg2-bin",
                         lambda svg, pdf: ["rsvg-convert", "-f", "pdf", "-o", str(pdf), str(svg)]),
}

# output suffix -> (what converts the engraver's SVG, the tools), looked up when used (tests replace the tables)
CONVERSIONS: dict[str, Callable[[], tuple[str, dict[str, Tool]]]] = {
    ".png": lambda: ("SVG rasteriser (needed for PNG; .svg works without one)", RASTERISERS),
    ".pdf": lambda: ("SVG-to-PDF converter (needed for PDF; .svg works without one)", PDF_WRITERS),
}


# --------------------------------------------------------------------------- running


def _run(command: list[str], what: str) -> None:
    """Run one tool; its failure, hang or absence becomes one MusegenError line."""
    try:
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise MusegenError(f"{what} ran longer than {TIMEOUT_S} s: stopped") from None
    except OSError as exc:
        raise MusegenError(f"{what} could not start ({exc.strerror or exc})") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
        reason = lines[-1][:200] if lines else f"exit status {done.returncode}"
        raise MusegenError(f"{what} failed: {reason}")


def _available(tools: dict[str, Tool]) -> list[str]:
    return [name for name, tool in tools.items() if tool.available()]


def renderers() -> list[str]:
    """The engravers available here, in order of preference (``"verovio"``, ``"abcm2ps"``)."""
    return _available(RENDERERS)


def rasterisers() -> list[str]:
    """The SVG-to-PNG rasterisers available here, in order of preference."""
    return _available(RASTERISERS)


def pdf_writers() -> list[str]:
    """The SVG-to-PDF converters available here, in order of preference."""
    return _available(PDF_WRITERS)


def _missing(kind: str, tools: dict[str, Tool]) -> str:
    return f"no {kind} is installed: " + ", or ".join(tool.install for tool in tools.values())


def render_unavailable(path: str | os.PathLike, *, renderer: str | None = None) -> str | None:
    """Why ``path`` (``.svg``, ``.png`` or ``.pdf``) cannot be drawn here, or None when it can.

    Raises
    ------
    UsageError
        For another suffix or an unknown renderer name.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{path}: sheet music is written as {' or '.join(SUFFIXES)}, not {suffix or '(no suffix)'!r}")
    if renderer is not None and renderer not in RENDERERS:
        raise UsageError(f"unknown renderer {renderer!r}; renderers: {', '.join(RENDERERS)}")
    if renderer is not None and not RENDERERS[renderer].available():
        return f"the renderer {renderer} is not installed: {RENDERERS[renderer].install}"
    if not renderers():
        return _missing("sheet music renderer", RENDERERS)
    if suffix in CONVERSIONS:
        kind, tools = CONVERSIONS[suffix]()
        if not _available(tools):
            return _missing(kind, tools)
    return None


def render_melody(melody: Melody, path: str | os.PathLike, *, renderer: str | None = None,
                  force: bool = False) -> Path:
    """Draw a melody as sheet music, SVG, PNG or PDF by the suffix of ``path``, atomically.

    Parameters
    ----------
    melody : Melody
    path : path-like
        ``.svg``, ``.png`` or ``.pdf``.
    renderer : str, optional
        A key of :data:`RENDERERS`; by default each available one is tried in
        turn until one succeeds.
    force : bool
        Replace an existing file.

    Raises
    ------
    MusegenError
        One line: no renderer (or converter) installed, or every one failed.
    """
    path = Path(path)
    reason = render_unavailable(path, renderer=renderer)
    if reason is not None:
        raise MusegenError(f"{path}: cannot draw sheet music: {reason}")
    check_writable(path, force=force)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="musegen-render-") as tmp:
        svg = None
        for name in [renderer] if renderer else renderers():
            try:
                svg = RENDERERS[name].action(melody, Path(tmp))
                break
            except MusegenError as exc:
                failures.append(str(exc))
        if svg is None:
            raise MusegenError(f"{path}: cannot draw sheet music: " + "; ".join(failures))
        out = svg
        if path.suffix.lower() in CONVERSIONS:
            tools = CONVERSIONS[path.suffix.lower()]()[1]
            out = Path(tmp) / ("melody" + path.suffix.lower())
            for name in _available(tools):
                try:
                    _run(tools[name].action(svg, out), name)
                    break
                except MusegenError as exc:
                    failures.append(str(exc))
            else:
                raise MusegenError(f"{path}: cannot draw sheet music: " + "; ".join(failures))
        with output_errors(path):
            write_bytes(path, out.read_bytes(), force=force)
    return path
