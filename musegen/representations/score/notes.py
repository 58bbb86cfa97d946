"""Melodies as the score networks read them: notes bar-aligned, measures as grids of slots, primed rows.

Shared by the three variants (:mod:`.note`, :mod:`.series`, :mod:`.measure`):
the notes of a melody with every bar line where its meter says
(:func:`bar_aligned_notes` and back), a measure as a grid of slots of
:data:`~musegen.formats.melody.GRID` each holding a pitch onset, a rest
onset or a hold (:func:`measure_slots` and back), what sampling starts from
(:class:`ScorePrimer`, :class:`PrimedRows`) and the :class:`Variant` base
class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from musegen.formats.melody import GRID, Event, Measure, Melody  # music21 is imported lazily there
from musegen.formats.theory import meter_length
from musegen.representations.base import InputSpec, OutputSpec

PAD, HOLD, REST = 0, 1, 2  # measure slots: beyond the measure, the event before goes on, a rest starts
SLOT_PITCH = 3  # slot classes from here on: a note of pitch lo, lo + 1, ... starts
HOLD_PITCH = -1  # in a note list: the note (or rest) before goes on
FINAL_PITCH = -2  # in a note list: a mark (no duration) that the piece's last measure begins


def grid_steps(duration: Fraction) -> int:
    """A duration in grid steps (at least one)."""
    return max(1, round(Fraction(duration) / GRID))


# -- melodies as notes and as slots -----------------------------------------------------------------------


def bar_aligned_notes(melody: Melody) -> list[tuple[int | None, Fraction]]:
    """The melody as ``(pitch, duration)`` notes whose durations put every bar line where the meter says.

    A pickup is preceded by a rest that fills its measure.  Short measures
    that together make a full one (a section's last bar and the next
    section's pickup) are read as that one measure; a short measure that
    cannot be completed by the next is filled by a rest at its end.  A tied
    continuation is ``(HOLD_PITCH, duration)``; rests are ``(None,
    duration)``; consecutive rests are merged.
    """
    out: list[tuple[int | None, Fraction]] = []

    def add(token: int | None, duration: Fraction) -> None:
        if token is None and out and out[-1][0] is None:
            out[-1] = (None, out[-1][1] + duration)
        else:
            out.append((token, duration))

    tied, pos = False, Fraction(0)  # pos: where the measure begun stands
    for i, m in enumerate(melody.measures):
        if i == 0 and melody.pickup and m.length < m.expected:
            pos = m.expected - m.length
            add(None, pos)
        elif pos and pos + m.length > m.expected:
            add(None, m.expected - pos)
            pos = Fraction(0)
        for e in m.events:
            add(HOLD_PITCH if tied and e.pitch is not None else e.pitch, e.duration)
            tied = e.tie and e.pitch is not None
        pos = (pos + m.length) % m.expected
    return out

def mark_last_measure(notes: list[tuple[int | None, Fraction]], last: Fraction) -> list[tuple[int | None, Fraction]]:
    """``notes`` (see :func:`bar_aligned_notes`) with ``(FINAL_PITCH, 0)`` where the last measure, ``last`` quarter
    notes long, begins; rests merged over that bar line are split there."""
    start = sum((d for _, d in notes), Fraction(0)) - last
    out: list[tuple[int | None, Fraction]] = []
    t, marked = Fraction(0), False
    for pitch, duration in notes:
        if not marked and t <= start < t + duration:
            if start > t:  # only rests are merged across a bar line
                out.append((pitch, start - t))
            out.append((FINAL_PITCH, Fraction(0)))
            duration, t, marked = t + duration - start, start, True
        out.append((pitch, duration))
        t += duration
    return out


def _append(events: list[Event], pitch: int | None, duration: Fraction, *, extend: bool = False) -> None:
    """Append an event; merged into the last one when both are rests, or when ``extend`` (a hold)."""
    if events and (extend or (pitch is None and events[-1].pitch is None)):
        events[-1] = Event(events[-1].pitch, events[-1].duration + duration, events[-1].tie)
    else:
        events.append(Event(pitch, duration))

def notes_to_melody(notes: list[tuple[int | None, Fraction]], *, meter: tuple[int, int], key: tuple[int, str],
                    title: str = "") -> Melody:
    """The inverse of :func:`bar_aligned_notes`: notes cut into measures of ``meter``, in ``key``.

    A note that crosses a bar line is split and tied; a hold continues the
    note (or rest) before it; a first measure that starts with a rest and
    holds a note becomes a pickup.  The last measure may be short.
    """
    expected = meter_length(meter)
    measures: list[Measure] = []
    events: list[Event] = []
    t = Fraction(0)
    last: int | None = None  # the pitch sounding at the end of what is written so far
    for pitch, duration in notes:
        hold = pitch == HOLD_PITCH
        pitch = last if hold else pitch
        first = True
        while duration > 0:
            part = min(duration, expected - t)
            if (hold or not first) and not events and measures and pitch is not None:
                prev = measures[-1].events[-1]  # tied over the bar line
                measures[-1].events[-1] = Event(prev.pitch, prev.duration, True)
                events.append(Event(pitch, part))
            else:
                _append(events, pitch, part, extend=(hold or not first) and bool(events))
            duration -= part
            t += part
            first = False
            if t == expected:
                measures.append(Measure(events, *meter, *key))
                events, t = [], Fraction(0)
        last = pitch
    if events:
        measures.append(Measure(events, *meter, *key))
    pickup = False
    if len(measures) > 1 and measures[0].events[0].pitch is None and any(
            e.pitch is not None for e in measures[0].events):
        measures[0].events.pop(0)
        pickup = True
    return Melody(measures, title=title, pickup=pickup)

def measure_slots(measure: Measure, *, tied_in: bool, slots: int, lo: int, hi: int) -> np.ndarray:
    """A measure as a grid of ``slots`` classes, one per :data:`GRID` step: ``[shape=(slots,)]``.

    Each event starts with its pitch (``SLOT_PITCH + pitch - lo``; pitches
    out of ``lo..hi`` are moved by octaves into it) or ``REST``, then
    ``HOLD`` while it lasts; ``tied_in`` (the measure begins by holding the
    note before it) starts with ``HOLD``; slots after the measure are ``PAD``.
    """
    out = np.full(slots, PAD, np.int32)
    t = 0
    for k, e in enumerate(measure.events):
        n = grid_steps(e.duration)
        if t >= slots:
            break
        if k == 0 and tied_in:
            out[t] = HOLD
        elif e.pitch is None:
            out[t] = REST
        else:
            out[t] = SLOT_PITCH + fold_pitch(e.pitch, lo, hi) - lo
        out[t + 1:t + n] = HOLD
        t += n
    return out

def fold_pitch(pitch: int, lo: int, hi: int) -> int:
    """``pitch`` moved by octaves into ``lo..hi`` (clipped when the range is narrower than an octave)."""
    while pitch < lo and pitch + 12 <= hi:
        pitch += 12
    while pitch > hi and pitch - 12 >= lo:
        pitch -= 12
    return int(min(max(pitch, lo), hi))

def slots_to_events(row: np.ndarray, *, lo: int, previous: Event | None) -> tuple[list[Event], bool]:
    """The events of one measure's slots and whether it begins by holding ``previous`` (a tie in).

    Slots from the first ``PAD`` on are beyond the measure (a short one).
    """
    events: list[Event] = []
    tied_in = False
    for c in (int(c) for c in row):
        if c == PAD:
            break
        if c == HOLD and events:
            _append(events, None, GRID, extend=True)
        elif c == HOLD:  # the measure begins by holding the event before it
            tied_in = previous is not None and previous.pitch is not None
            events.append(Event(previous.pitch if tied_in else None, GRID))
        else:
            _append(events, None if c == REST else lo + c - SLOT_PITCH, GRID)
    return events, tied_in

def slots_to_melody(rows: np.ndarray, *, lo: int, meters: list[tuple[int, int]], keys: list[tuple[int, str]],
                    pickup: bool = False, title: str = "") -> Melody:
    """Measures from slot rows ``[shape=(measures, slots)]`` (see :func:`measure_slots`), ties over bar lines set."""
    measures: list[Measure] = []
    for row, meter, key in zip(rows, meters, keys, strict=True):
        previous = measures[-1].events[-1] if measures else None
        events, tied_in = slots_to_events(row, lo=lo, previous=previous)
        if not events:
            continue
        if tied_in:
            measures[-1].events[-1] = Event(previous.pitch, previous.duration, True)
        measures.append(Measure(events, *meter, *key))
    return Melody(measures, title=title, pickup=pickup)

def melody_slot_rows(melody: Melody, *, slots: int, lo: int, hi: int) -> np.ndarray:
    """``[shape=(measures, slots)]``: each measure's grid (see :func:`measure_slots`), ties carried over bar lines."""
    rows, tied = [], False
    for m in melody.measures:
        rows.append(measure_slots(m, tied_in=tied, slots=slots, lo=lo, hi=hi))
        tied = bool(m.events) and m.events[-1].tie and m.events[-1].pitch is not None
    return np.asarray(rows, np.int32).reshape(-1, slots)

def has_notes(melody: Melody) -> bool:
    return any(e.pitch is not None for m in melody.measures for e in m.events)


# -- what sampling starts from -----------------------------------------------------------------------------


@dataclass
class ScorePrimer:
    """What :meth:`ScoreRepresentation.encode_primer` takes: a primer's first measures, or a key and meter.

    Every field may be None: the key and meter of each piece are then drawn
    from the training pieces' first measures.
    """

    melody: Melody | None = None
    key: tuple[int, str] | None = None
    meter: tuple[int, int] | None = None

@dataclass
class PrimedRows:
    """One primed row per piece, as a variant's ``sample`` takes them.

    ``arrays`` is ``[shape=(num, steps)]`` (series), ``[shape=(num, steps, 2)]``
    (note) or ``[shape=(num, steps, features)]`` (measure): the header and the
    primer measures.  Each row is generated in ``keys[i]`` (a key the model
    knows) with measures of ``meters[i]``, then moved by ``shifts[i]``
    semitones into ``targets[i]``; ``prefixes[i]`` is the primer as fed (in
    the model's key), None without a primer.
    """

    arrays: np.ndarray
    keys: list[tuple[int, str]]
    meters: list[tuple[int, int]]
    targets: list[tuple[int, str]]
    shifts: list[int]
    prefixes: list[Melody | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)


# -- the variants' common ground ---------------------------------------------------------------------------


class Variant:
    """How one of the networks reads melodies: its arrays, its input and head, its sampler and its loss.

    A variant is one module of this package and one entry of
    :data:`musegen.representations.score.VARIANTS`.
    """

    name: ClassVar[str]
    preset: ClassVar[str]  # the preset that `musegen train score --variant NAME` starts from
    loss_unit: ClassVar[str] = "nats/note"  # what the validation loss is counted in
    temperature: ClassVar[float] = 0.8  # the default sampling temperature (its samples' statistics nearest the jigs')
    input_kind: ClassVar[str]  # a key of musegen.models.INPUTS
    head_kind: ClassVar[str]  # a key of musegen.models.HEADS

    def __init__(self, rep: Any) -> None:
        self.rep = rep  # the ScoreRepresentation whose vocabulary the variant reads

    def fit(self, pieces: list[Melody], measures: list[Measure]) -> None:
        """Learn what the variant needs beyond the vocabulary (default: nothing)."""

    def input_spec(self) -> InputSpec:
        return InputSpec(self.input_kind, self.rep.vocab_size)

    def head(self) -> OutputSpec:
        return OutputSpec(self.head_kind, self.rep.vocab_size)

    def encode(self, melody: Melody, *, key: tuple[int, str] | None = None,
               meter: tuple[int, int] | None = None) -> np.ndarray:
        """The melody's array: its header (``key`` and ``meter``, default its own), then its measures."""
        raise NotImplementedError

    def decode(self, array: np.ndarray) -> Melody:
        raise NotImplementedError

    def sample(self, net: Any, rows: PrimedRows, *, measures: int, temperature: float, rng: np.random.Generator,
               progress: Any = None) -> tuple[list[Melody], int]:
        """``measures`` complete measures after each primed row, stepping ``net`` (a
        :class:`musegen.sampling.NetworkStepper`); the melodies (in the model's keys) and the steps made."""
        raise NotImplementedError

    def loss(self, outputs: np.ndarray, array: np.ndarray) -> tuple[float, int, int]:
        """The nats of a held-out array under the network's ``outputs`` on it, its notes and its measures."""
        raise NotImplementedError


def draw(logits: np.ndarray, allowed: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """A class per row among the ``allowed`` ones ``[shape=(num, classes)]``: softmax at ``temperature``, 0: argmax."""
    logits = np.where(allowed, logits, -np.inf)
    if temperature > 0:
        logits = logits / temperature + rng.gumbel(size=logits.shape)  # Gumbel-max: a draw from the softmax
    return np.argmax(logits, axis=1)

def logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``log(sum(exp(x)))`` along ``axis``, without overflow (the largest term taken out first)."""
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))

def nats(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cross-entropy of each target id ``[shape=(t,)]`` under its logits ``[shape=(t, classes)]``."""
    return -np.take_along_axis(log_softmax(logits), targets[:, None].astype(np.int64), axis=-1)[:, 0]
