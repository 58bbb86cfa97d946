"""The form of a tune as it is written, character by character: what may come next so that it plays right.

:class:`TuneForm` follows an ABC tune while it is being generated and says
which characters may come next (:meth:`TuneForm.allows`) so that the tune,
read by abc2midi, has the form of a dance tune:

* a header (``X:``, a title and source, the meter and key asked, if any,
  ``M:`` before ``K:``; no part order ``P:``, which abc2midi would follow);
* two or three parts (or the number asked) of eight bars, each repeated
  (``:|``), or closed by a first and second ending (``[1`` ... ``:|`` ``[2``
  ... ``||``);
* every bar full, but for a pickup that opens each part and the closing bar
  of each part that it completes (``D|GAB ... e3 d2:|``), the way abc2midi
  checks bars through repeats (see :func:`musegen.formats.abc.player.bar_lengths`):
  the tune's first bar decides the pickup, every part opens with the same one,
  inside its repeat;
* notes, rests and chord symbols only (no tuplets, broken rhythm, chords in
  brackets, grace notes or slurs), lengths that fit what is left of the bar.

A text the form cannot follow (a primer of the user's own that breaks it)
makes :attr:`TuneForm.free` True: from there on everything is allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from operator import attrgetter

from musegen.formats.theory import abc_meter, default_unit

PART_BARS = 8  # bars of a part, the closing bar counted, the pickup not
NEWLINE = "\n"
_HEADER_FIELDS = set("TSMKLNCR")  # fields the model may write in the header (X: comes first)
_TEXT_FIELDS = set("TSNCR")  # fields holding free text
_MAX_FIELD = 60  # characters of a header value
_NOTE_LETTERS = set("ABCDEFGabcdefg")
# chord symbols the form writes: a root, a type abc2midi knows (with the Nottingham d, a), an optional bass
_CHORD_TYPES = ("", "m", "7", "m7", "maj7", "6", "m6", "9", "dim", "aug", "sus4", "d", "a", "d7", "a7", "7b9",
                "m7b5", "dim7", "+")
_BASSES = ("",) + tuple(f"/{n}{a}" for n in "ABCDEFGabcdefg" for a in ("", "#", "b", "+"))
_CHORDS = frozenset(r + a + t + b for r in "ABCDEFG" for a in ("", "#", "b") for t in _CHORD_TYPES for b in _BASSES)
_CHORD_PREFIXES = frozenset(c[:i] for c in _CHORDS for i in range(1, len(c) + 1))
_MODES = ("", "m", "min", "maj", "dor", "mix", "aeo", "ion", "phr", "lyd", "loc", "Maj", "Min", "Dor", "Mix")
_KEYS = frozenset(t + a + m for t in "ABCDEFG" for a in ("", "#", "b") for m in _MODES)
_KEY_PREFIXES = frozenset(k[:i] for k in _KEYS for i in range(1, len(k) + 1))
_METER = re.compile(r"^(\d{1,2})/(\d{1,2})$")
_METER_PREFIX = re.compile(r"^(?:[1-9]|1[0-2]?)(?:/[248]?)?$")
_UNITS = {"1/4": 4, "1/8": 8, "1/16": 16}
_SHORTEST = Fraction(1, 8)  # the shortest note, in units of L
_DENOMINATORS = {"2": 2, "4": 4, "8": 8}
SWUNG = {"hornpipe": "Hornpipe"}  # rhythms written in an R: field (abc2midi plays pairs of eighths long-short)
UNITS = {"reel": "1/4", "waltz": "1/4"}  # rhythms the Nottingham tunes write with L:1/4
RHYTHMS = {  # a dance rhythm and the meter it is written in (the Nottingham tunes' usage)
    "jig": "6/8",
    "reel": "4/4",
    "hornpipe": "4/4",
    "polka": "2/4",
    "waltz": "3/4",
    "slip-jig": "9/8",
}


@dataclass(frozen=True)
class FormRequest:
    """What a generated tune must have: ``meter`` (``"6/8"``) and ``key`` (``"G"``) as written in the
    header, or "" for the network's choice; ``parts``: how many 8-bar parts (0: two or three, the
    network's choice); ``rhythm`` and ``unit``: ``R:`` and ``L:`` fields written after the meter, or ""."""

    meter: str = ""
    key: str = ""
    parts: int = 0
    rhythm: str = ""  # an R: line written after the meter (abc2midi swings a "Hornpipe")
    unit: str = ""  # an L: line written after the meter (and rhythm): "1/4" for the Nottingham reels
    keys: frozenset[str] = frozenset()  # with no key asked, the keys the network may choose among (empty: any)

    @property
    def key_prefixes(self) -> frozenset[str]:
        """What a ``K:`` value may begin with."""
        if not self.keys:
            return _KEY_PREFIXES
        return frozenset(k[:i] for k in self.keys for i in range(1, len(k) + 1))

    @property
    def most_parts(self) -> int:
        return self.parts or 3

    @property
    def fewest_parts(self) -> int:
        return self.parts or 2


