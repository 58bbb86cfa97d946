"""Melodies: reading ABC, MusicXML, MIDI and music21 corpora; writing them back; sheet music."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction as F
from pathlib import Path

import pytest

from musegen.errors import MusegenError, UsageError
from musegen.formats import render
from musegen.formats.abc import read_tunes
from musegen.formats.abc.player import abc_to_song
from musegen.formats.melody import (
    GRID,
    Event,
    Measure,
    Melody,
    abc_to_melody,
    corpus_files,
    key_name,
    key_offset_to_c,
    melody_notes,
    melody_to_abc,
    melody_to_score,
    read_melodies,
    read_midi_melody,
    read_musicxml_melody,
    repair_measure,
    score_to_melody,
    spell,
    split_duration,
    transpose_melody,
    write_melody,
)
from musegen.formats.midi import read_midi

JIGS = Path(__file__).resolve().parents[1] / "corpora" / "jigs" / "jigs.abc"

TUNES = {
    "triplets": """X:1
T:Triplets
M:2/4
L:1/8
K:G
(3ABc d2|(3:2:2B2c (3z/d/e/ f/g/|g4|]
""",
    "ties_rests": """X:2
T:Ties and rests
M:3/4
L:1/4
K:F
A2 B-|B z/ c/ d|z3|c3-|c2 z|]
""",
    "accidentals": """X:3
T:Accidentals
M:4/4
L:1/8
K:D
^c=c c C =F F f ^f|_B2 B b =c'2 c2|]
""",
    "pickup_meter_key": """X:4
T:Pickup, meter and key changes
M:6/8
L:1/8
K:Em
B|e2f g2a|b3 a2g-|
M:9/8
g2e d2B A3|
M:6/8
[K:Ador] e3- e2 z||
""",
    "chords_graces_long": """X:5
T:Chords, graces, long notes
M:4/4
L:1/8
K:C
"C"[CEG]2 {A}B2 c4-|"G7"c5 d3|]
""",
}


def same_notes(melody: Melody, notes: list[tuple[float, int]], *, tol: float = 1e-9) -> bool:
    want = [(float(a), p) for a, _, p in melody_notes(melody)]
    if len(want) != len(notes):
        return False
    return all(abs(a - b) <= tol and p == q for (a, p), (b, q) in zip(want, notes, strict=True))


@pytest.fixture(scope="session")
def tunes() -> dict[str, Melody]:
    """The hand-written tunes and the first four Nottingham jigs, read once."""
    out = {name: abc_to_melody(text) for name, text in TUNES.items()}
    for i, tune in enumerate(read_tunes(JIGS)[:4]):
        out[f"jig{i + 1}"] = abc_to_melody(tune)
    return out


def events(m: Measure) -> list[tuple]:
    return [(e.pitch, e.duration, e.tie) for e in m.events]


# --------------------------------------------------------------------------- reading ABC


def test_abc_reading(tunes):
    trip = tunes["triplets"]
    assert events(trip.measures[0]) == [(69, F(1, 3), False), (71, F(1, 3), False), (72, F(1, 3), False),
                                        (74, F(1), False)]
    assert [e.duration for e in trip.measures[1].events] == [F(2, 3), F(1, 3), F(1, 6), F(1, 6), F(1, 6),
                                                            F(1, 4), F(1, 4)]
    assert trip.measures[1].events[2].pitch is None
    ties = tunes["ties_rests"]
    assert events(ties.measures[0])[-1] == (70, F(1), True)  # B flat in F major, tied over the bar line
    assert events(ties.measures[2]) == [(None, F(3), False)]
    assert [m.fifths for m in ties.measures] == [-1] * 5
    # bar accidentals hold for their letter in every octave (abc2midi, ABC 2.1)
    acc = tunes["accidentals"]
    assert [e.pitch for e in acc.measures[0].events] == [73, 72, 72, 60, 65, 65, 77, 78]
    assert [e.pitch for e in acc.measures[1].events] == [70, 70, 82, 84, 72]
    pmk = tunes["pickup_meter_key"]
    assert pmk.pickup and pmk.title == "Pickup, meter and key changes"
    assert [m.meter for m in pmk.measures] == [(6, 8)] * 3 + [(9, 8), (6, 8)]
    assert [m.key for m in pmk.measures] == [(1, "minor")] * 4 + [(1, "dorian")]
    assert [m.is_full() for m in pmk.measures] == [False, True, True, True, True]
    assert events(pmk.measures[2])[-1] == (79, F(1, 2), True)  # tied on over the meter change
    assert events(pmk.measures[-1]) == [(76, F(5, 2), False), (None, F(1, 2), False)]  # a tie in a bar is one note
    cgl = tunes["chords_graces_long"]
    assert events(cgl.measures[0]) == [(67, F(1), False), (71, F(1), False), (72, F(2), True)]
    assert events(cgl.measures[1]) == [(72, F(5, 2), False), (74, F(3, 2), False)]


@pytest.mark.parametrize("meter, read, unit", [("2+3/8", (5, 8), F(1, 4)), ("C|", (2, 2), F(1, 2)),
                                               ("3/4", (3, 4), F(1, 2)), ("none", (4, 4), F(1, 2))])
def test_abc_without_a_unit_length_reads_notes_as_abc2midi_plays_them(meter, read, unit):
    """No L: field: the unit comes from the meter as abc2midi reads it (``2+3/8`` is 5/8, below 3/4: sixteenths)."""
    from musegen.formats.abc.player import written_bars

    tune = f"X:1\nT:Units\nM:{meter}\nK:G\nGAB|cde|]\n"
    melody = abc_to_melody(tune)
    assert [e.duration for m in melody.measures for e in m.events] == [unit] * 6
    assert sum(m.length for m in melody.measures) == sum(b.length for b in written_bars(tune))  # as the player
    assert {m.meter for m in melody.measures} == {read}


def test_a_meter_changed_in_the_body_keeps_the_header_unit_length():
    """abc2midi (and ABC 2.1) set the default unit from the header's meter only: after M:6/8, a body M:2/4 still
    counts in eighths (abc2midi plays these bars full, without a warning)."""
    from musegen.formats.abc.player import written_bars

    tune = "X:1\nT:Change\nM:6/8\nK:G\nGAB cde|\nM:2/4\nGABc|dcBA|]\n"
    melody = abc_to_melody(tune)
    assert [(m.meter, m.length) for m in melody.measures] == [(b.meter, b.length) for b in written_bars(tune)]
    assert [(m.meter, m.length) for m in melody.measures] == [((6, 8), 3), ((2, 4), 2), ((2, 4), 2)]


def test_every_duration_on_the_grid(tunes):
    for melody in tunes.values():
        for m in melody.measures:
            assert all(e.duration > 0 and (e.duration / GRID).denominator == 1 for e in m.events)


@pytest.mark.parametrize("name", [*TUNES, "jig1", "jig2", "jig3", "jig4"])
def test_abc_round_trip(tunes, name):
    melody = tunes[name]
    text = melody_to_abc(melody)
    assert text.startswith("X:1\nT:") and "\nL:1/8\n" in text and text.rstrip().endswith("|]")
    assert abc_to_melody(text) == melody


@pytest.mark.parametrize("name", [*TUNES, "jig1", "jig2"])
def test_written_abc_plays_the_melody(tunes, name):
    song, _ = abc_to_song(melody_to_abc(tunes[name]), chords=False)
    assert same_notes(tunes[name], [(n.start, n.pitch) for n in song.notes])


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed")
def test_written_abc_through_abc2midi(tunes, tmp_path):
    for name in ("triplets", "accidentals", "pickup_meter_key", "jig1"):
        abc = tmp_path / f"{name}.abc"
        write_melody(tunes[name], abc, fmt="abc")
        mid = tmp_path / f"{name}.mid"
        subprocess.run(["abc2midi", str(abc), "-o", str(mid)], capture_output=True, check=True, timeout=60)
        notes = [(n.start, n.pitch) for n in read_midi(mid).notes if n.channel == 0]
        assert same_notes(tunes[name], notes, tol=0.01), name  # abc2midi starts each note a tick late


def test_abc_writer_details(tunes):
    text = melody_to_abc(tunes["pickup_meter_key"])
    assert "\nM:9/8\n" in text and "\nK:Ador\n" in text and "K:Em" in text
    assert "\ne4-ez|]" in text  # a tie inside a bar is one event, 5/2 quarters written as two tied notes
    assert "(3ABc" in melody_to_abc(tunes["triplets"])
    assert "K:D\nc=c =c=C =F=F =f^f|" in melody_to_abc(tunes["accidentals"])  # every reader agrees on these
    long = melody_to_abc(tunes["chords_graces_long"])
    assert "c4-|c4- cd3|]" in long  # 5/2 quarters is not one note value: two tied notes
    body = melody_to_abc(tunes["jig2"]).split("\n")
    assert all(line.count("|") <= 4 for line in body if line and line[1] != ":")


# --------------------------------------------------------------------------- other formats


@pytest.mark.parametrize("suffix", [".musicxml", ".mxl"])
def test_musicxml_round_trip(tunes, tmp_path, suffix):
    for name in ("triplets", "ties_rests", "pickup_meter_key", "jig1"):
        path = write_melody(tunes[name], tmp_path / f"{name}{suffix}", fmt="musicxml")
        again = read_musicxml_melody(path)
        assert again == tunes[name], name
        assert read_musicxml_melody(write_melody(again, tmp_path / f"{name}2{suffix}", fmt="musicxml")) == again


def test_the_composer_is_read_and_written_back(tmp_path):
    """ABC C: lines (joined as music21 joins them) and a MusicXML composer line are read into Melody.composer and
    written again, through a transposition too."""
    melody = abc_to_melody("X:1\nT:Composed\nC:Trad.\nC:arr. Phil Rowe\nM:3/4\nL:1/8\nK:D\nd2f2a2|d6|]\n")
    assert melody.composer == "Trad. and arr. Phil Rowe"
    assert abc_to_melody(melody_to_abc(melody)).composer == melody.composer
    xml = read_musicxml_melody(write_melody(melody, tmp_path / "c.musicxml", fmt="musicxml"))
    assert xml == melody and transpose_melody(xml, 2).composer == melody.composer
    assert abc_to_melody("X:1\nT:None\nM:3/4\nL:1/8\nK:D\nd6|]\n").composer == ""


@pytest.mark.parametrize("name", ["triplets", "ties_rests", "accidentals", "chords_graces_long", "jig1", "jig2"])
def test_midi_round_trip(tunes, tmp_path, name):
    path = write_melody(tunes[name], tmp_path / f"{name}.mid", fmt="mid")
    assert read_midi_melody(path) == tunes[name]


def test_midi_pickup_and_modes(tunes, tmp_path):
    """A pickup and short bars come back; MIDI keys have no modes, so a dorian key reads as major."""
    melody = tunes["pickup_meter_key"]
    again = read_midi_melody(write_melody(melody, tmp_path / "p.mid", fmt="mid"))
    assert again.pickup and [m.meter for m in again.measures] == [m.meter for m in melody.measures]
    assert [events(m) for m in again.measures] == [events(m) for m in melody.measures]
    assert again.measures[-1].key == (1, "major")


def test_midi_quantised(tmp_path):
    """Notes slightly off the grid are moved onto it; chords give their top note."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("time_signature", numerator=2, denominator=4))
    for line in ["note_on note=60 time=3", "note_on note=64 time=0", "note_off note=60 time=478",
                 "note_off note=64 time=0", "note_on note=62 time=2", "note_off note=62 time=159",
                 "note_on note=65 time=0", "note_off note=65 time=158", "note_on note=67 time=4",
                 "note_off note=67 time=150"]:
        track.append(mido.Message.from_str(line + (" velocity=80" if "on" in line else "")))
    mid.save(tmp_path / "q.mid")
    melody = read_midi_melody(tmp_path / "q.mid")
    assert events(melody.measures[0]) == [(64, F(1), False), (62, F(1, 3), False), (65, F(1, 3), False),
                                          (67, F(1, 3), False)]


