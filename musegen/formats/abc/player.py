"""Play ABC tunes into :class:`~musegen.formats.midi.Song` objects, as abc2midi does.

The player follows abc2midi (abcMIDI 4.x) closely, so that a tune converted
here and a tune converted with ``abc2midi`` give the same melody (onsets and
pitches), including abc2midi's particular readings of ABC:

* accidentals last to the end of the bar and apply to the same letter in every
  octave; ties carry them over the bar line;
* broken rhythm is 3:1 (``>``), 7:1 (``>>``), 15:1 (``>>>``) and applies only
  between notes of equal length; ``R:Hornpipe`` swings pairs of eighths 2:1;
* grace notes last a quarter of their written length and steal that time from
  the following note; ``~`` plays a cut (or a cut and a tap on a dotted
  quarter), ``R`` a five-note roll, ``T``/``!trill!`` a trill, ``H`` and
  ``!fermata!`` double the note;
* a chord lasts as long as its first note unless a length follows the ``]``;
* repeats, ``::``, first and second endings (``[1`` ``|1`` ``:|2`` ``[1,3``)
  are expanded with abc2midi's pass counting, missing ``|:`` are assumed at the
  start of the tune, after the previous ``:|`` or at the last ``||``;
* a ``P:`` part order in the header plays the body ``P:`` sections in that
  order; without it body ``P:`` labels (and the Nottingham ``Y:`` field) are
  ignored;
* the unit length defaults from the header meter (below 3/4: 1/16, else 1/8);
* an unclosed chord symbol swallows the rest of its line; unknown characters
  are skipped.

Only the first voice is played.  Chord symbols become an accompaniment (bass
note and chord, abc2midi's default ``fzcz``-like patterns) on channel 1.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction

from musegen.errors import MusegenError
from musegen.formats.abc.lexer import (
    ANNOTATION_MARKS,
    Lexer,
    Token,
    ending_numbers,
    field_line,
    octave_of,
    read_length,
    unix_newlines,
)
from musegen.formats.midi import Note, Song
from musegen.formats.theory import (LETTERS, NATURAL, abc_meter, clef_octave, default_unit, meter_length,
                                    read_key_field, signature)
from musegen.limits import MAX_PARTS_PLAYED

# ---------------------------------------------------------------------------
# constants

MELODY_CHANNEL = 0
CHORD_CHANNEL = 1
MELODY_PROGRAM = 0  # acoustic grand piano, as abc2midi
CHORD_PROGRAM = 24  # nylon guitar for the accompaniment
DEFAULT_QPM = 120.0  # abc2midi's default tempo, quarter notes per minute
MIDDLE_C = 60

_SCALE = {letter.lower(): semitones for letter, semitones in NATURAL.items()}
_LETTERS = LETTERS.lower()
_DECORATION_NAMES = {".": "staccato", "R": "roll", "H": "fermata", "~": "ornament", "T": "trill", "'": "breath"}
_INSTRUCTIONS = {"fermata": "fermata", "trill": "trill", "breath": "breath"}

# chord symbol suffix -> semitones above the root (abc2midi's table, plus the
# Nottingham "d" (diminished) and "a" (augmented) spellings)
_CHORD_TYPES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),
    "M": (0, 4, 7),
    "maj": (0, 4, 7),
    "m": (0, 3, 7),
    "min": (0, 3, 7),
    "mi": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "m7": (0, 3, 7, 10),
    "min7": (0, 3, 7, 10),
    "maj7": (0, 4, 7, 11),
    "M7": (0, 4, 7, 11),
    "6": (0, 4, 7, 9),
    "m6": (0, 3, 7, 9),
    "9": (0, 4, 7, 10, 14),
    "m9": (0, 3, 7, 10, 14),
    "maj9": (0, 4, 7, 11, 14),
    "11": (0, 4, 7, 10, 14, 17),
    "13": (0, 4, 7, 10, 14, 17, 21),
    "aug": (0, 4, 8),
    "+": (0, 4, 8),
    "a": (0, 4, 8),
    "a7": (0, 4, 8, 10),
    "aug7": (0, 4, 8, 10),
    "7#5": (0, 4, 8, 10),
    "dim": (0, 3, 6),
    "d": (0, 3, 6),
    "o": (0, 3, 6),
    "dim7": (0, 3, 6, 9),
    "d7": (0, 3, 6, 9),
    "o7": (0, 3, 6, 9),
    "m7b5": (0, 3, 6, 10),
    "sus": (0, 5, 7),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "7sus4": (0, 5, 7, 10),
    "7b9": (0, 4, 7, 10, 13),
    "7#9": (0, 4, 7, 10, 15),
    "7b5": (0, 4, 6, 10),
    "5": (0, 7),
    "add9": (0, 4, 7, 14),
    "m(maj7)": (0, 3, 7, 11),
    "mmaj7": (0, 3, 7, 11),
}

# abc2midi's default accompaniment pattern for each meter (f: bass, c: chord,
# b: both, z: rest), one letter per equal slot of the bar
_GCHORD_PATTERNS = {
    (2, 2): "fzczfzcz",
    (4, 4): "fzczfzcz",
    (2, 4): "fzcz",
    (6, 4): "fzczfzczfzcz",
    (3, 8): "fzczcz",
    (5, 8): "fzbcz",
    (5, 4): "fzbcz",
    (7, 8): "fzbczcz",
    (7, 4): "fzbczcz",
    (3, 4): "fzczcz",
    (6, 8): "fzcfzc",
    (9, 8): "fzcfzcfzc",
    (12, 8): "fzcfzcfzcfzc",
}

# feature kinds (abc2midi's names)
NOTE, TNOTE, REST, TIE, CHORDON, CHORDOFF, CHORDOFFEX = (
    "NOTE",
    "TNOTE",
    "REST",
    "TIE",
    "CHORDON",
    "CHORDOFF",
    "CHORDOFFEX",
)
GRACEON, GRACEOFF = "GRACEON", "GRACEOFF"
SINGLE_BAR, DOUBLE_BAR, BAR_REP, REP_BAR, DOUBLE_REP = "SINGLE_BAR", "DOUBLE_BAR", "BAR_REP", "REP_BAR", "DOUBLE_REP"
PLAY_ON_REP, PART, TIME, TEMPO, GCHORD, NONOTE = "PLAY_ON_REP", "PART", "TIME", "TEMPO", "GCHORD", "NONOTE"
# bookkeeping items abc2midi stores between notes (line starts and ends, slurs,
# comments, key changes); they play nothing but count when abc2midi looks a
# fixed number of items ahead (ornaments on tied notes)
MARK = "MARK"
GRACESET = "GRACESET"  # %%MIDI grace / gracedivider
_HAS_LENGTH = {NOTE, TNOTE, REST, CHORDOFF, CHORDOFFEX}

_Q_LEN = re.compile(r"^\s*(?:\"[^\"]*\"\s*)?(?:([A-Ga-g])?\s*(\d*)\s*/?\s*(\d*)\s*=)?\s*(\d+)")


class _Feature:
    """One item of the stored tune (abc2midi's ``feature[]`` arrays)."""

    __slots__ = ("kind", "pitch", "length", "pline", "data", "bar")

    def __init__(self, kind: str, pitch: int = 0, length: Fraction = Fraction(0), data=None, bar: int = 0):
        self.kind = kind
        self.pitch = pitch
        self.length = length  # in quarter-note beats
        self.pline = pitch  # pitch without accidentals (for ties across bars)
        self.data = data  # ornament name, ending list, chord symbol, part label...
        self.bar = bar

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.kind}({self.pitch},{self.length},{self.data!r})"


@dataclass
class _Key:
    """A key signature: semitone offset per letter, octave shift, transposition."""

    accidentals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_LETTERS, 0))
    octave: int = 0
    transpose: int = 0
    found: bool = False


def parse_key(text: str, base: _Key | None = None, *, header: bool = False) -> _Key:
    """Parse the value of a ``K:`` field as abc2midi does (read by :func:`~musegen.formats.theory.read_key_field`).

    Parameters
    ----------
    text
        The field value, e.g. ``"Ador"``, ``"D =f"``, ``"Bb mix"``, ``"G clef=treble-8"``.
    base
        The key in force (used for ``exp`` and for fields without a key).
    header
        True for the tune's first ``K:``: ``octave=`` is obeyed there only, and
        ``transpose=`` there is the tune's global transposition.

    Returns
    -------
    _Key
        ``found`` is False when no key signature was given.
    """
    read = read_key_field(text)
    sf, explicit = read.fifths, read.explicit
    mods = {letter.lower(): alter for letter, alter in read.accidentals.items()}
    key = _Key()
    prev = base or _Key()
    if sf is None and not mods:
        key.accidentals = dict(prev.accidentals)
        key.found = False
    else:
        if sf is None:
            explicit = True
        key.accidentals = dict(prev.accidentals) if explicit else _letters_map(signature(sf or 0))
        if explicit and base is None:
            key.accidentals = dict.fromkeys(_LETTERS, 0)
        key.accidentals.update(mods)
        key.found = sf is not None
    if header:
        # in the header octave= wins over a clef's octave; transpose= is global
        key.octave = read.octave if read.octave is not None else (read.clef_octave or 0)
    else:
        # in the body abc2midi only follows an octave clef (treble-8, treble+8)
        key.octave = read.clef_octave if read.clef_octave else prev.octave
    key.transpose = prev.transpose if read.transpose is None else read.transpose
    return key


def _letters_map(by_letter: dict[str, int]) -> dict[str, int]:
    """A per-letter map of :mod:`~musegen.formats.theory` (``"C"``..) keyed by the player's ``"c"``.."""
    return {letter.lower(): value for letter, value in by_letter.items()}


