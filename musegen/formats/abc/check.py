"""Check and repair ABC tunes (typically generated ones) before they are written.

:func:`check_tune` looks for what makes a tune unreadable or wrong and repairs
what it safely can:

* header: a missing ``X:`` (added), ``K:`` (``K:C`` added), ``M:`` (reported:
  abc2midi would assume 4/4);
* chord symbols: an unclosed or garbled quote is closed after the chord name it
  starts with (``"A7ec|`` -> ``"A7"ec|``), gets its missing opening quote
  (``-F#7"B`` -> ``-"F#7"B``) or is removed; an empty ``""`` or ``" "`` is removed; a quoted
  word that is no chord becomes an annotation (``"^Segno"``);
* stray characters (``#``, ``@``, a digit or ``/`` with no note, a decoration or
  accidental with no note...) are dropped, ``d,`` is rewritten ``D``;
  accidentals abc2midi cannot read together keep the one it plays
  (``^=c`` -> ``=c``, ``^^^c`` -> ``^c``);
* unmatched ``[`` ``]`` ``{`` ``}`` and ``!`` are dropped, as are ties between
  different notes and ties to nothing (inside a chord too), a broken rhythm between notes of unequal
  length and tuplets abc2midi refuses; a length divisor that is no power of two
  becomes the nearest one (``c/22`` -> ``c/16``);
* repeats: the ``|:`` abc2midi assumes before a ``::`` or first ending is
  written (a ``:|`` before it becomes ``::``, or ``:||:`` when it closed no
  open repeat), a second ``|:`` becomes ``::``, a ``|:`` never closed becomes ``|``,
  an ending that belongs to no repeat loses its number;
* blank lines inside the tune (abc2midi stops at them) and trailing blank lines
  are dropped;
* every bar is measured as abc2midi plays it, through the repeats and endings
  (:func:`musegen.formats.abc.player.bar_lengths`); a short bar it hears is
  completed (its last note lengthened, or a rest added): a bar a single bar
  line closes short, or a part's closing bar that the bar after the repeat
  does not complete (no pickup there, or a shorter one).  A long bar is
  reported.

A bar fits unless abc2midi, playing the tune, warns about a bar that holds
notes of it (``Bar N has X time units while the time signature has Y``): an
anacrusis fits, and so does a short bar closing a part whose pickup, played
after it, completes it.  The same rules apply to human and generated tunes.

:func:`abc2midi_check` runs the real abc2midi on a tune to confirm it reads it.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from musegen.errors import MusegenError
from musegen.formats.abc.lexer import (
    ANNOTATION_MARKS,
    DECORATION_CHARS,
    Lexer,
    Token,
    field_line,
    length_value,
    tokenize,
    unix_newlines,
)
from musegen.formats.theory import meter_length

if TYPE_CHECKING:
    from musegen.formats.abc.player import Bar, BarReport

# a chord symbol: root (or bass note alone), type, optional /bass, optional brackets
_CHORD_NAME = re.compile(
    r"^\(?(?:[A-G][#b]?(?:m|min|maj|M|dim|aug|sus|add|d|a|o|\+|[0-9]|b|#|\(|\))*"
    r"(?:/[A-Ga-g][#b+]?)?|[a-g][#b]?)\)?$"
)
# chord types a chord symbol may have (abc2midi's, with the Nottingham d, a, 7b9...)
_KNOWN_TYPES = {
    "",
    "m",
    "7",
    "m7",
    "maj7",
    "M7",
    "6",
    "m6",
    "aug",
    "+",
    "aug7",
    "dim",
    "dim7",
    "9",
    "m9",
    "maj9",
    "M9",
    "11",
    "13",
    "sus",
    "sus4",
    "sus2",
    "7sus4",
    "5",
    "m7b5",
    "d",
    "a",
    "d7",
    "a7",
    "7b9",
    "7#9",
    "o",
    "o7",
    "add9",
    "min",
    "maj",
    "69",
    "m11",
    "7b5",
    "7#5",
}
_CHORDISH_MARK = re.compile(r"[#b0-9]|m|d$|a$|maj|dim|aug|sus")
_NAME_BEFORE_QUOTE = re.compile(r"(\(?[A-G][#b]?[A-Za-z0-9#+/()]*)(?=\")")
# decoration characters before a note (the lexer's, but for ', which the checker drops as stray)
_DECORATION_CHARS = frozenset(DECORATION_CHARS) - {"'"}
_MAX_PROBLEMS = 50
# what the checker has always read on after a bar line or a tuplet (abc2midi does not):
# ``|-2``, ``:|,3]`` keep an ending of their own, ``(3,2`` ``(3:2:1:2`` are one tuplet sign
_LOOSE_ENDING = re.compile(r"[,-]\d+(?:[,-]\d+)*")
_LOOSE_ENDING_CLOSED = re.compile(_LOOSE_ENDING.pattern + r"\]?")
_LOOSE_TUPLET = re.compile(r"(?:[,-]\d+)*(?::(?:[,-]?\d+(?:[,-]\d+)*)?)*")


@dataclass
class CheckResult:
    """What :func:`check_tune` found and did.

    Attributes
    ----------
    text
        The repaired tune text (the input when ``repair=False``).
    repairs
        One line per repair made.
    problems
        What remains wrong after repair, one line each.
    bars
        Bars checked against the meter.
    bars_fitting
        Bars whose length fits the meter (pickups and the short bars that pair
        with them around repeats and section ends included).
    written
        The bars of the text as written (:func:`musegen.formats.abc.player.written_bars`).
    """

    text: str
    repairs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bars: int = 0
    bars_fitting: int = 0
    written: list[Bar] = field(default_factory=list, repr=False, compare=False)

    def shape(self) -> TuneShape:
        """The form of the text (:func:`tune_shape`), from the bars measured already."""
        return tune_shape(self.text, bars=self.written)

    @property
    def valid(self) -> bool:
        """True when no problem is left."""
        return not self.problems

    @property
    def fitting_rate(self) -> float:
        """Share of bars that fit the meter (1.0 for a tune without bars)."""
        return self.bars_fitting / self.bars if self.bars else 1.0


# ---------------------------------------------------------------------------
# header


_ANY_FIELD = re.compile(r"^([A-Za-z]):")


def _repair_header(lines: list[str], repairs: list[str], problems: list[str], *, repair: bool) -> list[str]:
    """Check X:, M:, K:; add X: and K: when repairing.

    The header runs to the first ``K:`` line; without one, to the first line
    that is neither a field (``T:...``, ``Y:...``) nor a comment.
    """
    k_line = None
    first_music = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        m = _ANY_FIELD.match(stripped)
        if m and m.group(1) == "K":
            k_line = i
            break
        if stripped and not stripped.startswith("%") and not m and first_music == len(lines):
            first_music = i
    header_end = k_line if k_line is not None else first_music
    keys = {m.group(1) for m in (_ANY_FIELD.match(h.strip()) for h in lines[:header_end]) if m}
    out = list(lines)
    if "X" not in keys:
        if repair:
            out.insert(0, "X:1")
            header_end += 1
            if k_line is not None:
                k_line += 1
            repairs.append("added a missing X:1 header line")
        else:
            problems.append("no X: field (a tune starts with X:)")
    if "M" not in keys and not any(re.match(r"^M:|.*\[M:", line.strip()) for line in lines):
        problems.append("no M: field (abc2midi assumes 4/4)")
    if k_line is None:
        if repair:
            out.insert(header_end, "K:C")
            repairs.append(f"added a missing K:C line before line {header_end + 1}")
        else:
            problems.append("no K: field (the tune body cannot start)")
    return out


# ---------------------------------------------------------------------------
# music lines


class _LineRepairer:
    """Walk the tokens of one music line (:class:`~musegen.formats.abc.lexer.Lexer`); drop or fix what does not belong.

    Each token kind has a handler (``_LINE_HANDLERS``) that writes the token,
    a repaired form of it or nothing to :attr:`out`; a handler that reads on
    differently (a chord name whose opening quote is missing, ``]|``) moves
    the lexer's cursor.
    """

    def __init__(self, line: str, lineno: int, state: dict):
        self.s = line
        self.lineno = lineno
        self.out: list[str] = []
        self.repairs: list[str] = []
        self.lexer = Lexer(line)
        self.state = state  # open chord / grace and the last note length, carried between lines

    def run(self) -> str:
        """The repaired line."""
        for tok in self.lexer.tokens():
            _LINE_HANDLERS[tok.kind](self, tok)
        return "".join(self.out)

    # helpers
    def token_at(self, pos: int) -> Token | None:
        """The token at ``pos`` (None at the end of the line)."""
        return Lexer(self.s, pos).read() if pos < len(self.s) else None

    def drop(self, text: str, why: str) -> None:
        self.repairs.append(f'line {self.lineno}: removed {why} "{text}"')

    def drop_each(self, tok: Token, why: str) -> None:
        """Drop a token a character at a time (one repair each)."""
        for c in tok.text:
            self.drop(c, why)

    def take(self, tok: Token) -> None:
        self.out.append(tok.text)

    def skip_to(self, pos: int) -> None:
        """Read on from ``pos`` (a token read otherwise than the lexer reads it)."""
        self.lexer.pos = pos

    def take_length(self, text: str) -> None:
        """A note length as abc2midi reads it: ``3``, ``3/2``, ``/``, ``//``; a divisor becomes a power of two."""
        m = re.search(r"/(\d+)$", text)
        if m and int(m.group(1)) & (int(m.group(1)) - 1):
            # abc2midi only takes powers of two below the slash
            den = int(m.group(1))
            new_den = min((2**k for k in range(0, 8)), key=lambda p: (abs(p - den), p))
            new = text[: m.start(1)] + str(new_den)
            self.repairs.append(
                f'line {self.lineno}: changed the length "{text}" to "{new}" (a divisor must be a power of 2)'
            )
            text = new
        self.out.append(text)

    def take_length_noted(self, text: str) -> None:
        """Take a note or rest length and remember it for a broken rhythm that follows."""
        self.take_length(text)
        self.state["last_len"] = length_value(text)

    # notes
    def t_note(self, tok: Token) -> None:
        """Decoration characters, accidentals and a note letter (or what is left of them)."""
        start = tok.start
        while tok is not None and tok.kind == "DECO_CHAR" and tok.text in _DECORATION_CHARS:
            tok = self.token_at(tok.end)
        decos = self.s[start : tok.start if tok is not None else len(self.s)]
        if tok is not None and tok.kind == "NOTE":
            at_letter = tok.start + len(tok.accidentals)
            if at_letter > start and self.quote_name_at(at_letter):
                # the "note" is a chord name missing its opening quote: the signs before it go
                self.drop(self.s[start:at_letter], "a decoration or accidental with no note")
                self.skip_to(at_letter)
                return
            self.out.append(decos)
            self.out.append(self.accidentals(tok))
            self.letter(tok, at_letter)
            return
        if tok is not None and tok.kind != "ACCIDENTAL" and tok.text[0] in "zx[":
            self.out.append(decos)  # a decorated rest or chord
            self.skip_to(tok.start)
            return
        # decorations / accidentals with no note: drop them and a length after them
        end = tok.end if tok is not None and tok.kind == "ACCIDENTAL" else start + len(decos)
        while (after := self.token_at(end)) is not None and after.kind == "LENGTH":
            end = after.end
        self.drop(self.s[start:end], "a decoration or accidental with no note")
        self.skip_to(end)

    def accidentals(self, tok: Token) -> str:
        """The accidentals of a note abc2midi plays.

        abc2midi reads ``^^``, ``^``, ``__``, ``_`` or ``=`` (and ``=^``, ``=_``);
        one followed by another sign is "Malformed note": it skips it and reads
        on, so ``^=c`` plays ``=c`` and ``^^^c`` plays ``^c``.  Drop what it skips.
        """
        signs = tok.accidentals
        pos = 0
        while pos < len(signs):
            sign = signs[pos : pos + 2] if signs[pos : pos + 2] in ("^^", "__") else signs[pos]
            after = pos + len(sign)
            if after >= len(signs) or (sign == "=" and signs[after] in "^_"):
                break
            pos = after
        if pos:
            self.repairs.append(
                f'line {self.lineno}: removed "{signs[:pos]}" before "{signs[pos:]}{tok.letter}" '
                "(abc2midi cannot read the accidentals together and plays the last)"
            )
        return signs[pos:]

    def letter(self, tok: Token, at_letter: int) -> None:
        """The letter, octave marks and length of a note."""
        if self.missing_open_quote(at_letter):
            return
        c, marks = tok.letter, tok.marks
        if (c.islower() and "," in marks) or (c.isupper() and "'" in marks):
            # abc2midi reports "Bad pitch specifier": write the same pitch plainly
            octave = tok.octave
            letter = c.lower() if octave >= 1 else c.upper()
            new = letter + ("'" * (octave - 1) if octave >= 1 else "," * (-octave))
            self.repairs.append(f'line {self.lineno}: rewrote "{c}{marks}" as "{new}"')
            self.out.append(new)
        else:
            self.out.append(c + marks)
        self.take_length_noted(tok.length)
        self.skip_to(tok.end)

    def quote_name_at(self, i: int) -> str:
        """The chord name at ``i`` if it is one whose opening quote is missing."""
        m = _NAME_BEFORE_QUOTE.match(self.s, i)
        if not m or not _CHORD_NAME.match(m.group(1)) or not _CHORDISH_MARK.search(m.group(1)[1:]):
            return ""
        q = m.end(1)
        end = self.s.find('"', q + 1)
        if end >= 0 and (_good_symbol(self.s[q + 1 : end]) or _wordy(self.s[q + 1 : end])):
            return ""
        return m.group(1)

    def missing_open_quote(self, i: int) -> bool:
        """``F#7"B2c``: a chord name whose opening quote is missing (the quote after
        it would open a broken symbol).  Write ``"F#7"`` and go on after it."""
        name = self.quote_name_at(i)
        if not name:
            return False
        self.out.append('"' + name + '"')
        self.repairs.append(f'line {self.lineno}: added the opening quote of chord symbol "{name}"')
        self.skip_to(i + len(name) + 1)
        return True

    def t_rest(self, tok: Token) -> None:
        self.out.append(tok.letter)
        self.take_length_noted(tok.length)

    def t_bar_rest(self, tok: Token) -> None:
        self.out.append(tok.letter)
        self.take_length(tok.length)

    # bar lines, chords, grace notes
    def t_bar(self, tok: Token) -> None:
        self.close_open(f"before the bar line at line {self.lineno}")
        self.take(tok)
        if tok.text in ("|", ":|"):
            self.loose_tail(tok.end, _LOOSE_ENDING if tok.text == "|" else _LOOSE_ENDING_CLOSED)

    def close_open(self, where: str) -> None:
        """An unclosed [ or { must not run past a bar line: drop its opening."""
        for kind, sign in (("chord", "["), ("grace", "{")):
            pos = self.state.get(kind)
            if pos is None:
                continue
            if pos[0] == self.lineno and pos[1] < len(self.out):
                self.out[pos[1]] = ""
            else:
                lines = self.state["lines"]
                if 0 <= pos[0] - 1 < len(lines):
                    lines[pos[0] - 1] = _remove_last(lines[pos[0] - 1], sign)
            self.repairs.append(f"line {pos[0]}: removed an unclosed {sign} {where}")
            self.state[kind] = None

    def t_field(self, tok: Token) -> None:
        if tok.closed:
            self.take(tok)
            return
        self.repairs.append(f"line {self.lineno}: closed an unclosed inline field [{tok.letter}:")
        self.out.append(tok.text + "]")

    def t_chord_open(self, tok: Token) -> None:
        letter = self.s[tok.end : tok.end + 1]
        if letter.isalpha() and self.s[tok.end + 1 : tok.end + 2] == ":":
            # a non-ASCII letter (``[é:``): the checker has always kept it as an inline field
            end = self.s.find("]", tok.start)
            end = end + 1 if end >= 0 else len(self.s)
            self.t_field(Token("FIELD", tok.start, end, self.s[tok.start : end], letter=letter, closed=end > 0))
            self.skip_to(end)
            return
        if self.state.get("chord") is not None:
            self.drop(tok.text, "a [ inside a chord")
            return
        self.state["chord"] = (self.lineno, len(self.out))
        self.take(tok)

    def t_chord_close(self, tok: Token) -> None:
        if self.state.get("chord") is None:
            if self.s[tok.start + 1 : tok.start + 2] == "|":
                self.out.append("]|")  # ]| bar line
                self.skip_to(tok.start + 2)
                return
            self.drop("]", "a ] with no [")
            self.skip_to(tok.start + 1)
            return
        self.state["chord"] = None
        self.out.append("]")
        self.take_length(tok.length)
        self.state["last_len"] = "chord"

    def t_grace_open(self, tok: Token) -> None:
        if self.state.get("grace") is not None or self.state.get("chord") is not None:
            self.drop(tok.text, "a misplaced {")
            return
        self.state["grace"] = (self.lineno, len(self.out))
        self.take(tok)

    def t_grace_close(self, tok: Token) -> None:
        if self.state.get("grace") is None:
            self.drop(tok.text, "a } with no {")
            return
        self.state["grace"] = None
        self.take(tok)

    def t_tuplet(self, tok: Token) -> None:
        if not 2 <= tok.tuplet[0] <= 9 and ":" not in tok.text:
            self.drop(tok.text, "a tuplet abc2midi cannot play")
            return
        self.take(tok)
        self.loose_tail(tok.end, _LOOSE_TUPLET)

    def loose_tail(self, pos: int, pattern: re.Pattern) -> None:
        """Take what ``pattern`` matches at ``pos`` as part of the token before (see ``_LOOSE_ENDING``)."""
        m = pattern.match(self.s, pos)
        if m and m.end() > pos:
            self.out.append(m.group(0))
            self.skip_to(m.end())

    def t_broken(self, tok: Token) -> None:
        if len(tok.text) > 3:
            self.drop(tok.text, "too many broken-rhythm signs")
            return
        prev = self.state.get("last_len")
        nxt = self.next_length(tok.end)
        if prev != "chord" and nxt != "chord" and (prev is None or nxt is None or prev != nxt):
            # abc2midi: "Cannot apply broken rhythm" between notes of unequal length
            self.drop(tok.text, "a broken rhythm between notes of unequal length (or with no note)")
            return
        self.take(tok)

    def next_length(self, pos: int):
        """Length of the note or rest from ``pos`` on (after spaces), "chord" for a chord or grace, else None."""
        tok = self.token_at(pos)
        if tok is not None and tok.kind == "SPACE":
            tok = self.token_at(tok.end)
        if tok is not None and tok.text[0] in "[{":
            return "chord"
        while tok is not None and (
            tok.kind == "ACCIDENTAL" or (tok.kind == "DECO_CHAR" and tok.text in _DECORATION_CHARS)
        ):
            tok = self.token_at(tok.end)
        if tok is not None and tok.kind == "REST" and tok.letter in "zx" and not tok.length:
            # octave marks after a rest (``z'2``) are read past, as by the checker before
            after = self.token_at(tok.end)
            while after is not None and after.text in ("'", ","):
                after = self.token_at(after.end)
            return length_value(after.length if after is not None and after.kind == "LENGTH" else "")
        if tok is not None and (tok.kind == "NOTE" or (tok.kind == "REST" and tok.letter in "zx")):
            return length_value(tok.length)
        return None

    # other signs
    def t_backslash(self, tok: Token) -> None:
        if self.s[tok.end :].strip():
            self.drop(tok.text, "a backslash in the middle of a line")
        else:
            self.take(tok)

    def t_stars(self, tok: Token) -> None:
        if self.s[tok.start :].strip("* \t"):
            self.drop_each(tok, "a stray character")
        else:
            self.take(tok)

    def t_bang(self, tok: Token) -> None:
        """``!name!`` or ``+name+``; a sign that opens none is dropped."""
        if tok.closed and tok.value.strip() and " " not in tok.value.strip():
            self.take(tok)
        elif not tok.closed and tok.text == "!" and not self.s[tok.end :].strip():
            self.take(tok)  # an old-style line break at the end of a line
        else:
            self.drop(tok.text[0], f"an unclosed {tok.text[0]}")
            self.skip_to(tok.start + 1)

    def t_deco_char(self, tok: Token) -> None:
        if tok.text in _DECORATION_CHARS:
            self.t_note(tok)
        else:
            self.drop(tok.text, "stray character")

    def t_stray(self, tok: Token) -> None:
        if tok.text in "`$":
            self.take(tok)
        elif tok.text == "%":  # a comment after a backslash
            self.out.append(self.s[tok.start :])
            self.skip_to(len(self.s))
        else:
            self.drop(tok.text, "stray character")

    def t_length(self, tok: Token) -> None:
        self.drop_each(tok, "a length with no note")

    def t_quote(self, tok: Token) -> None:
        """A chord symbol or annotation; fix it when it is unclosed or garbled."""
        content = tok.value if tok.closed else self.s[tok.start + 1 :]
        if tok.closed and _good_symbol(content):
            self.take(tok)
            return
        if tok.closed and not content.strip():
            # "" or " " (the Nottingham "no chord"): abc2midi reports an error for it
            self.drop(tok.text, "an empty chord symbol")
            return
        if tok.closed and _wordy(content):
            self.out.append('"^' + content + '"')
            self.repairs.append(f'line {self.lineno}: turned "{content}" into an annotation "^{content}"')
            return
        # a broken quote: close it after the chord name it starts with, or drop it
        name = _chord_prefix(content)
        if name:
            self.out.append('"' + name + '"')
            self.repairs.append(f'line {self.lineno}: closed an unclosed chord symbol "{name}"')
            self.skip_to(tok.start + 1 + len(name))
            return
        self.drop('"', "an unmatched quote")
        self.skip_to(tok.start + 1)


