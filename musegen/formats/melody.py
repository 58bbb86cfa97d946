"""Melodies: one line of notes and rests in measures, read from scores and written back.

A :class:`Melody` is what the score representation learns: the top voice of a
piece, measure by measure, with the time and key signatures in force, rests,
and durations in quarter notes on a grid of :data:`GRID` (1/12: sixteenths
and triplets down to the triplet thirty-second).

Reading (:func:`read_melodies`)
    ABC (tune by tune, with music21's ABC reader), MusicXML (``.musicxml``,
    ``.xml``, ``.mxl``), MIDI (quantised to the grid by musegen), or a corpus
    bundled with music21 (``music21:bach``: the soprano of each chorale,
    ``music21:oneills1850``: O'Neill's tunes).  The top voice is the highest
    sounding note at each moment (chords give their highest note, voices of
    the melody part are merged); grace notes are dropped; repeats are *not*
    expanded: measures come in written order, both endings included.

The canonical form
    Every reader gives the same form, so that round trips compare equal: ties
    join notes only across bar lines (a tie inside a measure is merged into
    one longer event, as are consecutive rests), every measure's events fill
    it from its first beat to its last note or rest, no measure is longer than
    its meter (an overfull one is cut in two, tied over the cut), and the
    melody ends with its last measure that has a note.

Writing (:func:`write_melody`)
    MusicXML, MIDI, and ABC through a small score-to-ABC writer
    (:func:`melody_to_abc`) whose output musegen's ABC tools, abc2midi,
    abcm2ps and music21 all read alike.  Sheet music (PNG, SVG) lives in
    :mod:`musegen.formats.render`.

music21 and mido are imported inside the functions that need them.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from musegen.errors import MusegenError, UsageError
from musegen.fileio import check_writable, write_text
from musegen.fileio import input_file, output_errors, path_files
from musegen.formats.abc import read_tunes, strip_comments, tune_title
from musegen.formats.theory import (  # noqa: F401 - ABC_MODES, MODE_ALIASES, key_name, spell: importable from here
    ABC_MODES,
    MODE_ALIASES,
    MODES,
    NOTE_ACCIDENTAL_TEXT,
    abc_meter,
    default_unit,
    fifths_name,
    fold,
    key_name,
    mode_name,
    signature,
    spell,
)
from musegen.limits import MAX_MEASURES, MAX_MELODY_NOTES

GRID = Fraction(1, 12)  # durations are multiples of this many quarter notes (sixteenths and triplets)
MUSIC21_PREFIX = "music21:"
DEFAULT_METER = (4, 4)

# note values a score can show as one note (quarter lengths), longest first: plain,
# dotted, and triplet values down to the triplet thirty-second
EXPRESSIBLE: tuple[Fraction, ...] = tuple(sorted(
    {Fraction(v) for v in ("6", "4", "3", "2", "3/2", "1", "3/4", "1/2", "1/4")}
    | {Fraction(v) for v in ("8/3", "4/3", "2/3", "1/3", "1/6", "1/12")},
    reverse=True,
))
BARS_PER_LINE = 4  # ABC output: a line break every so many bars
# a score's melody is its first part named so (a chorale's soprano, not the horn above it), else its first part
MELODY_PARTS = ("soprano", "melody", "voice", "cantus")
PART_NAME = "Melody"  # the part of a written score, as notation programs show it
PART_INSTRUMENT = "Piano"  # its instrument (a music21.instrument class; General MIDI program 1, as the MIDI files)
SHORT_BAR_MARKER = "musegen:measure"  # MIDI marker: "musegen:measure 6/8" starts a short measure of 6/8


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Event:
    """One note or rest.

    Parameters
    ----------
    pitch : int or None
        MIDI pitch (60 is middle C); None for a rest.
    duration : Fraction
        In quarter notes, a positive multiple of :data:`GRID`.
    tie : bool
        Tied to the next event (the same pitch), which in the canonical form
        is the first event of the next measure.
    """

    pitch: int | None
    duration: Fraction
    tie: bool = False


@dataclass
class Measure:
    """One measure: its events and the time and key signatures in force.

    ``fifths`` counts the key signature's sharps (negative: flats); ``mode`` is
    a key of :data:`MODES` (``"major"``, ``"minor"``, ``"dorian"``...).
    """

    events: list[Event]
    numerator: int
    denominator: int
    fifths: int = 0
    mode: str = "major"

    @property
    def length(self) -> Fraction:
        """The summed durations of the events, in quarter notes."""
        return sum((e.duration for e in self.events), Fraction(0))

    @property
    def expected(self) -> Fraction:
        """The length of a full measure under its time signature, in quarter notes."""
        return Fraction(4 * self.numerator, self.denominator)

    def is_full(self) -> bool:
        """True when the events fill the measure exactly."""
        return self.length == self.expected

    @property
    def meter(self) -> tuple[int, int]:
        return self.numerator, self.denominator

    @property
    def key(self) -> tuple[int, str]:
        return self.fifths, self.mode


@dataclass
class Melody:
    """A melody in measures.

    ``pickup`` is True when the first measure is an anacrusis (shorter than its
    meter, the rest of the piece following); ``composer`` is written as the
    score's composer line (MusicXML) and ``C:`` field (ABC) when set.
    """

    measures: list[Measure]
    title: str = ""
    pickup: bool = False
    composer: str = ""

    def to_dict(self) -> dict:
        """JSON-able data, exact: durations as ``"n/d"`` strings, each event as ``[pitch, duration, tie]``."""
        return {
            "title": self.title,
            **({"composer": self.composer} if self.composer else {}),
            "pickup": self.pickup,
            "measures": [
                {"time": [m.numerator, m.denominator], "key": [m.fifths, m.mode],
                 "events": [[e.pitch, str(e.duration), e.tie] for e in m.events]}
                for m in self.measures
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Melody:
        """The inverse of :meth:`to_dict`."""
        try:
            measures = [
                Measure([Event(None if p is None else int(p), Fraction(dur), bool(tie)) for p, dur, tie in m["events"]],
                        int(m["time"][0]), int(m["time"][1]), int(m["key"][0]), str(m["key"][1]))
                for m in d["measures"]
            ]
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise MusegenError(f"not a melody ({type(exc).__name__}: {exc})") from None
        return cls(measures, title=str(d.get("title", "")), pickup=bool(d.get("pickup", False)),
                   composer=str(d.get("composer", "")))


class MelodyList(list):
    """The melodies read from a corpus (a list), with ``skipped``: one line per piece that could not be read."""

    def __init__(self, melodies: Iterable[Melody] = (), skipped: Iterable[str] = ()):
        super().__init__(melodies)
        self.skipped: list[str] = list(skipped)


def melody_notes(melody: Melody, *, starts: list[Fraction] | None = None) -> list[tuple[Fraction, Fraction, int]]:
    """The sounding notes as ``(onset, duration, pitch)``, tied events joined, times in quarter notes.

    ``starts`` places each measure (default: one after the other).
    """
    notes: list[list] = []
    tied = False
    t = Fraction(0)
    for i, m in enumerate(melody.measures):
        if starts is not None:
            t = starts[i]
        for e in m.events:
            if e.pitch is not None:
                if tied and notes[-1][2] == e.pitch and notes[-1][0] + notes[-1][1] == t:
                    notes[-1][1] += e.duration
                else:
                    notes.append([t, e.duration, e.pitch])
            tied = e.tie and e.pitch is not None
            t += e.duration
    return [(a, b, c) for a, b, c in notes]


# --------------------------------------------------------------------------- keys and spelling


def key_offset_to_c(melody: Melody) -> int:
    """Semitones (-6..5) that move the first measure's key signature to none: C major, A minor, D dorian..."""
    fifths = melody.measures[0].fifths if melody.measures else 0
    return fold(-7 * fifths)


