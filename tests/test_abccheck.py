"""Tests for musegen.formats.abc.check: checking and repairing generated ABC."""

from __future__ import annotations

import shutil

from pathlib import Path

import pytest

from musegen.errors import MusegenError
from musegen.formats.abc.check import CheckResult, abc2midi_available, abc2midi_check, check_tune
from musegen.formats.abc.player import abc_to_song

# the broken generated tune of the original study (docs/SPEC.md)
STUDY_TUNE = (Path(__file__).parent / "data" / "study_tune.abc").read_text()

GOOD_JIG = """X:1
T:A jig
M:6/8
L:1/8
K:G
D|"G"GAB "D7"c2d|"G"BGG G2D|"C"EFG "D7"FGA|[1"G"G3 G2:|[2"G"G3 G2||
|:d|"G"g2d BdB|"C"c2e "D"d2c|"G"BAG "D7"FGA|"G"G3 G2:|
"""


def body_of(result: CheckResult) -> list[str]:
    lines = result.text.rstrip("\n").split("\n")
    k = next(i for i, line in enumerate(lines) if line.startswith("K:"))
    return lines[k + 1 :]


def test_good_tune_is_valid_and_untouched():
    result = check_tune(GOOD_JIG)
    assert result.valid, result.problems
    assert result.repairs == []
    assert result.text == GOOD_JIG
    assert result.bars == 11
    assert result.bars_fitting == 11  # the pickups pair with the bars before :| and ||


def test_bar_of_wrong_length_is_reported():
    result = check_tune("X:1\nT:t\nM:6/8\nL:1/8\nK:G\nGAB c2d|GAB cdef|GAB c2d|GAB c2d|\n")
    assert not result.valid
    assert result.problems == ["bar 2 (line 6) has 7/8, meter is 6/8"]
    assert (result.bars, result.bars_fitting) == (4, 3)


def test_unpaired_short_bar_in_the_middle_is_not_fitting_and_is_completed_with_a_rest():
    tune = "X:1\nT:t\nM:4/4\nL:1/8\nK:C\nCDEF GABc|CDEF|CDEF GABc|\n"
    found = check_tune(tune, repair=False)
    assert found.bars_fitting == 2
    assert found.problems == ["bar 2 (line 6) has 2/4, meter is 4/4"]
    result = check_tune(tune)
    assert body_of(result) == ["CDEF GABc|CDEFz4|CDEF GABc|"]  # a note is lengthened at most twofold
    assert result.valid and result.bars_fitting == 3


# abc2midi adds the last bar of a repeated part to the bar it goes back to
SHORT_CLOSE = "X:1\nT:t\nM:6/8\nL:1/8\nK:G\n|:GAB c2d|e3 d3|GAB c2d|e3 d2:|\n"


def test_a_part_closing_short_with_no_pickup_is_a_bar_short_as_abc2midi_plays_it():
    found = check_tune(SHORT_CLOSE, repair=False)
    assert found.problems == ["bar 4 (line 6) then bar 1 (line 6) play as one bar of 11/8 the second time through, "
                              "meter is 6/8"]
    assert (found.bars, found.bars_fitting) == (4, 2)
    result = check_tune(SHORT_CLOSE)
    assert body_of(result) == ["|:GAB c2d|e3 d3|GAB c2d|e3 d3:|"]
    assert result.valid and result.repairs == [
        "line 6: bar 4 is short as abc2midi plays it: lengthened the last note of the bar by 1 unit(s)"]


def test_a_pickup_inside_the_repeat_completes_the_closing_bar_but_not_one_before_it():
    inside = "X:1\nT:t\nM:6/8\nL:1/8\nK:G\n|:D|GAB c2d|e3 d3|GAB c2d|e3 d2:|\n"
    assert check_tune(inside, repair=False).valid
    before = "X:1\nT:t\nM:6/8\nL:1/8\nK:G\nD|:GAB c2d|e3 d3|GAB c2d|e3 d2:|\n"  # abc2midi goes back past D
    assert not check_tune(before, repair=False).valid
    assert check_tune(before).valid


def test_endings_and_a_second_part_with_the_same_pickup_fit():
    tune = ("X:1\nT:t\nM:6/8\nL:1/8\nK:G\nD|GAB c2d|e3 d3|GAB c2d|[1e3 d2:|[2e3 d2||\n"
            "|:D|GAB c2d|e3 d3|GAB c2d|e3 d2:|\n")
    result = check_tune(tune, repair=False)
    assert result.valid, result.problems
    assert result.bars == result.bars_fitting == 11