_LINE_HANDLERS = {
    "SPACE": _LineRepairer.take,
    "COMMENT": _LineRepairer.take,
    "GCHORD": _LineRepairer.t_quote,
    "QUOTE": _LineRepairer.t_quote,
    "DECORATION": _LineRepairer.t_bang,
    "BANG": _LineRepairer.t_bang,
    "FIELD": _LineRepairer.t_field,
    "BAR": _LineRepairer.t_bar,
    "ENDING": _LineRepairer.take,
    "CHORD_OPEN": _LineRepairer.t_chord_open,
    "CHORD_CLOSE": _LineRepairer.t_chord_close,
    "GRACE_OPEN": _LineRepairer.t_grace_open,
    "GRACE_CLOSE": _LineRepairer.t_grace_close,
    "TUPLET": _LineRepairer.t_tuplet,
    "SLUR_OPEN": _LineRepairer.take,
    "SLUR_CLOSE": _LineRepairer.take,
    "BROKEN": _LineRepairer.t_broken,
    "TIE": _LineRepairer.take,  # ties are checked over the whole tune afterwards
    "NOTE": _LineRepairer.t_note,
    "ACCIDENTAL": _LineRepairer.t_note,
    "DECO_CHAR": _LineRepairer.t_deco_char,
    "REST": _LineRepairer.t_rest,
    "SPACER": _LineRepairer.t_bar_rest,
    "MEASURE_REST": _LineRepairer.t_bar_rest,
    "LENGTH": _LineRepairer.t_length,
    "BACKSLASH": _LineRepairer.t_backslash,
    "STARS": _LineRepairer.t_stars,
    "OVERLAY": _LineRepairer.take,
    "STRAY": _LineRepairer.t_stray,
}


