"""Sheet music: melodies in measures, learnt by one of three networks (``--variant``).

``note``
    One step per note: the pair (pitch, duration), both ids of one small
    vocabulary; the network predicts the next note's pitch and duration with
    two softmaxes (input ``token_pairs``, head ``pair_softmax``).
``series``
    The same notes as one token stream, pitch then duration then pitch...,
    one softmax (input ``tokens``, head ``softmax``).
``measure``
    A measure autoencoder (:class:`musegen.scorenet.MeasureCodec`), trained
    first (in :meth:`ScoreRepresentation.fit`), turns each measure, a grid of
    slots of :data:`~musegen.formats.melody.GRID` each holding a pitch onset,
    a rest onset or a hold, into a vector and back, every slot decoded at
    once by its own softmax.  The network reads one measure vector per step
    (with the key and meter of the next measure) and predicts the next
    measure's vector, trained through a copy of the autoencoder's decoder
    (tuned along) on the next measure's slots (input ``leading_vectors``,
    head ``slot_softmax``); sampling adds noise to each predicted vector
    and decodes it into a whole measure.

The vocabulary of ``note`` and ``series``: one id per key signature and per
meter seen in training (the piece's first step is its header: key, then
meter), a rest, a hold (the note before goes on: a tie over the bar line),
the pitches from the lowest to the highest seen, and every duration seen.
Measures are encoded bar-aligned: a pickup is preceded by a rest that fills
its measure, other short measures are filled by a rest at their end, so bar
lines fall where the durations say; decoding turns a first measure that
starts with a rest into a pickup again.

Generated measures are always complete: the samplers (:mod:`musegen.scorenet`)
only draw durations that fit what remains of the measure (note, series) or
decode a full grid of slots in one of the rhythms of the training measures
(measure); :meth:`ScoreRepresentation.postprocess`
checks every measure and repairs any that is not
(:func:`musegen.formats.melody.repair_measure`).

Keys the model never saw (``--key``, a primer, or every key but C major and A
minor for a ``--transpose-to-c`` model) are generated in the nearest key it
knows and transposed.  music21 and TensorFlow are imported lazily.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.errors import MusegenError, UsageError
from musegen.representations.base import InputSpec, OutputSpec, Representation

from musegen.formats.melody import ABC_MODES, GRID, MODES, Event, Measure, Melody  # music21 is imported lazily there

PAD, HOLD, REST = 0, 1, 2  # measure slots: beyond the measure, the event before goes on, a rest starts
SLOT_PITCH = 3  # slot classes from here on: a note of pitch lo, lo + 1, ... starts
HOLD_PITCH = -1  # in a note list: the note (or rest) before goes on
_FIFTHS_ORDER = "FCGDAEB"


# -- keys and meters ------------------------------------------------------------------------------------


def _fold(semitones: int) -> int:
    return (int(semitones) + 6) % 12 - 6


def parse_key(text: str) -> tuple[int, str]:
    """``"G"``, ``"Em"``, ``"F# minor"``, ``"Ddor"``, ``"Bb mixolydian"`` -> ``(fifths, mode)``."""
    names = {**{v: k for k, v in ABC_MODES.items() if v}, "min": "minor", "maj": "major", "aeo": "minor",
             "ion": "major", "aeolian": "minor", "ionian": "major", **{m: m for m in MODES}}
    m = re.fullmatch(r"\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)\s*", text or "")
    mode = names.get(m.group(3).lower() if m and m.group(3) else "major") if m else None
    if m is None or mode is None:
        raise UsageError(f"--key {text!r}: give a tonic and a mode, e.g. G, Em, F#m, 'D dorian', Amix")
    tonic = _FIFTHS_ORDER.index(m.group(1).upper()) - 1 + 7 * {"": 0, "#": 1, "b": -1}[m.group(2)]
    fifths = tonic - MODES[mode]
    if not -7 <= fifths <= 7:
        raise UsageError(f"--key {text!r}: a key signature of {abs(fifths)} {'sharps' if fifths > 0 else 'flats'}; "
                         "choose a key with at most 7")
    return fifths, mode


def parse_meter(text: str) -> tuple[int, int]:
    """``"6/8"`` -> ``(6, 8)``."""
    m = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{1,2})\s*", text or "")
    if m is None or int(m.group(2)) not in (1, 2, 4, 8, 16, 32) or not 1 <= int(m.group(1)) <= 32:
        raise UsageError(f"--meter {text!r}: give a time signature such as 6/8, 4/4 or 3/4")
    return int(m.group(1)), int(m.group(2))


def meter_length(meter: tuple[int, int]) -> Fraction:
    """Quarter notes in a full measure of ``meter``."""
    return Fraction(4 * meter[0], meter[1])


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
    """One primed row per piece, as :func:`musegen.scorenet.generate_score` takes them.

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


