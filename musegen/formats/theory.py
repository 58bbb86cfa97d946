"""Music theory shared by the formats: letters, keys, modes, key signatures, meters, spelling.

A key signature is counted in fifths (sharps positive, flats negative: D
major is 2, F major -1); a mode's tonic lies :data:`MODES` fifths above the
major tonic of its signature (A minor: 3 fifths above C).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from musegen.errors import UsageError

LETTERS = "CDEFGAB"
#: semitones of each natural above C
NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
#: letters in circle-of-fifths order (F is -1, C is 0): sharps are added in this order
FIFTHS_ORDER = "FCGDAEB"
#: fifths of the major key of each natural (F -1, C 0, G 1...)
FIFTHS = {letter: i - 1 for i, letter in enumerate(FIFTHS_ORDER)}
#: ABC accidental marks on notes and their alterations
NOTE_ACCIDENTAL = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
NOTE_ACCIDENTAL_TEXT = {v: k for k, v in NOTE_ACCIDENTAL.items()}
#: accidentals in key and chord names
NAME_ACCIDENTAL = {"": 0, "#": 1, "b": -1}
NAME_ACCIDENTAL_TEXT = {0: "", 1: "#", -1: "b", 2: "##", -2: "bb"}
#: bass note accidentals in chord symbols (Nottingham writes "+" for sharp)
BASS_ACCIDENTAL = {"": 0, "#": 1, "+": 1, "b": -1, "-": -1}

# A mode's tonic on the circle of fifths, counted from the major tonic of its key
# signature (A minor and C major share 0 sharps: A is 3 fifths above C).  Add an entry here.
MODES: dict[str, int] = {
    "major": 0,
    "minor": 3,
    "dorian": 2,
    "phrygian": 4,
    "lydian": -1,
    "mixolydian": 1,
    "locrian": 5,
}
MODE_ALIASES = {"ionian": "major", "aeolian": "minor"}
#: the ABC spelling of each mode after the tonic (``Am``, ``Ddor``)
ABC_MODES = {"major": "", "minor": "m", "dorian": "dor", "phrygian": "phr", "lydian": "lyd",
             "mixolydian": "mix", "locrian": "loc"}
#: ABC mode words by their first three letters
_MODE_WORDS = {"maj": "major", "ion": "ionian", "min": "minor", "aeo": "aeolian", "dor": "dorian",
               "phr": "phrygian", "lyd": "lydian", "mix": "mixolydian", "loc": "locrian"}

#: spelling of each pitch class when no key helps: (letter, alteration)
SHARP_SPELLING = {0: ("C", 0), 1: ("C", 1), 2: ("D", 0), 3: ("D", 1), 4: ("E", 0), 5: ("F", 0),
                  6: ("F", 1), 7: ("G", 0), 8: ("G", 1), 9: ("A", 0), 10: ("A", 1), 11: ("B", 0)}
FLAT_SPELLING = {0: ("C", 0), 1: ("D", -1), 2: ("D", 0), 3: ("E", -1), 4: ("E", 0), 5: ("F", 0),
                 6: ("G", -1), 7: ("G", 0), 8: ("A", -1), 9: ("A", 0), 10: ("B", -1), 11: ("B", 0)}


def fold(semitones: int) -> int:
    """``semitones`` modulo 12 in -6..5."""
    return (int(semitones) + 6) % 12 - 6


# -- modes and keys -------------------------------------------------------------------------------


def mode_name(name: str | None) -> str:
    """A mode name of :data:`MODES` (``"ionian"`` -> ``"major"``; unknown or None -> ``"major"``)."""
    name = (name or "major").lower()
    name = MODE_ALIASES.get(name, name)
    return name if name in MODES else "major"


def abc_mode(word: str, *, whole: bool = False) -> str | None:
    """The mode an ABC mode word names (``"m"``, ``"min"``, ``"Dor"``, ``"mixolydian"``), else None.

    The first three letters decide (``"m"`` alone is minor); with ``whole``
    the word must also be a start of the mode's full name (``"minx"`` is none).
    """
    low = word.lower()
    if low == "m":
        return "minor"
    name = _MODE_WORDS.get(low[:3]) if len(low) >= 3 else None
    if name is None or (whole and not name.startswith(low)):
        return None
    return MODE_ALIASES.get(name, name)


def mode_degree(mode: str) -> tuple[int, int]:
    """The mode's tonic in its relative major: (scale degree 0..6, semitones above the major tonic)."""
    fifths = MODES[mode_name(mode)]
    return (4 * fifths) % 7, (7 * fifths) % 12