def _chord_prefix(text: str) -> str:
    """The longest start of ``text`` that is a chord name of a known type (``A7ec`` -> ``A7``)."""
    m = re.match(r"\(?([A-G][#b]?)", text)
    if not m:
        return ""
    best = ""
    for end in range(len(text), m.end() - 1, -1):
        name = text[:end]
        core = name.lstrip("(").rstrip(")")
        root = re.match(r"[A-G][#b]?", core).group(0)
        rest = core[len(root) :]
        kind, _, bass = rest.partition("/")
        if kind in _KNOWN_TYPES and (not _ or re.fullmatch(r"[A-Ga-g][#b+]?", bass)):
            best = name
            break
    return best


def _good_symbol(content: str) -> bool:
    """A quoted text abc2midi reads without complaint: a chord name or an annotation."""
    if not content:
        return False
    if content[0] in ANNOTATION_MARKS:
        return "|" not in content
    return bool(_CHORD_NAME.match(content.strip()))


def _wordy(content: str) -> bool:
    """Text meant as words (no bar lines, no note-like runs): keep it as an annotation."""
    text = content.strip()
    return (
        bool(text)
        and "|" not in text
        and ":" not in text
        and bool(re.fullmatch(r"[A-Za-z][A-Za-z .,'!?-]*", text))
        and (len(text) > 3 or text[0] not in "ABCDEFGabcdefg")
    )