def transpose_melody(melody: Melody, semitones: int) -> Melody:
    """The melody moved by ``semitones``, key signatures moved along (spelled with at most 6 flats or 5 sharps).

    Raises
    ------
    MusegenError
        When a note would leave the MIDI range 0..127.
    """
    semitones = int(semitones)
    if semitones == 0:
        return Melody([Measure(list(m.events), *m.meter, *m.key) for m in melody.measures], melody.title, melody.pickup,
                      melody.composer)
    measures = []
    for m in melody.measures:
        events = []
        for e in m.events:
            if e.pitch is not None and not 0 <= e.pitch + semitones <= 127:
                raise MusegenError(f"{melody.title or 'melody'}: transposing by {semitones} moves pitch {e.pitch} "
                                   "out of the MIDI range 0..127")
            events.append(e if e.pitch is None else Event(e.pitch + semitones, e.duration, e.tie))
        measures.append(Measure(events, m.numerator, m.denominator, fold(m.fifths + 7 * semitones), m.mode))
    return Melody(measures, melody.title, melody.pickup, melody.composer)


# --------------------------------------------------------------------------- from notes to measures


def quantize(x) -> Fraction:
    """A time or duration in quarter notes, rounded to the nearest multiple of :data:`GRID`."""
    return Fraction(round(Fraction(x) / GRID)) * GRID


@dataclass
class _Note:
    start: Fraction
    end: Fraction
    pitch: int
    tie_out: bool = False  # tied to a note that was not found (the next ABC segment)


@dataclass(frozen=True)
class _Bar:
    start: Fraction
    end: Fraction
    numerator: int
    denominator: int
    fifths: int
    mode: str


def _join_ties(notes: list[tuple[Fraction, Fraction, int, bool]]) -> list[_Note]:
    """Join tied notes ``(start, end, pitch, tied_to_next)`` of the same pitch into one note each."""
    out: list[_Note] = []
    open_ties: dict[int, _Note] = {}
    for start, end, pitch, tied in sorted(notes, key=lambda n: (n[0], -n[2])):
        held = open_ties.pop(pitch, None)
        if held is not None and held.end == start:
            held.end = end
            held.tie_out = tied
            note = held
        else:
            note = _Note(start, end, pitch, tied)
            out.append(note)
        if tied:
            open_ties[pitch] = note
    return out


def _skyline(notes: list[_Note]) -> list[tuple[Fraction, Fraction, _Note]]:
    """The top voice: at each moment the highest sounding note, as ``(start, end, note)`` spans."""
    points = sorted({n.start for n in notes} | {n.end for n in notes})
    by_start = sorted(notes, key=lambda n: n.start)
    # the sounding notes, highest pitch (then earliest start, then first read) on top; a note that has
    # ended leaves the heap when it comes to the top, so each moment costs a logarithm, not a scan
    active: list[tuple[int, Fraction, int, _Note]] = []
    spans: list[tuple[Fraction, Fraction, _Note]] = []
    k = 0
    for a, b in itertools.pairwise(points):
        while k < len(by_start) and by_start[k].start <= a:
            if by_start[k].end > a:
                heapq.heappush(active, (-by_start[k].pitch, by_start[k].start, k, by_start[k]))
            k += 1
        while active and active[0][3].end <= a:
            heapq.heappop(active)
        if not active:
            continue
        top = active[0][3]
        if spans and spans[-1][2] is top and spans[-1][1] == a:
            spans[-1] = (spans[-1][0], b, top)
        else:
            spans.append((a, b, top))
    return spans


def _to_measures(notes: list[_Note], bars: list[_Bar]) -> list[Measure]:
    """Cut the top voice of ``notes`` at the bar lines; gaps become rests, notes crossing a bar line ties."""
    spans = _skyline([n for n in notes if n.end > n.start])
    measures = []
    k = 0
    for bar in bars:
        events: list[Event] = []
        t = bar.start
        while k < len(spans) and spans[k][1] <= bar.start:
            k += 1
        j = k
        while j < len(spans) and spans[j][0] < bar.end:
            a, b, note = spans[j]
            a, b2 = max(a, bar.start), min(b, bar.end)
            if a > t:
                _add(events, Event(None, a - t))
            crosses = b > bar.end
            open_tie = note.tie_out and b == note.end and b == bar.end
            _add(events, Event(note.pitch, b2 - a, crosses or open_tie))
            t = b2
            j += 1
        if bar.end > t:
            _add(events, Event(None, bar.end - t))
        measures.append(Measure(events, bar.numerator, bar.denominator, bar.fifths, bar.mode))
    return measures