# -- the three networks -----------------------------------------------------------------------------------


class Variant:
    """How one of the three networks reads melodies: its arrays, its input and its head."""

    name: ClassVar[str]
    preset: ClassVar[str]  # the preset that `musegen train score --variant NAME` starts from
    loss_unit: ClassVar[str] = "nats/note"  # what the validation loss is counted in
    temperature: ClassVar[float] = 0.8  # the default sampling temperature (its samples' statistics nearest the jigs')
    input_kind: ClassVar[str]  # a key of musegen.models.INPUTS
    head_kind: ClassVar[str]  # a key of musegen.models.HEADS

    def __init__(self, rep: ScoreRepresentation) -> None:
        self.rep = rep

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


class NoteVariant(Variant):
    """One step per note: ``[shape=(notes + 1, 2)]`` (pitch id, duration id), the header (key id, meter id) first."""

    name: ClassVar[str] = "note"
    preset: ClassVar[str] = "note"
    input_kind: ClassVar[str] = "token_pairs"
    head_kind: ClassVar[str] = "pair_softmax"

    def encode(self, melody: Melody, *, key=None, meter=None) -> np.ndarray:
        rep = self.rep
        first = melody.measures[0] if melody.measures else None
        header = (rep.key_id(key or first.key), rep.meter_id(meter or first.meter))
        pairs = [header] + [(rep.pitch_id(p), rep.duration_id(d)) for p, d in bar_aligned_notes(melody)]
        return np.asarray(pairs, dtype=np.int32).reshape(-1, 2)

    def decode(self, array: np.ndarray) -> Melody:
        pairs = np.asarray(array, dtype=np.int64).reshape(-1, 2)
        if not len(pairs):
            return Melody([])
        rep = self.rep
        key, meter = rep.header_of(int(pairs[0, 0]), int(pairs[0, 1]))
        notes = [rep.note_of(int(p), int(d)) for p, d in pairs[1:]]
        return notes_to_melody([n for n in notes if n is not None], meter=meter, key=key)


