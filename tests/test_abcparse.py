"""Tests for musegen.formats.abc.player: playing ABC as abc2midi does."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from musegen.errors import MusegenError
from musegen.formats.abc.player import abc_to_midi, abc_to_song, written_bars
from musegen.formats.midi import read_midi

HORNPIPES = Path(__file__).parent / "data" / "nottingham" / "hpps_first5.abc"  # the first five of hpps.abc

STUDY_TUNE = (Path(__file__).parent / "data" / "study_tune.abc").read_text()


def melody(tune: str, **kwargs) -> list[tuple[float, int]]:
    song, _ = abc_to_song(tune, **kwargs)
    return [(n.start, n.pitch) for n in song.notes if n.channel == 0]


def tune(body: str, header: str = "M:4/4\nL:1/8\nK:C") -> str:
    return f"X:1\nT:test\n{header}\n{body}\n"


G, A, B, c, d = 67, 69, 71, 72, 74


def test_repeat_is_expanded():
    once = [(0.0, G), (0.5, A), (1.0, B), (1.5, c), (2.5, d)]
    expected = once + [(t + 3.0, p) for t, p in once]
    assert melody("X:1\nM:6/8\nL:1/8\nK:G\n|:GAB c2d:|") == expected


def test_missing_start_repeat_goes_back_to_the_start_or_last_repeat_end():
    # abc2midi: a :| with no |: repeats from the start; the next from the previous :|
    notes = melody(tune("CD EF:|GA Bc:|", "M:2/4\nL:1/8\nK:C"))
    assert [p for _, p in notes] == [60, 62, 64, 65] * 2 + [67, 69, 71, 72] * 2


def test_first_and_second_endings():
    notes = melody(tune("|:AB cd|[1 ef g2:|[2 ga b2|]", "M:2/4\nL:1/8\nK:C"))
    assert notes == [
        (0.0, 69),
        (0.5, 71),
        (1.0, 72),
        (1.5, 74),
        (2.0, 76),
        (2.5, 77),
        (3.0, 79),
        (4.0, 69),
        (4.5, 71),
        (5.0, 72),
        (5.5, 74),
        (6.0, 79),
        (6.5, 81),
        (7.0, 83),
    ]


def test_ties_join_notes_across_bar_lines():
    song, _ = abc_to_song(tune("c2-c2 d2-|d2 e2 z4|"))
    assert [(n.start, n.end, n.pitch) for n in song.notes] == [(0.0, 2.0, 72), (2.0, 4.0, 74), (4.0, 5.0, 76)]


def test_triplets_and_broken_rhythm():
    notes = melody(tune("(3cde c2|c>d e<f|", "M:2/4\nL:1/8\nK:C"))
    assert notes == [
        (0.0, 72),
        (pytest.approx(1 / 3), 74),
        (pytest.approx(2 / 3), 76),
        (1.0, 72),
        (2.0, 72),
        (2.75, 74),
        (3.0, 76),
        (3.25, 77),
    ]


def test_broken_rhythm_needs_equal_notes():
    # abc2midi leaves c2>c alone ("Cannot apply broken rhythm")
    assert melody(tune("c2>c c5|")) == [(0.0, 72), (1.0, 72), (1.5, 72)]


def test_accidentals_last_to_the_bar_line_in_every_octave():
    notes = melody(tune("f =f f ^c C c2 z|f c4 z3|", "M:4/4\nL:1/8\nK:D"))
    # K:D sharpens f and c; =f holds for the bar; ^c also raises C (abc2midi)
    assert [p for _, p in notes] == [78, 77, 77, 73, 61, 73, 78, 73]


def test_keys_with_modes_and_explicit_accidentals():
    scale = "CDEFGABc|"
    assert [p for _, p in melody(tune(scale, "M:4/4\nL:1/8\nK:ADor"))] == [60, 62, 64, 66, 67, 69, 71, 72]
    assert [p for _, p in melody(tune(scale, "M:4/4\nL:1/8\nK:Bbmix"))] == [60, 62, 63, 65, 67, 68, 70, 72]
    assert [p for _, p in melody(tune(scale, "M:4/4\nL:1/8\nK:D =f"))] == [61, 62, 64, 65, 67, 69, 71, 73]


def test_inline_key_change():
    notes = melody(tune("CF [K:D] CF|", "M:2/4\nL:1/8\nK:C"))
    assert notes == [(0.0, 60), (0.5, 65), (1.0, 61), (1.5, 66)]


def test_body_key_and_meter_and_unit_changes():
    body = "CD|\nK:G\nM:3/4\nL:1/4\nF G A|"
    song, _ = abc_to_song(tune(body, "M:2/4\nL:1/8\nK:C"))
    assert [(n.start, n.pitch) for n in song.notes if n.channel == 0] == [
        (0.0, 60),
        (0.5, 62),
        (1.0, 66),
        (2.0, 67),
        (3.0, 69),
    ]
    assert song.meters == [(0.0, 2, 4), (1.0, 3, 4)]


def test_unit_length_defaults_from_the_meter():
    assert melody("X:1\nM:2/4\nK:C\nCDEF|") == [(0.0, 60), (0.25, 62), (0.5, 64), (0.75, 65)]
    assert melody("X:1\nM:3/4\nK:C\nCDEF|") == [(0.0, 60), (0.5, 62), (1.0, 64), (1.5, 65)]
    assert melody("X:1\nK:C\nCD|") == [(0.0, 60), (0.5, 62)]


def test_grace_notes_take_time_from_the_next_note():
    song, _ = abc_to_song(tune("{d}c2 c6|"))
    assert [(n.start, n.end, n.pitch) for n in song.notes] == [(0.0, 0.125, 74), (0.125, 1.0, 72), (1.0, 4.0, 72)]


def test_chord_lasts_as_its_first_note_and_outer_length_wins():
    notes = melody(tune("[CEG]2 [C2E4] [CE]3 z|"))
    assert notes == [(0.0, 60), (0.0, 64), (0.0, 67), (1.0, 60), (1.0, 64), (2.0, 60), (2.0, 64)]


def test_chord_symbols_become_an_accompaniment_on_channel_1():
    text = 'X:1\nT:Test\nM:6/8\nL:1/8\nK:G\n"G"GAB "D7"c2d|'
    song, _ = abc_to_song(text)
    accompaniment = [(n.start, n.pitch) for n in song.notes if n.channel == 1]
    # abc2midi's 6/8 pattern fzcfzc: bass G on 1, G chord on 3, bass D on 4, D7 chord on 6
    assert accompaniment == [
        (0.0, 43),
        (1.0, 55),
        (1.0, 59),
        (1.0, 62),
        (1.5, 38),
        (2.5, 50),
        (2.5, 54),
        (2.5, 57),
        (2.5, 60),
    ]
    assert song.programs[1] != song.programs[0]
    assert song.title == "Test"
    assert song.meters == [(0.0, 6, 8)]
    plain, _ = abc_to_song(text, chords=False)
    assert {n.channel for n in plain.notes} == {0}
    assert [(n.start, n.pitch) for n in plain.notes] == [(n.start, n.pitch) for n in song.notes if n.channel == 0]


def test_tempo_from_q_field():
    song, _ = abc_to_song(tune("CDEF|", "M:2/4\nL:1/8\nQ:1/4=90\nK:C"))
    assert song.tempos == [(0.0, 90.0)]
    song, _ = abc_to_song(tune("CDEF|", "M:6/8\nL:1/8\nQ:3/8=80\nK:C"))
    assert song.tempos == [(0.0, 120.0)]
    song, _ = abc_to_song(tune("CDEF|"))
    assert song.tempos == [(0.0, 120.0)]


def test_header_part_order_and_nottingham_y_field():
    body = "P:A\nCDEF|\nP:B\nGABc|"
    assert [p for _, p in melody(tune(body, "M:2/4\nL:1/8\nP:BA\nK:C"))] == [67, 69, 71, 72, 60, 62, 64, 65]
    # Y: is not a part order: the body is played as written
    assert [p for _, p in melody(tune(body, "M:2/4\nL:1/8\nY:BA\nK:C"))] == [60, 62, 64, 65, 67, 69, 71, 72]


def test_hornpipe_swings_eighths():
    notes = melody(tune("cdec dcBA|", "M:4/4\nL:1/8\nR:Hornpipe\nK:C"))
    assert notes[:4] == [(0.0, 72), (pytest.approx(2 / 3), 74), (1.0, 76), (pytest.approx(5 / 3), 72)]


def test_multi_measure_rest_and_invisible_rest():
    assert melody(tune("C2 x2|Z2|C", "M:2/4\nL:1/8\nK:C")) == [(0.0, 60), (6.0, 60)]


def test_study_tune_plays_with_a_report():
    song, report = abc_to_song(STUDY_TUNE)
    assert sum(n.channel == 0 for n in song.notes) > 300
    assert any(n.channel == 1 for n in song.notes)
    assert report and all(isinstance(line, str) and line for line in report)
    assert any("unclosed chord symbol" in line for line in report)
    assert any('stray character "#"' in line for line in report)


def test_abc_to_midi_writes_a_readable_file(tmp_path):
    path = tmp_path / "study.mid"
    report = abc_to_midi(STUDY_TUNE, path)
    assert report
    song = read_midi(path)
    channels = {n.channel for n in song.notes}
    assert channels == {0, 1}
    with pytest.raises(MusegenError):
        abc_to_midi(STUDY_TUNE, path)  # exists, no force
    abc_to_midi(STUDY_TUNE, path, force=True, chords=False)
    assert {n.channel for n in read_midi(path).notes} == {0}


def test_nothing_playable_raises():
    with pytest.raises(MusegenError):
        abc_to_song("X:1\nT:no key\nM:4/4\nCDEF|")
    with pytest.raises(MusegenError):
        abc_to_song("X:1\nT:rests\nM:4/4\nK:C\nz4 z4|")


def test_garbage_never_raises_anything_else():
    for body in ['"unclosed', "[[[", "{{", "((3", ":::||[1[2", "!!", "~~~", "^^^", "]]}}", "z/0", "c////"]:
        with contextlib.suppress(MusegenError):
            abc_to_song(tune(body + " CDE|"))


def test_written_bars_measures_each_bar():
    bars = written_bars("X:1\nM:6/8\nL:1/8\nK:G\nD|GAB c2d|[1 e3 e2:|[2 e3 e3||")
    assert [b.length for b in bars] == [Fraction(1, 2), Fraction(3), Fraction(5, 2), Fraction(3)]
    assert bars[0].opens == "start" and bars[2].closes == ":|" and bars[3].ending == frozenset({2})
    assert bars[1].full == Fraction(3)


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed")
def test_agrees_with_abc2midi(tmp_path):
    import mido

    from musegen.formats.abc import split_tunes

    cases = [STUDY_TUNE, tune("{g}A2 ~B3 !trill!c4 (3def Hg2|", "M:4/4\nL:1/8\nQ:1/4=100\nK:D")]
    cases += split_tunes(HORNPIPES.read_text(encoding="latin-1"))
    assert len(cases) == 7
    for i, text in enumerate(cases):
        src = tmp_path / f"t{i}.abc"
        out = tmp_path / f"t{i}.mid"
        src.write_text(text)
        subprocess.run(["abc2midi", str(src), "-o", str(out)], capture_output=True, check=False, timeout=30)
        mid = mido.MidiFile(out)
        ref = []
        for track in mid.tracks:
            tick = last = onset = 0
            for msg in track:
                tick += msg.time
                if msg.type == "note_on" and msg.velocity:
                    if tick - last > 10 or not ref:
                        onset = tick
                    last = tick
                    ref.append((round(onset / mid.ticks_per_beat * 8), msg.note))
            if ref:
                break
        ours = [(round(t * 8), p) for t, p in melody(text)]
        assert sorted(ours) == sorted(ref), f"case {i}"