def fifths_name(fifths: int) -> str:
    """The note name at ``fifths`` on the circle of fifths (0 is C, -1 F, 7 C#, 8 G#)."""
    letter = FIFTHS_ORDER[(fifths + 1) % 7]
    sharps = (fifths + 1) // 7
    return letter + ("#" * sharps if sharps > 0 else "b" * -sharps)


def key_name(fifths: int, mode: str) -> tuple[str, str]:
    """The tonic (``"F#"``, ``"Bb"``) and mode of a key signature: ``key_name(2, "minor") == ("B", "minor")``."""
    mode = mode_name(mode)
    return fifths_name(fifths + MODES[mode]), mode


def signature(fifths: int) -> dict[str, int]:
    """Each letter's alteration under a key signature of ``fifths`` (+1 sharp, -1 flat, 2 beyond 7)."""
    sig = {}
    for letter in LETTERS:
        pos = FIFTHS_ORDER.index(letter)
        if fifths >= 0:
            sig[letter] = (fifths - pos + 6) // 7
        else:
            sig[letter] = -((-fifths - (6 - pos) + 6) // 7)
    return sig


def parse_key(text: str) -> tuple[int, str]:
    """``"G"``, ``"Em"``, ``"F# minor"``, ``"Ddor"``, ``"Bb mixolydian"`` -> ``(fifths, mode)``."""
    names = {**{v: k for k, v in ABC_MODES.items() if v}, "min": "minor", "maj": "major", "aeo": "minor",
             "ion": "major", "aeolian": "minor", "ionian": "major", **{m: m for m in MODES}}
    m = re.fullmatch(r"\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)\s*", text or "")
    mode = names.get(m.group(3).lower() if m and m.group(3) else "major") if m else None
    if m is None or mode is None:
        raise UsageError(f"--key {text!r}: give a tonic and a mode, e.g. G, Em, F#m, 'D dorian', Amix")
    tonic = FIFTHS_ORDER.index(m.group(1).upper()) - 1 + 7 * {"": 0, "#": 1, "b": -1}[m.group(2)]
    fifths = tonic - MODES[mode]
    if not -7 <= fifths <= 7:
        raise UsageError(f"--key {text!r}: a key signature of {abs(fifths)} {'sharps' if fifths > 0 else 'flats'}; "
                         "choose a key with at most 7")
    return fifths, mode


# -- meters -----------------------------------------------------------------------------------------


def parse_meter(text: str) -> tuple[int, int]:
    """``"6/8"`` -> ``(6, 8)``."""
    m = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{1,2})\s*", text or "")
    if m is None or int(m.group(2)) not in (1, 2, 4, 8, 16, 32) or not 1 <= int(m.group(1)) <= 32:
        raise UsageError(f"--meter {text!r}: give a time signature such as 6/8, 4/4 or 3/4")
    return int(m.group(1)), int(m.group(2))


def meter_length(meter: tuple[int, int]) -> Fraction:
    """Quarter notes in a full measure of ``meter``."""
    return Fraction(4 * meter[0], meter[1])


def default_unit(meter: tuple[int, int]) -> int:
    """The denominator of the ABC unit note length a tune without ``L:`` has under ``meter``: 16 (a sixteenth)
    below 3/4, else 8 (an eighth), as the ABC standard and abc2midi set it."""
    return 16 if Fraction(meter[0], meter[1]) < Fraction(3, 4) else 8