# ---------------------------------------------------------------------------
# ties


@dataclass
class _TieItem:
    """One token of the body as the tie check reads it.

    ``kind`` is ``note``, ``chord``, ``tie``, ``rest``, ``bar``, ``other``
    (something a tie cannot pass), ``grace`` (a ``{``) or ``skip`` (spaces,
    chord symbols, decorations, inline fields...); a note or chord has its
    ``pitches`` (letter, octave), a tie its place ``at`` in the body, a chord
    the ties inside it (place, pitch).
    """

    kind: str
    pitches: tuple[tuple[str, int], ...] = ()
    at: int = -1
    ties: tuple[tuple[int, tuple[str, int]], ...] = ()


# what each token is to the tie check (kinds not listed are "skip")
_TIE_KINDS = {
    "NOTE": "note",
    "TIE": "tie",
    "REST": "rest",
    "MEASURE_REST": "rest",
    "BAR": "bar",
    "ENDING": "bar",
    "CHORD_CLOSE": "bar",  # a ] with no [
    "GRACE_OPEN": "grace",
    "QUOTE": "other",
    "BANG": "other",
    "ACCIDENTAL": "other",
    "SPACER": "other",
    "STARS": "other",
    "OVERLAY": "other",
    "CHORD_OPEN": "other",  # a [ never closed on its line
}