def _add(events: list[Event], event: Event) -> None:
    """Append ``event``, merged into the last event when both are rests."""
    if events and event.pitch is None and events[-1].pitch is None:
        events[-1] = Event(None, events[-1].duration + event.duration)
    else:
        events.append(event)


def _split_overfull(m: Measure) -> list[Measure]:
    """``m`` cut into measures no longer than its meter (tied over the cuts), as music21 re-bars ABC."""
    out: list[Measure] = []
    events: list[Event] = []
    t = Fraction(0)
    for e in m.events:
        while t + e.duration > m.expected:
            head = m.expected - t
            if head > 0:
                events.append(Event(e.pitch, head, e.pitch is not None))
                e = Event(e.pitch, e.duration - head, e.tie)
            out.append(Measure(events, *m.meter, *m.key))
            events, t = [], Fraction(0)
        events.append(e)
        t += e.duration
    if events:
        out.append(Measure(events, *m.meter, *m.key))
    return out


def _melody(measures: list[Measure], title: str, composer: str = "") -> Melody:
    """A melody in the canonical form (see the module's doc) from measures read."""
    measures = [part for m in measures if m.events for part in _split_overfull(m)]
    while measures and all(e.pitch is None for e in measures[-1].events):
        measures.pop()  # MIDI cannot keep trailing silence: no reader keeps it
    flat = [(m, i) for m in measures for i in range(len(m.events))]
    for (m, i), (m2, j) in zip(flat, flat[1:] + [(None, 0)]):
        e = m.events[i]
        if e.tie and (m2 is None or m2.events[j].pitch != e.pitch):
            m.events[i] = Event(e.pitch, e.duration, False)
    pickup = len(measures) > 1 and measures[0].length < measures[0].expected
    return Melody(measures, title=title, pickup=pickup, composer=composer)


# --------------------------------------------------------------------------- music21 scores


def score_to_melody(score, *, title: str = "") -> Melody:
    """The top voice of a music21 score's melody part as a :class:`Melody`.

    The part is the first one named like a melody (``Soprano``...), else the
    first; a transposing instrument is read at sounding pitch.  Voices of the
    part are merged (the highest sounding note wins, chords give
    their highest note), grace notes dropped, times quantised to :data:`GRID`.
    Measures are kept as written: repeats are not expanded.

    Raises
    ------
    MusegenError
        When the score has no notes.
    """
    title = title or score_title(score)
    return _melody(_score_measures(score, title), title, score_composer(score))


def _score_measures(score, title: str) -> list[Measure]:
    """The measures of :func:`score_to_melody`, before the canonical form's last steps."""
    from music21 import meter, stream

    part = melody_part(score)
    measures = list(part.getElementsByClass(stream.Measure))
    if not measures:
        part = part.makeMeasures()
        measures = list(part.getElementsByClass(stream.Measure))
    notes = []
    for n in part.flatten().notes:
        if n.duration.isGrace:
            continue
        pitches = [p.midi for p in getattr(n, "pitches", ())]
        if not pitches:
            continue  # unpitched percussion
        start = quantize(n.offset)
        end = max(quantize(n.offset + n.quarterLength), start + GRID)
        notes.append((start, end, max(pitches), n.tie is not None and n.tie.type in ("start", "continue")))
    if not notes:
        raise MusegenError(f"{title or 'the score'}: no notes")
    ts = next(iter(part.recurse().getElementsByClass(meter.TimeSignature)), None)
    meter_now = (ts.numerator, ts.denominator) if ts is not None else DEFAULT_METER
    ks = _first_key(part)
    key_now = (ks.sharps, mode_name(getattr(ks, "mode", None))) if ks is not None else (0, "major")
    bars: list[_Bar] = []
    t = Fraction(0)
    for m in measures:
        if m.timeSignature is not None:
            meter_now = (m.timeSignature.numerator, m.timeSignature.denominator)
        if m.keySignature is not None:
            key_now = (m.keySignature.sharps, mode_name(getattr(m.keySignature, "mode", None)))
        start = max(quantize(m.offset), t)
        end = quantize(m.offset + _measure_length(m))
        if end > start:
            bars.append(_Bar(start, end, *meter_now, *key_now))
            t = end
    return _to_measures(_join_ties(notes), bars)


def melody_part(score):
    """The part that holds the melody: the first named like a melody (:data:`MELODY_PARTS`), else the first.

    A transposing instrument's part is moved to sounding pitch.
    """
    from music21 import stream

    parts = list(score.parts) if isinstance(score, stream.Score) else []
    if not parts:
        return score

    def name(p) -> str:
        return str(p.partName or p.id or "").strip().lower()

    part = next((p for p in parts if name(p).startswith(MELODY_PARTS)), parts[0])
    instrument = part.getInstrument(returnDefault=False)
    if instrument is not None and instrument.transposition is not None:
        part = part.toSoundingPitch(inPlace=False)
    return part


def _measure_length(m) -> Fraction:
    """How long a music21 measure's notes and rests last, hidden rests at its end left out.

    music21's MusicXML writer fills a short measure (a pickup at the end of a
    piece, a bar before a second ending) with a hidden rest; this is its
    written length without that filling.
    """
    ends = [Fraction(n.offset) + Fraction(n.quarterLength) for n in m.recurse().notesAndRests
            if not (n.isRest and n.style.hideObjectOnPrint)]
    return max(ends) if ends else Fraction(m.highestTime)


def _first_key(part):
    from music21 import key

    return next(iter(part.recurse().getElementsByClass(key.KeySignature)), None)


def score_title(score) -> str:
    md = getattr(score, "metadata", None)
    if md is None:
        return ""
    return str(md.title or md.movementName or "")


