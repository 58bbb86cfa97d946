"""Sheet music with the default install: ABC and MusicXML to SVG, PNG and PDF; broken ABC still engraves;
a crashing engraver is one line; scores are heard (MusicXML to WAV)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import soundfile as sf

from helpers import assert_refused, run
from musegen.errors import MusegenError
from musegen.formats import ConvertOptions, convert, render

JIGS = Path(__file__).resolve().parents[1] / "corpora" / "jigs" / "jigs.abc"  # Nottingham jigs
STUDY = Path(__file__).parent / "data" / "study_tune.abc"  # stray characters, unreadable bars
BROKEN = 'X:1\nT:Broken\nM:6/8\nL:1/8\nK:G\n"G"GAB "D7"c2d|"Gx(#@"e3 d2B|[[|z^^^3/-x|GAB c3|B3 G3|]\n'

needs_engraver = pytest.mark.skipif(not (render.renderers() and render.rasterisers() and render.pdf_writers()),
                                    reason="verovio, resvg-py and svglib are dependencies: reinstall musegen")


def check_sheet(path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".svg":
        text = data.decode("utf-8")
        assert text.lstrip().startswith("<svg") and text.count('class="note"') >= 4
    elif path.suffix == ".png":
        from PIL import Image

        with Image.open(path) as image:
            image.load()
            assert image.size[0] == render.PNG_WIDTH and image.size[1] > 100
            assert min(image.convert("L").getdata()) < 64  # ink on the page
    else:
        assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", data)) == 1
        assert data.rstrip().endswith(b"%%EOF") and len(data) > 2000


def test_the_default_install_draws_sheet_music():
    assert render.renderers()[0] == "verovio" and "resvg" in render.rasterisers() and "svglib" in render.pdf_writers()


@needs_engraver
@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf"])
def test_a_nottingham_jig_converts_to_sheet_music(suffix, tmp_path):
    out = tmp_path / f"jig{suffix}"
    r = run("convert", JIGS, out)
    assert r.exit_code == 0, r.output
    check_sheet(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


@needs_engraver
def test_musicxml_converts_to_svg_png_pdf_and_wav(tmp_path):
    xml = tmp_path / "jig.musicxml"
    convert(JIGS, xml)
    for suffix in (".svg", ".png", ".pdf"):
        convert(xml, tmp_path / f"jig{suffix}")
        check_sheet(tmp_path / f"jig{suffix}")
    convert(xml, tmp_path / "jig.wav", options=ConvertOptions(synth="builtin", sample_rate=8000))
    samples, rate = sf.read(tmp_path / "jig.wav")
    assert rate == 8000 and len(samples) > 8000 * 5 and abs(samples).max() > 0.05


@needs_engraver
def test_broken_abc_still_engraves_what_can_be_read(tmp_path):
    for text, name in ((BROKEN, "broken"), (STUDY.read_text(encoding="utf-8"), "study")):
        src = tmp_path / f"{name}.abc"
        src.write_text(text, encoding="utf-8")
        convert(src, tmp_path / f"{name}.svg")
        check_sheet(tmp_path / f"{name}.svg")
    from musegen.formats import abc_sheet_melody  # what sample engraves: the tune as generated and repaired

    melody, notes = abc_sheet_melody(STUDY.read_text(encoding="utf-8"))  # music21 cannot read it as it is
    assert len(melody.measures) > 50 and notes[0].startswith("engraved after repairs")
    assert "dropped an unreadable bar" in notes[0]


@needs_engraver
def test_the_same_conversion_writes_the_same_bytes(tmp_path):
    for suffix in (".svg", ".pdf"):
        convert(JIGS, tmp_path / f"a{suffix}")
        convert(JIGS, tmp_path / f"b{suffix}")
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()


_CRASH = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


def _crashing_engraver(melody, tmp):
    render._run([sys.executable, "-c", _CRASH], "crasher")
    raise AssertionError("not reached")


def test_a_crashing_engraver_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "RENDERERS", {"crasher": render.Tool(lambda: True, "", _crashing_engraver)})
    src = tmp_path / "tune.abc"
    src.write_text(BROKEN)
    with pytest.raises(MusegenError, match="crasher failed"):
        convert(src, tmp_path / "tune.pdf")
    assert_refused(run("convert", src, tmp_path / "tune.svg"), contains="crasher failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.abc"]


def test_pdf_without_a_converter_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "PDF_WRITERS", {})
    src = tmp_path / "tune.abc"
    src.write_text(BROKEN)
    assert_refused(run("convert", src, tmp_path / "tune.pdf"), contains="SVG-to-PDF converter")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.abc"]


@needs_engraver
def test_sample_writes_sheet_music_and_wav(tmp_path):
    r = run("sample", "abc", "--num", "1", "--format", "abc,svg,pdf", "--out", tmp_path / "abc")
    assert r.exit_code == 0, r.output
    names = sorted(p.suffix for p in (tmp_path / "abc").iterdir())
    assert names == [".abc", ".pdf", ".svg"]
    for path in (tmp_path / "abc").iterdir():
        if path.suffix != ".abc":
            check_sheet(path)
    r = run("sample", "score", "--num", "1", "--format", "musicxml,png,wav", "--out", tmp_path / "score")
    assert r.exit_code == 0, r.output
    files = {p.suffix: p for p in (tmp_path / "score").iterdir()}
    assert sorted(files) == [".musicxml", ".png", ".wav"]
    check_sheet(files[".png"])
    assert len(sf.read(files[".wav"])[0]) > 1000