def _pitch(tok: Token) -> tuple[str, int]:
    """A note's pitch for the tie check: its letter and octave (accidentals aside)."""
    return tok.letter.lower(), tok.octave


def _tie_items(body: str) -> list[_TieItem]:
    """The music of the body (comment and field lines left out) as :class:`_TieItem` objects."""
    items: list[_TieItem] = []
    offset = 0
    for line in body.split("\n"):
        base = offset
        offset += len(line) + 1
        if not line.strip() or line.lstrip().startswith("%") or field_line(line.strip()):
            continue
        tokens = tokenize(line)
        k = 0
        while k < len(tokens):
            tok = tokens[k]
            k += 1
            kind = _TIE_KINDS.get(tok.kind, "skip")
            if tok.kind == "COMMENT":
                break
            if tok.kind == "CHORD_OPEN":
                close = next((j for j in range(k, len(tokens)) if tokens[j].kind == "CHORD_CLOSE"), None)
                if close is not None:
                    inner = tokens[k:close]
                    notes = tuple(_pitch(t) for t in inner if t.kind == "NOTE")
                    ties = tuple(
                        (base + t.start, _pitch(n))
                        for n, t in itertools.pairwise(inner)
                        if n.kind == "NOTE" and t.kind == "TIE" and t.start == n.end
                    )
                    items.append(_TieItem("chord", notes, ties=ties))
                    k = close + 1
                    continue
            elif tok.kind == "NOTE":
                items.append(_TieItem("note", (_pitch(tok),)))
                continue
            elif tok.kind == "TUPLET" and ":" in tok.text:
                kind = "bar"  # read as the checker always has
            elif tok.kind in ("DECO_CHAR", "STRAY"):
                kind = "skip" if tok.text in _DECORATION_CHARS or tok.text == "`" else "other"
            items.append(_TieItem(kind, at=base + tok.start))
    return items


def _tie_target(items: list[_TieItem], start: int) -> _TieItem | None:
    """The note or chord a tie before ``items[start]`` goes to (None when something else comes first)."""
    for item in items[start:]:
        if item.kind not in ("skip", "bar"):
            return item if item.kind in ("note", "chord") else None
    return None


def _fix_ties(body: str, first_line: int, repairs: list[str]) -> str:
    """Drop ties that do not join two notes of the same pitch (chord ties: a pitch of the chord)."""
    items = _tie_items(body)
    remove: list[int] = []
    prev: _TieItem | None = None  # the last note, chord, rest, bar or other item
    for idx, item in enumerate(items):
        if item.kind == "tie":
            ok = prev is not None and prev.kind == "chord"  # chord ties are left to the player
            if prev is not None and prev.kind == "note":
                target = _tie_target(items, idx + 1)
                ok = target is not None and prev.pitches[0] in target.pitches
            if not ok:
                remove.append(item.at)
            continue
        if item.ties:
            # ties inside a chord: each needs its pitch in the next note or chord
            target = _tie_target(items, idx + 1)
            remove.extend(at for at, pitch in item.ties if target is None or pitch not in target.pitches)
        if item.kind in ("note", "chord", "rest", "bar", "other"):
            prev = item
    if not remove:
        return body
    chars = list(body)
    for pos in remove:
        line = body.count("\n", 0, pos) + first_line
        repairs.append(f"line {line}: removed a tie that joins no two notes of the same pitch")
        chars[pos] = ""
    return "".join(chars)


# ---------------------------------------------------------------------------
# repeats


def _bar_tokens(body: str):
    """abc2midi's bar line tokens in the body, (start, end, kind), outside quotes, fields, comments."""
    offset = 0
    inchord = False
    for line in body.split("\n"):
        base = offset
        offset += len(line) + 1
        if not line.strip() or line.lstrip().startswith("%") or field_line(line.strip()):
            continue
        for start, end, kind, state in _line_bar_tokens(line, inchord):
            inchord = state
            if kind:
                yield base + start, base + end, kind