def parse_unit(text: str) -> int | None:
    """Parse an ``L:`` value ``1/N`` into N."""
    m = re.match(r"^\s*1\s*/\s*(\d+)", text)
    if m and int(m.group(1)) > 0:
        return int(m.group(1))
    return None


def parse_tempo(text: str, unit: int) -> float | None:
    """Parse a ``Q:`` value into quarter notes per minute (abc2midi's reading)."""
    m = _Q_LEN.match(text)
    if not m:
        return None
    rel, a, b, n = m.group(1), m.group(2), m.group(3), int(m.group(4))
    if n <= 0:
        return None
    if "=" not in text:
        return float(n)  # abc2midi reads a bare number as quarter notes per minute
    num = int(a) if a else 1
    den = int(b) if b else (2 if "/" in text.split("=")[0] and not b else 1)
    if rel:
        den *= unit
    return n * 4 * num / den


def _parts_spec(text: str) -> str | None:
    """Expand a header ``P:`` part order (``A(AB)2C``) into a string of labels.

    Raises
    ------
    MusegenError
        When the order plays more than :data:`musegen.limits.MAX_PARTS_PLAYED`
        parts (``P:A200000000``), before they are expanded.
    """

    def grow(out: list[str], more: int) -> None:
        if len(out) + more > MAX_PARTS_PLAYED:
            raise MusegenError(f"P:{text.strip()[:40]} plays {len(out) + more:,} parts, more than the "
                               f"{MAX_PARTS_PLAYED:,} a tune may play")

    out: list[str] = []
    stack: list[int] = []
    last = ""
    s = text.split("%", 1)[0].strip()
    i = 0
    while i < len(s):
        c = s[i]
        if c in ". +-":
            i += 1
        elif "A" <= c <= "Z":
            out.append(c)
            last = c
            i += 1
        elif c == "(":
            stack.append(len(out))
            i += 1
        elif c == ")":
            i += 1
            m = re.match(r"\d+", s[i:])
            reps = int(m.group(0)) if m else 1
            i += len(m.group(0)) if m else 0
            if stack:
                start = stack.pop()
                grow(out, (len(out) - start) * (reps - 1))
                out.extend(out[start:] * (reps - 1))
        elif c.isdigit():
            m = re.match(r"\d+", s[i:])
            i += len(m.group(0))
            if out:
                grow(out, int(m.group(0)) - 1)
                out.extend([last] * (int(m.group(0)) - 1))
        else:
            return None  # abc2midi ignores a P: with other characters
    return "".join(out)


# ---------------------------------------------------------------------------
# parsing the body into features