def valid_meter(text: str) -> bool:
    """True for a meter the form can fill: ``N/D`` with D 2, 4 or 8 and a bar of 1 to 12 beats."""
    m = _METER.match(text.strip())
    return bool(m) and m.group(2) in _DENOMINATORS and 1 <= int(m.group(1)) <= 12


def valid_key(text: str) -> bool:
    """True for a key the form writes: a tonic, ``#`` or ``b``, an optional mode (``G``, ``F#m``, ``Ador``)."""
    return text.strip() in _KEYS


class TuneForm:
    """The state of one tune being written (see the module's description).

    :meth:`allows` says whether a character may come next, :meth:`feed`
    takes it, :meth:`can_end` says whether the tune may end here and
    :meth:`must_end` whether nothing else may come.
    """

    __slots__ = ("request", "key_prefixes", "free", "header", "line_start", "field", "value", "fields", "forced_text",
                 "meter", "unit", "full", "pickup", "part", "bars", "pos", "note", "quote", "chord_pending",
                 "bar_token", "ending", "need_second", "part_done", "done", "prev", "part_notes", "opened",
                 "in_pickup", "last_note", "tie")

    def __init__(self, request: FormRequest | None = None, *, alphabet: frozenset[str] | None = None) -> None:
        """``alphabet``: the characters the network can write (its vocabulary), where a key needs one it may
        lack (``Amaj`` without a ``j``): only keys spelled with them are begun, so the form never reaches a
        state that allows nothing."""
        self.request = request or FormRequest()
        self.key_prefixes = self.request.key_prefixes
        if alphabet is not None:
            keys = [k for k in (self.request.keys or _KEYS) if set(k) <= alphabet]
            self.key_prefixes = frozenset(k[:i] for k in keys for i in range(1, len(k) + 1))
        self.free = False
        self.header = True
        self.line_start = True
        self.field = ""  # header field being written
        self.value = ""  # its value so far
        self.fields: frozenset[str] = frozenset()
        self.forced_text = ""  # characters that must come next
        self.meter: tuple[int, int] | None = None
        self.unit: Fraction | None = None  # L:, a fraction of a whole note
        self.full = Fraction(0)  # a full bar, in units of L
        self.pickup: Fraction | None = None  # decided by the tune's first bar line
        self.part = 0  # parts finished
        self.bars = 0  # bars finished in this part (its pickup not counted)
        self.pos = Fraction(0)  # in the current bar, units of L
        self.note: list | None = None  # the note being written: [numerator, slash, denominator, octave marks]
        self.quote: str | int = -1  # the chord symbol being written, -1 outside one
        self.chord_pending = False  # a chord symbol waits for its note
        self.bar_token = ""  # a bar line being written
        self.ending = 0  # 1: in a first ending, 2: in a second
        self.need_second = False  # a first ending closed: "[2" must come
        self.part_done = False  # the part ended: a new line must come
        self.done = False  # enough parts written and the line ended
        self.prev = ""
        self.part_notes = 0  # notes written in this part
        self.opened = False  # |: written for this part
        self.in_pickup = False  # in the pickup bar that opens a later part
        self.last_note: tuple[str, int] = ("", 0)  # letter and octave marks of the last note written
        self.tie: tuple[str, int] | None = None  # a tie waits for a note of this letter and marks

    def copy(self) -> TuneForm:
        other = TuneForm.__new__(TuneForm)
        for name in TuneForm.__slots__:
            setattr(other, name, getattr(self, name))
        if self.note is not None:
            other.note = list(self.note)
        return other

    # -- what may come ---------------------------------------------------------------------------------
    def allows(self, ch: str) -> bool:
        """True when ``ch`` may come next."""
        return self.free or self.copy()._take(ch)

    def take(self, ch: str) -> bool:
        """Take ``ch`` when it may come next (True), else leave the form as it was (False): what
        ``allows(ch)`` then ``feed(ch)`` do, with the character followed once (a sampler trying characters)."""
        if self.free:
            return True
        state, note = _STATE(self), self.note
        if note is not None:
            self.note = list(note)  # the one part of the state changed in place
        if self._take(ch):
            return True
        for name, value in zip(TuneForm.__slots__, state):
            setattr(self, name, value)
        return False

    def feed(self, ch: str) -> None:
        """Take ``ch`` (from a primer, or drawn); a character the form cannot follow sets it free."""
        if not self.free and not self._take(ch):
            self.free = True

    def feed_text(self, text: str) -> None:
        for ch in text:
            self.feed(ch)

    def can_end(self) -> bool:
        """True when the tune may end here (every part asked written, the last line ended)."""
        return self.free or (self.done and self.prev == NEWLINE)

    def must_end(self) -> bool:
        """True when nothing but the end may come."""
        return not self.free and self.done and self.part >= self.request.most_parts

    def forced(self) -> str:
        """The characters that must come next, if only one way is open (else "")."""
        return "" if self.free else self.forced_text

    # -- taking one character ------------------------------------------------------------------------
    def _take(self, ch: str) -> bool:
        if self.forced_text:
            if ch != self.forced_text[0]:
                return False
            self.forced_text = self.forced_text[1:]
        ok = self._header(ch) if self.header else self._body(ch)
        if ok:
            self.prev = ch
        return ok

    # header -----------------------------------------------------------------------------------------
    def _header(self, ch: str) -> bool:
        if self.line_start:
            if not self.fields:  # the first line is X:
                if ch != "X":
                    return False
            elif ch not in _HEADER_FIELDS or (ch in self.fields and ch != "S"):
                return False
            elif ch == "K" and "M" not in self.fields:
                return False  # the meter comes before the key
            elif ch == "R" and self.request.rhythm and "M" not in self.fields:
                return False  # the rhythm asked comes after the meter
            self.field, self.value, self.line_start = ch, "", False
            self.fields = self.fields | {ch}
            self.forced_text = ":" + self._asked(ch)
            return True
        if self.value == "" and ch == ":":
            self.value = ":"
            return True
        if ch == NEWLINE:
            return self._end_field()
        if len(self.value) > _MAX_FIELD:
            return False
        value = self.value[1:] + ch
        f = self.field
        if f == "X" and not re.match(r"^ ?\d{0,4}$", value):
            return False
        if f == "M" and not _METER_PREFIX.match(value):
            return False
        if f == "L" and not any(u.startswith(value) for u in _UNITS):
            return False
        if f == "K" and value not in self.key_prefixes:
            return False
        self.value += ch
        return True

    def _asked(self, field: str) -> str:
        """The value the request fixes for a header field, with its line end (else "")."""
        if field == "M" and self.request.meter:
            return self.request.meter + NEWLINE
        if field == "K" and self.request.key:
            return self.request.key + NEWLINE
        if field == "R" and self.request.rhythm:
            return self.request.rhythm + NEWLINE
        if field == "L" and self.request.unit:
            return self.request.unit + NEWLINE
        return ""

    def _next_asked_field(self) -> None:
        """After the meter: the R: and L: lines asked and not yet written must come."""
        if self.request.rhythm and "R" not in self.fields:
            self.forced_text = "R"
        elif self.request.unit and "L" not in self.fields:
            self.forced_text = "L"

    def _end_field(self) -> bool:
        value = self.value[1:].strip()
        f = self.field
        if f == "X" and not value.isdigit():
            return False
        if f == "M":
            if not valid_meter(value):
                return False
            self.meter = abc_meter(value)
            self._next_asked_field()
        elif f == "L":
            if value not in _UNITS:
                return False
            self.unit = Fraction(1, _UNITS[value])
        elif f == "K":
            if not valid_key(value) or (self.request.keys and value not in self.request.keys):
                return False
            self._start_body()
        elif f in _TEXT_FIELDS and not value:
            return False
        elif f == "R" and "M" in self.fields:
            self._next_asked_field()
        self.line_start = True
        self.field = ""
        return True

    def _start_body(self) -> None:
        num, den = self.meter
        if self.unit is None:
            self.unit = Fraction(1, default_unit(self.meter))
        self.full = Fraction(num, den) / self.unit
        self.header = False
        self.line_start = True

    # body -------------------------------------------------------------------------------------------
    def _capacity(self) -> Fraction:
        """How long the current bar must be."""
        if self.pickup is None:
            return self.full
        if self.in_pickup:
            return self.pickup
        if self.bars == PART_BARS - 1:
            return self.full - self.pickup
        return self.full

    def _body(self, ch: str) -> bool:
        ok = self._body_char(ch)
        if ok and ch != NEWLINE:
            self.line_start = False
        return ok

    def _body_char(self, ch: str) -> bool:
        if self.prev == "[":
            return ch == str(self.ending)
        if self.done:
            if ch == NEWLINE or self.part >= self.request.most_parts:
                return False
            self.done = False  # a further part
        if self.quote != -1:
            return self._in_quote(ch)
        if self.note is not None:
            continues = self._note_length(ch)
            if continues is not None:
                return continues
        if self.prev and self.prev in "^_=~" and ch not in _NOTE_LETTERS and not (ch in "^_" and ch == self.prev):
            return False  # an accidental or a roll wants its note
        if self.bar_token:
            handled = self._bar_more(ch)
            if handled is not None:
                return handled
        if self.part_done:
            if ch != NEWLINE:
                return False
            self._next_part()
            return True
        if self.part > 0 and not self.opened:  # a later part opens with |: (abc2midi wants it before endings)
            return ch == "|" and self._bar_start(ch)
        if self.need_second:
            return self._second_ending(ch)
        if ch == NEWLINE:
            return not self.line_start and self.prev in "|]:" and not self.chord_pending
        if ch == " ":
            return self.prev not in (" ", NEWLINE) and (not self.chord_pending or self.prev == '"')
        if ch in "|:":
            return self._bar_start(ch)
        if ch == "[":
            return self._ending_start()
        if ch == '"':
            if self.chord_pending or not self._room(_SHORTEST):
                return False
            self.quote = ""
            self.chord_pending = True
            return True
        if ch in "~^_=":
            if (ch == "~" and self.prev in "^_=") or self.tie is not None:
                return False  # a tied note has no accidental or roll of its own (abc2midi finds no note to tie)
            return self._room(_SHORTEST)
        if ch in _NOTE_LETTERS or ch == "z":
            if not self._room(_SHORTEST) or (ch == "z" and self.prev in "^_=~"):
                return False
            if self.tie is not None and (ch != self.tie[0] or self.prev in "^_="):
                return False
            self.note = ["", False, "", 0, ch]
            self.chord_pending = False
            self.part_notes += 1
            return True
        if ch == "-":
            if self.prev in "-| :]\"" or self.prev == NEWLINE or self.last_note[0] in ("", "z") or self.tie:
                return False
            if self.pos == self._capacity() and self.bars == PART_BARS - 1 and not self.in_pickup:
                return False  # no tie over the end of a part (abc2midi finds no note after the repeat)
            self.tie = self.last_note
            return True
        return False

    def _next_part(self) -> None:
        self.part_done = False
        self.part += 1
        self.bars = 0
        self.pos = Fraction(0)
        self.part_notes = 0
        self.opened = False
        self.ending = 0
        self.in_pickup = bool(self.pickup)
        self.line_start = True
        self.done = self.part >= self.request.fewest_parts

    def _room(self, length: Fraction) -> bool:
        return self.pos + length <= self._capacity()

    def _in_quote(self, ch: str) -> bool:
        if ch == '"':
            if self.quote not in _CHORDS or not self.quote:
                return False
            self.quote = -1
            return True
        if self.quote + ch not in _CHORD_PREFIXES:
            return False
        self.quote += ch
        return True

    # a note's length ----------------------------------------------------------------------------------
    @staticmethod
    def _note_value(note: list) -> Fraction:
        num = int(note[0]) if note[0] else 1
        if not note[1]:
            return Fraction(num)
        return Fraction(num, int(note[2]) if note[2] else 2)

    def _note_length(self, ch: str) -> bool | None:
        """``ch`` continuing the note (True when it may, False when not), or None when the note ends before it
        (the note's length is then added to the bar)."""
        note = self.note
        left = self._capacity() - self.pos
        if ch in ",'":
            letter = note[4]
            fits = ch == "," and letter.isupper() or ch == "'" and letter.islower()
            if note[0] or note[1] or letter == "z" or not fits or note[3] >= (2 if self.tie is None else self.tie[1]):
                return False
            note[3] += 1
            return True
        if (ch.isdigit() or ch == "/") and self.tie is not None and note[3] != self.tie[1]:
            return False  # a tied note's octave marks come first
        if ch.isdigit():
            if not note[1]:
                if note[0] or ch in "01":
                    return False
                trial = [ch, False, "", note[3], note[4]]
            else:
                if note[2] or ch not in _DENOMINATORS:
                    return False
                trial = [note[0], True, ch, note[3], note[4]]
            if self._note_value(trial) > left:
                return False
            self.note = trial
            return True
        if ch == "/":
            if note[1] or int(note[0] or 1) * _SHORTEST > left:
                return False
            trial = [note[0], True, "", note[3], note[4]]
            self.note = trial
            return True
        value = self._note_value(note)  # the note ends here
        if value > left or (self.tie is not None and self.tie[1] != note[3]):
            return False
        self.note = None
        self.pos += value
        self.last_note = (note[4], note[3])
        self.tie = None
        return None

    # bar lines ---------------------------------------------------------------------------------------------
    def _bar_start(self, ch: str) -> bool:
        if self.chord_pending:
            return False
        self.bar_token = ch
        return any(t.startswith(ch) for t in self._bar_tokens())

    def _bar_tokens(self) -> tuple[str, ...]:
        """The bar lines allowed here."""
        if self.pos == 0 and self.part_notes == 0:
            return () if self.opened else ("|:",)
        if self.pickup is None:  # the tune's first bar: full, or a pickup of at most half a bar
            return ("|",) if self.pos == self.full or 0 < self.pos <= self.full / 2 else ()
        if self.pos != self._capacity():
            return ()
        if self.bars == PART_BARS - 1 and not self.in_pickup:
            return ("||", "|]") if self.ending == 2 else (":|",)
        return ("|",)

    def _bar_more(self, ch: str) -> bool | None:
        token = self.bar_token + ch
        allowed = self._bar_tokens()
        if any(t.startswith(token) for t in allowed):
            self.bar_token = token
            return True
        if self.bar_token not in allowed:
            return False
        self.bar_token = ""
        self._bar_done(token[:-1])
        return None

    def _bar_done(self, token: str) -> None:
        if token == "|:":
            self.opened = True
            return
        if self.pickup is None:
            self.pickup = self.pos if self.pos < self.full else Fraction(0)
            self.bars = 0 if self.pickup else 1
        elif self.in_pickup:
            self.in_pickup = False
        else:
            self.bars += 1
        self.pos = Fraction(0)
        if self.bars == PART_BARS:
            if self.ending == 1:
                self.need_second = True
                self.bars = PART_BARS - 1
            else:
                self.part_done = True

    # endings -----------------------------------------------------------------------------------------------
    def _ending_start(self) -> bool:
        if self.pos != 0 or self.ending or self.bars != PART_BARS - 1 or self.chord_pending or self.in_pickup:
            return False
        self.forced_text = "1"
        self.ending = 1
        return True

    def _second_ending(self, ch: str) -> bool:
        if ch in (" ", NEWLINE):
            return self.prev not in (" ", NEWLINE) or ch == " "
        if ch != "[":
            return False
        self.need_second = False
        self.ending = 2
        self.forced_text = "2"
        return True


_STATE = attrgetter(*TuneForm.__slots__)  # a form's state as a tuple, in the order of its slots