def test_score_to_melody_top_voice():
    from music21 import chord, note, stream

    m = stream.Measure()
    top, low = stream.Voice(), stream.Voice()
    top.append([note.Note("E5", quarterLength=2), note.Rest(quarterLength=1), note.Note("G5", quarterLength=1)])
    low.append([chord.Chord(["C4", "G4"], quarterLength=2), note.Note("B4", quarterLength=2)])
    grace = note.Note("D6", quarterLength=0.5).getGrace()
    top.insert(3, grace)
    m.insert(0, top)
    m.insert(0, low)
    part = stream.Part([m])
    melody = score_to_melody(stream.Score([part]), title="voices")
    assert events(melody.measures[0]) == [(76, F(2), False), (71, F(1), False), (79, F(1), False)]
    assert melody.title == "voices" and melody.measures[0].meter == (4, 4)


def test_canonical_form(tmp_path):
    """An overfull measure is cut at its meter (tied), trailing silent measures go: every format agrees."""
    from music21 import meter, note, stream

    part = stream.Part()
    m1 = stream.Measure([meter.TimeSignature("2/4"), note.Note("C5", quarterLength=3), note.Note("D5")])
    part.append([m1, stream.Measure([note.Note("E5", quarterLength=2)]), stream.Measure([note.Rest(quarterLength=2)])])
    melody = score_to_melody(stream.Score([part]), title="overfull")
    assert [events(m) for m in melody.measures] == [[(72, F(2), True)], [(72, F(1), False), (74, F(1), False)],
                                                    [(76, F(2), False)]]
    assert read_midi_melody(write_melody(melody, tmp_path / "o.mid", fmt="mid")) == melody