# -- spelling ---------------------------------------------------------------------------------------


def spell(pitch: int, fifths: int, mode: str = "major") -> tuple[str, int, int]:
    """Spell a MIDI pitch in a key: ``(letter, alteration, octave)``, e.g. ``spell(61, 2) == ("C", 1, 4)``.

    The spelling is the one nearest the key on the line of fifths (single
    sharps and flats only): the key's own notes keep its spelling, a minor
    key's raised sixth and seventh are sharpened (F sharp in G minor), other
    notes lean to sharps in sharp keys and C, to flats in flat keys.
    """
    center = fifths + 2 + (2 if mode_name(mode) == "minor" else 0)
    pc = pitch % 12
    candidates = [pos for pos in range(-8, 13) if (7 * pos) % 12 == pc]  # Fb .. B#: at most one accidental
    pos = min(candidates, key=lambda p: (abs(p - center), -p if fifths >= 0 else p))
    letter, alter = FIFTHS_ORDER[(pos + 1) % 7], (pos + 1) // 7
    octave = (pitch - NATURAL[letter] - alter) // 12 - 1
    return letter, alter, octave


def abc_meter(text: str) -> tuple[int, int] | None:
    """An ABC ``M:`` value as abc2midi reads it: ``(num, den)``, or None when unreadable.

    ``none`` (and an empty value) is read as 4/4, ``C`` as 4/4, ``C|`` as 2/2; the
    numerators of an additive meter are summed (``2+3/8`` is 5/8); a ``%``
    comment is ignored.

    Examples
    --------
    >>> abc_meter("6/8"), abc_meter("C|"), abc_meter("(2+2+3)/8"), abc_meter("x")
    ((6, 8), (2, 2), (7, 8), None)
    """
    s = text.split("%", 1)[0].strip()
    if not s or s.lower().startswith("none"):
        return (4, 4)
    if s[0] in "Cc":
        return (2, 2) if s[1:2] == "|" else (4, 4)
    m = re.match(r"^\(?(\d+(?:\s*\+\s*\d+)*)\)?\s*/\s*(\d+)", s)
    if not m:
        return None
    num = sum(int(x) for x in m.group(1).split("+"))
    den = int(m.group(2))
    if num <= 0 or den <= 0:
        return None
    return num, den


# -- ABC key fields ---------------------------------------------------------------------------------

#: clef names whose word in a ``K:`` field is a clef, not a key
ABC_CLEFS = ("treble", "bass", "alto", "tenor", "baritone", "mezzo", "soprano")


@dataclass(frozen=True)
class KeyField:
    """An ABC ``K:`` field value as abc2midi reads it (see :func:`read_key_field`).

    Attributes
    ----------
    fifths
        The key signature, -7..7 (``HP`` is 2, ``none`` 0); None when no key is named.
    tonic
        The tonic as written, upper case (``"F#"``, ``"Bb"``; ``""`` without one).
    mode
        The mode, a key of :data:`MODES` (``"major"`` when none is named).
    accidentals
        The explicit accidentals (``K:D =c ^g``): letter ``"C"``..``"B"`` -> alteration.
    explicit
        ``exp`` was written: the explicit accidentals make the whole signature.
    clef_octave
        The octave shift of an octave clef (``treble-8`` is -1), None without one.
    octave, transpose
        The ``octave=`` and ``transpose=`` values, None when absent.
    """

    fifths: int | None = None
    tonic: str = ""
    mode: str = "major"
    accidentals: dict[str, int] = field(default_factory=dict)
    explicit: bool = False
    clef_octave: int | None = None
    octave: int | None = None
    transpose: int | None = None