class _TuneParser:
    """Turn one tune's text into abc2midi-style features (first voice only)."""

    def __init__(self, *, chords: bool):
        self.chords = chords
        self.report: list[str] = []
        self.feats: list[_Feature] = []
        self.title = ""
        self.meter = (4, 4)
        self.meter_set = False
        self.unit: int | None = None
        self.tempo = DEFAULT_QPM
        self.parts: str | None = None
        self.header_part_label = False
        self.part_start: dict[str, int] = {}
        self.key = _Key()
        self.work: dict[str, int] = {}
        self.in_body = False
        self.bar = 1
        # parser state (store.c's voice context)
        self.voice_skip = False
        self.voice_names: list[str] = []
        self.voice_numbers: set[int] = {1}
        self.voices_reported: set[int] = set()
        self.chord_decos: set[str] = set()
        self.inslur = False
        self.chord_warned = False
        self.ratio = (3, 1)  # broken rhythm ">": lengths of the two notes, in halves
        self.propagate = 2  # accidentals: 0 this note, 1 same octave, 2 every octave
        self.middle_c = MIDDLE_C
        self.global_transpose = 0
        self.fermata_fixed = False
        self.programs: dict[int, int] = {}
        self.voice_ids: dict[str, int] = {}
        self.voice_octave: int | None = None
        self.lineno = 0
        self._pending_q: str | None = None
        self.bar_first_line: dict[int, int] = {}
        self.bar_ends: dict[int, tuple[int, int, int]] = {}  # bar id -> line, column of its closing bar line, unit
        self.line_offset = 0  # columns left out before the music line
        self.meter_free = False
        self.inchord = False
        self.chordcount = 0
        self.chord_len: Fraction | None = None
        self.chordstart = -1
        self.ingrace = False
        self.tuple_count = 0
        self.tuple_fact = Fraction(1)
        self.laststart = self.lastend = self.thisstart = self.thisend = -1
        self.broken: tuple[str, int] | None = None
        self.broken_pending = -1
        self.broken_stack: tuple | None = None
        self.barpos = Fraction(0)  # position in the bar, whole notes
        self.hornpipe = False
        self.last_len: Fraction | None = None
        self.passback: set[str] = set()
        self.started_music = False
        self.first_music = -1
        self.skipped_lines = 0

    # -- reporting ----------------------------------------------------------
    def note(self, msg: str) -> None:
        line = f"bar {self.bar}: {msg}"
        if line not in self.report:
            self.report.append(line)

    # -- features -----------------------------------------------------------
    def add(self, kind: str, pitch: int = 0, length: Fraction = Fraction(0), data=None) -> _Feature:
        f = _Feature(kind, pitch, length, data, self.bar)
        if not self.voice_skip:
            self.feats.append(f)
        return f

    @property
    def L(self) -> int:
        return self.unit or 8

    def units(self, n: int, m: int) -> Fraction:
        """Length of n/m unit notes in quarter-note beats."""
        return Fraction(4 * n, m * self.L)

    def fermata(self, length: Fraction) -> Fraction:
        """A fermata doubles the note (or adds one unit with ``%%MIDI fermatafixed``)."""
        return length + self.units(1, 1) if self.fermata_fixed else length * 2

    # -- %%MIDI directives ----------------------------------------------------
    def directive(self, text: str) -> None:
        """Handle a ``%%`` line (``%%MIDI ratio 2 1``, ``%%propagate-accidentals octave``...)."""
        words = text.split()
        if not words:
            return
        if words[0] == "MIDI" and len(words) > 1:
            handler = _MIDI_DIRECTIVES.get(words[1])
            if handler is not None:
                handler(self, words[2:])
        elif words[0] == "propagate-accidentals" and len(words) > 1:
            self.propagate = {"not": 0, "octave": 1, "pitch": 2}.get(words[1], self.propagate)

    def _d_ratio(self, args: list[str]) -> None:
        if len(args) >= 2 and args[0].isdigit() and args[1].isdigit() and int(args[0]) and int(args[1]):
            b, a = int(args[0]), int(args[1])
            if a + b % 2 == 1:  # abc2midi's test, precedence included
                a, b = 2 * a, 2 * b
            self.ratio = (b, a)

    def _d_transpose(self, args: list[str]) -> None:
        m = re.match(r"^[+-]?\d+$", args[0]) if args else None
        if m:
            self.global_transpose = int(args[0])

    def _d_rtranspose(self, args: list[str]) -> None:
        m = re.match(r"^[+-]?\d+$", args[0]) if args else None
        if m:
            self.global_transpose += int(args[0])

    def _d_nobarlines(self, args: list[str]) -> None:
        self.propagate = 0

    def _d_barlines(self, args: list[str]) -> None:
        self.propagate = 2

    def _d_middle_c(self, args: list[str]) -> None:
        if args and args[0].isdigit():
            self.middle_c = int(args[0])

    def _d_program(self, args: list[str]) -> None:
        nums = [int(a) for a in args if a.isdigit()]
        if nums and 0 <= nums[-1] <= 127:
            self.programs[MELODY_CHANNEL] = nums[-1]

    def _d_gracedivider(self, args: list[str]) -> None:
        if args and args[0].isdigit() and int(args[0]) >= 2:
            self.add(GRACESET, data=("divider", 1, int(args[0])))

    def _d_grace(self, args: list[str]) -> None:
        m = re.match(r"^(\d+)/(\d+)$", args[0]) if args else None
        if m and 0 < int(m.group(1)) < int(m.group(2)):
            a, b = int(m.group(1)), int(m.group(2))
            # in the header abc2midi only keeps the denominator
            self.add(GRACESET, data=("fraction", a, b) if self.in_body else ("divider", 1, b))

    def _d_fermatafixed(self, args: list[str]) -> None:
        self.fermata_fixed = True

    def _d_fermataproportional(self, args: list[str]) -> None:
        self.fermata_fixed = False

    # -- header -------------------------------------------------------------
    def header_field(self, key: str, value: str) -> None:
        handler = _HEADER_FIELDS.get(key)
        if handler is not None:
            handler(self, value)

    def _h_title(self, value: str) -> None:
        if not self.title:
            self.title = value.strip()

    def _h_meter(self, value: str) -> None:
        self.meter_free = value.strip().lower().startswith("none")
        m = abc_meter(value)
        if m is None:
            self.report.append(f"header: unreadable meter M:{value.strip()} ignored")
            return
        self.meter = m
        self.meter_set = True

    def _h_unit(self, value: str) -> None:
        u = parse_unit(value)
        if u is None:
            self.report.append(f"header: unreadable unit length L:{value.strip()} ignored")
            return
        self.unit = u

    def _h_tempo(self, value: str) -> None:
        self._pending_q = value

    def _h_parts(self, value: str) -> None:
        spec = _parts_spec(value)
        if spec is None:
            self.report.append(f"header: part order P:{value.strip()} not understood, ignored")
            return
        self.parts = spec
        self.header_part_label = len(spec) == 1

    def _h_rhythm(self, value: str) -> None:
        if value.strip().lower().startswith("hornpipe"):
            self.hornpipe = True  # swing pairs of eighths (2/4 and 4/4 only)
            self.ratio = (4, 2)  # and ">" becomes 2:1

    def start_body(self, key_value: str) -> None:
        """The first K: field: finish the header."""
        self.key = parse_key(key_value, header=True)
        if self.voice_octave is not None:
            self.key.octave = self.voice_octave
        if re.search(r"transpose\s*=", key_value, re.IGNORECASE):
            self.global_transpose = self.key.transpose  # abc2midi's global transposition
        self.key.transpose = 0
        if not self.key.found:
            self.report.append(f"header: no key in K:{key_value.strip()}, playing in C")
        if self.unit is None:
            self.unit = default_unit(self.meter)
        self.header_meter = self.meter
        self.header_unit = self.unit
        if self.hornpipe and self.meter not in ((2, 4), (4, 4)):
            self.hornpipe = False
        q = self._pending_q
        if q is not None:
            t = parse_tempo(q, self.unit)
            if t is None:
                self.report.append(f"header: unreadable tempo Q:{q.strip()} ignored")
            else:
                self.tempo = t
        self.in_body = True
        self.voice_skip = False
        self.work = dict(self.key.accidentals)
        if self.parts is not None and self.header_part_label:
            self.part_start[self.parts[0]] = len(self.feats)
            self.add(PART, data=self.parts[0])

    # -- body fields ----------------------------------------------------------
    def body_field(self, key: str, value: str, *, inline: bool = False) -> None:
        handler = _BODY_FIELDS.get(key)
        if handler is not None:
            handler(self, value)

    def _b_key(self, value: str) -> None:
        if self.voice_skip:
            return
        key = parse_key(value, self.key)
        if not key.found and key.accidentals == self.key.accidentals:
            self.key.octave, self.key.transpose = key.octave, key.transpose
            return
        self.key = key
        self.work = dict(key.accidentals)
        self.add(MARK, data="key")

    def _b_meter(self, value: str) -> None:
        m = abc_meter(value)
        if m is None:
            self.note(f"unreadable meter M:{value.strip()} ignored")
            return
        self.meter = m
        self.add(TIME, data=m)

    def _b_unit(self, value: str) -> None:
        u = parse_unit(value)
        if u is None:
            self.note(f"unreadable unit length L:{value.strip()} ignored")
            return
        if not self.voice_skip:
            self.unit = u

    def _b_tempo(self, value: str) -> None:
        t = parse_tempo(value, self.L)
        if t is None:
            self.note(f"unreadable tempo Q:{value.strip()} ignored")
            return
        self.add(TEMPO, data=t)

    def _b_part(self, value: str) -> None:
        if self.parts is None:
            return  # abc2midi ignores body P: without a header part order
        self.voice_skip = False  # a part starts in the first voice
        label = value.strip()[:1]
        if not ("A" <= label <= "Z"):
            self.note(f"part label P:{value.strip()} ignored")
            return
        if self.header_part_label and self.parts[0] == label and label in self.part_start:
            # the header P: was a label, not an order
            self.feats[self.part_start[label]].kind = NONOTE
            self.header_part_label = False
        self._end_chord_for_break()
        self.part_start[label] = len(self.feats)
        self.add(PART, data=label)

    def _b_voice(self, value: str) -> None:
        ident = value.strip().split()[0] if value.strip() else ""
        if not ident:
            return
        number = self.voice_ids.get(ident)
        if number is None:
            if ident.isdigit():
                number = int(ident)
            else:
                number = 1 if not self.voice_ids else max(self.voice_ids.values()) + 1
            self.voice_ids[ident] = number
        self.voice_numbers.add(number)
        skip = number != 1
        if not skip:
            m = re.search(r"\boctave\s*=\s*(-?\d+)", value)
            clef = re.search(r"\bclef\s*=\s*(\S+)", value)
            if m:
                self.key.octave = self.voice_octave = int(m.group(1))
            elif clef and clef.group(1).lower().startswith(("treble", "tenor-8")):
                self.key.octave = self.voice_octave = clef_octave(clef.group(1), 0) or 0
        if skip and number not in self.voices_reported:
            self.voices_reported.add(number)
            self.report.append(f"voice {ident} skipped (only the first voice is played)")
        self.voice_skip = skip

    def _b_info(self, value: str) -> None:
        text = value.strip()
        if text.startswith(("MIDI", "propagate-accidentals")):
            self.directive(text.replace("=", " ", 1) if text.startswith("MIDI=") else text)

    def _end_chord_for_break(self) -> None:
        if self.inchord:
            self.chord_off(None)
        self.tuple_count = 0

    # -- music ----------------------------------------------------------------
    def music_line(self, line: str) -> None:
        if self.voice_skip and "[V:" not in line:
            return
        if not self.started_music:
            self.started_music = True
            self.first_music = len(self.feats) + 1
            self.bar_first_line[1] = self.lineno
        self.add(MARK, data="music line")
        lexer = Lexer(line)
        for tok in lexer.tokens():
            kind = tok.kind
            if kind in ("NOTE", "ACCIDENTAL", "DECO_CHAR"):
                if tok.text == "." and line[tok.end : tok.end + 1] == "(":
                    lexer.pos = tok.start + 2  # abc2midi skips ".("
                    continue
                lexer.pos = tok.start
                self.parse_note(lexer)
            else:
                _MUSIC_TOKENS[kind](self, tok, lexer)
        self.add(MARK, data="music stop")

    # tokens -------------------------------------------------------------------
    def _t_nothing(self, tok: Token, lexer: Lexer) -> None:
        pass

    def _t_stray(self, tok: Token, lexer: Lexer) -> None:
        if tok.text not in "`$":
            self.note(f'stray character "{tok.text}" skipped')

    def _t_length(self, tok: Token, lexer: Lexer) -> None:
        """A length with no note: abc2midi skips it a character at a time."""
        lexer.pos = tok.start + 1
        if tok.text[0] != "/":
            self.note(f'stray character "{tok.text[0]}" skipped')
        elif not self.ingrace:
            self.note('stray "/" skipped')

    def _t_quote(self, tok: Token, lexer: Lexer) -> None:
        text = lexer.s[tok.end :]
        lexer.pos = len(lexer.s)
        self.note(f'unclosed chord symbol "{text.strip()} skipped (rest of the line)')
        # abc2midi still reads the text as a chord name
        self.gchord(text, broken=True)

    def _t_gchord(self, tok: Token, lexer: Lexer) -> None:
        self.gchord(tok.value)

    def gchord(self, text: str, *, broken: bool = False) -> None:
        s = text.strip()
        if not s or s[0] in ANNOTATION_MARKS:
            return  # annotation
        parsed = _parse_chord_symbol(s)
        if parsed is None:
            if not broken and self.chords:
                self.note(f'chord symbol "{s}" not understood, ignored')
            return
        if parsed[1] is None and self.chords:
            self.note(f'unknown chord type in "{s}", played as major')
        self.add(GCHORD, data=parsed)

    def _t_bar(self, tok: Token, lexer: Lexer) -> None:
        text = tok.text
        self.bar_ends[self.bar] = (self.lineno, self.line_offset + tok.start, self.unit or 8)
        if text.startswith("[|"):
            self.bar_line(DOUBLE_BAR)
            if text == "[|:":
                self.bar_line(BAR_REP)
        elif text.startswith(":|"):
            self.bar_line(REP_BAR, tok.ending)
        else:
            self.bar_line(_BAR_KINDS.get(text, SINGLE_BAR), tok.ending)

    def _t_ending(self, tok: Token, lexer: Lexer) -> None:
        self.play_on_rep(tok.ending)

    def _t_slur_open(self, tok: Token, lexer: Lexer) -> None:
        if lexer.char() == "&":
            lexer.pos += 1
            self.note("voice overlay (&) skipped")
            end = lexer.s.find("&)", lexer.pos)
            lexer.pos = len(lexer.s) if end < 0 else end + 2
        elif not self.inslur:
            self.add(MARK, data="slur on")
            self.inslur = True

    def _t_tuplet(self, tok: Token, lexer: Lexer) -> None:
        t, q, r = tok.tuplet
        if not t:  # "(0": abc2midi reads the number, then a slur
            lexer.pos = tok.start + len(re.match(r"\(\d+", tok.text).group(0))
            self._t_slur_open(tok, lexer)
            return
        self.tuple(t, q, r)

    def _t_slur_close(self, tok: Token, lexer: Lexer) -> None:
        if self.inslur:
            self.add(MARK, data="slur off")
            self.inslur = False

    def _t_grace_open(self, tok: Token, lexer: Lexer) -> None:
        if self.ingrace or self.inchord:
            self.note("misplaced grace note { skipped")
            return
        self.ingrace = True
        self.add(GRACEON)
        self.broken_stack = (
            self.laststart,
            self.lastend,
            self.thisstart,
            self.thisend,
            self.broken,
            self.broken_pending,
        )
        self.laststart = self.lastend = self.thisstart = self.thisend = -1
        self.broken_pending = -1

    def _t_grace_close(self, tok: Token, lexer: Lexer) -> None:
        if not self.ingrace:
            self.note("} without { skipped")
            return
        self.ingrace = False
        self.add(GRACEOFF)
        if self.broken_stack is not None:
            (self.laststart, self.lastend, self.thisstart, self.thisend, self.broken, self.broken_pending) = (
                self.broken_stack
            )
            self.broken_stack = None

    def _t_field(self, tok: Token, lexer: Lexer) -> None:
        if not tok.closed:
            self.note(f"inline field [{tok.letter}: not closed")
        if tok.letter == "V":
            self._b_voice(tok.value)
        elif not self.voice_skip:
            self.body_field(tok.letter, tok.value, inline=True)

    def _t_chord_open(self, tok: Token, lexer: Lexer) -> None:
        self.chord_on(set(self.passback))

    def _t_chord_close(self, tok: Token, lexer: Lexer) -> None:
        if not self.inchord and lexer.s[tok.start + 1 : tok.start + 2] == "|":
            lexer.pos = tok.start + 2
            self.bar_line(DOUBLE_BAR)
            return
        n, m, given = read_length(tok.length)
        if not self.inchord:
            self.note("] without [ skipped")
        else:
            self.chord_off((n, m) if given and (n, m) != (1, 1) else None)
        self.passback.clear()

    def _t_rest(self, tok: Token, lexer: Lexer) -> None:
        n, m, _ = read_length(tok.length)
        decos = set(self.passback)
        self.passback.clear()
        self.rest(n, m, decos)

    def _t_measure_rest(self, tok: Token, lexer: Lexer) -> None:
        n, m, _ = read_length(tok.length)
        if m != 1:
            self.note("Z must be followed by a whole number")
        num, den = self.meter
        for k in range(n):
            self.rest(num * self.L, den, set())
            if k != n - 1:
                self.bar_line(SINGLE_BAR)

    def _t_broken(self, tok: Token, lexer: Lexer) -> None:
        c, n = tok.text[0], len(tok.text)
        if n > 3:
            self.note(f"too many {c}'s skipped")
            return
        if self.inchord or self.ingrace:
            self.note(f"broken rhythm {c * n} inside a chord or grace notes skipped")
            return
        self.broken = (c, n)
        self.broken_pending = 0

    def _t_tie(self, tok: Token, lexer: Lexer) -> None:
        if self.feats and not self.voice_skip and self.feats[-1].kind in (CHORDOFF, CHORDOFFEX):
            # tie every note of the chord
            end = len(self.feats) - 1
            for k in range(end, self.chordstart - 1, -1):
                if self.feats[k].kind == NOTE and (k + 1 >= len(self.feats) or self.feats[k + 1].kind != TIE):
                    self.feats.insert(k + 1, _Feature(TIE, bar=self.bar))
            return
        self.add(TIE)

    def _t_bang(self, tok: Token, lexer: Lexer) -> None:
        if lexer.s[tok.end :].strip():
            self.note(f"unclosed {tok.text}...{tok.text} decoration skipped")

    def _t_decoration(self, tok: Token, lexer: Lexer) -> None:
        deco = _INSTRUCTIONS.get(tok.value.strip())
        if deco is not None:
            self.passback.add(deco)

    def _t_overlay(self, tok: Token, lexer: Lexer) -> None:
        """``&``: the rest of the bar is another voice (played by abc2midi on another track)."""
        self.note("voice overlay (&) skipped")
        ends = [k for k in (lexer.s.find("|", lexer.pos), lexer.s.find(":", lexer.pos)) if k >= 0]
        lexer.pos = min(ends) if ends else len(lexer.s)

    # notes ------------------------------------------------------------------
    def _next(self, lexer: Lexer) -> Token | None:
        return lexer.read() if lexer.pos < len(lexer.s) else None

    def _malformed(self, lexer: Lexer) -> None:
        """abc2midi's "Malformed note": skip, and a length that follows with it."""
        self.note("decoration or accidental without a note skipped")
        tok = self._next(lexer)
        if tok is not None and tok.kind == "LENGTH":
            lexer.pos = tok.end

    def parse_note(self, lexer: Lexer) -> None:
        """A note (or rest) with its decorations and accidentals, from ``lexer.pos`` on."""
        decos = set(self.passback)
        if not self.inchord:
            self.passback.clear()
        decos_seen = False
        tok = self._next(lexer)
        while tok is not None and tok.kind == "DECO_CHAR":
            decos_seen = True
            name = _DECORATION_NAMES.get(tok.text)
            if name:
                decos.add(name)
            lexer.pos = tok.end
            tok = self._next(lexer)
        if tok is not None and tok.text[0] == "[" and decos_seen:  # a decorated chord (abc2midi takes any [ here)
            lexer.pos = tok.start + 1
            self.chord_on(decos)
            tok = self._next(lexer)
            if tok is not None and tok.kind == "SPACE":
                lexer.pos = tok.end
                tok = self._next(lexer)
        if self.inchord:
            decos |= self.chord_decos
        if tok is not None and tok.kind == "REST" and tok.letter in "zx":
            lexer.pos = tok.end
            n, m, _ = read_length(tok.length)
            self.rest(n, m, decos)
            return
        acc: int | None = None
        if tok is not None and tok.accidentals:
            signs = tok.accidentals
            sign = signs[:2] if signs[:2] in _ABC2MIDI_ACCIDENTALS else signs[:1]
            acc = _ABC2MIDI_ACCIDENTALS[sign]
            lexer.pos = tok.start + len(sign)
            if len(sign) < len(signs):  # another sign follows: abc2midi's "Malformed note"
                self._malformed(lexer)
                return
            if tok.kind == "ACCIDENTAL":
                tok = self._next(lexer)
        if acc != 0 and tok is not None and tok.kind == "LENGTH":
            # a microtone (^1/4c, or a number straight before the letter): abc2midi
            # bends the pitch of the natural note and makes that letter natural
            # for the rest of the bar
            lexer.pos = tok.end
            acc = 0
            self.note("microtone played as the nearest note")
            tok = self._next(lexer)
            if tok is not None and tok.accidentals:
                tok = None
        if tok is None or tok.kind != "NOTE":
            self._malformed(lexer)
            return
        lexer.pos = tok.end
        letter, octave = tok.letter.lower(), octave_of(tok.letter, tok.marks)
        n, m, _ = read_length(tok.length)
        self.event_note(letter, acc, octave, n, m, decos)

    def pitch_of(self, letter: str, acc: int | None, octave: int) -> tuple[int, int]:
        """MIDI pitch and pitch without accidentals; updates the bar's accidentals.

        An accidental lasts to the bar line for the same letter in every octave
        (abc2midi's default), in the same octave only (``%%propagate-accidentals
        octave``) or not at all (``%%MIDI nobarlines``).
        """
        octave += self.key.octave
        slot = (letter, octave) if self.propagate == 1 else letter
        if acc is None:
            off = self.work.get(slot, self.key.accidentals.get(letter, 0))
        else:
            off = acc
            if self.propagate:
                self.work[slot] = acc
        base = _SCALE[letter] + 12 * octave + self.middle_c + self.key.transpose + self.global_transpose
        return base + off, base

    def event_note(self, letter: str, acc: int | None, octave: int, n: int, m: int, decos: set[str]) -> None:
        if m & (m - 1):
            self.note(f"note length {n}/{m}: the divisor is not a power of 2 (abc2midi plays it oddly)")
        length = self.units(n, m)
        if self.inchord:
            self.chordcount += 1
        if self.tuple_count > 0:
            length *= self.tuple_fact
            n, m = n * self.tuple_fact.numerator, m * self.tuple_fact.denominator
            if not self.ingrace and not self.inchord:
                self.tuple_count -= 1
        if not self.ingrace and not self.inchord:
            self.hornp(n, m * self.L)
        else:
            self.last_len = None
        if not self.ingrace and (not self.inchord or self.chordcount == 1):
            self.add_units(length)
        pitch, pline = self.pitch_of(letter, acc, octave)
        if "fermata" in decos:
            length = self.fermata(length)
        if self.inchord and self.chordcount == 1:
            self.chord_len = length
        ornament = next((d for d in ("trill", "ornament", "roll") if d in decos), None)
        if ornament and self.inchord:
            self.note("rolls and trills are not played in chords")
            f = self.add(NOTE, pitch, length / 2)
            f.pline = pline
            return
        if ornament == "ornament":
            self.ornament(letter, octave, pitch, length)
            return
        if not ornament and ("staccato" in decos or "breath" in decos):
            # abc2midi: the note sounds half its length, a rest takes the other half
            if self.inchord:
                if self.chordcount == 1:
                    self.add(REST, pitch, length)
                f = self.add(NOTE, pitch, length / 2)
                f.pline = pline
            else:
                f = self.add(NOTE, pitch, length / 2)
                f.pline = pline
                self.mark_start()
                self.add(REST, pitch, length / 2)
                self.mark_end()
            return
        f = self.add(NOTE, pitch, length, data=ornament)
        f.pline = pline
        if ornament:
            f.data = (ornament, self._neighbours(letter, octave))
        if not self.inchord:
            self.mark_note()
        if self.inslur and not self.ingrace and not ornament:
            self.add(MARK, data="slur tie")

    def _neighbours(self, letter: str, octave: int) -> tuple[int, int]:
        """Pitches of the scale notes above and below (key signature only)."""
        t = _LETTERS.index(letter)
        up, down = _LETTERS[(t + 1) % 7], _LETTERS[(t + 6) % 7]
        upo = octave + 1 if up == "c" else octave
        downo = octave - 1 if down == "b" else octave
        shift = 12 * self.key.octave + self.middle_c + self.key.transpose + self.global_transpose
        return (
            _SCALE[up] + 12 * upo + shift + self.key.accidentals.get(up, 0),
            _SCALE[down] + 12 * downo + shift + self.key.accidentals.get(down, 0),
        )

    def ornament(self, letter: str, octave: int, pitch: int, length: Fraction) -> None:
        """abc2midi's ``~``: a cut (grace note above); on a dotted quarter a cut and a tap."""
        up, down = self._neighbours(letter, octave)
        unit = self.units(1, 1)
        # abc2midi marks the ornament as starting at the item before it, so a
        # broken rhythm into a "~" note also rescales the note before
        self.mark_start()
        if length == 3 * unit:
            self.add(NOTE, pitch, unit)
            for g in (up, down):
                self.add(GRACEON)
                self.add(NOTE, g, unit)
                self.add(GRACEOFF)
                self.add(NOTE, pitch, unit)
        else:
            self.add(GRACEON)
            self.add(NOTE, up, unit)
            self.add(GRACEOFF)
            self.add(NOTE, pitch, length)
        self.mark_end()
        self.mark_note()  # abc2midi marks the main note once more

    def rest(self, n: int, m: int, decos: set[str]) -> None:
        length = self.units(n, m)
        if "fermata" in decos:
            length = self.fermata(length)
        if self.inchord:
            self.chordcount += 1
        if self.tuple_count > 0:
            length *= self.tuple_fact
            if not self.ingrace and not self.inchord:
                self.tuple_count -= 1
        if self.inchord and self.chordcount == 1:
            self.chord_len = length
        if not self.ingrace and (not self.inchord or self.chordcount == 1):
            self.add_units(length)
        self.last_len = None
        self.add(REST, 0, length)
        if not self.inchord:
            self.mark_note()

    def chord_on(self, decos: set[str]) -> None:
        if self.inchord:
            self.note("nested chord [ skipped")
            return
        self.inchord = True
        self.chord_decos = set(decos)
        self.chordcount = 0
        self.chord_len = None
        self.chordstart = len(self.feats)
        self.chord_warned = False
        self.add(CHORDON)
        self.mark_start()

    def chord_off(self, outer: tuple[int, int] | None) -> None:
        if outer is None:
            length = self.chord_len if self.chord_len is not None else Fraction(0)
            kind = CHORDOFF
        else:
            length = self.units(*outer)
            if self.tuple_count > 0:
                length *= self.tuple_fact
            if "fermata" in self.chord_decos:
                length = self.fermata(length)
            kind = CHORDOFFEX
        self.add(kind, 0, length)
        if kind == CHORDOFFEX and not self.voice_skip:
            for k in range(self.chordstart, len(self.feats) - 1):
                if self.feats[k].kind in (NOTE, TNOTE, REST):
                    self.feats[k].length = length
        self.inchord = False
        self.chordcount = 0
        self.chord_decos = set()
        self.last_len = None
        self.mark_end()
        if self.tuple_count > 0:
            self.tuple_count -= 1

    def tuple(self, n: int, q: int, r: int) -> None:
        if self.tuple_count > 0:
            self.note("nested tuplet skipped")
            return
        count = r or n
        if not q:
            if n < 2 or n > 9:
                self.note(f"tuplet ({n} not supported, skipped")
                return
            if n in (2, 4, 8):
                q = 3
            elif n in (3, 6):
                q = 2
            else:
                q = 3 if self.header_meter[0] % 3 == 0 else 2
        self.tuple_count = count
        self.tuple_fact = Fraction(q, n)

    def add_units(self, length: Fraction) -> None:
        if self.hornpipe:  # the position in the bar only matters for hornpipe swing
            self.barpos += length / 4

    def hornp(self, num: int, den: int) -> None:
        """``R:Hornpipe``: swing pairs of equal eighths (abc2midi's test, on the written length)."""
        if not self.hornpipe:
            return
        meter_num = self.header_meter[0]
        last = self.last_len
        if (
            last is not None
            and num * last[1] == last[0] * den
            and num == 1
            and den * meter_num == 32
            and (
                (meter_num == 4 and self.barpos.denominator == 8) or (meter_num == 2 and self.barpos.denominator == 16)
            )
        ):
            self.broken = (">", 1)
            self.broken_pending = 0
        self.last_len = (num, den)

    def mark_start(self) -> None:
        self.laststart, self.lastend = self.thisstart, self.thisend
        self.thisstart = len(self.feats) - 1 if not self.voice_skip else -1

    def mark_end(self) -> None:
        self.thisend = len(self.feats) - 1 if not self.voice_skip else -1
        if self.broken_pending != -1:
            self.broken_pending += 1
            if self.broken_pending == 1:
                self.broken_adjust()
                self.broken_pending = -1

    def mark_note(self) -> None:
        self.laststart, self.lastend = self.thisstart, self.thisend
        self.thisstart = len(self.feats) - 1 if not self.voice_skip else -1
        self.mark_end()

    def broken_adjust(self) -> None:
        c, mult = self.broken or (">", 1)
        a, b = self.ratio if mult <= 1 else {2: (7, 1), 3: (15, 1)}[mult]
        half = (a + b) // 2
        if c == "<":
            a, b = b, a
        idx = (self.laststart, self.lastend, self.thisstart, self.thisend)
        if -1 in idx:
            self.note("broken rhythm without two notes skipped")
            return
        first, second = self.feats[self.laststart], self.feats[self.thisstart]
        if first.kind in _HAS_LENGTH and second.kind in _HAS_LENGTH and first.length != second.length:
            self.note("broken rhythm between notes of unequal length skipped")
            return
        for k in range(self.laststart, self.lastend + 1):
            if self.feats[k].kind in _HAS_LENGTH:
                self.feats[k].length = self.feats[k].length * a / half
        for k in range(self.thisstart, self.thisend + 1):
            if self.feats[k].kind in _HAS_LENGTH:
                self.feats[k].length = self.feats[k].length * b / half

    def bar_line(self, kind: str, rep: str = "") -> None:
        if self.inchord and not self.chord_warned:
            # abc2midi keeps the chord open: everything up to the next ] sounds at once
            self.chord_warned = True
            self.note("unclosed chord [: the notes up to the next ] sound together (as abc2midi)")
        self.add(kind)
        self.work = dict(self.key.accidentals)
        self.barpos = Fraction(0)
        self.bar += 1
        self.bar_first_line[self.bar] = self.lineno
        if rep:
            self.play_on_rep(rep)

    def play_on_rep(self, rep: str) -> None:
        numbers = ending_numbers(rep)
        if not numbers:
            self.note(f"ending [{rep} not understood, skipped")
            return
        self.add(PLAY_ON_REP, data=numbers)

    def finish(self) -> None:
        if self.inchord:
            self.note("unclosed chord [ at the end of the tune closed")
            self.chord_off(None)
        if self.ingrace:
            self.note("unclosed grace notes {: the notes after it play at their written length")
            self.ingrace = False