def _line_bar_tokens(line: str, inchord: bool):
    """The bar line tokens of one music line, (start, end, kind, inchord after), then a final ``""`` one.

    ``kind`` is ``|``, ``||``, ``|:``, ``:|``, ``::`` or ``[1`` (an ending's
    first digit); ``+...+`` and a tuplet's ``:`` are read a character at a
    time (a ``:`` alone is a dotted bar line), as abc2midi does.
    """
    lexer = Lexer(line)
    for tok in lexer.tokens():
        kind, i, text = tok.kind, tok.start, tok.text
        if kind == "COMMENT" or text == "%":
            break
        if (kind == "DECORATION" and text[0] == "+") or (kind == "TUPLET" and ":" in text):
            lexer.pos = i + 1
        elif kind == "BAR":
            if text.startswith("[|"):
                yield i, i + 2, "||", inchord
                if text == "[|:":
                    yield i + 2, i + 3, "|:", inchord
            elif text.startswith(":|"):
                yield i, i + 2, ":|", inchord
                if tok.ending:
                    yield i + 2, i + 3, "[1", inchord
                lexer.pos = i + 2 + len(tok.ending)  # a "]" after it is read on its own
            else:
                yield i, i + len(text[:2]) if text != "|" + tok.ending else i + 1, _BAR_MARKS.get(text, "|"), inchord
                if tok.ending:
                    yield i + 1, i + 2, "[1", inchord
        elif kind == "ENDING":
            yield i, i + 2, "[1", inchord
        elif kind == "CHORD_OPEN":
            inchord = True
        elif kind == "CHORD_CLOSE":
            if not inchord and line[i + 1 : i + 2] == "|":
                yield i, i + 2, "||", inchord
                lexer.pos = i + 2
            else:
                inchord = False
    yield 0, 0, "", inchord


_BAR_MARKS = {"|:": "|:", "||": "||", "|]": "||", "::": "::", ":": "||"}


def _fix_repeats(body: str, first_line: int, repairs: list[str]) -> str:
    """Make the repeat marks read without abc2midi errors, keeping abc2midi's reading.

    ``::`` or an ending ``[1`` with no ``|:`` before it gets the ``|:`` abc2midi
    assumes; a second ``|:`` before a ``:|`` becomes ``::``; a ``|:`` or ``::``
    never closed becomes ``|`` or ``:|``.
    """
    edits: list[tuple[int, int, str, str]] = []  # start, end, new text, why
    tokens = [t for t in _bar_tokens(body) if t[2] != "|"]
    # an ending belongs to a repeat: a :| or :: comes after it (first ending)
    # or just before it (second ending); drop the number of any other
    kept = []
    for k, (start, end, kind) in enumerate(tokens):
        if kind == "[1":
            after = next((t[2] for t in tokens[k + 1 :] if t[2] != "[1"), None)
            before = next((t[2] for t in reversed(tokens[:k]) if t[2] != "[1"), None)
            if after not in (":|", "::") and before not in (":|", "::"):
                text = body[start:end]
                digits = re.match(r"\[?(\d+(?:[-,]\d+)*)", body[start:])
                stop = start + (digits.end() if digits else end - start)
                edits.append((start, stop, "", f'removed an ending "{body[start:stop]}" that belongs to no repeat'))
                del text
                continue
        kept.append((start, end, kind))
    # abc2midi silently assumes a |: at the start when the first repeat sign is :| or ::
    first = next((t[2] for t in kept if t[2] in ("|:", ":|", "::")), None)
    expect = first in (":|", "::")
    opener: tuple[int, int, str] | None = None
    rep_point: tuple[int, int, str, bool] | None = None  # where a |: would go
    nplays = 0

    def place_start() -> None:
        if rep_point is None:
            pos = _first_music(body)
            edits.append((pos, pos, "|:", 'added the "|:" a repeat needs'))
        elif rep_point[2] == ":|" and rep_point[3]:
            edits.append((rep_point[0], rep_point[1], "::", 'made ":|" a "::" to open the next repeat'))
        elif rep_point[2] == ":|":
            # this :| closed no open repeat: abc2midi refuses a :: there, not a :||:
            edits.append((rep_point[0], rep_point[1], ":||:", 'made ":|" a ":||:" to open the next repeat'))
        else:
            edits.append(
                (
                    rep_point[0],
                    rep_point[1],
                    "|:",
                    f'made "{body[rep_point[0] : rep_point[1]]}" a "|:" to open a repeat',
                )
            )

    for start, end, kind in kept:
        if kind == "||":
            rep_point = (start, end, kind, False)
        elif kind == "|:":
            if expect:
                edits.append((start, end, "::", 'made a second "|:" a "::"'))
                opener = (start, end, "::")
            else:
                opener = (start, end, "|:")
            expect = True
        elif kind == ":|":
            rep_point = (start, end, kind, expect)  # expect: it closes an open repeat
            expect = False
            opener = None
        elif kind == "[1":
            if nplays == 0 and not expect:
                k = kept.index((start, end, kind))
                if any(t[2] in (":|", "::") for t in kept[k + 1 :]):
                    place_start()  # abc2midi assumes this |: (and complains)
                    expect = True
                    opener = None
                else:
                    stop = start + re.match(r"\[?\d+(?:[-,]\d+)*", body[start:]).end()
                    edits.append((start, stop, "", f'removed an ending "{body[start:stop]}" that belongs to no repeat'))
                    continue
            nplays += 1
        elif kind == "::":
            if not expect:
                place_start()
            expect = True
            opener = (start, end, "::")
    if expect and opener is not None:
        start, end, kind = opener
        new = "|" if kind == "|:" else ":|"
        edits.append((start, end, new, f'made a "{kind}" that is never closed a "{new}"'))
    if not edits:
        return body
    out = body
    for start, end, new, why in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        line = body.count("\n", 0, start) + first_line
        repairs.append(f"line {line}: {why}")
        out = out[:start] + new + out[end:]
    return out


def _first_music(body: str) -> int:
    """Index of the first music character of the body."""
    pos = 0
    for line in body.split("\n"):
        if line.strip() and not line.lstrip().startswith("%") and not field_line(line.strip()):
            return pos + (len(line) - len(line.lstrip()))
        pos += len(line) + 1
    return 0


# ---------------------------------------------------------------------------
# bars


def _fraction_text(length: Fraction, den: int) -> str:
    """A bar length as a fraction of a whole note, in the meter's unit when it can be."""
    whole = length / 4
    units = whole * den
    if units.denominator == 1:
        return f"{units.numerator}/{den}"
    return f"{whole.numerator}/{whole.denominator}"