def test_a_pickup_after_a_full_closing_bar_is_a_short_bar():
    tune = "X:1\nT:t\nM:6/8\nL:1/8\nK:G\nGAB c2d|e3 d3|GAB c2d|e3 d3:|\n|:D|GAB c2d|e3 d3|GAB c2d|e3 d2:|\n"
    assert check_tune(tune, repair=False).problems == ["bar 5 (line 7) has 1/8, meter is 6/8"]


def test_missing_header_fields_are_added():
    result = check_tune("T:No header\nM:6/8\nL:1/8\nGAB c2d|GAB c2d|\n")
    lines = result.text.split("\n")
    assert lines[0] == "X:1"
    assert "K:C" in lines
    assert lines.index("K:C") < lines.index("GAB c2d|GAB c2d|")
    assert any("X:1" in r for r in result.repairs) and any("K:C" in r for r in result.repairs)
    assert result.valid
    song, _ = abc_to_song(result.text)
    assert len(song.notes) == 10


def test_missing_meter_is_a_problem():
    result = check_tune("X:1\nT:t\nK:C\nCDEF GABc|\n")
    assert "no M: field (abc2midi assumes 4/4)" in result.problems


def test_unclosed_chord_symbol_is_closed_after_the_chord_name():
    result = check_tune('X:1\nT:t\nM:6/8\nL:1/8\nK:G\n"Gm"d2g "A7ec|edc BcA|"D"FAF "A"AFA|\n')
    assert body_of(result) == ['"Gm"d2g "A7"ec|edc BcA|"D"FAF "A"AFA|']
    assert result.repairs == ['line 6: closed an unclosed chord symbol "A7"']


def test_chord_name_missing_its_opening_quote():
    result = check_tune('X:1\nT:t\nM:6/8\nL:1/8\nK:G\n"Am"a3 -F#7"B2c|\n')
    # the quote is restored, and the tie between a and B (no same pitch) dropped
    assert body_of(result) == ['"Am"a3 "F#7"B2c|']


def test_stray_characters_are_dropped():
    result = check_tune("X:1\nT:t\nM:4/4\nL:1/8\nK:C\nCD@EF G#ABc|/2CDEF M3 G4|\n")
    assert body_of(result) == ["CDEF GABc|CDEF  G4|"]
    assert any('"@"' in r for r in result.repairs)
    assert any('"M3"' in r for r in result.repairs)


def test_unmatched_brackets_and_empty_symbols_are_dropped():
    result = check_tune('X:1\nT:t\nM:4/4\nL:1/8\nK:C\n[CE CDEF G2|"" c4] d4|{g A8|\n')
    assert body_of(result) == ["CE CDEF G2| c4 d4|g A8|"]


def test_ties_between_different_notes_are_dropped_and_good_ties_kept():
    result = check_tune("X:1\nT:t\nM:4/4\nL:1/8\nK:C\nc4-d4|e8-|\ne8|\n")
    assert body_of(result) == ["c4d4|e8-|", "e8|"]


def test_blank_and_trailing_lines_are_dropped():
    result = check_tune("X:1\nT:t\nM:2/4\nL:1/8\nK:C\nCDEF|\n\nGABc|\n\n\n")
    assert body_of(result) == ["CDEF|", "GABc|"]
    assert any("blank line" in r for r in result.repairs)
    assert any("trailing" in r for r in result.repairs)


def test_unclosed_repeat_and_stray_ending():
    result = check_tune("X:1\nT:t\nM:2/4\nL:1/8\nK:C\n|:CDEF|GABc|\n")
    assert body_of(result) == ["|CDEF|GABc|"]
    result = check_tune("X:1\nT:t\nM:2/4\nL:1/8\nK:C\nCDEF|2GABc|\n")
    assert body_of(result) == ["CDEF|GABc|"]


def test_repair_false_reports_instead():
    broken = 'X:1\nT:t\nM:6/8\nL:1/8\nK:G\n"Gm"d2g "A7ec|edc BcA|\n'
    result = check_tune(broken, repair=False)
    assert result.text == broken
    assert result.repairs == []
    assert any("closed an unclosed chord symbol" in p for p in result.problems)


def test_study_tune_is_repaired_into_a_playable_tune():
    result = check_tune(STUDY_TUNE)
    assert result.repairs
    assert result.bars > 40 and 0 < result.bars_fitting < result.bars
    assert not result.valid  # some bars do not fit 6/8
    song, report = abc_to_song(result.text)
    assert len(song.notes) > 300
    assert not any("unclosed chord symbol" in line for line in report)
    again = check_tune(result.text)
    assert again.repairs == []  # repairing twice changes nothing more