_HEADER_FIELDS = {
    "I": _TuneParser._b_info,
    "T": _TuneParser._h_title,
    "M": _TuneParser._h_meter,
    "L": _TuneParser._h_unit,
    "Q": _TuneParser._h_tempo,
    "P": _TuneParser._h_parts,
    "R": _TuneParser._h_rhythm,
    "V": _TuneParser._b_voice,
}
_MIDI_DIRECTIVES = {
    "ratio": _TuneParser._d_ratio,
    "transpose": _TuneParser._d_transpose,
    "rtranspose": _TuneParser._d_rtranspose,
    "nobarlines": _TuneParser._d_nobarlines,
    "barlines": _TuneParser._d_barlines,
    "C": _TuneParser._d_middle_c,
    "program": _TuneParser._d_program,
    "gracedivider": _TuneParser._d_gracedivider,
    "grace": _TuneParser._d_grace,
    "fermatafixed": _TuneParser._d_fermatafixed,
    "fermataproportional": _TuneParser._d_fermataproportional,
}
_BODY_FIELDS = {
    "I": _TuneParser._b_info,
    "K": _TuneParser._b_key,
    "M": _TuneParser._b_meter,
    "L": _TuneParser._b_unit,
    "Q": _TuneParser._b_tempo,
    "P": _TuneParser._b_part,
    "V": _TuneParser._b_voice,
}
_MUSIC_TOKENS = {
    "SPACE": _TuneParser._t_nothing,
    "SPACER": _TuneParser._t_nothing,
    "BACKSLASH": _TuneParser._t_nothing,  # a line continuation (or a stray backslash)
    "STARS": _TuneParser._t_nothing,
    "COMMENT": _TuneParser._t_nothing,
    "STRAY": _TuneParser._t_stray,
    "LENGTH": _TuneParser._t_length,
    "GCHORD": _TuneParser._t_gchord,
    "QUOTE": _TuneParser._t_quote,
    "BAR": _TuneParser._t_bar,
    "ENDING": _TuneParser._t_ending,
    "TUPLET": _TuneParser._t_tuplet,
    "SLUR_OPEN": _TuneParser._t_slur_open,
    "SLUR_CLOSE": _TuneParser._t_slur_close,
    "GRACE_OPEN": _TuneParser._t_grace_open,
    "GRACE_CLOSE": _TuneParser._t_grace_close,
    "FIELD": _TuneParser._t_field,
    "CHORD_OPEN": _TuneParser._t_chord_open,
    "CHORD_CLOSE": _TuneParser._t_chord_close,
    "REST": _TuneParser._t_rest,
    "MEASURE_REST": _TuneParser._t_measure_rest,
    "BROKEN": _TuneParser._t_broken,
    "TIE": _TuneParser._t_tie,
    "DECORATION": _TuneParser._t_decoration,
    "BANG": _TuneParser._t_bang,
    "OVERLAY": _TuneParser._t_overlay,
}
_BAR_KINDS = {"|:": BAR_REP, "||": DOUBLE_BAR, "|]": DOUBLE_BAR, "::": DOUBLE_REP, ":": DOUBLE_BAR}
# abc2midi reads these accidentals (one sign more is a "Malformed note")
_ABC2MIDI_ACCIDENTALS = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0, "=^": 1, "=_": -1}


