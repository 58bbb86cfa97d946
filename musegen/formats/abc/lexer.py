"""The one tokenizer of ABC tune text, shared by the player, the checker and the transposer.

A tune is read line by line.  :func:`field_line` and :func:`plain_field_line`
tell header and body field lines (``K:G``, ``M:6/8``) from music lines;
:class:`Lexer` cuts one music line into :class:`Token` objects, reading
characters as abc2midi does:

==============  =============================================================
kind            text
==============  =============================================================
``SPACE``       a run of spaces and tabs
``COMMENT``     ``%`` (not after ``\\``) to the end of the line
``GCHORD``      a chord symbol or annotation, ``"..."`` closed on the line
``QUOTE``       a ``"`` never closed on the line
``DECORATION``  ``!name!`` or ``+name+`` (closed on the line)
``BANG``        a ``!`` or ``+`` never closed on the line
``FIELD``       an inline field ``[K:D]`` (``closed`` False: to the line end)
``BAR``         ``|`` ``||`` ``|]`` ``|:`` ``:|`` ``::`` ``:`` ``[|`` ``[|:``
                (``ending``: the digits of ``|1`` ``:|2``, ``:|]`` included)
``ENDING``      ``[1``, ``[1,3``, ``[1-3`` (``ending``: the digits)
``CHORD_OPEN``  ``[``
``CHORD_CLOSE`` ``]`` with the chord's length (``length``)
``GRACE_OPEN``  ``{``;  ``GRACE_CLOSE``: ``}``
``TUPLET``      ``(3``, ``(3:2``, ``(3:2:3`` (``tuplet``: the three numbers)
``SLUR_OPEN``   ``(``;  ``SLUR_CLOSE``: ``)``
``BROKEN``      a run of ``>`` or of ``<``
``TIE``         ``-``
``NOTE``        accidentals, letter, octave marks, length (``^^c'3/2``)
``ACCIDENTAL``  accidental signs not followed by a letter
``DECO_CHAR``   one decoration character (``.`` ``~`` ``T`` ``H`` ``'``...)
``REST``        ``z`` or ``x`` with its length; ``SPACER``: ``y``;
                ``MEASURE_REST``: ``Z`` or ``X`` (number of bars as length)
``LENGTH``      a length with no note (``3``, ``/``, ``3/2``)
``BACKSLASH``   ``\\`` (a line continuation)
``STARS``       a run of ``*``
``OVERLAY``     ``&``
``STRAY``       any other character
==============  =============================================================

The lexer is a cursor: a reader that takes a character sequence otherwise
(abc2midi reads ``]|`` as a bar line outside a chord) moves :attr:`Lexer.pos`
and reads on from there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

#: header and body field letters abc2midi recognises at the start of a line
FIELD_LETTERS = frozenset("ABCDEFGHIKLMNOPQRSTUVdwsWXZ+")
#: characters that decorate the note after them (abc2midi's list)
DECORATION_CHARS = ".MLRH~Tuv'OPS"
#: first characters of quoted text that make it an annotation, not a chord symbol
ANNOTATION_MARKS = "^_<>@"
NOTE_LETTERS = "abcdefgABCDEFG"
ACCIDENTAL_SIGNS = "^_="

_FIELD_LINE = re.compile(r"^([A-Za-z+])[ \t]*:(.*)$")
_PLAIN_FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")
_TUPLET = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
_ENDING = re.compile(r"\d+(?:[,-]\d+)*")


def unix_newlines(text: str) -> str:
    """``text`` with its Windows (``\\r\\n``) and old Mac (``\\r``) line ends made ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def field_line(line: str) -> tuple[str, str] | None:
    """``(letter, value)`` when ``line`` is a field line as abc2midi reads it, else None.

    The letter is one of :data:`FIELD_LETTERS`, spaces may precede the colon,
    and a value starting with ``:`` or ``|`` makes a music line (``A:|``).
    """
    m = _FIELD_LINE.match(line)
    if m and m.group(1) in FIELD_LETTERS and not m.group(2).startswith((":", "|")):
        return m.group(1), m.group(2)
    return None


def plain_field_line(line: str) -> tuple[str, str] | None:
    """``(letter, value)`` when ``line`` starts with a letter and a colon (``T:...``), else None."""
    m = _PLAIN_FIELD_LINE.match(line)
    return (m.group(1), m.group(2)) if m else None


def split_comment(text: str) -> tuple[str, str]:
    """``text`` cut before its first ``%`` that is not ``\\%``: (before, comment)."""
    m = re.search(r"(?<!\\)%", text)
    return (text, "") if m is None else (text[: m.start()], text[m.start() :])


def octave_of(letter: str, marks: str) -> int:
    """Octaves above the ``C``-``B`` octave: ``c`` is 1, ``C,`` is -1, ``c''`` is 3."""
    return (1 if letter.islower() else 0) + marks.count("'") - marks.count(",")