def test_abc2midi_available_is_a_bool():
    assert isinstance(abc2midi_available(), bool)


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed")
def test_abc2midi_check_runs_the_real_abc2midi():
    ok, messages = abc2midi_check(GOOD_JIG)
    assert ok, messages
    ok, messages = abc2midi_check(STUDY_TUNE)
    assert not ok
    assert any(m.startswith("Error") for m in messages)
    ok, messages = abc2midi_check(check_tune(STUDY_TUNE).text)
    assert ok, messages


def test_abc2midi_check_without_abc2midi(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert abc2midi_available() is False
    with pytest.raises(MusegenError):
        abc2midi_check(GOOD_JIG)


HEAD = "X:1\nT:t\nM:2/4\nL:1/8\nK:C\n"
needs_abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi is not installed")


def test_double_repeat_after_a_closed_repeat_gets_its_own_start():
    # the second :| closes no open repeat: a :: there is refused too, a :||: is not
    result = check_tune(HEAD + "A4:|B4:|\nc4::d4:|\n")
    assert body_of(result) == ["A4:|B4:||:", "c4::d4:|"]
    assert any('a ":||:"' in r for r in result.repairs)
    # a :| that closes the repeat before it still becomes ::
    result = check_tune(HEAD + "A4:|B4::c4:|\n")
    assert body_of(result) == ["A4::B4::c4:|"]


def test_accidentals_abc2midi_cannot_read_together_keep_the_last():
    result = check_tune(HEAD + "A2 ^=c2|==d2 _=e2|^^^f2 ^_g2|=^c2 ^^c2|\n")
    assert body_of(result) == ["A2 =c2|=d2 =e2|^f2 _g2|=^c2 ^^c2|"]
    assert sum("accidentals together" in r for r in result.repairs) == 5


def test_tie_inside_a_chord_to_a_pitch_the_next_chord_lacks_is_dropped():
    result = check_tune(HEAD + "[f2-A2-][gA]B|[c2-e2-][ce]d|\n")
    assert body_of(result) == ["[f2A2-][gA]B|[c2-e2-][ce]d|"]
    assert any("removed a tie" in r for r in result.repairs)


@needs_abc2midi
def test_new_repairs_read_without_abc2midi_errors():
    for body in ("A4:|B4:|\nc4::d4:|\n", "A2 ^=c2|==d2 _=e2|^^^f2 ^_g2|\n", "[f2-A2-][gA]B|[c2-e2-][ce]d|\n"):
        assert not abc2midi_check(HEAD + body)[0]
        ok, messages = abc2midi_check(check_tune(HEAD + body).text)
        assert ok, messages


def test_tie_across_a_comment_line_is_kept_and_comments_are_left_alone():
    # the comment's letters and dash are no notes and no tie (the old tie check read them as music)
    body = ["A4-|", "% then e-f, a comment", "A4 c-d|", "c2 B2-B2 e2|  % e-f"]
    result = check_tune(HEAD + "\n".join(body) + "\n")
    assert body_of(result) == ["A4-|", "% then e-f, a comment", "A4 cd|", "c2 B2-B2 e2|  % e-f"]
    assert result.repairs == ["line 8: removed a tie that joins no two notes of the same pitch"]


def test_tie_before_a_trailing_comment_joins_the_next_line():
    result = check_tune(HEAD + "A2 B2 c4- % held\nc4 d4|\n")
    assert result.repairs == []
    assert body_of(result) == ["A2 B2 c4- % held", "c4 d4|"]


def test_ending_numbers_and_field_text_are_no_ties():
    result = check_tune(HEAD + "|:A4 B4|1-3 c8:|4 d8|]\n[K:Ador]A8-|[c-eA]8|\n")
    assert body_of(result) == ["|:A4 B4|1-3 c8:|4 d8|]", "[K:Ador]A8-|[ceA]8|"]
    assert result.repairs == ["line 7: removed a tie that joins no two notes of the same pitch"]


def test_line_repairs_read_tokens_as_the_lexer_cuts_them():
    result = check_tune(HEAD + '~z2 ]|A2 **B2 \\% c-d\n.^3 ~[ce]2 "A7 B/3 !a b!c\n')
    assert body_of(result) == ["~z2 ]|A2 B2 % c-d", ' ~[ce]2 "A7" B/2 a bc']
    assert result.repairs == [
        'line 6: removed a stray character "*"',
        'line 6: removed a stray character "*"',
        'line 6: removed a backslash in the middle of a line "\\"',
        'line 7: removed a decoration or accidental with no note ".^3"',
        'line 7: closed an unclosed chord symbol "A7"',
        'line 7: changed the length "/3" to "/2" (a divisor must be a power of 2)',
        'line 7: removed an unclosed ! "!"',
        'line 7: removed an unclosed ! "!"',
    ]


def test_key_and_meter_fields_read_as_abc2midi():
    from musegen.formats.theory import abc_meter, read_key_field

    key = read_key_field("F# dor exp ^g =c clef=treble-8 transpose=-2 % comment")
    assert (key.fifths, key.tonic, key.mode, key.explicit) == (4, "F#", "dorian", True)
    assert key.accidentals == {"G": 1, "C": 0}
    assert (key.clef_octave, key.octave, key.transpose) == (-1, None, -2)
    assert read_key_field("Fb").fifths == 4  # beyond 7 flats: wraps round by 12, as abc2midi
    assert read_key_field("HP").fifths == 2 and read_key_field("treble").fifths is None
    assert [abc_meter(m) for m in ("C|", "none", "2+3/8", "3/0", "x")] == [(2, 2), (4, 4), (5, 8), None, None]


# -- the form of a tune as it is drawn (grammar.TuneForm) --------------------------------------------------

ABACUS = ('X: 1\nT:Abacus\nS:x\nM:6/8\nK:G\n"G"g2g B^AB|d2d G3|"Em"GAB "Am"A2A|"D7"ABc "G"BAG|\n'
          '"G"g2g B^AB|d2d G2G|"Em"GAB "Am"A2G|"D7"FGA "G"G3:|\n|:"D7"A^GA DFA|"G"B^AB G3|"A7"^c=c^c A^ce|'
          '"D7"fef def|\n"G"g2g de=f|"E7"e2e Bcd|"Am"c2c "D7"Adc| [1"G"B2A G3:|\n [2"G"B2A G3||\n')
DWARF = ('X: 3\nT:Dwarf\nM:6/8\nK:D\nA|"D" def fed|"G" BdB AFD|"D"DFA "G"B2 A|"Em" cee "A7" e2 A|\n'
         '"D" def fed|"G" BdB "D"AFD|"D" DFA "G"B2 A|"A7" Add "D" d2:|\n|:e|"D"fga agf|"G" gab "A7"bag|'
         '"D"fga "D"agf|"Em" gfg "A7"e2 g|\n"D"fga agf|"G"gab "A7"bag|"D" fga "A7"efg|"D" fdd d2:|\n')


def _follow(text, request=None):
    from musegen.formats.abc.grammar import TuneForm

    form = TuneForm(request)
    for i, ch in enumerate(text):
        assert form.allows(ch), f"refused {ch!r} after {text[max(0, i - 30):i]!r}"
        form.feed(ch)
    return form


@pytest.mark.parametrize("tune", [ABACUS, DWARF])
def test_the_form_follows_nottingham_jigs_written_in_it(tune):
    form = _follow(tune)
    assert not form.free and form.can_end() and form.part == 2
    assert check_tune(tune, repair=False).valid


@pytest.mark.parametrize("text, refused", [
    ("X:1\nT:t\n", "K"),  # the meter comes before the key
    ("X:1\nT:t\nM:6/8\nK:G\nGAB c2", "|"),  # a bar line before the bar is full
    ("X:1\nT:t\nM:6/8\nK:G\nGAB c2d", "e"),  # a note after it is full
    ("X:1\nT:t\nM:6/8\nK:G\nGAB c", "4"),  # a note longer than what is left
    ("X:1\nT:t\nM:6/8\nK:G\nGAB c2d|e3 d3|GAB c2d|e3 d3|GAB c2d|e3 d3|GAB c2d|e3 d3", "|"),  # 8 bars: :| only
    ("X:1\nT:t\nM:6/8\nK:G\nD|GAB c2d|e3 d3|GAB c2d|e3 d3|GAB c2d|e3 d3|GAB c2d|e3 d", "3"),  # closing bar: 5/8
    ("X:1\nT:t\nM:6/8\nK:G\nD|GAB c2d|e3 d3|GAB c2d|e3 d3|GAB c2d|e3 d3|GAB c2d|e3 d2:|\n|:D", "E"),  # pickup
    ("X:1\nT:t\nM:6/8\nK:G\nGAB c2d-|", "e"),  # a tie joins notes of one pitch
    ("X:1\nT:t\nM:6/8\nK:G\n\"G", "|"),  # a chord symbol is closed, then a note comes
])
def test_the_form_refuses_what_would_not_play_as_a_dance_tune(text, refused):
    form = _follow(text)
    assert not form.allows(refused)
    assert not form.can_end()


def test_the_form_writes_the_meter_and_key_asked_and_ends_after_the_parts_asked():
    from musegen.formats.abc.grammar import FormRequest

    form = _follow("X: 1\nT:t\nM", FormRequest(meter="3/4", key="Ador", parts=1))
    assert form.forced() == ":3/4\n"
    form = _follow("X: 1\nT:t\nM:3/4\nK", FormRequest(meter="3/4", key="Ador", parts=1))
    assert form.forced() == ":Ador\n"
    tune = "X: 1\nT:t\nM:3/4\nK:Ador\n" + "|:" + "A2B2c2|" * 7 + "A6:|\n"
    form = _follow(tune, FormRequest(meter="3/4", key="Ador", parts=1))
    assert form.can_end() and form.must_end()


@pytest.mark.parametrize("seed", range(3))
def test_taking_a_character_is_allowing_then_feeding_it_and_a_refusal_leaves_the_form_as_it_was(seed):
    """``take`` (what the sampler calls) keeps the form exactly as ``allows`` then ``feed`` would, character by
    character along a random walk, and a refused character changes nothing."""
    import random
    import string

    from musegen.formats.abc.grammar import FormRequest, TuneForm

    def state(form):
        return [getattr(form, name) for name in TuneForm.__slots__]

    rng = random.Random(seed)
    chars = list("\n \"#',-/0123456789:=[]^_|~" + string.ascii_letters)
    form = TuneForm(FormRequest(meter=("6/8", "2/4", "3/4")[seed], parts=1))
    form.feed_text("X:")
    taken = refused = 0
    while not form.must_end():
        before = state(form)
        allowed = []
        for ch in chars:
            trial = form.copy()
            if trial.take(ch):
                fed = form.copy()
                assert form.allows(ch)
                fed.feed(ch)
                assert state(trial) == state(fed), ch
                allowed.append(ch)
                taken += 1
            else:
                assert not form.allows(ch) and state(trial) == before, ch
                refused += 1
            assert state(form) == before
        forced = form.forced()
        assert allowed or forced, "nothing allowed"
        form.feed(forced[0] if forced else rng.choice(allowed))
    assert taken > 100 and refused > 1000 and not form.free


@pytest.mark.parametrize("seed", range(12))
def test_any_walk_the_form_allows_plays_without_a_bar_warning(seed):
    """Characters drawn at random among those the form allows make a tune abc2midi plays with every bar full."""
    import random
    import string

    from musegen.formats.abc.check import tune_shape
    from musegen.formats.abc.grammar import FormRequest, TuneForm

    rng = random.Random(seed)
    chars = list("\n \"#',-/0123456789:=[]^_|~" + string.ascii_letters)
    weights = {c: 8 for c in "abcdefgABCDEFG"} | {"2": 3, "3": 3, "|": 3}
    parts = seed % 4
    request = FormRequest(meter=("6/8", "4/4", "3/4", "9/8")[seed % 4], key="G" if seed % 2 else "", parts=parts)
    form, text = TuneForm(request), "X:"
    form.feed_text(text)
    while not (form.must_end() and text.endswith("\n")) and not (form.can_end() and rng.random() < 0.2):
        forced = form.forced()
        allowed = [c for c in chars if form.allows(c)] if not forced else [forced[0]]
        assert allowed, f"nothing allowed after {text[-40:]!r}"
        ch = rng.choices(allowed, [weights.get(c, 1) for c in allowed])[0]
        form.feed(ch)
        text += ch
    assert not form.free
    result = check_tune(text, repair=False)
    assert result.valid, (result.problems, text)
    shape = tune_shape(text)
    assert shape.repeats and shape.meter == request.meter and (shape.key == "G" or not request.key)
    assert shape.parts == parts if parts else shape.parts in (2, 3)
    assert 8 * shape.parts <= shape.bars <= 9 * shape.parts  # 8 bars a part, and a pickup


def test_the_form_begins_only_keys_the_vocabulary_can_spell():
    """A small corpus's vocabulary may lack the "j" of "Amaj": the form must not begin a key it cannot finish
    (it left the tune with nothing allowed, and the tune ended in its header)."""
    from musegen.formats.abc.grammar import FormRequest, TuneForm

    alphabet = frozenset("X:1\nM6/8K ABCDEFGabcdefgmin|")
    form = TuneForm(FormRequest(), alphabet=alphabet)
    form.feed_text("X:1\nM:6/8\nK:Am")
    assert not form.allows("a")  # "Ama..." needs a "j"
    assert form.allows("i") and form.allows("\n")  # "Amin", "Am"
    assert TuneForm(FormRequest()).key_prefixes >= {"Ama", "Amaj"}  # without an alphabet, every key