def _parse_chord_symbol(s: str) -> tuple[int, tuple[int, ...] | None, int | None] | None:
    """``"Am7"``, ``"G/b"``, ``"(D7)"``, ``"F#m"`` -> (root pitch class, intervals, bass pitch class)."""
    if s[0] == "(":
        s = s[1:]
    if not s or s[0].upper() not in _SCALE.keys() | set("ABCDEFG"):
        return None
    if s[0] not in "ABCDEFG":
        return None
    root = _SCALE[s[0].lower()]
    i = 1
    if i < len(s) and s[i] in "#b":
        root += 1 if s[i] == "#" else -1
        i += 1
    j = i
    while j < len(s) and s[j] not in " /()" and j - i < 9:
        j += 1
    name = s[i:j]
    bass = None
    if j < len(s) and s[j] == "/":
        b = s[j + 1 : j + 2]
        if b and b.lower() in _SCALE:
            bass = _SCALE[b.lower()]
            rest = s[j + 2 : j + 3]
            if rest in ("#", "+"):
                bass += 1
            elif rest == "b":
                bass -= 1
    intervals = _CHORD_TYPES.get(name)
    return root % 12, intervals, None if bass is None else bass % 12


# ---------------------------------------------------------------------------
# abc2midi's preprocessing of the stored features