def read_length(text: str) -> tuple[int, int, bool]:
    """abc2midi's ``readlen`` of a length text: ``"3/2"`` -> (3, 2), ``"//"`` -> (1, 4), ``""`` -> (1, 1).

    The third value is True when a length was written.
    """
    m = re.match(r"(\d*)(/?)(\d*)(/*)", text)
    n = int(m.group(1)) if m.group(1) else 0
    n = n or 1
    if not m.group(2):
        return n, 1, bool(text)
    den = int(m.group(3)) if m.group(3) else 0
    if den == 0:
        den = 2 ** (1 + len(m.group(4)))
    return n, den, True


def length_value(text: str) -> Fraction:
    """The value of a written length in unit notes (``""`` is 1, ``/`` is 1/2, ``3/2``...)."""
    m = re.match(r"(\d*)(/*)(\d*)", text)
    num = int(m.group(1)) if m.group(1) else 1
    if not m.group(2):
        return Fraction(num)
    den = int(m.group(3)) if m.group(3) else 2 ** len(m.group(2))
    return Fraction(num, den or 1)


def ending_numbers(text: str) -> frozenset[int]:
    """The passes of an ending ``"1"``, ``"1,3"``, ``"1-3"`` (empty when none is readable)."""
    numbers: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, _, b = part.partition("-")
            if a.isdigit() and b.isdigit():
                numbers.update(range(int(a), int(b) + 1))
        elif part.isdigit():
            numbers.add(int(part))
    return frozenset(numbers)


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a music line: ``kind``, its place ``start``:``end`` and parsed parts.

    ``value`` holds the text inside quotes, ``!..!`` or an inline field (its
    letter in ``letter``); a ``NOTE`` has ``accidentals``, ``letter``,
    ``marks`` (octave marks) and ``length`` (the written length text); rests
    and ``CHORD_CLOSE`` have ``length``; bar lines and endings ``ending``.
    """

    kind: str
    start: int
    end: int
    text: str
    value: str = ""
    letter: str = ""
    accidentals: str = ""
    marks: str = ""
    length: str = ""
    ending: str = ""
    closed: bool = True
    tuplet: tuple[int, int, int] = (0, 0, 0)

    @property
    def octave(self) -> int:
        """The note's octave (see :func:`octave_of`)."""
        return octave_of(self.letter, self.marks)