def test_melody_to_score_spelling(tunes):
    score = melody_to_score(tunes["accidentals"])
    names = [n.pitch.nameWithOctave for n in score.recurse().notes][:4]
    assert names == ["C#5", "C5", "C5", "C4"]


# --------------------------------------------------------------------------- corpora


def test_read_melodies_folder(tunes, tmp_path):
    write_melody(tunes["triplets"], tmp_path / "a.musicxml", fmt="musicxml")
    write_melody(tunes["ties_rests"], tmp_path / "sub" / "b.mid", fmt="mid")
    (tmp_path / "c.abc").write_text(TUNES["accidentals"] + "\n" + TUNES["pickup_meter_key"]
                                    + "\nX:9\nT:Broken\nK:G\n[ceg\n")
    (tmp_path / "bad.xml").write_text("<not music")
    (tmp_path / "notes.txt").write_text("ignored")
    melodies = read_melodies(tmp_path)
    assert [m.title for m in melodies] == ["Triplets", "Accidentals", "Pickup, meter and key changes", "Ties and rests"]
    assert len(melodies.skipped) == 2 and any("bad.xml" in s for s in melodies.skipped)
    to_c = read_melodies(tmp_path, transpose_to_c=True)
    assert [m.measures[0].fifths for m in to_c] == [0, 0, 0, 0]
    assert to_c[1].measures[0].events[0].pitch == 71  # D major moved down a tone