def _check_bars(text: str, report: BarReport | None = None) -> tuple[list[Bar], int, list[str]]:
    """Measure every bar as abc2midi plays it; return (the written bars, how many fit, problems).

    A written bar fits unless abc2midi, playing the tune with its repeats,
    finds a bar of the wrong length that holds notes of it (see
    :func:`musegen.formats.abc.player.bar_lengths`): a short bar before a
    repeat sign runs on into the bar played after it, so a part that ends on
    a short bar fits only when the bar it goes back to (or goes on to) is the
    pickup that completes it.  ``report`` is the text's :class:`~musegen.formats.abc.player.BarReport` when it
    is known already.
    """
    from musegen.formats.abc.player import bar_report

    if report is None:
        try:
            report = bar_report(text)
        except MusegenError:
            return [], 0, []
    bars, found = report.written, report.played
    if not bars:
        return [], 0, []
    by_ident = {b.ident: b for b in bars}
    wrong = {ident for w in found for ident in w.written}
    problems: list[str] = []
    for w in found:
        held = [by_ident[i] for i in w.written if i in by_ident]
        num, den = w.meter
        length = _fraction_text(w.length, den)
        when = " the second time through" if w.repeat else ""
        if len(held) > 1:
            names = " then ".join(f"bar {b.number} (line {b.line})" for b in held)
            problems.append(f"{names} play as one bar of {length}{when}, meter is {num}/{den}")
        elif held:
            problems.append(f"bar {held[0].number} (line {held[0].line}) has {length}{when}, meter is {num}/{den}")
    return bars, sum(1 for b in bars if b.ident not in wrong), problems


_PLAIN_LAST_NOTE = re.compile(r"(?<![<>)\]\-])([=^_]*[A-Ga-gz][,']*)(\d*)([ \t]*)$")
_MAX_BAR_REPAIRS = 64


def _units_text(units: Fraction) -> str:
    """A length in units of L as ABC writes it after a note: ``""``, ``2``, ``/2``, ``3/2``."""
    if units.denominator == 1:
        return "" if units == 1 else str(units.numerator)
    return ("" if units.numerator == 1 else str(units.numerator)) + f"/{units.denominator}"


