"""ABC to music21 scores and MusicXML files."""

from __future__ import annotations

import zipfile

from pathlib import Path

import pytest

from musegen.errors import MusegenError
from musegen.formats.score import (
    abc_to_musicxml,
    abc_to_score,
    music21_reads_chord,
    normalize_chord,
    parse_abc_score,
)

SMALL = """X:1
T:Little Test
M:3/4
L:1/4
K:G
"G"G A B|"D7"c2 d|"Em"e3|]
"""

# Nottingham jig 26 (jigs.abc): slash chords in the Nottingham dialect ("D/f+" is D over F sharp)
BLAYDON = r"""X: 26
T:Blaydon Races
S:Kevin Briggs, via EF
M:6/8
K:D
A|"D"d2d d2d|"D"d2d d2d|"A7"e2e e2e|"D"f3 "D7"d3|"G"ggg g2g|"D"f2f f2f|
"E7"e2f e2d|"A7"c3 A3|"D"d2d d2d|"D"d2d d2d|"A7"e2e e2e|"D"f3 "D7"d3|\
"G"ggg g2g|
"D"f2g a2a|"A7"a2g f2e|"D"d2e f2g|"D"a3 "A7/e"a2f|"D/f+"d3 "G"d2d|\
"E7/g+"e2e "A7"e2e|
"D"f3 "D7/c"d3|"G/b"g2g "A7/c+"g2g|"D"f2f "D/f+"f2f|"G"e2f "E7/g+"e2d|\
"A"c3 "A7/g"A3|"D/f+"d2d "G"d2d|"D/f+"d3 "G"d2d|
"E7/g+"e2e "A7"e2e|"D"f3 "D7/c"d3|"G/b"g2g "A7/c+"g2g|"D"f2g "B7/f+"a2a|\
"Em"a2g "A7"f2e|"D"d3 d2||
"""

# the generated tune from the study (SPEC.md): stray quotes, an unclosed "[", "M3", "::"
STUDY = (Path(__file__).parent / "data" / "study_tune.abc").read_text()


def chord_symbols(score) -> list[str]:
    from music21 import harmony

    return [cs.figure for cs in score.recurse().getElementsByClass(harmony.ChordSymbol)]


@pytest.mark.parametrize(
    ("nottingham", "standard"),
    [("Cd", "Cdim"), ("C#d", "C#dim"), ("Ca", "Caug"), ("D/f+", "D/F#"), ("Gm/bb", "Gm/Bb"), ("(E7)", "E7"),
     ("E7b9", "E7b9"), ("G/b", "G/B"), ("A7", "A7"), ("^text", None), ("H7", None)],
)
def test_normalize_chord(nottingham, standard):
    assert normalize_chord(nottingham) == standard
    if standard:
        assert music21_reads_chord(standard)


def test_small_tune_round_trips_through_musicxml(tmp_path):
    import music21

    path = tmp_path / "little.musicxml"
    report = abc_to_musicxml(SMALL, path)
    assert report == []
    assert [p.name for p in tmp_path.iterdir()] == ["little.musicxml"]  # no temporary left
    text = path.read_text(encoding="utf-8")
    assert "<score-partwise" in text and "Music21</creator>" not in text
    back = music21.converter.parse(path)
    assert back.metadata.bestTitle == "Little Test"
    notes = [n for n in back.recurse().notes if not isinstance(n, music21.harmony.ChordSymbol)]
    assert [n.pitch.nameWithOctave for n in notes] == ["G4", "A4", "B4", "C5", "D5", "E5"]
    assert [n.quarterLength for n in notes] == [1, 1, 1, 2, 1, 3]
    assert chord_symbols(back) == ["G", "D7", "Em"]


def test_existing_file_is_refused(tmp_path):
    path = tmp_path / "x.musicxml"
    path.write_text("keep")
    with pytest.raises(MusegenError, match="already exists"):
        abc_to_musicxml(SMALL, path)
    assert path.read_text() == "keep"
    abc_to_musicxml(SMALL, path, force=True)
    assert path.read_text(encoding="utf-8").startswith("<?xml")


def test_compressed_mxl(tmp_path):
    import music21

    path = tmp_path / "x.mxl"
    abc_to_musicxml(SMALL, path)
    with zipfile.ZipFile(path) as archive:
        assert "META-INF/container.xml" in archive.namelist()
    assert music21.converter.parse(path).metadata.bestTitle == "Little Test"


def test_nottingham_slash_chords_are_kept():
    score, report = parse_abc_score(BLAYDON)
    assert report == []
    assert score.metadata.title == "Blaydon Races"
    figures = chord_symbols(score)
    assert "D/F#" in figures and "E7/G#" in figures and "A7/C#" in figures
    d_over_f_sharp = next(cs for cs in score.recurse().getElementsByClass("ChordSymbol") if cs.figure == "D/F#")
    assert d_over_f_sharp.bass().name == "F#" and d_over_f_sharp.root().name == "D"


def test_diminished_and_augmented_chords():
    tune = 'X:1\nT:Dim\nM:6/8\nL:1/8\nK:G\n"Cd"c2c "Ea"e3|"G"g6|]\n'
    score, report = parse_abc_score(tune)
    assert report == []
    assert chord_symbols(score) == ["Cdim", "Eaug", "G"]


def test_study_tune_is_repaired_and_reported(tmp_path):
    path = tmp_path / "study.musicxml"
    report = abc_to_musicxml(STUDY, path)
    assert any("stray" in line for line in report)
    assert any("dropped an unreadable bar" in line for line in report)
    import music21

    back = music21.converter.parse(path)
    assert back.metadata.bestTitle == "Pevim Dew's Music Database"
    assert len(back.recurse().notes) > 200


def test_missing_header_fields_are_supplied():
    score, report = parse_abc_score("T:Headless\nM:2/4\nL:1/8\nCDEF|GABc|\n")
    assert any("K:C" in line for line in report)
    assert len([n for n in score.recurse().notes]) == 8
    assert abc_to_score("X:1\nK:D\nDEF|\n").metadata.title == "Untitled"


def test_unreadable_text_is_one_clear_error(tmp_path):
    with pytest.raises(MusegenError, match="cannot read the ABC tune"):
        abc_to_musicxml("X:1\nT:Noise\nK:C\n[[[[ ]]]] ((((\n", tmp_path / "n.musicxml")
    assert list(tmp_path.iterdir()) == []