def score_composer(score) -> str:
    """The composer line of a music21 score ("" when none; several joined by " and ", as music21 joins them)."""
    md = getattr(score, "metadata", None)
    return str(md.composer or "") if md is not None else ""


def _written(melody: Melody) -> list[list[tuple[int | None, Fraction, bool]]]:
    """Each measure as written notes ``(pitch, duration, tied_to_next)``: durations split into note values.

    A tie is kept only where the next event has the same pitch.
    """
    flat = [e for m in melody.measures for e in m.events]
    out = []
    k = 0
    for m in melody.measures:
        pieces = []
        for e in m.events:
            k += 1
            tie = e.tie and e.pitch is not None and k < len(flat) and flat[k].pitch == e.pitch
            parts = split_duration(e.duration)
            for i, d in enumerate(parts):
                pieces.append((e.pitch, d, e.pitch is not None and (i < len(parts) - 1 or tie)))
        out.append(pieces)
    return out


def split_duration(duration: Fraction) -> list[Fraction]:
    """A duration as note values a score can show (longest first): ``split_duration(Fraction(5, 2)) == [2, 1/2]``."""
    left = quantize(duration)
    parts = []
    while left > 0:
        value = next(v for v in EXPRESSIBLE if v <= left)
        parts.append(value)
        left -= value
    return parts or [GRID]


def melody_to_score(melody: Melody):
    """A music21 score of the melody: one part, measures, time and key signatures, ties.

    The part is named (:data:`PART_NAME`) and played by :data:`PART_INSTRUMENT`
    (a notation program such as MuseScore needs both); the composer line is
    the melody's ``composer`` when it has one.

    Returns
    -------
    music21.stream.Score
    """
    from music21 import clef, instrument, key, metadata, meter, note, stream, tie

    score = stream.Score()
    score.insert(0, metadata.Metadata())
    score.metadata.title = melody.title or "Untitled"
    score.metadata.movementName = score.metadata.title
    if melody.composer:
        score.metadata.composer = melody.composer
    part = stream.Part()
    part.partName = PART_NAME
    player = getattr(instrument, PART_INSTRUMENT)()
    player.partName, player.partAbbreviation = PART_NAME, PART_NAME[:3] + "."
    player.instrumentId = "I1"  # not music21's random id: the same score gives the same file
    part.insert(0, player)
    meter_now = key_now = None
    tied_in = False
    for i, (m, pieces) in enumerate(zip(melody.measures, _written(melody))):
        mm = stream.Measure(number=i if melody.pickup else i + 1)
        if m.meter != meter_now:
            mm.timeSignature = meter.TimeSignature(f"{m.numerator}/{m.denominator}")
            meter_now = m.meter
        if m.key != key_now:
            tonic, mode = key_name(m.fifths, m.mode)
            mm.keySignature = key.Key(tonic.replace("b", "-"), mode)
            key_now = m.key
        if not pieces:
            mm.append(note.Rest(quarterLength=m.expected))
        for pitch, d, tied in pieces:
            if pitch is None:
                mm.append(note.Rest(quarterLength=d))
                tied_in = False
                continue
            letter, alter, octave = spell(pitch, m.fifths, m.mode)
            n = note.Note(letter + {-2: "--", -1: "-", 0: "", 1: "#", 2: "##"}[alter] + str(octave), quarterLength=d)
            if tied or tied_in:
                n.tie = tie.Tie("continue" if tied and tied_in else "start" if tied else "stop")
            mm.append(n)
            tied_in = tied
        if i == 0 and melody.pickup and m.length < m.expected:
            mm.paddingLeft = m.expected - m.length
        part.append(mm)
    first = part.getElementsByClass(stream.Measure).first()
    if first is not None:
        first.insert(0, clef.bestClef(part, recurse=True))
    score.insert(0, part)
    return score


# --------------------------------------------------------------------------- ABC


_INLINE_FIELD = re.compile(r"\[([KLM]):([^\]\n]*)\]")
_QUOTED = re.compile(r'"[^"\n]*"')
_FIELD = re.compile(r"^([A-Za-z]):(.*)$")
_SEGMENT_FIELDS = "KLM"  # body fields music21 does not follow: the tune is read in segments between them
_TIED_AT_END = re.compile(r"-[\s|:\]\\]*$")  # a tie, then only bar lines (or a line continuation)


def _abc_segments(tune: str) -> tuple[str, str, list[tuple[str, bool]]]:
    """The tune's title, its composer and its body cut at ``M:``, ``K:`` and ``L:`` changes, each segment a whole
    tune.  The composer is that of the header's ``C:`` lines, joined by " and " as music21 joins them.

    music21's ABC reader ignores such changes in the body (and reads inline
    ``[M:...]`` as a chord), so each stretch is read on its own with the
    fields in force as its header; with each segment comes whether its last
    note is tied on into the next (music21 drops such a tie).  Chord symbols
    and annotations are removed: they are not part of the melody, and music21
    fails on many of them.
    """
    lines = strip_comments(tune).split("\n")
    k = next((i for i, line in enumerate(lines) if line.startswith("K:")), None)
    if k is None:
        raise MusegenError(f"{tune_title(tune)!r}: no K: (key) field: not an ABC tune")
    fields = {"M": "", "L": "", "K": lines[k][2:].strip()}
    composers = []
    for line in lines[:k]:
        m = _FIELD.match(line)
        if m and m.group(1) in "ML":
            fields[m.group(1)] = m.group(2).strip()
        elif m and m.group(1) == "C" and m.group(2).strip():
            composers.append(m.group(2).strip())
    title = tune_title("\n".join(lines[:k]), default="")
    # with no L:, the unit comes from the header's meter, and a meter changed in the body keeps it (abc2midi)
    header_unit = f"1/{default_unit(abc_meter(fields['M']) or (4, 4))}"
    segments: list[tuple[str, bool]] = []
    body: list[str] = []

    def flush() -> None:
        if any(not _FIELD.match(line) for line in body):
            unit = fields["L"] or header_unit
            meter_line = f"M:{fields['M']}\n" if fields["M"] else ""
            if "+" in fields["M"] and (meter := abc_meter(fields["M"])):  # music21 reads 2+3/8 as 23/8
                meter_line = f"M:{meter[0]}/{meter[1]}\n"
            head = f"%abc-2.1\nT:{title}\n{meter_line}L:{unit}\nK:{fields['K']}\n"
            music = "\n".join(body)
            segments.append((head + music + "\n", _TIED_AT_END.search(music) is not None))
        body.clear()

    for line in lines[k + 1 :]:
        line = _QUOTED.sub("", line).replace('"', "")
        for piece in _INLINE_FIELD.sub(lambda m: f"\n{m.group(1)}:{m.group(2)}\n", line).split("\n"):
            m = _FIELD.match(piece)
            if m and m.group(1) in _SEGMENT_FIELDS:
                flush()
                fields[m.group(1)] = m.group(2).strip()
            elif piece.strip():
                body.append(piece)  # music, or another body field (w:, P:...) music21 reads or skips
    flush()
    return title, " and ".join(composers), segments