class Lexer:
    """Cut one music line into tokens, from :attr:`pos` on.

    Examples
    --------
    >>> [t.text for t in Lexer('"G"^G2>A |:').tokens()]
    ['"G"', '^G2', '>', 'A', ' ', '|:']
    """

    def __init__(self, line: str, pos: int = 0):
        self.s = line
        self.pos = pos

    def tokens(self) -> Iterator[Token]:
        """Every token from :attr:`pos` to the end (the caller may move :attr:`pos` between them)."""
        while self.pos < len(self.s):
            tok = self.read()
            self.pos = tok.end
            yield tok

    def char(self, k: int = 0) -> str:
        """The character ``k`` places after :attr:`pos` ("" past the end)."""
        j = self.pos + k
        return self.s[j] if 0 <= j < len(self.s) else ""

    # -- pieces ---------------------------------------------------------------
    def length_end(self, i: int) -> int:
        """Where the length written from ``i`` on ends (abc2midi's ``readlen``)."""
        s = self.s
        j = i
        while j < len(s) and s[j].isdigit():
            j += 1
        if j < len(s) and s[j] == "/":
            j += 1
            if j < len(s) and s[j].isdigit():
                while j < len(s) and s[j].isdigit():
                    j += 1
            else:
                while j < len(s) and s[j] == "/":
                    j += 1
        return j

    def _ending_end(self, i: int) -> int:
        m = _ENDING.match(self.s, i)
        return m.end() if m else i

    def _make(self, kind: str, end: int, **parts) -> Token:
        return Token(kind, self.pos, end, self.s[self.pos : end], **parts)

    # -- one token ----------------------------------------------------------
    def read(self) -> Token:
        """The token at :attr:`pos` (does not move :attr:`pos`)."""
        s, i = self.s, self.pos
        c = s[i]
        nxt = s[i + 1] if i + 1 < len(s) else ""
        reader = _READERS.get(c)
        if reader is not None:
            return reader(self, c, nxt)
        if c in NOTE_LETTERS or c in ACCIDENTAL_SIGNS:
            return self._note(i)
        if c in DECORATION_CHARS:
            return self._make("DECO_CHAR", i + 1)
        if c.isdigit() or c == "/":
            return self._make("LENGTH", self.length_end(i), length=s[i : self.length_end(i)])
        return self._make("STRAY", i + 1)

    def _note(self, i: int) -> Token:
        s = self.s
        j = i
        while j < len(s) and s[j] in ACCIDENTAL_SIGNS:
            j += 1
        if j >= len(s) or s[j] not in NOTE_LETTERS:
            return self._make("ACCIDENTAL", j, accidentals=s[i:j])
        k = j + 1
        while k < len(s) and s[k] in ",'":
            k += 1
        end = self.length_end(k)
        return self._make("NOTE", end, accidentals=s[i:j], letter=s[j], marks=s[j + 1 : k], length=s[k:end])

    def _space(self, c: str, nxt: str) -> Token:
        j = self.pos
        while j < len(self.s) and self.s[j] in " \t":
            j += 1
        return self._make("SPACE", j)

    def _percent(self, c: str, nxt: str) -> Token:
        if self.pos > 0 and self.s[self.pos - 1] == "\\":
            return self._make("STRAY", self.pos + 1)
        return self._make("COMMENT", len(self.s))

    def _quote(self, c: str, nxt: str) -> Token:
        end = self.s.find('"', self.pos + 1)
        if end < 0:
            return self._make("QUOTE", self.pos + 1, closed=False)
        return self._make("GCHORD", end + 1, value=self.s[self.pos + 1 : end])

    def _bang(self, c: str, nxt: str) -> Token:
        end = self.s.find(c, self.pos + 1)
        if end < 0:
            return self._make("BANG", self.pos + 1, closed=False)
        return self._make("DECORATION", end + 1, value=self.s[self.pos + 1 : end])

    def _bar(self, c: str, nxt: str) -> Token:
        i = self.pos
        if nxt in (":", "|", "]"):
            return self._make("BAR", i + 2)
        end = self._ending_end(i + 1)
        return self._make("BAR", end, ending=self.s[i + 1 : end])

    def _colon(self, c: str, nxt: str) -> Token:
        i = self.pos
        if nxt == ":":
            return self._make("BAR", i + 2)
        if nxt == "|":
            end = self._ending_end(i + 2)
            ending = self.s[i + 2 : end]
            if end < len(self.s) and self.s[end] == "]":
                end += 1
            return self._make("BAR", end, ending=ending)
        return self._make("BAR", i + 1)

    def _open_bracket(self, c: str, nxt: str) -> Token:
        i, s = self.pos, self.s
        if nxt == "|":
            return self._make("BAR", i + 3 if s[i + 2 : i + 3] == ":" else i + 2)
        if nxt.isdigit():
            end = self._ending_end(i + 1)
            return self._make("ENDING", end, ending=s[i + 1 : end])
        if nxt.isascii() and nxt.isalpha() and s[i + 2 : i + 3] == ":":
            end = s.find("]", i)
            closed = end >= 0
            end = end + 1 if closed else len(s)
            value = s[i + 3 : end - 1] if closed else s[i + 3 :]
            return self._make("FIELD", end, letter=nxt, value=value, closed=closed)
        return self._make("CHORD_OPEN", i + 1)

    def _close_bracket(self, c: str, nxt: str) -> Token:
        end = self.length_end(self.pos + 1)
        return self._make("CHORD_CLOSE", end, length=self.s[self.pos + 1 : end])

    def _open_paren(self, c: str, nxt: str) -> Token:
        m = _TUPLET.match(self.s, self.pos)
        if m:
            p, q, r = (int(g) if g else 0 for g in m.groups())
            return self._make("TUPLET", m.end(), tuplet=(p, q, r))
        return self._make("SLUR_OPEN", self.pos + 1)

    def _run(self, c: str, nxt: str) -> Token:
        j = self.pos
        while j < len(self.s) and self.s[j] == c:
            j += 1
        return self._make("BROKEN" if c in "<>" else "STARS", j)

    def _rest(self, c: str, nxt: str) -> Token:
        end = self.length_end(self.pos + 1)
        kind = {"z": "REST", "x": "REST", "y": "SPACER"}.get(c, "MEASURE_REST")
        return self._make(kind, end, letter=c, length=self.s[self.pos + 1 : end])

    def _single(self, c: str, nxt: str) -> Token:
        return self._make(_SINGLES[c], self.pos + 1)


_SINGLES = {
    ")": "SLUR_CLOSE",
    "{": "GRACE_OPEN",
    "}": "GRACE_CLOSE",
    "-": "TIE",
    "\\": "BACKSLASH",
    "&": "OVERLAY",
}
_READERS = {
    " ": Lexer._space,
    "\t": Lexer._space,
    "%": Lexer._percent,
    '"': Lexer._quote,
    "!": Lexer._bang,
    "+": Lexer._bang,
    "|": Lexer._bar,
    ":": Lexer._colon,
    "[": Lexer._open_bracket,
    "]": Lexer._close_bracket,
    "(": Lexer._open_paren,
    ">": Lexer._run,
    "<": Lexer._run,
    "*": Lexer._run,
    "z": Lexer._rest,
    "x": Lexer._rest,
    "y": Lexer._rest,
    "Z": Lexer._rest,
    "X": Lexer._rest,
    **{c: Lexer._single for c in _SINGLES},
}


def tokenize(line: str) -> list[Token]:
    """All tokens of one music line."""
    return list(Lexer(line).tokens())
