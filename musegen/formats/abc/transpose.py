"""Transpose ABC tunes by a number of semitones (training data augmentation).

The transposition is done on the text, so everything that is not a pitch
(lengths, bar lines, decorations, other header fields, comments, line breaks)
is left exactly as it was:

* every key (``K:`` header and body lines, inline ``[K:...]``) moves to the
  transposed key, same mode, spelled the conventional way (the spelling with
  the fewest accidentals; for six, the side of the old key);
* every note moves so that it sounds ``semitones`` higher.  Its sounding pitch
  is computed under the old key with bar accidentals (an accidental holds to
  the end of the bar: by default for its letter in every octave, as abc2midi
  and :mod:`musegen.formats.abc.player` read it), moved, then spelled on the
  letter the key moved to (a diatonic note stays diatonic, a chromatic note
  keeps its interval); an accidental is written where the source note had one
  or where the new key and the bar so far would not give the right pitch under
  either reading of bar accidentals (same octave or every octave).  Ties keep
  their notes' spelling, so a tie over a bar line still joins them.
  A spelling that would need a double accidental the source did not have is
  respelled on the neighbouring letter;
* chord symbols in double quotes move too (``"D7"``, ``"F#m"``, ``"Bbm7"``,
  Nottingham's ``"Cd"`` diminished and ``"Ca"`` augmented, bass notes such as
  ``"G/b"`` or ``"D/f+"`` with their case and sharp style kept); annotations
  (``"^text"``, ``"_text"``, ``"<text"``, ``">text"``, ``"@text"``) and quoted
  text that is no chord are left alone.

``K:none`` keeps its field; its notes are moved and spelled with naturals,
then sharps (upwards) or flats (downwards).  ``K:perc``, ``K:HP`` / ``K:Hp``
and ``clef=perc`` sections are left untouched (they are not pitches).
Explicit accidentals of a key (``K:D exp ^f``, ``K:D ^g``) are transposed with
the key.  Multi-voice tunes are transposed as one stream of notes (a ``V:``
field does not keep a key of its own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from musegen.errors import UsageError
from musegen.formats.abc.lexer import ANNOTATION_MARKS, Lexer, octave_of, plain_field_line, split_comment
from musegen.formats.theory import (
    BASS_ACCIDENTAL,
    FIFTHS,
    FLAT_SPELLING,
    LETTERS,
    NAME_ACCIDENTAL,
    NAME_ACCIDENTAL_TEXT,
    NATURAL,
    NOTE_ACCIDENTAL,
    NOTE_ACCIDENTAL_TEXT,
    SHARP_SPELLING,
    abc_mode,
    fifths_name,
    mode_degree,
    signature,
)
from musegen.formats.theory import fold as _wrap

__all__ = ["transpose_tune", "transpose_chord", "transpose_key"]

#: keys whose notes are not pitches: their sections are left untouched
FROZEN_KEYS = {"perc", "hp", "drum", "drums"}
#: keys without a signature
NO_KEYS = {"", "none"}
#: characters a ``+decoration+`` may hold for the transposer to skip it
_PLUS_DECORATION = re.compile(r"[A-Za-z0-9.()<>]*")


def _pitch(step: int, acc: int) -> int:
    """Semitones above middle C of a diatonic step (0 = C, 7 = c) with an accidental."""
    octave, idx = divmod(step, 7)
    return 12 * octave + NATURAL[LETTERS[idx]] + acc


# ---------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------
_KEY_VALUE = re.compile(r"^(\s*)([A-G])([#b]?)(\s*)([A-Za-z]*)(.*)$", re.S)
_KEY_EXTRA = re.compile(r"(?<![\w=])(\^\^|\^|__|_|=)([A-Ga-g])(?![\w=])")


@dataclass
class Key:
    """A key: tonic, mode, signature (accidental of each letter)."""

    kind: str  # "tonal", "none" or "frozen"
    letter: str = "C"
    acc: int = 0
    mode: str = "major"
    sharps: int = 0
    signature: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LETTERS, 0))


def _parse_key(value: str) -> tuple[Key, re.Match | None, str, str]:
    """The key of a ``K:`` value, its match, the mode text and the rest."""
    low = value.strip().lower()
    first = low.split()[0] if low.split() else ""
    if first in FROZEN_KEYS or "clef=perc" in low or "clef=drum" in low:
        return Key("frozen"), None, "", ""
    m = _KEY_VALUE.match(value)
    if m is None or first in NO_KEYS:
        return Key("none"), None, "", ""
    _, letter, acc_text, space, word, rest = m.groups()
    mode = abc_mode(word, whole=True) if word else "major"
    mode_text = space + word
    if mode is None:  # e.g. "K:G clef=bass": no mode word
        mode, mode_text, rest = "major", "", space + word + rest
    degree, offset = mode_degree(mode)
    acc = NAME_ACCIDENTAL[acc_text]
    major_letter = LETTERS[(LETTERS.index(letter) - degree) % 7]
    major_acc = _wrap(NATURAL[letter] + acc - offset - NATURAL[major_letter])
    sharps = FIFTHS[major_letter] + 7 * major_acc
    sig = signature(sharps)
    if any(w.lower() == "exp" for w in rest.split()):
        sig = dict.fromkeys(LETTERS, 0)
    for mark, note in _KEY_EXTRA.findall(rest):
        sig[note.upper()] = NOTE_ACCIDENTAL[mark]
    return Key("tonal", letter, acc, mode, sharps, sig), m, mode_text, rest


@dataclass
class _Move:
    """How one key section moves: target key and diatonic steps."""

    source: Key
    target: Key
    steps: int | None  # None: spell by pitch (K:none)


def _target_key(key: Key, semitones: int) -> tuple[Key, int]:
    """The conventional transposed key and the diatonic steps of the move."""
    degree, offset = mode_degree(key.mode)
    major_pc = (NATURAL[key.letter] + key.acc - offset + semitones) % 12
    options = [s for s in range(-7, 8) if (7 * s) % 12 == major_pc]
    best = min(abs(s) for s in options)
    options = [s for s in options if abs(s) == best]
    if len(options) > 1:  # F#/Gb: stay on the side of the old key
        side = key.sharps if key.sharps else semitones
        options = [s for s in options if (s > 0) == (side > 0)]
    sharps = options[0]
    major = fifths_name(sharps)
    letter = LETTERS[(LETTERS.index(major[0]) + degree) % 7]
    acc = _wrap(major_pc + offset - NATURAL[letter])
    target = Key("tonal", letter, acc, key.mode, sharps, signature(sharps))
    # steps: the diatonic move that takes the old tonic exactly to the new one
    src_step, src_pitch = LETTERS.index(key.letter), NATURAL[key.letter] + key.acc
    tgt_pitch = src_pitch + semitones
    octave = (tgt_pitch - acc - NATURAL[letter]) // 12
    steps = 7 * octave + LETTERS.index(letter) - src_step
    return target, steps


def transpose_key(value: str, semitones: int) -> str:
    """Transpose the value of a ``K:`` field (``"G"``, ``"Ador"``, ``"F#m clef=bass"``).

    Parameters
    ----------
    value : str
        The text after ``K:``.
    semitones : int
        Semitones up (negative: down).

    Returns
    -------
    str
        The new value; ``none``, ``perc`` and unreadable values unchanged.
    """
    return _key_move(value, semitones)[0]


def _key_move(value: str, semitones: int) -> tuple[str, _Move]:
    key, m, mode_text, rest = _parse_key(value)
    if key.kind != "tonal":
        return value, _Move(key, key, None)
    target, steps = _target_key(key, semitones)
    lead = m.group(1)
    # explicit accidentals of the key move with it
    def extra(mm: re.Match) -> str:
        mark, note = mm.groups()
        src_step = LETTERS.index(note.upper())
        tgt_step = src_step + steps
        tgt_letter = LETTERS[tgt_step % 7]
        acc = _wrap(NATURAL[note.upper()] + NOTE_ACCIDENTAL[mark] + semitones - NATURAL[tgt_letter])
        acc = max(-2, min(2, acc))
        target.signature[tgt_letter] = acc
        return NOTE_ACCIDENTAL_TEXT[acc] + (tgt_letter.lower() if note.islower() else tgt_letter)

    if any(w.lower() == "exp" for w in rest.split()):
        target.signature = dict.fromkeys(LETTERS, 0)
    new_rest = _KEY_EXTRA.sub(extra, rest)
    text = f"{lead}{target.letter}{NAME_ACCIDENTAL_TEXT[target.acc]}{mode_text}{new_rest}"
    return text, _Move(key, target, steps)


# ---------------------------------------------------------------------------
# chord symbols
# ---------------------------------------------------------------------------
_QUALITY = r"(?:maj|min|dim|aug|sus|add|m|M|d|a|o|\+|[b#]?\d+)*"
_CHORD = re.compile(
    r"^(\(?)([A-G])([#b]?)(" + _QUALITY + r")(?:/([A-Ga-g])([#b+\-]?))?(\)?)$"
)


def _spell_name(letter: str, acc: int, semitones: int, steps: int | None, key: Key | None) -> tuple[str, int]:
    """Move a note name of a chord symbol.

    The letter moves with the key (``steps``) when one accidental is enough and
    the name is not an odd one (Cb, Fb, E#, B#) outside the new key;
    otherwise the plain spelling of the new key's side is used.
    """
    pitch = (NATURAL[letter] + acc + semitones) % 12
    if steps is not None:
        new_letter = LETTERS[(LETTERS.index(letter) + steps) % 7]
        new_acc = _wrap(pitch - NATURAL[new_letter])
        odd = new_acc != 0 and (NATURAL[new_letter] + new_acc) % 12 in (0, 4, 5, 11)  # Cb Fb E# B#
        diatonic = key is not None and key.signature[new_letter] == new_acc
        if abs(new_acc) <= 1 and (diatonic or not odd):
            return new_letter, new_acc
    sharps = key.sharps if key is not None and key.kind == "tonal" else 0
    table = SHARP_SPELLING if sharps > 0 or (sharps == 0 and semitones > 0) else FLAT_SPELLING
    return table[pitch]


def transpose_chord(symbol: str, semitones: int, *, steps: int | None = None, key: Key | None = None,
                    bass_sharp: str = "#") -> str:
    """Transpose one chord symbol (the text between the double quotes).

    Parameters
    ----------
    symbol : str
        E.g. ``"D7"``, ``"F#m"``, ``"G/b"``, ``"(E7)"``; several chords may be
        separated by spaces.  Annotations and other text come back unchanged.
    semitones : int
        Semitones up.
    steps : int, optional
        Diatonic steps of the key's move (the letter moves by this much when
        a single accidental is enough); by default the simplest spelling.
    key : Key, optional
        The new key (its side, sharps or flats, picks plain spellings).
    bass_sharp : str
        How a sharp bass note is written: ``"#"`` or ``"+"`` (Nottingham).

    Returns
    -------
    str
        The transposed symbol.
    """
    if not symbol or symbol[0] in ANNOTATION_MARKS:
        return symbol
    words = re.split(r"(\s+)", symbol)
    out = []
    for word in words:
        if not word or word.isspace():
            out.append(word)
            continue
        m = _CHORD.match(word)
        if m is None:
            return symbol
        open_, root, acc, quality, bass, bass_acc, close = m.groups()
        new_root, new_acc = _spell_name(root, NAME_ACCIDENTAL[acc], semitones, steps, key)
        text = f"{open_}{new_root}{NAME_ACCIDENTAL_TEXT[new_acc]}{quality}"
        if bass:
            b_letter, b_acc = _spell_name(bass.upper(), BASS_ACCIDENTAL[bass_acc], semitones, steps, key)
            b_text = {1: "+" if bass_sharp == "+" else "#", -1: "b", 0: ""}[b_acc]
            text += "/" + (b_letter.lower() if bass.islower() else b_letter) + b_text
        out.append(text + close)
    return "".join(out)


# ---------------------------------------------------------------------------
# the tune
# ---------------------------------------------------------------------------
class _Transposer:
    def __init__(self, semitones: int, bass_sharp: str, by_letter: bool):
        self.semitones = semitones
        self.bass_sharp = bass_sharp
        self.by_letter = by_letter
        c_major = Key("tonal")
        self.move = _Move(c_major, *_target_key(c_major, semitones))
        # bar accidentals: the source's under the chosen reading; the target's
        # under both readings (by step, i.e. letter and octave, and by letter)
        self.source_bar: dict[int | str, int] = {}
        self.target_steps: dict[int, int] = {}
        self.target_letters: dict[str, int] = {}

    # -- key changes -------------------------------------------------------
    def key(self, value: str) -> str:
        text, self.move = _key_move(value, self.semitones)
        self.new_bar()
        return text

    def new_bar(self) -> None:
        self.source_bar.clear()
        self.target_steps.clear()
        self.target_letters.clear()

    # -- notes -------------------------------------------------------------
    def note(self, mark: str, letter: str, marks: str) -> str:
        move = self.move
        if move.source.kind == "frozen":
            return mark + letter + marks
        octave = octave_of(letter, marks)
        name = letter.upper()
        step = 7 * octave + LETTERS.index(name)
        where = name if self.by_letter else step
        if mark:
            acc = NOTE_ACCIDENTAL[mark]
            self.source_bar[where] = acc
        else:
            acc = self.source_bar.get(where, move.source.signature[name])
        pitch = _pitch(step, acc) + self.semitones
        new_step, new_acc = self._spell(step, pitch, allow_double=abs(acc) == 2)
        new_name = LETTERS[new_step % 7]
        default = move.target.signature[new_name]
        text = ""
        # write an accidental where the source had one, or where either reading
        # of bar accidentals would otherwise give another pitch
        by_step = self.target_steps.get(new_step, default)
        by_letter = self.target_letters.get(new_name, default)
        if mark or by_step != new_acc or by_letter != new_acc:
            text = NOTE_ACCIDENTAL_TEXT[new_acc]
            self.target_steps[new_step] = new_acc
            self.target_letters[new_name] = new_acc
        new_octave, idx = divmod(new_step, 7)
        if new_octave >= 1:
            return text + LETTERS[idx].lower() + "'" * (new_octave - 1)
        return text + LETTERS[idx] + "," * (-new_octave)

    def _spell(self, step: int, pitch: int, *, allow_double: bool) -> tuple[int, int]:
        steps = self.move.steps
        if steps is not None:
            new_step = step + steps
            new_acc = pitch - _pitch(new_step, 0)
            if abs(new_acc) <= 1 or (allow_double and abs(new_acc) == 2):
                return new_step, new_acc
            # a double accidental the source did not have: the neighbour letter
            candidates = [(abs(pitch - _pitch(s, 0)), s) for s in (new_step - 1, new_step + 1)]
            _, best = min(candidates)
            return best, pitch - _pitch(best, 0)
        up = self.semitones > 0
        letter, acc = (SHARP_SPELLING if up else FLAT_SPELLING)[pitch % 12]
        octave = (pitch - NATURAL[letter] - acc) // 12
        return 7 * octave + LETTERS.index(letter), acc

    # -- chords ------------------------------------------------------------
    def chord(self, token: str) -> str:
        if self.move.source.kind == "frozen":
            return token
        inner = token[1:-1]
        return '"' + transpose_chord(inner, self.semitones, steps=self.move.steps,
                                     key=self.move.target, bass_sharp=self.bass_sharp) + '"'

    # -- lines -------------------------------------------------------------
    def body_line(self, line: str) -> str:
        """One music line, its notes, chord symbols and inline keys moved.

        An unclosed inline field, a ``+...+`` holding other characters and
        an unclosed quote are read as plain characters (their notes move).
        """
        out = []
        lexer = Lexer(line)
        for tok in lexer.tokens():
            kind, text = tok.kind, tok.text
            if (kind == "FIELD" and not tok.closed) or (
                kind == "DECORATION" and text[0] == "+" and not _PLUS_DECORATION.fullmatch(tok.value)
            ):
                out.append(text[0])
                lexer.pos = tok.start + 1  # read on after the first character
                continue
            if kind == "GCHORD":
                out.append(self.chord(text))
            elif kind == "FIELD" and tok.letter == "K":
                out.append("[K:" + self.key(tok.value) + "]")
            elif kind == "NOTE":
                acc = tok.accidentals
                mark = acc[-2:] if acc[-2:] in ("^^", "__") else acc[-1:]
                out.append(acc[: len(acc) - len(mark)])
                out.append(self.note(mark, tok.letter, tok.marks) + tok.length)
            else:
                if kind == "BAR" and ("|" in text or text == "::"):
                    self.new_bar()
                out.append(text)
        return "".join(out)


def transpose_tune(tune: str, semitones: int, *, bass_sharp: str | None = None, bar_accidentals: str = "letter") -> str:
    """Transpose an ABC tune so that it sounds ``semitones`` higher.

    Parameters
    ----------
    tune : str
        One ABC tune (or several: every ``K:`` field sets the key that
        follows).  Text before any ``K:`` is read in C major.
    semitones : int
        Semitones up (negative: down).  0 returns ``tune`` unchanged.
    bass_sharp : str, optional
        How a sharp bass note of a chord symbol is written, ``"#"`` or ``"+"``
        (``"D/f+"``, the Nottingham style).  By default ``"+"`` when the tune
        already writes bass notes that way, else ``"#"``.
    bar_accidentals : {"letter", "octave"}
        How the source's accidentals hold to the end of the bar: for the same
        letter in every octave (``"letter"``, abc2midi's reading, the one of
        :mod:`musegen.formats.abc.player`) or only in the same octave
        (``"octave"``, the ABC 2.1 standard).  The output is written so that
        both readings give the same pitches.

    Returns
    -------
    str
        The transposed tune.

    Examples
    --------
    >>> transpose_tune('K:G\\n"G"GAB "D7"c2d|\\n', 2)
    'K:A\\n"A"ABc "E7"d2e|\\n'
    """
    semitones = int(semitones)
    if semitones == 0:
        return tune
    if bass_sharp is None:
        bass_sharp = "+" if re.search(r'"[^"\n]*/[A-Ga-g]\+[^"\n]*"', tune) else "#"
    if bass_sharp not in ("#", "+"):
        raise UsageError(f"bass_sharp must be '#' or '+', not {bass_sharp!r}")
    if bar_accidentals not in ("letter", "octave"):
        raise UsageError(f"bar_accidentals must be 'letter' or 'octave', not {bar_accidentals!r}")
    state = _Transposer(semitones, bass_sharp, bar_accidentals == "letter")
    out = []
    for line in tune.split("\n"):
        field = plain_field_line(line)
        if line.startswith("%"):
            out.append(line)
        elif field is None:
            out.append(state.body_line(line))
        elif field[0] == "K":
            value, comment = split_comment(field[1])
            out.append("K:" + state.key(value) + comment)
        else:
            out.append(line)
    return "\n".join(out)
