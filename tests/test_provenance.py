"""Provenance: written into every format musegen writes, read back exactly, and shown by `musegen info FILE`.

Each format's file is made by musegen's own writers (the ones `sample`
uses), with a provenance full of awkward text; it must read back equal, the
file must still read with a public library, and the same call must write the
same bytes.
"""

from __future__ import annotations

import json
import struct
import zlib

import mido
import numpy as np
import pytest
import soundfile as sf

from helpers import assert_refused, run
from musegen.errors import MusegenError
from musegen.formats import MELODY_WRITERS, ROLL_WRITERS, ConvertOptions, write_tune
from musegen.formats.provenance import FORMATS, embed, escape, read_provenance, unescape

TUNE = "X:1\nT:Proof Jig\nM:6/8\nL:1/8\nK:G\n\"G\"GAB \"D7\"c2d|\"G\"e3 d2B|GAB c3|B3 G3|]\n"
MADE = {
    "musegen": "0.1.0",
    "model": "/models/abc jigs/ü & <b>",
    "representation": "abc",
    "engine": "numpy",
    "seed": "42",
    "temperature": "0.8",
    "primer": "X:1\nT:Pri%mer \\ \"quoted\"\r\n\tK:G",
    "piece": "1 of 3",
    "command": "musegen sample abc --primer 'X:1' --out 'a b' \udcff",
}
FAST = dict(synth="builtin", sample_rate=8000)  # WAV in a blink


def _options(**extra) -> ConvertOptions:
    return ConvertOptions(provenance=dict(MADE), **{**FAST, **extra})


def test_escape_round_trips_any_text():
    for text in ["", "plain", "a\nb\r\\n", "%comment", "\x00\x1f\x7f", "ü € 𝄞", "\udcff\ud800", MADE["primer"]]:
        assert "\n" not in escape(text) and "%" not in escape(text)
        assert unescape(escape(text)) == text


@pytest.fixture(scope="module")
def tune_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    formats = ("abc", "mid", "wav", "musicxml", "npz")
    return write_tune(TUNE, folder / "proof", formats=formats, options=ConvertOptions(**FAST), provenance=MADE)


def test_every_tune_format_holds_the_provenance(tune_files):
    for path in tune_files:
        assert read_provenance(path) == MADE, path.name
    abc, mid, wav, xml, npz = tune_files
    text = abc.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[:2] == ["X:1", "T:Proof Jig"] and "N:musegen-seed: 42" in lines
    assert lines.index("N:musegen-seed: 42") < lines.index("K:G")  # in the header
    # still readable by everything else, the notes untouched
    assert text.replace("".join(f"{line}\n" for line in lines if line.startswith("N:musegen-")), "") == TUNE
    texts = [m.text for m in mido.MidiFile(mid, charset="utf-8").tracks[0] if m.type == "text"]
    assert "musegen-seed: 42" in texts
    samples, rate = sf.read(wav)
    assert rate == 8000 and len(samples) > 8000
    raw = wav.read_bytes()
    assert b"LIST" in raw and b"ISFT" in raw and b"musegen 0.1.0" in raw
    assert struct.unpack("<I", raw[4:8])[0] == len(raw) - 8
    import music21

    score = music21.converter.parse(xml)
    assert score.metadata.bestTitle == "Proof Jig"
    xml_text = xml.read_text(encoding="utf-8")
    assert "<software>musegen 0.1.0</software>" in xml_text and 'name="musegen-seed">42<' in xml_text
    with np.load(npz, allow_pickle=False) as data:
        assert str(data["kind"]) == "pianoroll" and data["provenance"].dtype.kind == "U"


def test_sheet_music_holds_the_provenance(tmp_path):
    from musegen.formats.render import renderers

    if not renderers():
        pytest.skip("no engraver (verovio is a dependency: reinstall musegen)")
    paths = write_tune(TUNE, tmp_path / "sheet", formats=("svg", "png", "pdf"), provenance=MADE)
    for path in paths:
        assert read_provenance(path) == MADE, path.name
    svg, png, pdf = paths
    assert svg.read_text(encoding="utf-8").count('<metadata id="musegen-provenance">') == 1
    from PIL import Image

    with Image.open(png) as image:
        image.load()
        assert image.size[0] > 500 and image.text["musegen-seed"] == "42"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF") and b"/Prev " in data