def reason(exc: Exception) -> str:
    """An exception as a short one-line reason."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def _read_abc_segment(text: str):
    """music21's reading of one ABC segment (bar accidentals by letter, as ABC 2.1 and abc2midi)."""
    from music21 import abcFormat, stream
    from music21.abcFormat import translate

    handler = abcFormat.ABCFile(abcVersion=(2, 1, 0)).readstr(text)
    score = stream.Score()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        translate.abcToStreamScore(handler, score)
    return score


def abc_to_melody(tune: str) -> Melody:
    """Read one ABC tune as a :class:`Melody` (music21's ABC reader; repeats not expanded).

    Meter, key and unit length changes in the body (field lines or inline
    ``[M:3/4]``) are followed; chord symbols are ignored; bar accidentals hold
    for their letter in every octave until the bar line.

    Raises
    ------
    MusegenError
        When the tune has no ``K:`` field, no notes, or music21 cannot read it.
    """
    title, composer, segments = _abc_segments(tune)
    measures: list[Measure] = []
    for text, tied_on in segments:
        try:
            score = _read_abc_segment(text)
        except Exception as exc:  # noqa: BLE001 - music21's ABC reader raises many kinds on bad input
            raise MusegenError(f"{title or 'ABC tune'!r}: music21 cannot read it ({reason(exc)})") from None
        if not score.recurse().notes:
            continue
        measures += _score_measures(score, title)
        last = measures[-1].events[-1]
        if tied_on and last.pitch is not None:
            measures[-1].events[-1] = Event(last.pitch, last.duration, True)  # _melody keeps it if the pitch goes on
    if not measures:
        raise MusegenError(f"{title or 'ABC tune'!r}: no notes")
    return _melody(measures, title, composer)


def _abc_length(d: Fraction) -> str:
    """An ABC length suffix in units of L:1/8 for ``d`` quarter notes: ``2`` -> "4", ``1/4`` -> "/"."""
    u = d * 2
    if u.denominator == 1:
        return "" if u.numerator == 1 else str(u.numerator)
    num = "" if u.numerator == 1 else str(u.numerator)
    return num + ("/" if u.denominator == 2 else f"/{u.denominator}")


def _abc_key(fifths: int, mode: str) -> str:
    tonic, mode = key_name(fifths, mode)
    return tonic + ABC_MODES[mode]


def _abc_pitch(letter: str, octave: int) -> str:
    if octave >= 5:
        return letter.lower() + "'" * (octave - 5)
    return letter + "," * (4 - octave)


def _beat(numerator: int, denominator: int) -> Fraction:
    """The beaming unit in quarter notes: a dotted quarter in 6/8, 9/8, 12/8; else the meter's beat (at most 1)."""
    if denominator == 8 and numerator % 3 == 0:
        return Fraction(3, 2)
    return min(Fraction(4, denominator), Fraction(1))


def _abc_bar(m: Measure, pieces: list[tuple[int | None, Fraction, bool]]) -> str:
    """One measure's notes in ABC (L:1/8), accidentals written so that every reader agrees.

    An accidental is written where the key signature would give another
    pitch, and on every later note of a letter that already had one in this
    bar, so readers that hold accidentals to the bar line (for the octave or
    for every octave) and readers that do not all give the same pitches.
    """
    if not pieces:
        return "z" + _abc_length(m.expected)
    sig = signature(m.fifths)
    touched: set[str] = set()
    beat = _beat(m.numerator, m.denominator)
    out: list[str] = []
    t = Fraction(0)
    i = 0
    while i < len(pieces):
        # triplet values, up to the first point back on the sixteenth grid, go under (3 (three notes) or (3:2:r
        run, span = 0, Fraction(0)
        while i + run < len(pieces) and pieces[i + run][1] % Fraction(1, 4) != 0:
            span += pieces[i + run][1]
            run += 1
            if span % Fraction(1, 4) == 0:
                break
        group = pieces[i : i + max(run, 1)]
        text = "" if run == 0 else "(3" if run == 3 else f"(3:2:{run}"
        for pitch, d, tied in group:
            written = d * Fraction(3, 2) if run else d
            if pitch is None:
                text += "z" + _abc_length(written)
            else:
                letter, alter, octave = spell(pitch, m.fifths, m.mode)
                mark = ""
                if alter != sig[letter] or letter in touched:
                    mark = NOTE_ACCIDENTAL_TEXT[alter]
                    touched.add(letter)
                text += mark + _abc_pitch(letter, octave) + _abc_length(written) + ("-" if tied else "")
        if out and (run or t % beat == 0):
            out.append(" ")
        out.append(text)
        t += sum(d for _, d, _ in group)
        i += len(group)
    return "".join(out)