def clef_octave(name: str, current: int | None = None) -> int | None:
    """The octave shift of a clef name (``treble+8`` 1, ``treble-8`` and ``tenor-8`` -1, ``treble`` 0).

    Other clefs keep ``current`` (abc2midi only follows those).
    """
    low = name.lower()
    if low.startswith("treble+8"):
        return 1
    if low.startswith(("treble-8", "tenor-8")):
        return -1
    if low.startswith("treble"):
        return 0
    return current


def _key_word(s: str, i: int) -> tuple[str, int]:
    """abc2midi's ``readword``: a K: word ends at a space, an ``=`` or a second ``^``/``_``."""
    j = i
    while j < len(s) and s[j] not in " \t":
        if (j > i and s[j] == "=") or (j > i + 1 and s[j] in "^_"):
            break
        j += 1
    return s[i:j], j


def _skip_blanks(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t":
        i += 1
    return i


def read_key_field(text: str) -> KeyField:
    """Read an ABC ``K:`` value word by word, as abc2midi does.

    A word starting with ``A``-``G`` (or ``a``-``g`` before any key or
    accidental) is a key: tonic, ``#`` or ``b``, then a mode word, joined or
    as the next word (its first three letters decide, ``m`` is minor);
    signatures beyond 7 wrap round by 12 (``Fb`` is E major).  ``^f``, ``=c``,
    ``__b`` are explicit accidentals, ``exp`` makes them the whole signature,
    ``HP`` is 2 sharps and ``none`` none; clefs, ``clef=``, ``octave=`` and
    ``transpose=`` are read, other words ignored, a ``%`` comment too.

    Examples
    --------
    >>> k = read_key_field("Bb mix ^c")
    >>> k.fifths, k.tonic, k.mode, k.accidentals
    (-3, 'Bb', 'mixolydian', {'C': 1})
    """
    s = text.split("%", 1)[0]
    i = 0
    fifths: int | None = None
    tonic, mode = "", "major"
    explicit = False
    mods: dict[str, int] = {}
    found: dict[str, int | None] = {"clef": None, "octave": None, "transpose": None}
    while True:
        i = _skip_blanks(s, i)
        if i >= len(s):
            break
        word, i = _key_word(s, i)
        low = word.lower()
        if low in ("clef", "transpose", "octave", "middle"):  # name = value
            i = _skip_blanks(s, i)
            value = ""
            if i < len(s) and s[i] == "=":
                value, i = _key_word(s, _skip_blanks(s, i + 1))
            if low == "clef":
                found["clef"] = clef_octave(value, found["clef"])
            elif low in ("transpose", "octave"):
                m = re.match(r"-?\s*\d+", value)
                if m:
                    found[low] = int(m.group(0).replace(" ", ""))
        elif low.startswith(ABC_CLEFS):
            found["clef"] = clef_octave(word, found["clef"])
        elif low in ("hp", "none"):
            fifths, tonic, mode = (2 if low == "hp" else 0), "", "major"
        elif low == "exp":
            explicit = True
        elif word[0] in "ABCDEFG" or (fifths is None and word[0] in "abcdefg" and not mods):
            j = 2 if word[1:2] in ("#", "b") else 1
            tonic = word[:j].upper() if j == 1 else word[0].upper() + word[1]
            mode_word = word[j:]
            if not mode_word:  # the mode may be the next word
                nxt, after = _key_word(s, _skip_blanks(s, i))
                if abc_mode(nxt) is not None:
                    mode_word, i = nxt, after
            mode = abc_mode(mode_word) or "major"
            k = FIFTHS[tonic[0]] + 7 * NAME_ACCIDENTAL[tonic[1:]] - MODES[mode]
            fifths = k - 12 if k > 7 else k + 12 if k < -7 else k
        elif word[0] in "^_=":
            m = re.fullmatch(r"(\^\^|__|\^|_|=)([A-Ga-g])", word)
            if m:
                mods[m.group(2).upper()] = NOTE_ACCIDENTAL[m.group(1)]
    return KeyField(fifths, tonic, mode, mods, explicit, found["clef"], found["octave"], found["transpose"])
