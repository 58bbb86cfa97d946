"""musegen convert between MusicXML, ABC, MIDI and sheet music (SVG, PNG), through the real CLI."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from fractions import Fraction

import pytest

from helpers import assert_refused, run
from musegen.formats import render
from musegen.formats.bundled import BUNDLED, bundled_midi, bundled_names, bundled_sources
from musegen.formats.melody import Event, Measure, Melody, read_melodies, read_musicxml_melody

F = Fraction
G_MAJOR = (1, "major")
# the melody the scores below hold: 3/4 in G, a tie over the second bar line, a rest at the end
EXPECTED = Melody([
    Measure([Event(67, F(1)), Event(69, F(1, 2)), Event(71, F(1, 2)), Event(74, F(1))], 3, 4, *G_MAJOR),
    Measure([Event(72, F(3, 2)), Event(71, F(1, 2)), Event(69, F(1), tie=True)], 3, 4, *G_MAJOR),
    Measure([Event(69, F(1)), Event(67, F(1)), Event(None, F(1))], 3, 4, *G_MAJOR),
], title="Little Tune")


def _part(name: str, notes: list[list[tuple[str | None, float, str | None]]]):
    """A music21 part in 3/4, G major: one list of (pitch or None, quarter length, tie type) per measure."""
    from music21 import key, meter, note, stream, tie

    part = stream.Part()
    part.partName = name
    for number, bar in enumerate(notes, start=1):
        m = stream.Measure(number=number)
        if number == 1:
            m.append(meter.TimeSignature("3/4"))
            m.append(key.Key("G"))
        for pitch, length, tied in bar:
            n = note.Rest(quarterLength=length) if pitch is None else note.Note(pitch, quarterLength=length)
            if tied:
                n.tie = tie.Tie(tied)
            m.append(n)
        part.append(m)
    return part


MELODY_PART = [
    [("G4", 1, None), ("A4", 0.5, None), ("B4", 0.5, None), ("D5", 1, None)],
    [("C5", 1.5, None), ("B4", 0.5, None), ("A4", 1, "start")],
    [("A4", 1, "stop"), ("G4", 1, None), (None, 1, None)],
]
BASS_PART = [[("G2", 3, None)], [("C3", 3, None)], [("D3", 2, None), ("G2", 1, None)]]


def _write_score(path, *parts):
    from music21 import metadata, stream

    from musegen.formats.score import write_musicxml

    score = stream.Score()
    score.insert(0, metadata.Metadata(title="Little Tune"))
    for p in parts:
        score.insert(0, p)
    write_musicxml(score, path)
    return path


@pytest.fixture
def tune(tmp_path):
    return _write_score(tmp_path / "tune.musicxml", _part("Melody", MELODY_PART))


@pytest.fixture
def duet(tmp_path):
    return _write_score(tmp_path / "duet.musicxml", _part("Soprano", MELODY_PART), _part("Bass", BASS_PART))


def _ok(*args):
    r = run(*args)
    assert r.exit_code == 0, r.output
    return r


def _only(path) -> Melody:
    melodies = read_melodies(path)
    assert len(melodies) == 1 and not melodies.skipped, melodies.skipped
    return melodies[0]


def test_musicxml_to_abc_and_back_is_the_same_melody(tune, tmp_path):
    assert read_musicxml_melody(tune) == EXPECTED
    abc = tmp_path / "tune.abc"
    _ok("convert", tune, abc)
    text = abc.read_text()
    assert "T:Little Tune" in text and "M:3/4" in text and "K:G" in text
    assert _only(abc) == EXPECTED
    again = tmp_path / "again.musicxml"
    _ok("convert", abc, again)
    assert read_musicxml_melody(again) == EXPECTED


def test_several_parts_convert_the_melody_with_a_note(duet, tmp_path):
    abc = tmp_path / "duet.abc"
    r = _ok("convert", duet, abc, "--json")
    report = json.loads(r.stdout)["report"]
    assert len(report) == 1 and "2 parts" in report[0] and "'Soprano'" in report[0]
    assert _only(abc) == EXPECTED
    r = _ok("convert", duet, tmp_path / "duet.mid")
    assert "note: duet.musicxml has 2 parts" in r.stderr


def test_musicxml_to_midi_and_back_keeps_pitches_and_durations(tune, duet, tmp_path):
    for source in (tune, duet):
        mid, back = tmp_path / f"{source.stem}.mid", tmp_path / f"{source.stem}-back.musicxml"
        _ok("convert", source, mid)
        _ok("convert", mid, back)
        melody = read_musicxml_melody(back)
        assert [m.events for m in melody.measures] == [m.events for m in EXPECTED.measures]
        assert [(m.meter, m.key) for m in melody.measures] == [((3, 4), G_MAJOR)] * 3


def test_midi_to_musicxml_is_quantised(tmp_path):
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    # C4 a quarter note played a little late and short, then E4 for a half note
    for msg in (mido.Message("note_on", note=60, velocity=80, time=7),
                mido.Message("note_off", note=60, velocity=0, time=465),
                mido.Message("note_on", note=64, velocity=80, time=8),
                mido.Message("note_off", note=64, velocity=0, time=955)):
        track.append(msg)
    mid.save(tmp_path / "played.mid")
    out = tmp_path / "played.musicxml"
    _ok("convert", tmp_path / "played.mid", out)
    events = [e for m in read_musicxml_melody(out).measures for e in m.events]
    assert [(e.pitch, e.duration) for e in events if e.pitch is not None] == [(60, 1), (64, 2)]


def test_unreadable_and_empty_scores_are_refused(tmp_path):
    from music21 import stream

    bad = tmp_path / "bad.musicxml"
    bad.write_text("<score-partwise><part")
    assert_refused(run("convert", bad, tmp_path / "bad.abc"), contains="not a readable MusicXML")
    silent = _write_score(tmp_path / "silent.musicxml", _part("Melody", [[(None, 3, None)]] * 2))
    for suffix in ("abc", "mid"):
        assert_refused(run("convert", silent, tmp_path / f"silent.{suffix}"), contains="no notes")
    empty_mid = tmp_path / "empty.mid"
    stream.Score().write("midi", fp=empty_mid)
    assert_refused(run("convert", empty_mid, tmp_path / "empty.musicxml"), contains="no notes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.musicxml", "empty.mid", "silent.musicxml"]


def test_existing_output_is_kept_without_force(tune, tmp_path):
    for name in ("kept.abc", "kept.mid", "kept.svg", "kept.png"):
        out = tmp_path / name
        out.write_bytes(b"keep")
        assert_refused(run("convert", tune, out), contains="already exists")
        assert out.read_bytes() == b"keep"
    _ok("convert", tune, tmp_path / "kept.abc", "--force")
    assert _only(tmp_path / "kept.abc") == EXPECTED


# --------------------------------------------------------------------------- sheet music


def _unavailable(tools):
    return {name: replace(tool, available=lambda: False) for name, tool in tools.items()}


def _fake_engraver(melody, tmp):
    svg = tmp / "melody.svg"
    svg.write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><text>{melody.title}</text></svg>')
    return svg


_FAKE_PNG = "import sys; open(sys.argv[2], 'wb').write(b'\\x89PNG fake ' + open(sys.argv[1], 'rb').read())"
FAKE_ENGRAVER = render.Tool(lambda: True, "", _fake_engraver)
FAKE_RASTERISER = render.Tool(lambda: True, "", lambda svg, png: [sys.executable, "-c", _FAKE_PNG, str(svg), str(png)])


def test_sheet_music_without_a_renderer_is_refused_in_one_line(tune, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "RENDERERS", _unavailable(render.RENDERERS))
    for name in ("sheet.svg", "sheet.png"):
        assert_refused(run("convert", tune, tmp_path / name), contains="pip install verovio")
    assert_refused(run("convert", tune.with_name("missing.musicxml"), tmp_path / "x.svg"), contains="no such file")
    abc = tmp_path / "tune.abc"
    _ok("convert", tune, abc)
    assert_refused(run("convert", abc, tmp_path / "sheet.svg"), contains="musegen[render]")
    assert_refused(run("convert", abc, tmp_path / "sheet.png"), contains="musegen[render]")  # sheet music too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tune.abc", "tune.musicxml"]


def test_png_without_a_rasteriser_is_refused_but_svg_is_drawn(tune, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "RENDERERS", {"fake": FAKE_ENGRAVER})
    monkeypatch.setattr(render, "RASTERISERS", _unavailable(render.RASTERISERS))
    assert_refused(run("convert", tune, tmp_path / "sheet.png"), contains="rasteriser")
    assert not (tmp_path / "sheet.png").exists()
    _ok("convert", tune, tmp_path / "sheet.svg")
    assert "Little Tune" in (tmp_path / "sheet.svg").read_text()


def test_sheet_music_is_drawn_by_the_first_renderer_and_rasteriser(tune, tmp_path, monkeypatch):
    monkeypatch.setattr(render, "RENDERERS", {"fake": FAKE_ENGRAVER})
    monkeypatch.setattr(render, "RASTERISERS", {"fake": FAKE_RASTERISER})
    _ok("convert", tune, tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").read_bytes().startswith(b"\x89PNG fake <svg")
    abc = tmp_path / "tune.abc"
    _ok("convert", tune, abc)
    _ok("convert", abc, tmp_path / "folder", "--all", "--to", "svg")
    assert [p.name for p in (tmp_path / "folder").iterdir()] == ["Little_Tune.svg"]


@pytest.mark.skipif(not render.renderers(), reason="no sheet-music renderer installed (verovio or abcm2ps)")
def test_real_renderer_draws_svg_and_png_or_refuses_png(tune, tmp_path):
    _ok("convert", tune, tmp_path / "sheet.svg")
    assert "<svg" in (tmp_path / "sheet.svg").read_text()
    r = run("convert", tune, tmp_path / "sheet.png")
    if render.rasterisers():
        assert r.exit_code == 0, r.output
        assert (tmp_path / "sheet.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert_refused(r, contains="rasteriser")
        assert not (tmp_path / "sheet.png").exists()


# --------------------------------------------------------------------------- bundled corpora


def test_one_list_of_bundled_corpora():
    assert {"bach", "oneills1850"} <= set(BUNDLED)
    assert bundled_names(midi=True) == ["music21:bach"]
    assert bundled_sources("bach", midi=True)
    with pytest.raises(Exception, match="read as melodies") as info:
        bundled_midi("oneills1850")
    assert "\n" not in str(info.value)
    with pytest.raises(Exception, match="unknown bundled corpus"):
        bundled_sources("nothing")