def _insert_missing_repeats(feats: list[_Feature], first_music: int, has_parts: bool) -> None:
    """abc2midi's ``scan_for_missing_repeats``: a ``|:`` where a ``:|`` has none."""
    feats.insert(max(first_music, 0), _Feature(DOUBLE_BAR))
    start = max(first_music, 0)
    found = False
    inserts: list[int] = []
    for i, f in enumerate(feats):
        if f.kind == PART and has_parts:
            found = False
            start = i
        elif f.kind == BAR_REP:
            found = True
        elif f.kind in (REP_BAR, DOUBLE_REP) and not found:
            inserts.append(start + 1)
            found = True
    for pos in reversed(inserts):
        feats.insert(pos, _Feature(BAR_REP))


def _apply_grace(feats: list[_Feature]) -> list[_Feature]:
    """Give grace notes their length and take it from the next note, as abc2midi.

    By default each grace note lasts a quarter of its written length and the
    group's time is stolen from the following note (``%%MIDI gracedivider``
    changes the quarter); with ``%%MIDI grace a/b`` in the body the group takes
    the fraction a/b of the following note.  A group that does not fit in the
    following note or stands just before a bar line is dropped; a group with
    no note after it, or never closed, plays at its written length.
    """
    n = len(feats)
    drop: set[int] = set()
    method, frac_a, frac_b = "divider", 1, 4
    i = 0
    while i < n:
        f = feats[i]
        if f.kind == GRACESET:
            method, frac_a, frac_b = f.data
            i += 1
            continue
        if f.kind != GRACEON:
            i += 1
            continue
        start = i
        end = start + 1
        while end < n and feats[end].kind != GRACEOFF:
            end += 1
        if end >= n:
            break  # unclosed {: abc2midi leaves the notes at their written length
        # host note: the next NOTE or REST (or the chord it opens)
        j = end + 1
        inchord = False
        host = -1
        while j < n and host < 0:
            kind = feats[j].kind
            if kind in (NOTE, REST):
                host = j
            elif kind == CHORDON:
                inchord = True
            elif kind in (SINGLE_BAR, DOUBLE_BAR):
                break  # abc2midi 4.x drops grace notes written just before a bar line
            j += 1
        host_end = host
        if inchord and host >= 0:
            while j < n and feats[j].kind not in (CHORDOFF, CHORDOFFEX):
                j += 1
            host_end = min(j, n - 1)
        total = Fraction(0)
        in_grace_chord = False
        for k in range(start, min(end, n)):
            kind = feats[k].kind
            if kind == CHORDON:
                in_grace_chord = True
            elif kind in (CHORDOFF, CHORDOFFEX):
                in_grace_chord = False
                total += feats[k].length
            elif kind in (NOTE, REST) and not in_grace_chord:
                total += feats[k].length
        if host < 0 and j >= n:
            i = end + 1  # nothing follows: abc2midi plays them at their written length
            continue
        if host < 0 or total == 0:
            drop.update(range(start, min(end + 1, n)))
            i = end + 1
            continue
        host_len = feats[host].length
        if method == "divider":
            remaining = host_len - total / frac_b
            factor = Fraction(1, frac_b)
        else:
            remaining = host_len * (frac_b - frac_a) / frac_b
            factor = host_len * frac_a / (frac_b * total)
        if remaining <= 0:
            drop.update(range(start, min(end + 1, n)))
            i = end + 1
            continue
        for k in range(host, host_end + 1):
            if feats[k].kind in _HAS_LENGTH:
                feats[k].length = remaining
        for k in range(start, min(end, n)):
            if feats[k].kind in _HAS_LENGTH:
                feats[k].length = feats[k].length * factor
        i = end + 1
    if drop:
        return [f for k, f in enumerate(feats) if k not in drop]
    return feats


def _tie_notes(feats: list[_Feature], report: list[str]) -> None:
    """abc2midi's ``tiefix``/``dotie``: merge tied notes into one sounding note."""
    inchord = False
    chord_first: Fraction | None = None
    j = 0
    while j < len(feats):
        f = feats[j]
        k = f.kind
        if k == CHORDON:
            inchord = True
            chord_first = None
        elif k == CHORDOFFEX:
            inchord = False
        elif k == CHORDOFF:
            if inchord and chord_first is not None:
                f.length = chord_first
            inchord = False
        elif k in (NOTE, REST):
            if inchord and chord_first is None:
                chord_first = f.length
        elif k == TIE:
            _do_tie(feats, j, inchord, report)
        j += 1


def _do_tie(feats: list[_Feature], j: int, xinchord: bool, report: list[str]) -> None:
    """Join the note before the tie at ``j`` to the next note of the same pitch.

    Within a bar the pitches must match; after a bar line the same letter and
    octave is enough (the accidental is carried over), as in abc2midi.
    """
    tienote = j
    while tienote > 0 and feats[tienote].kind not in (NOTE, REST):
        tienote -= 1
    tn = feats[tienote]
    if tn.kind != NOTE:
        msg = f"bar {feats[j].bar}: tie without a note before it skipped"
        if msg not in report:
            report.append(msg)
        feats[j].kind = NONOTE
        return
    samechord = inchord = xinchord
    tn.kind = TNOTE
    tie = feats[j]
    tie.kind = REST
    tie.pitch = 0
    tie.length = tn.length
    tied = tn.length
    tietodo = True
    newbar = False
    lastnote = -1
    lasttie = j
    place = j
    done = False
    while place < len(feats) and tied >= 0 and not done:
        g = feats[place]
        kind = g.kind
        if kind in (SINGLE_BAR, BAR_REP, REP_BAR, DOUBLE_BAR):
            newbar = tietodo
        elif kind == NOTE:
            lastnote = place
            if tied == 0 and not tietodo:
                done = True
            if (g.pitch == tn.pitch or (newbar and g.pline == tn.pline)) and tietodo and not samechord:
                tietodo = False
                g.pitch = tn.pitch
                tied += g.length
                tn.length += g.length
                g.kind = REST
                if lasttie != j:
                    feats[lasttie].kind = NONOTE
            if not inchord:
                tied -= g.length
        elif kind == REST:
            if tied == 0 and not tietodo:
                done = True
            if not inchord:
                tied -= g.length
        elif kind == TIE:
            if lastnote >= 0 and feats[lastnote].pitch == tn.pitch and not samechord:
                lasttie = place
                tietodo = True
                if inchord:
                    samechord = True
        elif kind == CHORDON:
            inchord = True
        elif kind in (CHORDOFF, CHORDOFFEX):
            samechord = False
            inchord = False
            tied -= g.length
        place += 1
    if tietodo:
        msg = f"bar {tie.bar}: tie to nothing (no following note of the same pitch)"
        if msg not in report:
            report.append(msg)


def _fix_repeats(feats: list[_Feature], report: list[str]) -> None:
    """abc2midi's ``fixreps``: turn bar lines into the repeat starts a ``:|`` needs."""
    rep_point = 0
    expect = False
    nplays = 0

    def place_start(k: int) -> None:
        kind = feats[k].kind
        if kind in (DOUBLE_BAR, SINGLE_BAR):
            feats[k].kind = BAR_REP
        elif kind == REP_BAR:
            feats[k].kind = DOUBLE_REP

    for j, f in enumerate(feats):
        k = f.kind
        if k == DOUBLE_BAR:
            rep_point = j
        elif k == BAR_REP:
            if expect:
                f.kind = DOUBLE_REP
            expect = True
        elif k == REP_BAR:
            if not expect and nplays < 1:
                place_start(rep_point)
            expect = False
            rep_point = j
        elif k == PLAY_ON_REP:
            if nplays == 0 and not expect:
                place_start(rep_point)
            nplays += 1
        elif k == DOUBLE_REP:
            if not expect:
                place_start(rep_point)
            expect = True


def _expand_ornaments(feats: list[_Feature], tempo: float, unit: int) -> list[_Feature]:
    """Rolls (five equal notes) and trills (alternating with the note above), as abc2midi.

    A trill alternates the note above and the note in steps of the unit length
    divided by the denominator of the note's length, halved until each step is
    no longer than 0.1 s at the header tempo.  An ornament on a tied note plays
    the whole tied length; like abc2midi, the tie's rests are removed from the
    next six items, which may take away the time of a later tie.
    """
    feats = list(feats)
    out: list[_Feature] = []
    us_per_beat = 60_000_000 / tempo
    i = 0
    while i < len(feats):
        f = feats[i]
        if f.kind not in (NOTE, TNOTE) or not isinstance(f.data, tuple):
            out.append(f)
            i += 1
            continue
        kind, (up, down) = f.data
        if f.kind == TNOTE:
            j = i
            for _ in range(6):
                if j < len(feats) and feats[j].kind == REST:
                    pitched = feats[j].pitch != 0
                    del feats[j]
                    if pitched:
                        break
                else:
                    j += 1
        if kind == "roll":
            part = f.length / 5
            for p in (f.pitch, up, f.pitch, down, f.pitch):
                out.append(_Feature(NOTE, p, part, bar=f.bar))
        else:
            units = f.length * unit / 4
            count = units.numerator
            step = Fraction(4, units.denominator * unit)
            while step * us_per_beat > 100_000:
                count *= 2
                step /= 2
            for k in range(count):
                out.append(_Feature(NOTE, up if k % 2 == 0 else f.pitch, step, bar=f.bar))
        i += 1
    return out