def melody_to_abc(melody: Melody, *, index: int = 1) -> str:
    """Write a melody as one ABC tune (``X:``, ``T:``, ``M:``, ``L:1/8``, ``K:``, four bars a line).

    Triplet values are written under ``(3``, rests as ``z``, ties as ``-``;
    meter and key changes start a new line with an ``M:`` or ``K:`` field.
    musegen's ABC player, abc2midi and music21 read it back note for note
    (overfull measures excepted: music21 re-bars them).
    """
    first = melody.measures[0] if melody.measures else Measure([], *DEFAULT_METER)
    title = " ".join((melody.title or "Untitled").split())
    composer = [f"C:{' '.join(melody.composer.split())}"] if melody.composer.strip() else []
    head = [f"X:{index}", f"T:{title}", *composer, f"M:{first.numerator}/{first.denominator}", "L:1/8",
            f"K:{_abc_key(first.fifths, first.mode)}"]
    lines: list[str] = []
    bars: list[str] = []
    meter_now, key_now = first.meter, first.key
    for m, pieces in zip(melody.measures, _written(melody)):
        changes = []
        if m.meter != meter_now:
            changes.append(f"M:{m.numerator}/{m.denominator}")
        if m.key != key_now:
            changes.append(f"K:{_abc_key(m.fifths, m.mode)}")
        if changes or len(bars) == BARS_PER_LINE:
            if bars:
                lines.append("".join(bars))
            lines += changes
            bars = []
            meter_now, key_now = m.meter, m.key
        bars.append(_abc_bar(m, pieces) + "|")
    if bars:
        lines.append("".join(bars))
    if lines and lines[-1].endswith("|"):
        lines[-1] += "]"
    return "\n".join(head + lines) + "\n"


# --------------------------------------------------------------------------- MIDI


_TONICS = {fifths_name(f): f for f in range(-7, 11)}  # tonic name -> fifths, Cb (major) to A# (minor)


def melody_to_song(melody: Melody):
    """The melody as a :class:`~musegen.formats.midi.Song`, with its meters and keys.

    A short (or overfull) measure gets a time signature of its own length
    (``1/8`` before ``6/8``, ``5/8`` before a second ending) where one exists,
    and a marker (``musegen:measure 6/8``) that :func:`read_midi_melody`
    reads back; else a pickup is padded with a leading rest and another
    measure with a trailing one.

    Returns
    -------
    (Song, list of (beat, fifths, mode), list of (beat, numerator, denominator))
        The song (one channel, times in quarter notes), its key signatures,
        and where each measure with a time signature of its own starts, with
        the meter it belongs to.
    """
    from musegen.formats.midi import DEFAULT_BPM, Note, Song

    song = Song(title=melody.title, meters=[], tempos=[(0.0, DEFAULT_BPM)])
    keys: list[tuple[float, int, str]] = []
    short: list[tuple[float, int, int]] = []
    starts: list[Fraction] = []
    t = Fraction(0)
    for i, m in enumerate(melody.measures):
        bar, meter_, lead = max(m.length, m.expected), m.meter, Fraction(0)
        if m.length != m.expected and m.events:
            own = _meter_of(m.length, m.denominator)
            if own is not None:
                bar, meter_ = m.length, own
                short.append((float(t), *m.meter))
            elif i == 0 and melody.pickup:
                lead = m.expected - m.length  # no such time signature: the pickup ends a full bar
        if not song.meters or song.meters[-1][1:] != meter_:
            song.meters.append((float(t), *meter_))
        if not keys or keys[-1][1:] != m.key:
            keys.append((float(t), *m.key))
        starts.append(t + lead)
        t += bar
    song.notes = [Note(float(a), float(a + d), p) for a, d, p in melody_notes(melody, starts=starts)]
    return song, keys, short


def _meter_of(length: Fraction, denominator: int) -> tuple[int, int] | None:
    """A time signature lasting ``length`` quarter notes, on ``denominator`` or a finer one (up to 64)."""
    d = denominator
    while d <= 64:
        n = length * d / 4
        if n.denominator == 1 and n > 0:
            return int(n), d
        d *= 2
    return None


def melody_to_midifile(melody: Melody):
    """A type-1 ``mido.MidiFile`` of the melody, with time and key signatures."""
    import mido

    from musegen.formats.midi import TICKS_PER_BEAT, song_to_midifile

    song, keys, short = melody_to_song(melody)
    mid = song_to_midifile(song)
    conductor = mid.tracks[0]
    events, now = [], 0
    for msg in conductor:
        now += msg.time
        events.append((now, msg))
    end = events.pop() if events and events[-1][1].type == "end_of_track" else (now, mido.MetaMessage("end_of_track"))
    for beat, fifths, mode in keys:  # MIDI knows major and minor keys only: a mode is written as major
        if -7 <= fifths <= 7:
            minor = mode == "minor"
            name = fifths_name(fifths + MODES["minor"]) + "m" if minor else fifths_name(fifths)
            events.append((round(beat * TICKS_PER_BEAT), mido.MetaMessage("key_signature", key=name)))
    for beat, num, den in short:
        msg = mido.MetaMessage("marker", text=f"{SHORT_BAR_MARKER} {num}/{den}")
        events.append((round(beat * TICKS_PER_BEAT), msg))
    events.sort(key=lambda e: e[0])
    track, now = mido.MidiTrack(), 0
    for tick, msg in events + [end]:
        track.append(msg.copy(time=max(tick - now, 0)))
        now = max(tick, now)
    mid.tracks[0] = track
    return mid


def _midi_extras(path: Path) -> tuple[str, list[tuple[Fraction, int, str]], dict[Fraction, tuple[int, int]]]:
    """A MIDI file's title (its first track's name), keys ``(beat, fifths, mode)`` and short measure markers."""
    from musegen.formats.midi import open_midifile

    mid = open_midifile(path)
    tpb = mid.ticks_per_beat or 480
    name, keys, short = "", [], {}
    for number, track in enumerate(mid.tracks):
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "track_name" and number == 0 and not name:
                name = msg.name.strip()
            elif msg.type == "marker" and msg.text.startswith(SHORT_BAR_MARKER):
                m = re.fullmatch(r"\s*(\d+)/(\d+)\s*", msg.text[len(SHORT_BAR_MARKER) :])
                if m and int(m.group(1)) and int(m.group(2)):
                    short[quantize(Fraction(tick, tpb))] = (int(m.group(1)), int(m.group(2)))
            elif msg.type == "key_signature":
                minor = msg.key.endswith("m")
                tonic = msg.key[:-1] if minor else msg.key
                if tonic in _TONICS:
                    f = _TONICS[tonic] - (MODES["minor"] if minor else 0)
                    keys.append((Fraction(tick, tpb), f, "minor" if minor else "major"))
    return name, sorted(keys, key=lambda k: k[0]), short