class SeriesVariant(NoteVariant):
    """The notes as one token stream ``[shape=(2 * (notes + 1),)]``: key, meter, pitch, duration, pitch..."""

    name: ClassVar[str] = "series"
    preset: ClassVar[str] = "series"
    input_kind: ClassVar[str] = "tokens"
    head_kind: ClassVar[str] = "softmax"

    def encode(self, melody: Melody, *, key=None, meter=None) -> np.ndarray:
        return super().encode(melody, key=key, meter=meter).ravel()

    def decode(self, array: np.ndarray) -> Melody:
        ids = np.asarray(array).ravel()
        return super().decode(ids[: len(ids) // 2 * 2])


@dataclass(frozen=True, eq=False)
class DecoderOutput(OutputSpec):
    """A head whose vector of ``size`` values is decoded by fixed layers: ``decoder(keras)`` applies them."""

    decoder: Callable[[Any], Callable[[Any], Any]] | None = None


class MeasureVariant(Variant):
    """One step per measure: ``[shape=(measures + 1, latent + keys + meters + 1 + slots)]``.

    Row ``t`` holds the normalised vector of measure ``t`` (zeros in the
    header row 0), the one-hot key and meter of measure ``t + 1`` (the one to
    predict), a flag set in the header row only (the network reads these
    ``features`` columns), then the slots of measure ``t`` (``PAD`` in the
    header row), which only the loss reads: the network predicts the next
    measure's vector, which a copy of the autoencoder's decoder turns into a
    softmax per slot (head ``slot_softmax``).
    """

    name: ClassVar[str] = "measure"
    preset: ClassVar[str] = "default"
    loss_unit: ClassVar[str] = "nats/measure"
    temperature: ClassVar[float] = 0.5
    input_kind: ClassVar[str] = "leading_vectors"
    head_kind: ClassVar[str] = "slot_softmax"

    @property
    def features(self) -> int:
        """Columns the network reads."""
        rep = self.rep
        return rep.codec.latent + len(rep.keys) + len(rep.meters) + 1

    def input_spec(self) -> InputSpec:
        return InputSpec(self.input_kind, self.features + self.rep.codec.slots, sizes=(self.features,))

    def head(self) -> OutputSpec:
        from functools import partial

        decoder = partial(self.rep.codec.keras_decoder, trainable=self.rep.tune_decoder)
        return DecoderOutput(self.head_kind, self.rep.codec.latent, decoder=decoder)

    def condition(self, key: tuple[int, str], meter: tuple[int, int], *, header: bool = False) -> np.ndarray:
        """The columns after the measure vector: ``[shape=(keys + meters + 1,)]``."""
        rep = self.rep
        out = np.zeros(len(rep.keys) + len(rep.meters) + 1, np.float32)
        out[rep.key_id(key)] = 1.0
        out[rep.meter_id(meter)] = 1.0  # meter ids follow the key ids, as in the token vocabulary
        out[-1] = float(header)
        return out

    def measure_rows(self, grids: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        """Rows of measures' slots ``[shape=(t, slots)]``, each with its next measure's condition ``[shape=(t, c)]``."""
        grids = np.asarray(grids, np.int32).reshape(-1, self.rep.codec.slots)
        return np.concatenate([self.rep.codec.encode(grids), conditions, grids], axis=1).astype(np.float32)

    def rows(self, grids: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        """The header row (the first condition) then :meth:`measure_rows` (the others): ``[shape=(t + 1, width)]``."""
        codec = self.rep.codec
        header = np.concatenate([np.zeros(codec.latent), conditions[0], np.zeros(codec.slots)])[None]
        return np.concatenate([header, self.measure_rows(grids, conditions[1:])]).astype(np.float32)

    def encode(self, melody: Melody, *, key=None, meter=None) -> np.ndarray:
        rep, ms = self.rep, melody.measures
        first = ms[0] if ms else Measure([], *(meter or (4, 4)), *(key or (0, "major")))
        conds = [self.condition(key or first.key, meter or first.meter, header=True)]
        for i in range(len(ms)):
            nxt = ms[min(i + 1, len(ms) - 1)]
            conds.append(self.condition(key or nxt.key, meter or nxt.meter))
        grids = melody_slot_rows(melody, slots=rep.codec.slots, lo=rep.lo, hi=rep.hi)
        return self.rows(grids, np.asarray(conds))

    def decode(self, array: np.ndarray) -> Melody:
        rep, features = self.rep, self.features
        a = np.asarray(array, np.float32).reshape(-1, features + rep.codec.slots)
        lat, k = rep.codec.latent, len(rep.keys)
        keys = [rep.keys[int(np.argmax(r[lat:lat + k]))] for r in a[:-1]]
        meters = [rep.meters[int(np.argmax(r[lat + k:features - 1]))] for r in a[:-1]]
        melody = slots_to_melody(np.rint(a[1:, features:]).astype(np.int32), lo=rep.lo, meters=meters, keys=keys)
        melody.pickup = len(melody.measures) > 1 and not melody.measures[0].is_full()
        return melody


# variant name -> how its network reads melodies; add an entry here (and a sampler in musegen.scorenet.SAMPLERS)
VARIANTS: dict[str, type[Variant]] = {v.name: v for v in (NoteVariant, SeriesVariant, MeasureVariant)}


def get_variant(name: str) -> type[Variant]:
    try:
        return VARIANTS[name]
    except KeyError:
        raise UsageError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}") from None


# -- the representation -----------------------------------------------------------------------------------


def melody_slot_rows(melody: Melody, *, slots: int, lo: int, hi: int) -> np.ndarray:
    """``[shape=(measures, slots)]``: each measure's grid (see :func:`measure_slots`), ties carried over bar lines."""
    rows, tied = [], False
    for m in melody.measures:
        rows.append(measure_slots(m, tied_in=tied, slots=slots, lo=lo, hi=hi))
        tied = bool(m.events) and m.events[-1].tie and m.events[-1].pitch is not None
    return np.asarray(rows, np.int32).reshape(-1, slots)


def has_notes(melody: Melody) -> bool:
    return any(e.pitch is not None for m in melody.measures for e in m.events)


SEGMENT_MEASURES = 16  # a corpus of one piece is cut into pieces this long, so that some can be held out
CODEC_ROWS = 8000  # the measure autoencoder learns from at most this many training measures (drawn at random)


class ScoreRepresentation(Representation):
    """Melodies (the top voice of each score, in measures) for the note, series or measure network.

    Settings (``extra``): ``variant`` (``measure``), ``transpose_to_c``
    (move every piece to a key signature with no sharps or flats first;
    default: keep each key and learn it), and for the measure network
    ``latent`` (the size of a measure's vector), ``hidden`` (the
    autoencoder's hidden layers), ``codec_epochs`` and ``tune_decoder``
    (the network trains the decoder it starts from further: its own copy,
    which sampling then uses; the autoencoder itself is not changed).
    """

    name: ClassVar[str] = "score"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The 2017 study's setting for every music model (2 LSTM layers, RMSprop), on its note RNN.
        "study": dict(layers=2, units=256, embedding=32, seq_len=50, batch_size=50, epochs=20, optimizer="rmsprop",
                      lr=0.001, clipnorm=5.0, dropout=0.0, extra={"variant": "note"}),
        # The measure network, measured on the jigs on a 2-core CPU (see bench/score_variants.py).
        "default": dict(layers=2, units=128, embedding=0, seq_len=16, batch_size=32, epochs=40, optimizer="adam",
                        lr=0.002, clipnorm=1.0, dropout=0.2, patience=5, lr_decay=0.5,
                        extra={"variant": "measure", "latent": 32, "hidden": 512, "codec_epochs": 30}),
        "note": dict(layers=2, units=256, embedding=48, seq_len=64, batch_size=32, epochs=30, optimizer="adam",
                     lr=0.002, clipnorm=1.0, dropout=0.2, patience=4, lr_decay=0.5, extra={"variant": "note"}),
        "series": dict(layers=2, units=256, embedding=48, seq_len=128, batch_size=32, epochs=30, optimizer="adam",
                       lr=0.002, clipnorm=1.0, dropout=0.2, patience=4, lr_decay=0.5, extra={"variant": "series"}),
        # For tests and quick checks: trains in seconds.
        "tiny": dict(layers=1, units=16, embedding=8, seq_len=8, batch_size=8, epochs=2, optimizer="adam", lr=0.01,
                     clipnorm=1.0, extra={"variant": "measure", "latent": 8, "hidden": 64, "codec_epochs": 3}),
    }
    output_formats: ClassVar[tuple[str, ...]] = ("musicxml", "mid", "abc", "png", "svg")
    generator: ClassVar[str] = "score"  # the key of musegen.pipeline.GENERATORS that samples this representation

    def __init__(self, *, variant: str = "measure", transpose_to_c: bool = False, latent: int = 32,
                 hidden: int = 512, codec_epochs: int = 30, tune_decoder: bool = True) -> None:
        for option, value, low in (("latent", latent, 1), ("hidden", hidden, 1), ("codec-epochs", codec_epochs, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise UsageError(f"--{option} must be a positive whole number, got {value!r}")
        self.variant = get_variant(variant)(self)
        self.transpose_to_c = bool(transpose_to_c)
        self.latent, self.hidden, self.codec_epochs = latent, hidden, codec_epochs
        self.tune_decoder = bool(tune_decoder)
        # fitted on the training pieces
        self.keys: list[tuple[int, str]] = [(0, "major")]
        self.meters: list[tuple[int, int]] = [(4, 4)]
        self.headers: list[tuple[tuple[int, str], tuple[int, int], int]] = []  # first key, meter, pieces
        self.lo, self.hi = 60, 72
        self.durations: list[Fraction] = [Fraction(1)]
        self.codec = None  # musegen.scorenet.MeasureCodec (measure variant)
        self.skipped: list[str] = []

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ScoreRepresentation:
        known = {"variant", "transpose_to_c", "latent", "hidden", "codec_epochs", "tune_decoder"}
        return cls(**{k: v for k, v in settings.items() if k in known})

    @classmethod
    def preset_for(cls, variant: str) -> str:
        """The preset `musegen train score --variant VARIANT` starts from."""
        return get_variant(variant).preset

    @classmethod
    def variant_of(cls, preset: str | None, variant: str | None) -> type[Variant]:
        """The variant trained: ``variant`` if given, else the preset's."""
        extra = cls.presets.get(preset or cls.default_preset, {}).get("extra", {})
        return get_variant(variant or extra.get("variant", "measure"))

    # -- corpus -----------------------------------------------------------------------------------------
    @classmethod
    def resolve_corpus(cls, corpus: str | os.PathLike) -> Path:
        """A path, or ``music21:bach`` / ``music21:oneills1850``: the music21 folder holding that corpus."""
        text = str(corpus)
        if text.startswith("music21:"):
            from musegen.formats.melody import corpus_files

            return Path(os.path.commonpath(corpus_files(text)))
        return super().resolve_corpus(corpus)

    def read_corpus(self, path: str | os.PathLike) -> list[Melody]:
        """Every melody at ``path``: ABC tunes, MusicXML, quantised MIDI, as ``read_melodies`` reads them.

        Pieces that cannot be read are listed in :attr:`skipped`; melodies
        with no notes are left out; one long piece is cut into pieces of
        :data:`SEGMENT_MEASURES` measures so that some can be held out.
        """
        from musegen.formats.melody import read_melodies

        melodies = read_melodies(path, transpose_to_c=self.transpose_to_c)
        self.skipped = list(melodies.skipped)
        kept = [m for m in melodies if has_notes(m)]
        if not kept:
            raise MusegenError(f"{path}: no notes to learn from (the scores hold only rests)")
        if len(kept) == 1:
            m, n = kept[0], SEGMENT_MEASURES
            kept = [Melody(m.measures[s:s + n], m.title, m.pickup and s == 0) for s in range(0, len(m.measures), n)]
            kept = [p for p in kept if has_notes(p)]
        return kept

    def dump_piece(self, piece: Melody) -> dict[str, Any]:
        return piece.to_dict()

    def load_piece(self, data: dict[str, Any]) -> Melody:
        return Melody.from_dict(data)

    def augment(self, pieces: list[Melody], *, transpose: tuple[int, ...] = ()) -> list[Melody]:
        """The pieces plus each moved by every shift in ``transpose`` (key signatures moved along)."""
        from musegen.formats.melody import transpose_melody

        out = list(pieces)
        for shift in transpose:
            for p in pieces if shift else ():
                try:
                    out.append(transpose_melody(p, shift))
                except MusegenError:
                    pass  # a note would leave the MIDI range: that copy is left out
        return out

    # -- the vocabulary -----------------------------------------------------------------------------------
    def fit(self, pieces: list[Melody]) -> None:
        """Keys, meters, pitch range and durations of the training pieces; the measure variant's autoencoder."""
        measures = [m for p in pieces for m in p.measures]
        pitches = [e.pitch for m in measures for e in m.events if e.pitch is not None]
        if not pitches:
            raise MusegenError("no notes to learn from")
        key_counts, meter_counts = Counter(m.key for m in measures), Counter(m.meter for m in measures)
        self.keys = sorted(key_counts)
        self.meters = sorted(meter_counts, key=lambda m: (meter_length(m), m))
        firsts = Counter((p.measures[0].key, p.measures[0].meter) for p in pieces if p.measures)
        self.headers = sorted((k, m, n) for (k, m), n in firsts.items())
        self.lo, self.hi = min(pitches), max(pitches)
        self.durations = sorted({d for p in pieces for _, d in bar_aligned_notes(p)})
        if isinstance(self.variant, MeasureVariant):
            from musegen.scorenet import train_codec

            slots = max(grid_steps(m.expected) for m in measures)
            rows = np.concatenate([melody_slot_rows(p, slots=slots, lo=self.lo, hi=self.hi) for p in pieces])
            if len(rows) > CODEC_ROWS:  # transposed copies add nothing the autoencoder does not see anyway
                rows = rows[np.sort(np.random.default_rng(0).choice(len(rows), CODEC_ROWS, replace=False))]
            self.codec = train_codec(rows, classes=SLOT_PITCH + self.hi - self.lo + 1, latent=self.latent,
                                     hidden=self.hidden, epochs=self.codec_epochs)

    @property
    def rest_id(self) -> int:
        return len(self.keys) + len(self.meters)

    @property
    def hold_id(self) -> int:
        return self.rest_id + 1

    @property
    def pitch_base(self) -> int:
        return self.rest_id + 2

    @property
    def duration_base(self) -> int:
        return self.pitch_base + self.hi - self.lo + 1

    @property
    def vocab_size(self) -> int:
        return self.duration_base + len(self.durations)

    def nearest_key(self, key: tuple[int, str]) -> tuple[tuple[int, str], int]:
        """The key the model generates ``key`` in, and the semitones from it up to ``key``.

        A key it knows is itself; another is generated in the known key of
        the same mode (any mode if none) whose tonic is the fewest semitones
        away, then transposed.
        """
        key = (int(key[0]), str(key[1]))
        if key in self.keys:
            return key, 0
        counts = Counter({k: n for k, _, n in self.headers})
        same = [k for k in self.keys if k[1] == key[1]] or self.keys

        def shift(k: tuple[int, str]) -> int:
            return _fold(7 * ((key[0] + MODES.get(key[1], 0)) - (k[0] + MODES.get(k[1], 0))))

        best = min(same, key=lambda k: (abs(shift(k)), -counts[k], k))
        return best, shift(best)

    def nearest_meter(self, meter: tuple[int, int]) -> tuple[int, int]:
        """``meter`` if the model knows it, else the known meter nearest in length."""
        meter = (int(meter[0]), int(meter[1]))
        if meter in self.meters:
            return meter
        return min(self.meters, key=lambda m: (abs(meter_length(m) - meter_length(meter)), m))

    def key_id(self, key: tuple[int, str]) -> int:
        return self.keys.index(self.nearest_key(key)[0])

    def meter_id(self, meter: tuple[int, int]) -> int:
        return len(self.keys) + self.meters.index(self.nearest_meter(meter))

    def pitch_id(self, pitch: int | None) -> int:
        if pitch is None:
            return self.rest_id
        if pitch == HOLD_PITCH:
            return self.hold_id
        return self.pitch_base + fold_pitch(pitch, self.lo, self.hi) - self.lo

    def duration_id(self, duration: Fraction) -> int:
        """The id of ``duration``, or of the nearest duration the vocabulary has."""
        d = Fraction(duration)
        return self.duration_base + min(range(len(self.durations)), key=lambda i: (abs(self.durations[i] - d), i))

    def header_of(self, key_id: int, meter_id: int) -> tuple[tuple[int, str], tuple[int, int]]:
        """The key and meter of a header step (the most common ones for ids that are not)."""
        k, m = key_id, meter_id - len(self.keys)
        key = self.keys[k] if 0 <= k < len(self.keys) else self.keys[0]
        meter = self.meters[m] if 0 <= m < len(self.meters) else self.meters[0]
        return key, meter

    def note_of(self, pitch_id: int, duration_id: int) -> tuple[int | None, Fraction] | None:
        """``(pitch, duration)`` of a note step (``HOLD_PITCH`` for a hold); None if the ids are not a note."""
        d = duration_id - self.duration_base
        if not (self.rest_id <= pitch_id < self.duration_base and 0 <= d < len(self.durations)):
            return None
        pitch = {self.rest_id: None, self.hold_id: HOLD_PITCH}.get(pitch_id, self.lo + pitch_id - self.pitch_base)
        return pitch, self.durations[d]

    def duration_steps(self) -> np.ndarray:
        """Grid steps of each id's duration, 0 for ids that are not durations: ``[shape=(vocab,)]``."""
        out = np.zeros(self.vocab_size, np.int64)
        out[self.duration_base:] = [grid_steps(d) for d in self.durations]
        return out

    def describe(self) -> dict[str, Any]:
        from musegen.formats.melody import key_name

        out: dict[str, Any] = {
            "variant": self.variant.name, "transpose_to_c": self.transpose_to_c,
            "keys": ", ".join(" ".join(key_name(*k)) for k in self.keys),
            "meters": ", ".join(f"{n}/{d}" for n, d in self.meters),
            "pitches": f"{self.lo}..{self.hi}",
        }
        if self.codec is not None:
            out.update(measure_vector=self.codec.latent, slots=self.codec.slots,
                       codec_exact_rebuild=f"{self.codec.train_exact:.2%} of training measures")
        else:
            out.update(vocabulary=self.vocab_size, durations=len(self.durations))
        if self.skipped:
            out["skipped"] = len(self.skipped)
        return out

    # -- arrays -------------------------------------------------------------------------------------------
    def encode(self, piece: Melody) -> np.ndarray:
        """The piece as the variant's array (:class:`NoteVariant`, :class:`SeriesVariant`, :class:`MeasureVariant`)."""
        return self.variant.encode(piece)

    def decode(self, array: np.ndarray) -> Melody:
        return self.variant.decode(array)

    def input_spec(self) -> InputSpec:
        return self.variant.input_spec()

    def head(self) -> OutputSpec:
        return self.variant.head()

    # -- sampling -----------------------------------------------------------------------------------------
    def check_meter(self, meter: tuple[int, int]) -> None:
        """Refuse a meter whose measure is longer than the measure network's grid."""
        if self.codec is not None and grid_steps(meter_length(meter)) > self.codec.slots:
            longest = self.codec.slots * GRID
            raise UsageError(f"{meter[0]}/{meter[1]}: longer than any measure this model learned "
                             f"(at most {longest} quarter notes)")

    def primer(self, path: str | os.PathLike | None = None, *, measures: int = 2, key: str | None = None,
               meter: str | None = None) -> ScorePrimer:
        """What :meth:`encode_primer` takes: the first ``measures`` measures of a score file, or a key and meter.

        With a primer the key and meter are the primer's own.
        """
        if path is not None and (key or meter):
            raise UsageError("--key and --meter come from the primer; leave them out with --primer")
        if measures < 1:
            raise UsageError(f"--primer-measures must be at least 1, got {measures}")
        wanted_meter = parse_meter(meter) if meter else None
        if wanted_meter:
            self.check_meter(wanted_meter)
        if path is None:
            return ScorePrimer(key=parse_key(key) if key else None, meter=wanted_meter)
        from musegen.formats.melody import read_melodies

        path = Path(path)
        if not path.is_file():
            raise MusegenError(f"--primer {path}: no such file")
        try:
            melody = read_melodies(path)[0]
        except MusegenError as exc:
            raise MusegenError(f"--primer: {exc}") from None
        if not has_notes(melody):
            raise MusegenError(f"--primer {path}: the score has no notes")
        n = measures + int(melody.pickup)
        for m in melody.measures[:n]:
            self.check_meter(m.meter)
        return ScorePrimer(melody=Melody(melody.measures[:n], melody.title, melody.pickup and n > 1))

    def draw_header(self, rng: np.random.Generator) -> tuple[tuple[int, str], tuple[int, int]]:
        """A (key, meter) drawn as often as the training pieces begin with it."""
        if not self.headers:
            return self.keys[0], self.meters[0]
        counts = np.array([n for _, _, n in self.headers], float)
        k, m, _ = self.headers[int(rng.choice(len(counts), p=counts / counts.sum()))]
        return k, m

    def encode_primer(self, primer: ScorePrimer, *, num: int, seed: int) -> PrimedRows:
        """One primed row per piece (see :class:`PrimedRows`); keys and meters not given are drawn with ``seed``."""
        from musegen.formats.melody import transpose_melody

        rng = np.random.default_rng(seed)
        rows = PrimedRows(np.empty(0), [], [], [], [], [])
        arrays = []
        for _ in range(num):
            if primer.melody is not None:
                target, meter = primer.melody.measures[0].key, primer.melody.measures[-1].meter
            else:
                drawn_key, drawn_meter = self.draw_header(rng)
                target, meter = primer.key or drawn_key, primer.meter or drawn_meter
            key, shift = self.nearest_key(target)
            prefix = transpose_melody(primer.melody, -shift) if primer.melody is not None else None
            arrays.append(self.variant.encode(prefix or Melody([]), key=key, meter=meter))
            rows.keys.append(key)
            rows.meters.append(meter)
            rows.targets.append(target)
            rows.shifts.append(shift)
            rows.prefixes.append(prefix)
        rows.arrays = np.stack(arrays)
        return rows

    def finish(self, melody: Melody, rows: PrimedRows, i: int) -> Melody:
        """A generated row in the key written: moved by the row's shift, the asked key signature set."""
        from musegen.formats.melody import transpose_melody

        shift, target = rows.shifts[i], rows.targets[i]
        if shift:
            melody = transpose_melody(melody, shift)
        if rows.keys[i][1] == target[1]:
            for m in melody.measures:
                m.fifths, m.mode = target
        return melody

    def with_primer(self, primer: ScorePrimer, piece: Melody) -> Melody:
        """The primer's own measures, then the generated ones (``piece`` holds the primer as fed, then them)."""
        if primer.melody is None:
            return piece
        k = len(primer.melody.measures)
        head = [Measure(list(m.events), *m.meter, *m.key) for m in primer.melody.measures]
        last, fed = head[-1].events[-1], piece.measures[k - 1].events[-1] if len(piece.measures) >= k else None
        tie = fed is not None and fed.tie and fed.pitch == last.pitch and last.pitch is not None
        head[-1].events[-1] = Event(last.pitch, last.duration, tie)
        return Melody(head + piece.measures[k:], piece.title or primer.melody.title, primer.melody.pickup)

    def postprocess(self, piece: Melody, *, index: int) -> tuple[Melody, dict[str, Any]]:
        """Check that every measure is full (a pickup and the last aside); repair any that is not."""
        from musegen.formats.melody import key_name, repair_measure

        repaired = 0
        for i, m in enumerate(piece.measures):
            exempt = (i == 0 and piece.pickup) or i == len(piece.measures) - 1
            if m.length > m.expected or (m.length < m.expected and not exempt):
                m.events = repair_measure(m.events, m.expected)
                repaired += 1
        piece.title = piece.title or f"Score {index}"
        first = piece.measures[0] if piece.measures else Measure([], 4, 4)
        full = sum(m.is_full() for m in piece.measures)
        return piece, {
            "title": f"score_{index}", "measures": len(piece.measures), "measures_full": full,
            "notes": sum(e.pitch is not None for m in piece.measures for e in m.events),
            "key": " ".join(key_name(*first.key)), "meter": f"{first.numerator}/{first.denominator}",
            "pickup": piece.pickup, "repaired": repaired, "valid": has_notes(piece),
        }

    # -- output -------------------------------------------------------------------------------------------
    def write(self, piece: Melody, stem: Path, *, formats: tuple[str, ...], force: bool = False) -> list[Path]:
        paths = []
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            SCORE_WRITERS[fmt](piece, path, force)
            paths.append(path)
        return paths

    # -- bundle -------------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name, "variant": self.variant.name, "transpose_to_c": self.transpose_to_c,
            "latent": self.latent, "hidden": self.hidden, "codec_epochs": self.codec_epochs,
            "tune_decoder": self.tune_decoder,
            "keys": [[f, m] for f, m in self.keys], "meters": [[n, d] for n, d in self.meters],
            "headers": [[k[0], k[1], m[0], m[1], n] for k, m, n in self.headers],
            "pitch_range": [self.lo, self.hi], "durations": [str(d) for d in self.durations],
            "codec": self.codec.to_config() if self.codec is not None else None,
        }

    def set_config(self, config: dict[str, Any]) -> None:
        try:
            self.__init__(variant=str(config["variant"]), transpose_to_c=bool(config["transpose_to_c"]),
                          latent=int(config["latent"]), hidden=int(config["hidden"]),
                          codec_epochs=int(config["codec_epochs"]),
                          tune_decoder=bool(config["tune_decoder"]))
            self.keys = [(int(f), str(m)) for f, m in config["keys"]]
            self.meters = [(int(n), int(d)) for n, d in config["meters"]]
            self.headers = [((int(f), str(m)), (int(n), int(d)), int(c)) for f, m, n, d, c in config["headers"]]
            self.lo, self.hi = (int(v) for v in config["pitch_range"])
            self.durations = [Fraction(d) for d in config["durations"]]
            if not (self.keys and self.meters and self.durations and self.lo <= self.hi):
                raise ValueError("an empty vocabulary")
            if isinstance(self.variant, MeasureVariant):
                from musegen.scorenet import MeasureCodec

                self.codec = MeasureCodec.from_config(config["codec"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError, UsageError) as exc:
            raise MusegenError(f"representation.json: not a score representation ({exc})") from None


def _write_melody(fmt: str):
    def write(melody: Melody, path: Path, force: bool) -> None:
        from musegen.formats.melody import write_melody

        write_melody(melody, path, fmt=fmt, force=force)

    return write


def _render(melody: Melody, path: Path, force: bool) -> None:
    from musegen.formats.render import render_melody

    render_melody(melody, path, force=force)


# output format -> writer(melody, path, force); add an entry for a new format
SCORE_WRITERS = {"musicxml": _write_melody("musicxml"), "mid": _write_melody("mid"), "abc": _write_melody("abc"),
                 "png": _render, "svg": _render}