# ---------------------------------------------------------------------------
# playing the features (abc2midi's writetrack)


@dataclass(frozen=True)
class BarLength:
    """A bar abc2midi finds of the wrong length as it plays the tune (its ``Bar N has X time units`` warning).

    ``number`` is abc2midi's bar number (counted as it plays: from 0, set
    back at each repeat); ``length`` the bar's length in quarter-note beats
    as played, which may hold the end of an earlier bar that a repeat sign
    carried over; ``meter`` the meter in force; ``repeat`` True when found on
    the second time through a repeat (abc2midi adds ``in repeat``);
    ``written`` the written bars (ids of :attr:`Bar.ident`) whose notes the
    played bar holds, in playing order.
    """

    number: int
    length: Fraction
    meter: tuple[int, int]
    repeat: bool
    written: tuple[int, ...]

    @property
    def units(self) -> Fraction:
        """The length in the meter's beats, as abc2midi prints it (``has 11 time units``)."""
        return self.length * self.meter[1] / 4

    def message(self) -> str:
        """abc2midi's words for it."""
        units = self.units
        text = f"{units.numerator}" + (f"/{units.denominator}" if units.denominator != 1 else "")
        return (f"Bar {self.number} has {text} time units while the time signature has {self.meter[0]}"
                + (" in repeat" if self.repeat else ""))


@dataclass
class _Played:
    notes: list[tuple[Fraction, Fraction, int]] = field(default_factory=list)
    bars: list[Fraction] = field(default_factory=list)
    gchords: list[tuple[Fraction, tuple]] = field(default_factory=list)
    meters: list[tuple[Fraction, int, int]] = field(default_factory=list)
    tempos: list[tuple[Fraction, float]] = field(default_factory=list)
    end: Fraction = Fraction(0)
    bar_lengths: list[BarLength] = field(default_factory=list)


class _BarCheck:
    """abc2midi's bar check as it plays (genmidi.c ``checkbar`` and ``softcheckbar``).

    A single bar line checks the bar; ``||``, ``|]``, ``|:``, ``:|`` and ``::``
    check it only when it is full or longer (or in the first bar), so a short
    bar before them runs on into the next one played: after ``:|`` that is the
    bar after the ``|:`` it goes back to.  The first bar is not checked the
    first time through (an anacrusis), nor is a part played again (``P:``).
    """

    def __init__(self, meter: tuple[int, int] | None) -> None:
        self.meter = meter
        self.length = Fraction(0)
        self.number = 0
        self.written: list[int] = []
        self.found: list[BarLength] = []
        self.again = False  # a P: part played before

    def add(self, length: Fraction, bar: int) -> None:
        self.length += length
        if not self.written or self.written[-1] != bar:
            self.written.append(bar)

    def check(self, pass_: int) -> None:
        meter = self.meter
        if meter is not None and not self.again and self.length and (pass_ == 2 or self.number != 0):
            if self.length != meter_length(meter):
                self.found.append(BarLength(self.number, self.length, meter, pass_ == 2, tuple(self.written)))
        if self.length > 0:
            self.number += 1
        self.length = Fraction(0)
        self.written = []

    def soft(self, pass_: int) -> None:
        if self.meter is None or self.length >= meter_length(self.meter) or self.number <= 0:
            self.check(pass_)


def _play(feats: list[_Feature], parts: str | None, part_start: dict[str, int], report: list[str],
          meter: tuple[int, int] | None = None) -> _Played:
    out = _Played()
    n = len(feats)
    t = Fraction(0)
    j = 0
    inchord = False
    pass_ = 1
    maxpass = 2
    expect = False
    saved = 0
    saved_bar = 0
    partno = -1
    steps = 0
    limit = 200 * (n + 10)
    problems: set[str] = set()
    bars = _BarCheck(meter)
    played_parts: set[str] = set()

    def next_part(place: int) -> int:
        nonlocal partno
        partno += 1
        while parts is not None and partno < len(parts) and parts[partno] not in part_start:
            problems.add(f"part {parts[partno]} is not defined in the body, skipped")
            partno += 1
        if parts is None or partno >= len(parts):
            return n
        return part_start[parts[partno]]

    while j < n:
        steps += 1
        if steps > limit:
            problems.add("repeat structure too tangled, playing stopped")
            break
        f = feats[j]
        k = f.kind
        if k == NOTE:
            out.notes.append((t, f.length, f.pitch))
            if not inchord:
                t += f.length
                bars.add(f.length, f.bar)
        elif k == TNOTE:
            out.notes.append((t, f.length, f.pitch))
        elif k == REST:
            if not inchord:
                t += f.length
                bars.add(f.length, f.bar)
        elif k == CHORDON:
            inchord = True
        elif k in (CHORDOFF, CHORDOFFEX):
            inchord = False
            t += f.length
            bars.add(f.length, f.bar)
        elif k == SINGLE_BAR:
            out.bars.append(t)
            bars.check(pass_)
        elif k == DOUBLE_BAR:
            out.bars.append(t)
            bars.soft(pass_)
        elif k == BAR_REP:
            out.bars.append(t)
            bars.soft(pass_)
            saved, saved_bar = j, bars.number
            expect = True
            pass_ = 1
            maxpass = 2
        elif k == REP_BAR:
            out.bars.append(t)
            bars.soft(pass_)
            if pass_ == 1:
                if expect:
                    pass_ += 1
                    j, bars.number = saved, saved_bar
                    expect = False
            elif pass_ < maxpass:
                expect = False
                pass_ += 1
                j, bars.number = saved, saved_bar
        elif k == PLAY_ON_REP:
            passnum = pass_ if (expect or pass_ > 1) else 1
            if passnum not in f.data:
                j += 1
                while j < n and feats[j].kind not in (REP_BAR, BAR_REP, PART, DOUBLE_BAR, PLAY_ON_REP):
                    j += 1
                bars.number += 1
                if j < n and feats[j].kind == PART:
                    j -= 1
            elif maxpass < 4:
                maxpass = pass_ + 1
        elif k == DOUBLE_REP:
            out.bars.append(t)
            bars.soft(pass_)
            if pass_ > 1:
                expect = True
                saved, saved_bar = j, bars.number
                pass_ = 1
                maxpass = 2
            elif not expect:
                expect = True
                saved, saved_bar = j, bars.number
                pass_ = 1
            else:
                j, bars.number = saved, saved_bar
                pass_ += 1
        elif k == PART:
            if parts is not None:
                j = next_part(j)
                if j >= n:
                    break
                label = feats[j].data
                bars.again = label in played_parts
                played_parts.add(label)
        elif k == GCHORD:
            out.gchords.append((t, f.data))
        elif k == TIME:
            out.meters.append((t, f.data[0], f.data[1]))
            bars.meter = f.data
        elif k == TEMPO:
            out.tempos.append((t, f.data))
        j += 1
    out.end = t
    out.bar_lengths = bars.found
    report.extend(sorted(problems))
    return out


