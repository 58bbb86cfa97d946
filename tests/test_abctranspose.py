"""Tests of musegen.formats.abc.transpose: keys, notes, chords, sounding pitches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from musegen.errors import UsageError
from musegen.formats.abc import read_tunes
from musegen.formats.abc.transpose import transpose_chord, transpose_key, transpose_tune

JIGS = Path(__file__).resolve().parents[1] / "corpora" / "jigs" / "jigs.abc"  # the Nottingham jigs, shipped


# ---------------------------------------------------------------------------
# an independent reading of the pitches (scale construction, not tables)
# ---------------------------------------------------------------------------
_STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MAJOR_PATTERN = [2, 2, 1, 2, 2, 2, 1]
_MODE_START = {"": 0, "maj": 0, "ion": 0, "dor": 1, "phr": 2, "lyd": 3, "mix": 4, "m": 5, "min": 5, "aeo": 5, "loc": 6}


def _key_signature(value: str) -> dict[str, int] | None:
    """Accidental of each letter in the key ``value``, by building its scale."""
    m = re.match(r"\s*([A-G])([#b]?)\s*([A-Za-z]*)", value)
    if not m or value.strip().lower().startswith(("none", "perc", "hp")):
        return None
    letter, acc, mode = m.group(1), {"": 0, "#": 1, "b": -1}[m.group(2)], m.group(3).lower()
    mode = mode if mode in ("", "m") else mode[:3]
    start = _MODE_START.get(mode, 0)
    pattern = _MAJOR_PATTERN[start:] + _MAJOR_PATTERN[:start]
    letters = "CDEFGAB"
    i = letters.index(letter)
    pitch = _STEPS[letter] + acc
    sig = {}
    for k in range(7):
        name = letters[(i + k) % 7]
        sig[name] = (pitch - _STEPS[name] + 6) % 12 - 6
        pitch += pattern[k]
    return sig


def sounding_pitches(tune: str, *, by_letter: bool = True) -> list[int]:
    """MIDI pitches of every note (chords and grace notes too), in text order.

    Bar accidentals hold for the letter in every octave (``by_letter``, as
    abc2midi reads them) or in the same octave only (ABC 2.1).
    """
    pitches: list[int] = []
    sig = dict.fromkeys("CDEFGAB", 0)
    bar: dict[tuple[str, int], int] = {}
    for line in tune.split("\n"):
        if re.match(r"[A-Za-z]:", line):
            if line.startswith("K:"):
                sig = _key_signature(line[2:]) or dict.fromkeys("CDEFGAB", 0)
                bar = {}
            continue
        line = re.sub(r'%.*|"[^"]*"|![^!]*!', " ", line)
        for m in re.finditer(r"\[K:([^\]]*)\]|(\|)|(\^\^|\^|__|_|=)?([A-Ga-g])([,']*)", line):
            if m.group(1) is not None:
                sig = _key_signature(m.group(1)) or dict.fromkeys("CDEFGAB", 0)
                bar = {}
            elif m.group(2):
                bar = {}
            else:
                mark, letter, marks = m.group(3), m.group(4), m.group(5)
                octave = 5 + letter.islower() + marks.count("'") - marks.count(",")
                name = letter.upper()
                where = (name, 0 if by_letter else octave)
                if mark:
                    bar[where] = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}[mark]
                acc = bar.get(where, sig[name])
                pitches.append(12 * octave + _STEPS[name] + acc)
    return pitches


def skeleton(tune: str) -> str:
    """The tune without keys, chord symbols and notes: what must not change."""
    text = re.sub(r"^K:.*$|\[K:[^\]]*\]", "K", tune, flags=re.M)
    text = re.sub(r'"[^"\n]*"', '""', text)
    return re.sub(r"(\^\^|\^|__|_|=)?[A-Ga-g][,']*", "n", text)


# ---------------------------------------------------------------------------
# text-level behaviour
# ---------------------------------------------------------------------------
def test_brief_example():
    assert transpose_tune("K:G\n|GAB c2d|", 2) == "K:A\n|ABc d2e|"


def test_f_sharp_in_d_becomes_g_in_e_flat():
    assert transpose_tune("K:D\n|F2 f|", 1) == "K:Eb\n|G2 g|"


def test_zero_is_identity():
    tune = 'X:1\nK:D\n"D"^F=f|'
    assert transpose_tune(tune, 0) is tune


@pytest.mark.parametrize(
    "key, semitones, expected",
    [
        ("G", 2, "A"),
        ("G", -2, "F"),
        ("D", 1, "Eb"),
        ("A", 1, "Bb"),
        ("C", 6, "F#"),
        ("F", 1, "Gb"),
        ("C", 1, "Db"),
        ("E", 7, "B"),
        ("Am", 1, "Bbm"),
        ("Em", -1, "D#m"),  # six sharps or six flats: the old key's side
        ("Dm", 1, "Ebm"),
        ("Em", 2, "F#m"),
        ("Ador", 2, "Bdor"),
        ("D Mix", 3, "F Mix"),
        ("E minor", 5, "A minor"),
        ("Gm clef=bass", 2, "Am clef=bass"),
        ("none", 3, "none"),
        ("perc", 3, "perc"),
    ],
)
def test_keys(key, semitones, expected):
    assert transpose_key(key, semitones) == expected


def test_key_lines_everywhere():
    tune = "X:1\nK:G\nGA|\nK:D\nDE|[K:Am]AB|"
    assert transpose_tune(tune, 2) == "X:1\nK:A\nAB|\nK:E\nEF|[K:Bm]Bc|"


def test_octaves_move_across_c():
    # B, -> C (octave up), b' -> c'' ; c, is middle C like C: both to D (flat in Db)
    assert transpose_tune("K:C\n|B, b' c, C|", 1) == "K:Db\n|C c'' D D|"
    assert transpose_tune("K:C\n|C c'|", 12) == "K:C\n|c c''|"
    assert transpose_tune("K:C\n|C c|", -1) == "K:B\n|B, B|"


def test_bar_accidentals():
    # abc2midi: ^c holds for every c of the bar, in every octave
    assert transpose_tune("K:G\n|^c c c'|c|", 2) == "K:A\n|^d d ^d'|d|"
    # ABC 2.1: only in its octave; the output says so for both readings
    assert transpose_tune("K:G\n|^c c c'|c|", 2, bar_accidentals="octave") == "K:A\n|^d d =d'|d|"
    # a courtesy accidental stays an accidental
    assert transpose_tune("K:D\n|^f =f f|", 2) == "K:E\n|^g =g g|"
    with pytest.raises(UsageError):
        transpose_tune("K:G\nG|", 2, bar_accidentals="voice")


def test_double_accidental_is_respelled():
    # C# in Bb up a semitone: D natural, which the key of B must cancel
    assert transpose_tune("K:Bb\n|^c d|", 1) == "K:B\n|=d ^d|"
    # Danbury Hill, bar 13: Ab is A natural in Bb minor; the low A too (abc2midi)
    assert transpose_tune("K:Am\n|aA_a AgA|", 1) == "K:Bbm\n|bB=a =A_a=A|"


@pytest.mark.parametrize(
    "chord, semitones, key, expected",
    [
        ("D7", 2, "G", "E7"),
        ("G/b", 2, "G", "A/c#"),
        ("F#m", 1, "D", "Gm"),
        ("Bbm7", 2, "F", "Cm7"),
        ("Cd", 2, "G", "Dd"),
        ("Gm/bb", -2, "Gm", "Fm/ab"),
        ("(E7)", -2, "A", "(D7)"),
        ("E7b9", 5, "Am", "A7b9"),
        ("G D7", 2, "G", "A E7"),
    ],
)
def test_chords(chord, semitones, key, expected):
    tune = f'K:{key}\n"{chord}"G|'
    out = transpose_tune(tune, semitones)
    assert re.search(r'"([^"]*)"', out).group(1) == expected


def test_nottingham_bass_sharp_style_is_kept():
    out = transpose_tune('K:G\n"G/b"G "D/f+"A|', 2)
    assert out == 'K:A\n"A/c+"A "E/g+"B|'
    assert transpose_tune('K:G\n"G/b"G|', 2, bass_sharp="+") == 'K:A\n"A/c+"A|'
    assert transpose_chord("G/B", 2, steps=1) == "A/C#"


def test_annotations_comments_and_decorations_untouched():
    tune = 'K:G\n"^Fine""_D7""<G"">A""@1,1 Coda"!trill!G +fermata+A % G A B\n'
    out = transpose_tune(tune, 2)
    assert out == 'K:A\n"^Fine""_D7""<G"">A""@1,1 Coda"!trill!A +fermata+B % G A B\n'


def test_other_fields_untouched():
    tune = "X:3\nT:Gay Gordons\nC:Ed\nM:6/8\nL:1/8\nK:G\nP:A\nw:Ga-ga\nG|\n"
    out = transpose_tune(tune, 2)
    assert out == "X:3\nT:Gay Gordons\nC:Ed\nM:6/8\nL:1/8\nK:A\nP:A\nw:Ga-ga\nA|\n"


def test_independent_pitch_reader():
    assert sounding_pitches("K:D\n|F ^c =c c|C,|") == [66, 73, 72, 72, 49]
    assert sounding_pitches("K:Ador\n|F f|") == [66, 78]
    assert sounding_pitches("K:C\n|^F f|f|") == [66, 78, 77]
    assert sounding_pitches("K:C\n|^F f|f|", by_letter=False) == [66, 77, 77]


# ---------------------------------------------------------------------------
# every jig, every shift
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jigs():
    return read_tunes(JIGS)


@pytest.mark.parametrize("rule, every", [("letter", 1), ("octave", 4)])
def test_all_jigs_sound_shifted(jigs, rule, every):
    by_letter = rule == "letter"
    bad = []
    for i, tune in enumerate(jigs[::every]):
        before = sounding_pitches(tune, by_letter=by_letter)
        frame = skeleton(tune)
        for k in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6):
            out = transpose_tune(tune, k, bar_accidentals=rule)
            want = [p + k for p in before]
            # the output means the same under both readings of bar accidentals
            readings = (sounding_pitches(out), sounding_pitches(out, by_letter=False))
            if readings != (want, want) or skeleton(out) != frame:
                bad.append((i, k))
    assert bad == []


def test_round_trip(jigs):
    for tune in jigs[::7]:
        before = sounding_pitches(tune)
        for k in (-5, -1, 1, 3, 6):
            assert sounding_pitches(transpose_tune(transpose_tune(tune, k), -k)) == before


def test_jigs_play_shifted_with_the_player(jigs):
    player = pytest.importorskip("musegen.formats.abc.player")

    def melody(tune):
        song, _ = player.abc_to_song(tune)
        return sorted((n.start, n.pitch) for n in song.notes if n.channel == 0)

    for tune in jigs[::17]:
        before = melody(tune)
        for k in (-5, 1, 6):
            after = melody(transpose_tune(tune, k))
            assert [t for t, _ in after] == [t for t, _ in before]
            assert [p for _, p in after] == [p + k for _, p in before]