def _pad_bar(text: str, line: int, col: int, unit: int, missing: Fraction) -> tuple[str, str] | None:
    """``text`` with the bar that ends at (line, col) made ``missing`` quarter beats longer: its last note
    lengthened where it is a plain note of a whole number of units, else a rest added; and how."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    body = lines[line - 1]
    head, tail = body[:col], body[col:]
    units = missing * unit / 4
    m = _PLAIN_LAST_NOTE.search(head)
    bar_start = max(head.rfind("|"), head.rfind(":"), 0)
    if m and units.denominator == 1 and units <= int(m.group(2) or 1) and not re.search(r"\(\d", head[bar_start:]):
        now = int(m.group(2) or 1)
        head = head[: m.start(2)] + _units_text(Fraction(now) + units) + m.group(3)
        how = f"lengthened the last note of the bar by {_units_text(units) or '1'} unit(s)"
    else:
        head = head.rstrip() + "z" + _units_text(units) + (" " if head != head.rstrip() else "")
        how = f"added a rest of {_units_text(units) or '1'} unit(s) at the end of the bar"
    lines[line - 1] = head + tail
    return "\n".join(lines), how


def _repair_bar_lengths(text: str, repairs: list[str]) -> tuple[str, BarReport | None]:
    """Complete the short bars abc2midi hears: a bar that a single bar line closes short, or a short bar before
    a repeat sign that the bar played after it does not complete (a part that closes short with no pickup at the
    bar it goes back to, or a shorter one): its last note is lengthened, or a rest added.  Returns the text and
    its :class:`~musegen.formats.abc.player.BarReport` (None when the last repair is not measured yet, or the
    text cannot be played)."""
    from musegen.formats.abc.player import bar_report

    for _ in range(_MAX_BAR_REPAIRS):
        try:
            report = bar_report(text)
        except MusegenError:
            return text, None
        bars = {b.ident: b for b in report.written}
        ends = report.ends
        for w in report.played:
            held = [bars[i] for i in w.written if i in bars]
            full = meter_length(w.meter)
            if not held or held[0].ident not in ends or held[0].length >= full:
                continue
            rest = w.length - held[0].length
            missing = full - held[0].length if rest == full or rest == 0 else full - w.length
            if missing <= 0:
                continue
            line, col, unit = ends[held[0].ident]
            padded = _pad_bar(text, line, col, unit, missing)
            if padded is None:
                continue
            text, how = padded
            repairs.append(f"line {line}: bar {held[0].number} is short as abc2midi plays it: {how}")
            break
        else:
            return text, report
    return text, None


# ---------------------------------------------------------------------------
# public API


def check_tune(tune: str, *, repair: bool = True) -> CheckResult:
    """Check one ABC tune and repair what can be repaired.

    Parameters
    ----------
    tune
        One tune, text from ``X:`` on (a generated tune may lack header lines).
    repair
        Apply the repairs; with False the text is returned as given and every
        finding is a problem.

    Returns
    -------
    CheckResult
        The (repaired) text, the repairs, the remaining problems and the bar
        counts.  ``result.valid`` is True when no problem is left.
    """
    text = unix_newlines(tune)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    repairs: list[str] = []
    problems: list[str] = []
    trailing = 0
    while lines and not lines[-1].strip():
        lines.pop()
        trailing += 1
    if trailing:
        (repairs if repair else problems).append(
            "dropped an empty trailing line" if trailing == 1 else f"dropped {trailing} empty trailing lines"
        )
    if not lines:
        return CheckResult(text="", problems=["empty tune"])
    lines = _repair_header(lines, repairs, problems, repair=repair)
    k_index = next((i for i, line in enumerate(lines) if (m := field_line(line.strip())) and m[0] == "K"), None)
    body_start = (k_index + 1) if k_index is not None else len(lines)
    new_lines = lines[:body_start]
    state: dict = {"chord": None, "grace": None, "lines": new_lines, "last_len": None}
    line_repairs: list[str] = []
    for idx in range(body_start, len(lines)):
        line = lines[idx]
        lineno = len(new_lines) + 1
        if not line.strip():
            line_repairs.append(f"line {lineno}: dropped a blank line inside the tune (abc2midi stops there)")
            continue
        stripped = line.strip()
        if stripped.startswith("%") or field_line(stripped):
            new_lines.append(line)
            continue
        fixer = _LineRepairer(line, lineno, state)
        fixed = fixer.run()
        line_repairs.extend(fixer.repairs)
        if not fixed.strip() and line.strip():
            line_repairs.append(f"line {lineno}: dropped a line left empty by the repairs")
            continue
        new_lines.append(fixed)
    # a chord or grace group still open at the end of the tune
    for kind, sign in (("chord", "["), ("grace", "{")):
        pos = state.get(kind)
        if pos is not None:
            line_index = pos[0] - 1
            if 0 <= line_index < len(new_lines):
                line_repairs.append(f"line {pos[0]}: removed an unclosed {sign} (never closed)")
                new_lines[line_index] = _remove_last(new_lines[line_index], sign)
    body = "\n".join(new_lines[body_start:])
    body = _fix_ties(body, body_start + 1, line_repairs)
    body = "\n".join(line for line in body.split("\n") if line.strip())
    header_text = "\n".join(new_lines[:body_start])
    if not re.search(r"^[PV]:", header_text, re.M) and not re.search(r"^V:|\[V:", body, re.M):
        body = _fix_repeats(body, body_start + 1, line_repairs)
    repaired = "\n".join(new_lines[:body_start] + ([body] if body else [])) + "\n"
    report = None
    if repair:
        repairs.extend(line_repairs)
        checked, report = _repair_bar_lengths(repaired, repairs)
    else:
        problems.extend(line_repairs)
        checked = text if text.endswith("\n") else text + "\n"
    written, fitting, bar_problems = _check_bars(checked, report)
    if not written and not any(p.startswith("no K:") for p in problems):
        problems.append("no notes in the tune body")
    problems.extend(bar_problems[:_MAX_PROBLEMS])
    if len(bar_problems) > _MAX_PROBLEMS:
        problems.append(f"... and {len(bar_problems) - _MAX_PROBLEMS} more bars that do not fit the meter")
    return CheckResult(text=checked, repairs=repairs, problems=problems, bars=len(written), bars_fitting=fitting,
                       written=written)


@dataclass(frozen=True)
class TuneShape:
    """The form of a tune as written: ``meter`` and ``key`` (header values, "" when missing), ``bars`` (written
    bars, repeats not expanded), ``parts`` (sections closed by ``:|``, ``::``, ``||``, ``|]`` or the end, a
    first and second ending being one) and ``repeats`` (a ``:|`` or ``::`` in it)."""

    meter: str
    key: str
    bars: int
    parts: int
    repeats: bool

    @property
    def dance_form(self) -> bool:
        """12 to 40 written bars (two or three 8-bar parts, repeated or written out), as 96% of the Nottingham
        jigs have."""
        return 12 <= self.bars <= 40


def tune_shape(tune: str, *, bars: list[Bar] | None = None) -> TuneShape:
    """The form of ``tune`` as written (see :class:`TuneShape`); ``bars``: its written bars, when known already."""
    from musegen.formats.abc import header_field
    from musegen.formats.abc.player import written_bars

    if bars is None:
        try:
            bars = written_bars(tune)
        except MusegenError:
            bars = []
    parts = 0
    for k, b in enumerate(bars):
        second_follows = k + 1 < len(bars) and bars[k + 1].ending is not None and 1 not in bars[k + 1].ending
        if (b.closes in (":|", "::", "||") and not second_follows) or (b.closes == "end" and b.notes):
            parts += 1
    repeats = any(b.closes in (":|", "::") for b in bars)
    return TuneShape(header_field(tune, "M"), header_field(tune, "K"), len(bars), parts, repeats)


def abc2midi_bar_warnings(messages: list[str]) -> list[str]:
    """The bar-length warnings among abc2midi's messages (``Bar N has X time units while the time signature
    has Y``)."""
    return [m for m in messages if "time units while the time signature" in m]


def _remove_last(line: str, sign: str) -> str:
    """Remove the last ``sign`` (an opening bracket) outside double quotes from a line.

    Any ``sign`` counts, as it always has: the ``[`` of an inline field or an
    ending, or one in a comment, too (reading the line with the lexer would
    take the chord's own ``[``, at the price of different repairs).
    """
    parts = line.split('"')
    outside = [k for k in range(0, len(parts), 2) if sign in parts[k]]
    if not outside:
        return line
    k = outside[-1]
    at = sum(len(part) + 1 for part in parts[:k]) + parts[k].rindex(sign)
    return line[:at] + line[at + 1 :]


def abc2midi_available() -> bool:
    """True when the ``abc2midi`` program (abcMIDI) is on the PATH."""
    return shutil.which("abc2midi") is not None


# abc2midi calls these "Error" but still plays the tune unchanged in substance
_BENIGN_ERRORS = ("Unrecognized chord name",)


def abc2midi_check(tune: str, *, timeout: float = 10) -> tuple[bool, list[str]]:
    """Run the real abc2midi on a tune in a temporary folder.

    Parameters
    ----------
    tune
        One tune, text from ``X:`` on.
    timeout
        Seconds before abc2midi is stopped.

    Returns
    -------
    (bool, list of str)
        ``ok`` is True when abc2midi wrote a MIDI file and printed no
        ``Error`` line other than an unknown chord name (such as the
        Nottingham "Cd", which abc2midi plays as a major chord); the list
        holds abc2midi's error and warning lines.

    Raises
    ------
    MusegenError
        When abc2midi is not installed.
    """
    exe = shutil.which("abc2midi")
    if exe is None:
        raise MusegenError("abc2midi is not installed (Debian/Ubuntu: apt-get install abcmidi)")
    with tempfile.TemporaryDirectory(prefix="musegen-abc2midi-") as tmp:
        src = Path(tmp) / "tune.abc"
        out = Path(tmp) / "tune.mid"
        src.write_text(tune if tune.endswith("\n") else tune + "\n", encoding="utf-8")
        try:
            proc = subprocess.run(
                [exe, src.name, "-o", out.name],
                cwd=tmp,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                env={**os.environ, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired:
            return False, [f"abc2midi did not finish within {timeout:g} s"]
        wrote = out.exists() and out.stat().st_size > 0
    messages = [
        line.strip()
        for line in (proc.stdout + "\n" + proc.stderr).splitlines()
        if line.strip().startswith(("Error", "Warning"))
    ]
    errors = [m for m in messages if m.startswith("Error") and not any(b in m for b in _BENIGN_ERRORS)]
    if not wrote:
        messages.append("abc2midi wrote no MIDI file")
    return wrote and not errors, messages