def test_refusals(tmp_path):
    bad = tmp_path / "bad.musicxml"
    bad.write_text("<score-partwise><part id='P1'><measure>")
    silent = write_melody(Melody([Measure([Event(None, F(4))], 4, 4)]), tmp_path / "silent.musicxml",
                          fmt="musicxml")
    (tmp_path / "empty").mkdir()
    cases = [
        (lambda: read_musicxml_melody(bad), "not a readable MusicXML file"),
        (lambda: read_musicxml_melody(silent), "no notes"),
        (lambda: read_melodies("music21:nonesuch"), "unknown music21 corpus"),
        (lambda: read_melodies(tmp_path / "empty"), "no score files"),
        (lambda: read_melodies(tmp_path / "missing.abc"), "no such file"),
        (lambda: read_melodies(bad), "no readable melody"),
        (lambda: abc_to_melody("X:1\nT:No key\nabc|\n"), "no K:"),
        (lambda: abc_to_melody("X:1\nT:Silent\nK:C\nz4|\n"), "no notes"),
        (lambda: write_melody(Melody([]), silent, fmt="abc"), "already exists"),
    ]
    for call, words in cases:
        with pytest.raises(MusegenError) as info:
            call()
        assert words in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UsageError, match="cannot write a melody as 'wav'"):
        write_melody(Melody([]), tmp_path / "x.wav", fmt="wav")


def test_music21_corpora():
    bach = corpus_files("music21:bach")
    oneill = corpus_files("music21:oneills1850")
    assert len(bach) > 300 and all(p.suffix in (".mxl", ".xml") for p in bach)
    assert oneill and all(p.suffix == ".abc" for p in oneill)
    chorale = read_musicxml_melody(bach[0])  # the soprano
    assert len(chorale.measures) > 5 and sum(m.is_full() for m in chorale.measures) >= len(chorale.measures) - 2
    assert all(e.pitch is None or 55 <= e.pitch <= 84 for m in chorale.measures for e in m.events)


# --------------------------------------------------------------------------- the data and its tools