def test_roll_and_melody_and_audio_writers_hold_the_provenance(tmp_path):
    from musegen.formats.melody import abc_to_melody
    from musegen.formats.pianoroll import read_roll, song_to_roll
    from musegen.formats.abc.player import abc_to_song

    song, _ = abc_to_song(TUNE)
    roll = song_to_roll(song)
    for fmt in ("npz", "mid", "png", "wav"):
        path = tmp_path / f"roll.{fmt}"
        ROLL_WRITERS[fmt](roll, path, _options())
        assert read_provenance(path) == MADE, fmt
    assert read_roll(tmp_path / "roll.npz").velocity.shape == roll.velocity.shape
    melody = abc_to_melody(TUNE)
    for fmt in ("abc", "mid", "musicxml", "wav"):
        path = tmp_path / f"melody.{fmt}"
        MELODY_WRITERS[fmt](melody, path, _options())
        assert read_provenance(path) == MADE, fmt


def test_audio_representation_writers_hold_the_provenance(tmp_path):
    from musegen.representations.audio import AUDIO_WRITERS

    class Rep:
        sample_rate, frame_seconds, overlap = 8000, 0.25, False

    audio = (0.3 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000)).astype(np.float32)
    for fmt, writer in AUDIO_WRITERS.items():
        path = tmp_path / f"clip.{fmt}"
        writer(Rep(), audio, path, _options())
        assert read_provenance(path) == MADE, fmt
    assert len(sf.read(tmp_path / "clip.wav")[0]) == 8000


def test_the_same_call_writes_the_same_bytes(tmp_path, monkeypatch):
    import time

    formats = ("abc", "mid", "wav", "npz", "musicxml")
    first = write_tune(TUNE, tmp_path / "a", formats=formats, options=ConvertOptions(**FAST), provenance=MADE)
    later = time.time() + 3 * 86400  # three days on: zips and MusicXML note the time they were written
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "localtime", lambda t=None: __import__("time").gmtime(later))
    second = write_tune(TUNE, tmp_path / "b", formats=formats, options=ConvertOptions(**FAST), provenance=MADE)
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_plain_conversions_write_no_provenance(tmp_path):
    paths = write_tune(TUNE, tmp_path / "plain", formats=("abc", "mid", "wav"), options=ConvertOptions(**FAST))
    assert paths[0].read_text(encoding="utf-8") == TUNE
    for path in paths:
        assert read_provenance(path) == {}


def test_an_existing_file_is_kept_and_nothing_is_left_behind(tmp_path):
    (tmp_path / "x.abc").write_text("kept")
    with pytest.raises(MusegenError, match="already exists"):
        write_tune(TUNE, tmp_path / "x", formats=("abc",), provenance=MADE)
    assert (tmp_path / "x.abc").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.abc"]
    write_tune(TUNE, tmp_path / "x", formats=("abc",), provenance=MADE, force=True)
    assert read_provenance(tmp_path / "x.abc") == MADE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.abc"]


def test_a_failed_write_names_the_output_not_its_temporary(tmp_path):
    with pytest.raises(MusegenError) as caught:  # a tune with no notes has no MIDI
        write_tune("X:1\nT:Empty\nK:C\n", tmp_path / "empty", formats=("mid",), provenance=MADE)
    assert ".part" not in str(caught.value) and "no notes" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_restamping_replaces_the_old_provenance(tmp_path):
    png = tmp_path / "p.png"
    body = zlib.compress(b"\x00\xff")
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))  # noqa: E731
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
                    + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    svg = tmp_path / "p.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>')
    for path in (png, svg):
        embed(path, {"seed": "1"})
        embed(path, MADE)
        assert read_provenance(path) == MADE
    from PIL import Image

    with Image.open(png) as image:
        image.load()  # CRCs right


def test_unknown_suffixes_are_refused_in_one_line(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(MusegenError, match="no provenance"):
        read_provenance(other)
    assert set(FORMATS) >= {".abc", ".mid", ".musicxml", ".wav", ".png", ".svg", ".pdf", ".npz"}


def test_info_prints_a_files_provenance(tune_files):
    r = run("info", tune_files[1], "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"file": str(tune_files[1]), "provenance": MADE}
    r = run("info", tune_files[0])
    assert r.exit_code == 0, r.output
    assert "seed: 42" in r.stdout and "representation: abc" in r.stdout


def test_info_on_a_file_without_provenance_is_one_line(tmp_path):
    plain = tmp_path / "plain.abc"
    plain.write_text(TUNE)
    assert_refused(run("info", plain), contains="no provenance")
    other = tmp_path / "notes.txt"
    other.write_text("x")
    assert_refused(run("info", other), contains="no provenance")


def test_pdf_provenance_is_an_incremental_update(tmp_path):
    from reportlab.pdfgen.canvas import Canvas

    pdf = tmp_path / "page.pdf"
    page = Canvas(str(pdf), pagesize=(100, 100), invariant=1)
    page.drawString(10, 10, "hi")
    page.showPage()
    page.save()
    before = pdf.read_bytes()
    embed(pdf, MADE)
    after = pdf.read_bytes()
    assert after.startswith(before) and after.count(b"startxref") == 2
    assert read_provenance(pdf) == MADE