def _accompaniment(played: _Played, meter0: tuple[int, int]) -> list[Note]:
    """Bass notes and chords on channel 1 following abc2midi's default patterns.

    Each bar is cut into equal slots, one per letter of the meter's pattern
    (``fzcfzc`` in 6/8: bass, rest, chord...); from the first chord symbol on,
    a slot plays the bass note (root or the note after ``/``) around C2-B2 or
    the chord around C3-B4 of the chord symbol in force.
    """
    if not played.gchords:
        return []
    notes: list[Note] = []
    meters = [(0.0, *meter0)] + [(float(t), a, b) for t, a, b in played.meters]
    bars = sorted({float(b) for b in played.bars} | {0.0, float(played.end)})
    chords = [(float(t), c) for t, c in played.gchords]
    first = chords[0][0]
    gi = 0
    current = None
    mi = 0
    num, den = meter0
    eps = 1e-9
    for b0, b1 in zip(bars, bars[1:], strict=False):
        if b1 - b0 <= eps:
            continue
        while mi < len(meters) and meters[mi][0] <= b0 + eps:
            num, den = meters[mi][1], meters[mi][2]
            mi += 1
        pattern = _GCHORD_PATTERNS.get((num, den)) or (
            "fzc" * max(1, num // 3) if num % 3 == 0 else "fzcz" * max(1, num // 2)
        )
        slot = 4.0 * num / den / len(pattern)
        s = 0
        while True:
            start = b0 + s * slot
            if start >= b1 - eps:
                break
            while gi < len(chords) and chords[gi][0] <= start + eps:
                current = chords[gi][1]
                gi += 1
            kind = pattern[s % len(pattern)]
            if current is not None and start >= first - eps and kind != "z":
                end = min(start + slot, b1)
                root, intervals, bass = current
                if kind in "fb":
                    notes.append(Note(start, end, 36 + (root if bass is None else bass), 80, CHORD_CHANNEL))
                if kind in "cb":
                    for iv in intervals or _CHORD_TYPES[""]:
                        notes.append(Note(start, end, 48 + root + iv, 70, CHORD_CHANNEL))
            s += 1
    return notes


# ---------------------------------------------------------------------------
# public API


def _split_lines(tune: str) -> list[str]:
    return unix_newlines(tune).split("\n")


def _read_tune(tune: str, *, chords: bool = True) -> _TuneParser:
    """Read a tune's lines into a parser holding its features in written order."""
    parser = _TuneParser(chords=chords)
    lines = _split_lines(tune)
    k_found = False
    ended_at = None
    for idx, raw in enumerate(lines):
        parser.lineno = idx + 1
        stripped = raw.strip()
        if not stripped:
            if parser.in_body:
                if any(x.strip() and not x.lstrip().startswith("%") for x in lines[idx + 1 :]):
                    ended_at = idx
                break
            continue
        if stripped.startswith("%%"):
            parser.directive(stripped[2:])
        if stripped.startswith("%"):
            if parser.in_body:
                parser.add(MARK, data="comment")
                parser.add(MARK, data="line")
            continue
        comment = "%" in raw
        line = raw.split("%", 1)[0].rstrip() if comment else raw.rstrip()
        parser.line_offset = len(line) - len(line.lstrip(" \t"))
        line = line.lstrip(" \t")
        if not line:
            continue
        field = field_line(line)
        if not parser.in_body:
            if field:
                key, value = field
                if key == "K":
                    parser.start_body(value)
                    k_found = True
                else:
                    parser.header_field(key, value)
            continue
        if field:
            key, value = field
            if key == "X":
                ended_at = idx
                break
            parser.body_field(key, value)
        else:
            parser.music_line(line)
        if comment:
            parser.add(MARK, data="comment")
        parser.add(MARK, data="line")
    if not k_found:
        raise MusegenError("no K: field: not an ABC tune that can be played")
    if ended_at is not None:
        parser.report.append(f"line {ended_at + 1}: the tune ends here (blank line or new X:); the rest was ignored")
    parser.finish()
    return parser


@dataclass(frozen=True)
class Bar:
    """One written bar of a tune, as :func:`written_bars` measures it.

    ``length`` is in quarter-note beats (grace notes excluded, chords counted
    once); ``meter`` is the meter in force, or None under ``M:none``;
    ``opens``/``closes`` name the bar lines around it (``start``, ``|``,
    ``||``, ``|:``, ``:|``, ``::``, ``end``); ``ending`` is the ending number
    list when the bar starts a first/second ending; ``line`` is the source line
    (1-based, counting from the tune's first line).
    """

    number: int
    length: Fraction
    meter: tuple[int, int] | None
    opens: str
    closes: str
    ending: frozenset | None
    line: int
    notes: int
    ident: int = 0  # the bar's place among every stretch between bar lines (as BarLength.written names it)

    @property
    def full(self) -> Fraction | None:
        """The length of a full bar under this bar's meter (None when free)."""
        return None if self.meter is None else meter_length(self.meter)


_BAR_NAMES = {SINGLE_BAR: "|", DOUBLE_BAR: "||", BAR_REP: "|:", REP_BAR: ":|", DOUBLE_REP: "::"}


def written_bars(tune: str) -> list[Bar]:
    """The tune's bars in written order (repeats not expanded), with their lengths.

    Empty stretches between two bar lines (``|| |:``) are left out.

    Raises
    ------
    MusegenError
        When the tune has no ``K:`` field.
    """
    return _written_bars(_read_tune(tune, chords=False))


def _written_bars(parser: _TuneParser) -> list[Bar]:
    """The bars of a tune read (see :func:`written_bars`)."""
    meter: tuple[int, int] | None = None if parser.meter_free else parser.header_meter
    bars: list[Bar] = []
    length = Fraction(0)
    notes = 0
    opens = "start"
    ending: frozenset | None = None
    inchord = ingrace = False
    number = 1
    bar_meter = meter
    first_id = 1
    for f in parser.feats:
        k = f.kind
        if k in (NOTE, REST, TNOTE):
            if not inchord and not ingrace:
                length += f.length
            if not ingrace:
                if notes == 0:
                    first_id = f.bar
                notes += 1
        elif k == CHORDON:
            inchord = True
        elif k in (CHORDOFF, CHORDOFFEX):
            inchord = False
            if not ingrace:
                length += f.length
        elif k == GRACEON:
            ingrace = True
        elif k == GRACEOFF:
            ingrace = False
        elif k == TIME:
            meter = f.data
            if notes == 0:
                bar_meter = meter
        elif k == PLAY_ON_REP:
            if notes == 0:
                ending = f.data
        elif k in _BAR_NAMES:
            name = _BAR_NAMES[k]
            if notes or length:
                line = parser.bar_first_line.get(first_id, parser.lineno)
                bars.append(Bar(number, length, bar_meter, opens, name, ending, line, notes, first_id))
                number += 1
                opens = name
            else:
                # an empty stretch (|| |:): the stronger bar line opens the next bar
                opens = name if name != "|" or opens == "start" else opens
            length = Fraction(0)
            notes = 0
            ending = None
            bar_meter = meter
    if notes or length:
        line = parser.bar_first_line.get(first_id, parser.lineno)
        bars.append(Bar(number, length, bar_meter, opens, "end", ending, line, notes, first_id))
    return bars


def _played(tune: str, *, chords: bool) -> tuple[_TuneParser, _Played]:
    """Read a tune and play it as abc2midi does (its features prepared, repeats expanded, bars checked)."""
    parser = _read_tune(tune, chords=chords)
    return parser, _play_read(parser)


def _play_read(parser: _TuneParser) -> _Played:
    """Play a tune read as abc2midi does; its features are changed on the way (read what is written first)."""
    feats = parser.feats
    report = parser.report
    has_parts = parser.parts is not None
    _insert_missing_repeats(feats, parser.first_music, has_parts)
    if has_parts:
        feats.append(_Feature(PART, data=" "))
    feats = _apply_grace(feats)
    _tie_notes(feats, report)
    if not has_parts and len(parser.voice_numbers) == 1:
        _fix_repeats(feats, report)
    feats = _expand_ornaments(feats, parser.tempo, parser.header_unit)
    part_start: dict[str, int] = {}
    for i, f in enumerate(feats):
        if f.kind == PART and f.data != " ":
            part_start[f.data] = i
    meter = None if parser.meter_free else parser.header_meter
    return _play(feats, parser.parts, part_start, report, meter)


def bar_lengths(tune: str) -> list[BarLength]:
    """The bars abc2midi warns about as it plays ``tune`` (``Bar N has X time units while the time signature
    has Y``), in the order it finds them; empty when every bar it plays fits.

    Raises
    ------
    MusegenError
        When the tune has no ``K:`` field.
    """
    return _played(tune, chords=False)[1].bar_lengths


@dataclass(frozen=True)
class BarReport:
    """A tune's bars from one reading of it: ``written`` (:func:`written_bars`), ``played`` (the bars abc2midi
    warns about, :func:`bar_lengths`) and ``ends``: where each written bar ends, its :attr:`Bar.ident` -> (line,
    1-based; column of its closing bar line, 0-based; the unit length's denominator there, ``8`` for ``L:1/8``); a
    bar the tune's end closes has none."""

    written: list[Bar]
    played: list[BarLength]
    ends: dict[int, tuple[int, int, int]]


def bar_report(tune: str) -> BarReport:
    """The :class:`BarReport` of ``tune``: its bars as written and as played, the tune read once.

    Raises
    ------
    MusegenError
        When the tune has no ``K:`` field.
    """
    parser = _read_tune(tune, chords=False)
    written, ends = _written_bars(parser), dict(parser.bar_ends)  # before playing changes the features
    return BarReport(written, _play_read(parser).bar_lengths, ends)


def abc_to_song(tune: str, *, chords: bool = True) -> tuple[Song, list[str]]:
    """Play one ABC tune (text from ``X:`` on) into a Song.

    Parameters
    ----------
    tune
        One tune: header fields then the body.  Broken bodies are played as far
        as possible (abc2midi's way of skipping what it cannot read).
    chords
        Play chord symbols as an accompaniment on channel 1.

    Returns
    -------
    (Song, list of str)
        The song (melody on channel 0, times in quarter-note beats) and a
        report, one short line per thing skipped or repaired.

    Raises
    ------
    MusegenError
        When there is nothing playable at all: no ``K:`` field or no notes.
    """
    parser, played = _played(tune, chords=chords)
    report = parser.report
    melody = []
    for t, d, p in played.notes:
        if d.numerator > 0:
            start = float(t)
            melody.append(Note(start, start + max(float(d), 1 / 480), max(0, min(127, p)), 80, MELODY_CHANNEL))
    if not melody:
        raise MusegenError("no notes to play in this tune")
    song = Song(title=parser.title)
    song.notes = melody
    if chords:
        song.notes += _accompaniment(played, parser.header_meter)
    song.notes.sort(key=lambda n: (n.start, n.channel, n.pitch))
    song.programs = {MELODY_CHANNEL: parser.programs.get(MELODY_CHANNEL, MELODY_PROGRAM)}
    if any(n.channel == CHORD_CHANNEL for n in song.notes):
        song.programs[CHORD_CHANNEL] = CHORD_PROGRAM
    meters = [(0.0, *parser.header_meter)] + [(float(t), a, b) for t, a, b in played.meters]
    song.meters = _dedupe(meters)
    tempos = [(0.0, parser.tempo)] + [(float(t), bpm) for t, bpm in played.tempos]
    song.tempos = _dedupe(tempos)
    return song, report


def _dedupe(items: list[tuple]) -> list[tuple]:
    out: dict[float, tuple] = {}
    for item in sorted(items, key=lambda x: x[0]):
        out[item[0]] = item
    result = []
    for item in out.values():
        if not result or result[-1][1:] != item[1:]:
            result.append(item)
    return result


def abc_to_midi(tune: str, path: str | os.PathLike, *, chords: bool = True, force: bool = False) -> list[str]:
    """Play one ABC tune and write it as a MIDI file.

    Parameters
    ----------
    tune
        One tune, text from ``X:`` on.
    path
        The ``.mid`` file to write.
    chords
        Play chord symbols as an accompaniment on channel 1.
    force
        Replace an existing file.

    Returns
    -------
    list of str
        The report of :func:`abc_to_song`.
    """
    from musegen.formats.midi import write_midi

    song, report = abc_to_song(tune, chords=chords)
    write_midi(song, path, force=force)
    return report