def read_midi_melody(path: str | os.PathLike) -> Melody:
    """The top voice of a MIDI file (drums left out), quantised to :data:`GRID`, cut into its bars.

    Bars follow the file's time signatures.  A bar that starts at a
    ``musegen:measure N/D`` marker (see :func:`melody_to_song`) is a short
    measure of N/D; in a file without such markers, a first bar whose time
    signature is shorter than the next one and lasts one bar is a pickup.
    """
    from musegen.formats.midi import read_midi

    path = Path(path)
    song = read_midi(path, drums=False)
    try:
        name, keys, short = _midi_extras(path)
    except Exception:  # noqa: BLE001 - read_midi read the file: the extras are optional
        name, keys, short = "", [], {}
    title = name or path.stem
    if len(song.notes) > MAX_MELODY_NOTES:
        raise MusegenError(f"{path}: {len(song.notes):,} notes, more than the {MAX_MELODY_NOTES:,} allowed in a melody")
    notes = []
    for n in song.notes:
        start = quantize(n.start)
        notes.append((start, max(quantize(n.end), start + GRID), n.pitch, False))
    if not notes:
        raise MusegenError(f"{path}: no notes")
    end = max(n[1] for n in notes)
    meters = [(quantize(b), a, c) for b, a, c in song.meters] or [(Fraction(0), *DEFAULT_METER)]
    if meters[0][0] > 0:
        meters.insert(0, (Fraction(0), *DEFAULT_METER))
    keys = keys if keys and keys[0][0] == 0 else [(Fraction(0), 0, "major")] + keys
    bars: list[_Bar] = []
    t = Fraction(0)
    meter_beats, key_beats = [m[0] for m in meters], [k[0] for k in keys]
    while t < end:
        if len(bars) >= MAX_MEASURES:
            raise MusegenError(f"{path}: notes up to beat {float(end):,.0f} make more than the {MAX_MEASURES:,} "
                               "measures allowed in a melody")
        i = bisect.bisect_right(meter_beats, t)  # the meter in effect is meters[i - 1], the next one meters[i]
        _, num, den = meters[i - 1]
        bar_end = t + Fraction(4 * num, den)
        if i < len(meters) and meters[i][0] < bar_end:
            bar_end = meters[i][0]
        _, fifths, mode = keys[bisect.bisect_right(key_beats, t) - 1]
        bars.append(_Bar(t, bar_end, num, den, fifths, mode))
        t = bar_end
    if short:
        bars = [_Bar(b.start, b.end, *short[b.start], b.fifths, b.mode) if b.start in short else b for b in bars]
    elif len(bars) > 1 and bars[1].start in {m[0] for m in meters} and bars[0].end - bars[0].start \
            < Fraction(4 * bars[1].numerator, bars[1].denominator):
        # a first bar with a shorter time signature of its own: how MIDI files write a pickup
        bars[0] = _Bar(bars[0].start, bars[0].end, bars[1].numerator, bars[1].denominator, bars[0].fifths,
                       bars[0].mode)
    return _melody(_to_measures(_join_ties(notes), bars), title)


# --------------------------------------------------------------------------- reading files and corpora


def read_musicxml_melody(path: str | os.PathLike) -> Melody:
    """The top voice of a MusicXML file's first part (see :func:`score_to_melody`)."""
    from music21 import converter, stream

    path = input_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(str(path), format="musicxml")
            if isinstance(score, stream.Opus):
                score = score.scores[0] if score.scores else score
            return score_to_melody(score, title=score_title(score) or path.stem)
    except MusegenError:
        raise
    except Exception as exc:  # noqa: BLE001 - music21 raises many kinds on bad files
        raise MusegenError(f"{path}: not a readable MusicXML file ({reason(exc)})") from None


def _abc_file_melodies(path: Path, skipped: list[str]) -> list[Melody]:
    out = []
    for number, tune in enumerate(read_tunes(path), start=1):
        try:
            out.append(abc_to_melody(tune))
        except MusegenError as exc:
            skipped.append(f"{path.name} tune {number} ({tune_title(tune)}): {exc}")
    return out


def _one(reader: Callable[[Path], Melody]) -> Callable[[Path, list[str]], list[Melody]]:
    return lambda path, skipped: [reader(path)]


# file suffix -> reader(path, skipped) -> melodies.  Add an entry here.
READERS: dict[str, Callable[[Path, list[str]], list[Melody]]] = {
    ".abc": _abc_file_melodies,
    ".musicxml": _one(read_musicxml_melody),
    ".xml": _one(read_musicxml_melody),
    ".mxl": _one(read_musicxml_melody),
    ".mid": _one(read_midi_melody),
    ".midi": _one(read_midi_melody),
}


def _music21_files(name: str) -> list[Path]:
    from musegen.formats.bundled import BUNDLED, bundled_names

    if name not in BUNDLED:
        raise MusegenError(f"{MUSIC21_PREFIX}{name}: unknown music21 corpus; known: {', '.join(bundled_names())}")
    files = [p for p in BUNDLED[name].sources() if p.suffix.lower() in READERS]
    if not files:
        raise MusegenError(f"{MUSIC21_PREFIX}{name}: this music21 installation has no such files")
    return files


def corpus_files(path_or_name: str | os.PathLike) -> list[Path]:
    """The files a corpus stands for: a file, the readable files of a folder, or a ``music21:NAME`` corpus."""
    text = str(path_or_name)
    if text.startswith(MUSIC21_PREFIX):
        return _music21_files(text[len(MUSIC21_PREFIX) :])
    path = Path(path_or_name)
    known = ", ".join(sorted(READERS))
    files = path_files(path, READERS, what=f"score files (known suffixes: {known})")
    if path.is_file() and path.suffix.lower() not in READERS:
        raise MusegenError(f"{path}: not a score file (known suffixes: {known})")
    return files


