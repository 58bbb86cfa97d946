"""Sheet music of a melody as SVG or PNG, drawn by an optional engraver in a subprocess.

Nothing here is needed at install time.  Each tool runs in a child process
with a time limit, so a crash or a hang in it never takes musegen down: a
missing or failing tool is reported as one :class:`MusegenError` line.

Engravers (:data:`RENDERERS`, the first available one is used):

* ``verovio`` (``pip install verovio``): engraves the melody's MusicXML;
* ``abcm2ps`` (a program on PATH, ``apt-get install abcm2ps``): engraves the
  melody's ABC (:func:`~musegen.formats.melody.melody_to_abc`).

Both write SVG.  A PNG also needs an SVG rasteriser (:data:`RASTERISERS`):
``resvg-py`` or ``cairosvg`` (pip), or ``rsvg-convert`` on PATH.
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
SUFFIXES = (".svg", ".png")

_VEROVIO = """\
import sys
import verovio
try:
    verovio.enableLog(verovio.LOG_OFF)
except Exception:
    pass
tk = verovio.toolkit()
tk.setOptions({"pageWidth": 2100, "pageHeight": 60000, "adjustPageHeight": True, "scale": 40,
               "breaks": "auto", "footer": "none"})
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


def _missing(kind: str, tools: dict[str, Tool]) -> str:
    return f"no {kind} is installed: " + ", or ".join(tool.install for tool in tools.values())


def render_unavailable(path: str | os.PathLike, *, renderer: str | None = None) -> str | None:
    """Why ``path`` (``.svg`` or ``.png``) cannot be drawn here, or None when it can.

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
    if suffix == ".png" and not rasterisers():
        return _missing("SVG rasteriser (needed for PNG; .svg works without one)", RASTERISERS)
    return None


def render_melody(melody: Melody, path: str | os.PathLike, *, renderer: str | None = None,
                  force: bool = False) -> Path:
    """Draw a melody as sheet music, SVG or PNG by the suffix of ``path``, atomically.

    Parameters
    ----------
    melody : Melody
    path : path-like
        ``.svg`` or ``.png``.
    renderer : str, optional
        A key of :data:`RENDERERS`; by default each available one is tried in
        turn until one succeeds.
    force : bool
        Replace an existing file.

    Raises
    ------
    MusegenError
        One line: no renderer (or rasteriser) installed, or every one failed.
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
        if path.suffix.lower() == ".png":
            out = Path(tmp) / "melody.png"
            for name in rasterisers():
                try:
                    _run(RASTERISERS[name].action(svg, out), name)
                    break
                except MusegenError as exc:
                    failures.append(str(exc))
            else:
                raise MusegenError(f"{path}: cannot draw sheet music: " + "; ".join(failures))
        with output_errors(path):
            write_bytes(path, out.read_bytes(), force=force)
    return path