def test_dict_round_trip(tunes):
    for melody in tunes.values():
        data = json.loads(json.dumps(melody.to_dict()))
        assert Melody.from_dict(data) == melody
    with pytest.raises(MusegenError, match="not a melody"):
        Melody.from_dict({"measures": [{"time": [4]}]})


def test_repair_measure():
    n = Event
    assert repair_measure([n(60, F(2)), n(62, F(2)), n(64, F(1))], F(3)) == [n(60, F(2)), n(62, F(1))]
    assert repair_measure([n(60, F(1), True)], F(3)) == [n(60, F(1)), n(None, F(2))]
    assert repair_measure([n(None, F(1)), n(None, F(1, 5), True)], F(2)) == [n(None, F(2))]
    assert repair_measure([n(60, F(1, 5))], F(1, 6)) == [n(60, F(1, 6))]
    assert repair_measure([], F(3, 2)) == [n(None, F(3, 2))]


def test_keys_and_transposition(tunes):
    assert key_name(2, "minor") == ("B", "minor") and key_name(-2, "dorian") == ("C", "dorian")
    assert key_name(7, "major") == ("C#", "major") and key_name(-6, "major") == ("Gb", "major")
    assert spell(61, 2) == ("C", 1, 4) and spell(70, 0) == ("B", -1, 4) and spell(60, 7) == ("B", 1, 3)
    assert spell(66, -2, "minor") == ("F", 1, 4) and spell(66, -2) == ("G", -1, 4)  # G minor: F sharp
    assert split_duration(F(5, 2)) == [F(2), F(1, 2)] and split_duration(F(5, 12)) == [F(1, 3), F(1, 12)]
    melody = tunes["pickup_meter_key"]  # E minor, then A dorian
    shift = key_offset_to_c(melody)
    moved = transpose_melody(melody, shift)
    assert shift == 5 and [m.key for m in moved.measures][::4] == [(0, "minor"), (0, "dorian")]
    assert [e.pitch - 5 for e in moved.measures[1].events] == [e.pitch for e in melody.measures[1].events]
    assert transpose_melody(moved, -shift) == melody
    with pytest.raises(MusegenError, match="MIDI range"):
        transpose_melody(melody, 60)


# --------------------------------------------------------------------------- sheet music


@pytest.mark.parametrize("name", list(render.RENDERERS))
def test_render_svg_and_png(tunes, tmp_path, name):
    if name not in render.renderers():
        pytest.skip(f"{name} is not installed")
    svg = render.render_melody(tunes["jig1"], tmp_path / "jig.svg", renderer=name)
    assert b"<svg" in svg.read_bytes()[:2000]
    if not render.rasterisers():
        with pytest.raises(MusegenError, match="no SVG rasteriser"):
            render.render_melody(tunes["jig1"], tmp_path / "jig.png", renderer=name)
        return
    png = render.render_melody(tunes["jig1"], tmp_path / "jig.png", renderer=name)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_failures_are_one_line(tunes, tmp_path, monkeypatch):
    def crash(melody, tmp):
        render._run([sys.executable, "-c", "import sys; sys.exit('segmentation fault')"], "fake")
        return tmp / "never.svg"

    def hang(melody, tmp):
        render._run([sys.executable, "-c", "import time; time.sleep(10)"], "slow")
        return tmp / "never.svg"

    monkeypatch.setattr(render, "TIMEOUT_S", 1)
    monkeypatch.setattr(render, "RENDERERS", {"fake": render.Tool(lambda: True, "-", crash),
                                              "slow": render.Tool(lambda: True, "-", hang)})
    with pytest.raises(MusegenError) as info:
        render.render_melody(tunes["triplets"], tmp_path / "x.svg")
    assert "fake failed: segmentation fault" in str(info.value) and "slow ran longer than 1 s" in str(info.value)
    assert not (tmp_path / "x.svg").exists()
    monkeypatch.setattr(render, "RENDERERS", {"fake": render.Tool(lambda: False, "pip install fake", crash)})
    assert "pip install fake" in render.render_unavailable("x.png")
    with pytest.raises(MusegenError, match="no sheet music renderer is installed: pip install fake"):
        render.render_melody(tunes["triplets"], tmp_path / "x.svg")
    with pytest.raises(UsageError, match="not '.jpg'"):  # SVG, PNG and PDF only
        render.render_melody(tunes["triplets"], tmp_path / "x.jpg")
    with pytest.raises(UsageError, match="unknown renderer"):
        render.render_unavailable("x.svg", renderer="lilypond")