def read_melodies(path_or_name: str | os.PathLike, *, transpose_to_c: bool = False, progress=None) -> MelodyList:
    """Read every melody of a file, a folder, or a music21 corpus (``music21:bach``, ``music21:oneills1850``).

    Parameters
    ----------
    path_or_name : str or path-like
        An ABC file (every tune), a MusicXML or MIDI file, a folder of such
        files (searched recursively), or ``music21:NAME``: a corpus of
        :data:`musegen.formats.bundled.BUNDLED` (``bach``, ``oneills1850``).
    transpose_to_c : bool
        Move each melody so that its first key signature has no sharps or
        flats (C major, A minor, D dorian...).
    progress : musegen.progress.Reporter, optional
        Told of each file read.

    Returns
    -------
    MelodyList
        The melodies in file order; ``.skipped`` names each piece that could
        not be read, with the reason.

    Raises
    ------
    MusegenError
        When the corpus does not exist or no melody at all can be read.
    """
    files = corpus_files(path_or_name)
    melodies: list[Melody] = []
    skipped: list[str] = []
    if progress is not None:
        progress.start("reading scores", len(files))
    for path in files:
        try:
            melodies += READERS[path.suffix.lower()](path, skipped)
        except MusegenError as exc:
            skipped.append(f"{path.name}: {exc}")
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.finish(melodies=len(melodies), skipped=len(skipped))
    if not melodies:
        first = f": {skipped[0]}" if skipped else ""
        raise MusegenError(f"{path_or_name}: no readable melody ({len(skipped)} piece(s) failed{first})")
    if transpose_to_c:
        melodies = [transpose_melody(m, key_offset_to_c(m)) for m in melodies]
    return MelodyList(melodies, skipped)


# --------------------------------------------------------------------------- writing


def repair_measure(events: list[Event], expected: Fraction) -> list[Event]:
    """Make a measure's events last exactly ``expected`` quarter notes.

    Durations are snapped to :data:`GRID` (at least one step); what runs past
    ``expected`` is cut (the event across the end shortened, later ones
    dropped); a short measure is filled with a rest at its end.  A tie on a
    rest is dropped.
    """
    out: list[Event] = []
    t = Fraction(0)
    for e in events:
        if t >= expected:
            break
        d = min(max(quantize(e.duration), GRID), expected - t)
        _add(out, Event(e.pitch, d, e.tie and e.pitch is not None))
        t += d
    if t < expected:
        if out and out[-1].tie:
            out[-1] = Event(out[-1].pitch, out[-1].duration, False)
        _add(out, Event(None, expected - t))
    return out


def _write_musicxml(melody: Melody, path: Path, force: bool) -> None:
    from musegen.formats.score import write_musicxml

    write_musicxml(melody_to_score(melody), path, force=force)


def _write_mid(melody: Melody, path: Path, force: bool) -> None:
    from musegen.formats.midi import save_midifile

    try:
        mid = melody_to_midifile(melody)
    except MusegenError as exc:
        raise MusegenError(f"{path}: {exc}") from None
    save_midifile(mid, path, force=force)


def _write_abc(melody: Melody, path: Path, force: bool) -> None:
    with output_errors(path):
        write_text(path, melody_to_abc(melody), force=force)


# output format -> writer(melody, path, force).  Add an entry here.
WRITERS: dict[str, Callable[[Melody, Path, bool], None]] = {
    "musicxml": _write_musicxml,
    "mid": _write_mid,
    "abc": _write_abc,
}


def write_melody(melody: Melody, path: str | os.PathLike, *, fmt: str, force: bool = False) -> Path:
    """Write a melody as ``fmt`` (a key of :data:`WRITERS`: ``musicxml``, ``mid``, ``abc``), atomically.

    Raises
    ------
    UsageError
        For an unknown format.
    MusegenError
        When ``path`` exists and ``force`` is not set.
    """
    if fmt not in WRITERS:
        raise UsageError(f"cannot write a melody as {fmt!r}; formats: {', '.join(sorted(WRITERS))}")
    path = check_writable(path, force=force)
    WRITERS[fmt](melody, path, force)
    return path



def tidy_musicxml(data: bytes) -> bytes:
    """music21's MusicXML made steady and complete for notation programs.

    Each part's random id (``P3a06...``) becomes ``P1``, ``P2``... and the
    encoding date goes (the same score gives the same file, any day), and a part with no instrument gets a piano
    (``<score-instrument>`` and ``<midi-instrument>``): MuseScore reports
    "no instrument found for part" without one.
    """
    import re

    text = data.decode("utf-8")
    ids = list(dict.fromkeys(re.findall(r'<score-part id="([^"]+)"', text)))
    for n, old in enumerate(ids, 1):
        text = re.sub(rf'(id=")({re.escape(old)})([-"])', lambda m, new=f"P{n}": m.group(1) + new + m.group(3), text)

    def instrument(match: re.Match) -> str:
        part, body = match.group(1), match.group(2)
        if "<score-instrument" in body:
            return match.group(0)
        indent = "\n      "
        extra = (f'{indent}<score-instrument id="{part}-I1">{indent}  <instrument-name>Piano</instrument-name>'
                 f'{indent}</score-instrument>{indent}<midi-instrument id="{part}-I1">{indent}  <midi-channel>1'
                 f'</midi-channel>{indent}  <midi-program>1</midi-program>{indent}</midi-instrument>')
        return f'<score-part id="{part}">{body.rstrip()}{extra}\n    </score-part>'

    text = re.sub(r'<score-part id="([^"]+)">(.*?)</score-part>', instrument, text, flags=re.S)
    text = re.sub(r"[ \t]*<encoding-date>[^<]*</encoding-date>\n?", "", text)  # the day it ran: not the music
    return text.encode("utf-8")
