"""Sheet music: melodies in measures, learnt by one of three networks (``--variant``).

Each variant is one module of this package and owns its vocabulary,
encoding, sampler and loss:

:mod:`.note` (the default)
    One step per note: the pair (pitch, duration), both ids of one small
    vocabulary; the network predicts the next note's pitch and duration with
    two softmaxes (input ``token_pairs``, head ``pair_softmax``).
:mod:`.series`
    The same notes as one token stream, pitch then duration then pitch...,
    one softmax (input ``tokens``, head ``softmax``).
:mod:`.measure`
    A code book of measures (a discrete latent model: each code a
    distribution over a measure's grid of slots, each slot a pitch onset, a
    rest onset or a hold), fitted first (in :meth:`ScoreRepresentation.fit`);
    the network reads one measure's code per step (with the key, meter,
    phrase position and "last" flag of the next measure) and gives a softmax
    over the next measure's code (input ``leading_vectors``, head
    ``slot_softmax`` of one slot).  Its pieces are mixtures of codes, scored
    exactly; ``musegen interpolate score`` moves through its code book.

Why the note network is the default: on the jigs (bench/score_variants.py)
it models held-out tunes best (2.20 nats per note against 2.52 for the
measure network, +14%: a code's measure is drawn slot by slot, so the notes
of a measure depend on each other only through the code) and copies far
fewer measures from its training tunes (11% against 68%: the codes are
sharp, so a code drawn gives back a training measure most of the time).

Key by construction: every piece is learnt moved to a key signature without
sharps or flats (C major, A minor, D dorian...: ``--transpose-to-c``, the
default), generated there and written in a key drawn as the training pieces
begin (or asked with ``--key``, or the primer's).  Endings: a mark before a
piece's last measure (note, series) or a flag on it (measure) tells the
network the piece ends there, and of the candidates drawn for each score the
first that ends on its tonic is written.

What they share (:mod:`.notes`): the vocabulary of ``note`` and ``series``,
one id per key signature and per meter seen in training (the piece's first
step is its header: key, then meter), a rest, a hold (the note before goes
on: a tie over the bar line), the pitches from the lowest to the highest
seen, and every duration seen.  Measures are encoded bar-aligned: a pickup
is preceded by a rest that fills its measure, other short measures are
filled by a rest at their end, so bar lines fall where the durations say;
decoding turns a first measure that starts with a rest into a pickup again.

Generated measures are always complete: the samplers only draw durations
that fit what remains of the measure (note, series) or decode a full grid of
slots in one of the rhythms of the training measures (measure);
:meth:`ScoreRepresentation.postprocess` checks every measure and repairs any
that is not (:func:`musegen.formats.melody.repair_measure`).

Keys the model never saw (``--key``, a primer, or every key but those without
sharps or flats for a ``--transpose-to-c`` model) are generated in the
nearest key it knows and transposed.  music21 and TensorFlow are imported
lazily.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.config import Settings, check_range, check_sampling, option
from musegen.errors import MusegenError, UsageError
from musegen.formats.melody import GRID, Event, Measure, Melody, melody_notes  # music21 is imported lazily there
from musegen.formats.theory import MODES, fold, meter_length, parse_key, parse_meter
from musegen.limits import MAX_PRIMER_MEASURES
from musegen.metrics import pitch_class_statistics
from musegen.representations.base import InputSpec, OutputSpec, Representation, SamplingPlan
from musegen.representations.score.keys import ends_on_tonic, key_report, last_pitch, moved_to_key, spelled
from musegen.representations.score.measure import MeasureCodes, MeasureVariant
from musegen.representations.score.note import NoteVariant
from musegen.representations.score.notes import (FINAL_PITCH, HOLD, HOLD_PITCH, PAD, REST, SLOT_PITCH, PrimedRows,
                                                 ScorePrimer, Variant, bar_aligned_notes, fold_pitch, grid_steps,
                                                 has_notes, logsumexp, melody_slot_rows, slots_to_melody)
from musegen.representations.score.series import SeriesVariant

# variant name -> how its network reads, samples and scores melodies; add an entry here (one module per variant)
VARIANTS: dict[str, type[Variant]] = {v.name: v for v in (NoteVariant, SeriesVariant, MeasureVariant)}

__all__ = ["FINAL_PITCH", "HOLD", "PAD", "REST", "SLOT_PITCH", "VARIANTS", "PrimedRows", "ScorePrimer",
           "ScoreRepresentation", "full_ending", "in_c", "measure_key", "melody_slot_rows", "parse_key", "parse_meter",
           "slots_to_melody"]

SEGMENT_MEASURES = 16  # a corpus of one piece is cut into pieces this long, so that some can be held out


@dataclass(frozen=True)
class ScoreSettings(Settings):
    """The network and how melodies are read (the code book's size for the measure network)."""

    owner = "score"
    variant: str = option("note", "Network: note (pitch and duration per step, two softmaxes), series (pitch, "
                                  "duration, pitch... tokens) or measure (a code book of measures, an LSTM over "
                                  "their codes).", choices=tuple(VARIANTS))
    transpose_to_c: bool = option(True, "Learn every piece moved to a key signature without sharps or flats (C "
                                        "major, A minor, D dorian...) and write what is generated in the key drawn "
                                        "or asked [default]; --keep-keys: learn each key as written.",
                                  flag="--transpose-to-c/--keep-keys", show_default=False)
    codes: int = option(1024, "Codes of the measure code book (measure).")
    code_steps: int = option(30, "Expectation-maximisation rounds fitting the code book (measure).")

    def validate(self) -> None:
        for name in ("codes", "code_steps"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be a positive whole number, "
                                 f"got {getattr(self, name)!r}")


@dataclass(frozen=True)
class ScoreSampleOptions(Settings):
    owner = "score"
    measures: int = option(16, "Measures generated per score (after the primer's).")
    temperature: float | None = option(None, "Softmax temperature of the notes (note, series) or of each measure's "
                                             "code, rhythm and pitches (measure); 0: always the likeliest.",
                                       show_default="0.8")
    primer: str | None = option(None, "A score whose first measures begin every piece (.abc, .musicxml, .mid); it "
                                      "sets key and meter.", show_default=False)
    primer_measures: int = option(2, "Measures of the primer read (a pickup besides).")
    key: str | None = option(None, "Key: G, Em, F#m, 'D dorian'... [default: drawn as the training pieces begin].",
                             show_default=False)
    meter: str | None = option(None, "Time signature, e.g. 6/8 [default: drawn as the training pieces begin].",
                               show_default=False)
    candidates: int = option(4, "Scores drawn for each one written: the first that ends on its key's tonic is kept "
                                "(else the first drawn); 1: every score as drawn.")

    def validate(self) -> None:
        if self.measures < 1:
            raise UsageError(f"--measures must be at least 1, got {self.measures}")
        check_range("--primer-measures", self.primer_measures, MAX_PRIMER_MEASURES)
        check_sampling(temperature=self.temperature, candidates=self.candidates)
        if self.key is not None:
            parse_key(self.key)
        if self.meter is not None:
            parse_meter(self.meter)
        if self.primer is not None and not Path(self.primer).is_file():
            raise UsageError(f"--primer {self.primer}: no such file")


@dataclass(frozen=True)
class ScoreEvaluateOptions(Settings):
    owner = "score"
    samples: int = option(8, "Scores generated to measure (0: none).")
    measures: int = option(16, "Measures per generated score.")
    temperature: float | None = option(None, "Temperature of the samples.",
                                       show_default="the network's: 0.8")

    def validate(self) -> None:
        if self.samples < 0:
            raise UsageError(f"--samples must be 0 or positive, got {self.samples}")
        if self.measures < 1:
            raise UsageError(f"--measures must be at least 1, got {self.measures}")
        check_sampling(temperature=self.temperature)


class ScoreRepresentation(Representation):
    """Melodies (the top voice of each score, in measures) for the note, series or measure network.

    Settings (``extra``): ``variant`` (``note``), ``transpose_to_c``
    (learn every piece moved to a key signature with no sharps or flats;
    the default), and for the measure network ``codes`` (the size of its
    code book) and ``code_steps`` (the rounds fitting it).
    """

    name: ClassVar[str] = "score"
    Settings = ScoreSettings
    SampleOptions = ScoreSampleOptions
    EvaluateOptions = ScoreEvaluateOptions
    generator: ClassVar[str] = "stepped"  # each variant steps its network itself (sample_steps)
    default_model: ClassVar[str] = "score-jigs"
    corpus_help: ClassVar[str] = ("ABC (tune by tune), MusicXML or quantised MIDI: a file or a folder; or "
                                  "music21:bach, music21:oneills1850.")
    evaluate_help: ClassVar[str] = ("The corpus (split as in training: its held-out part is scored), e.g. "
                                    "corpora/jigs or music21:bach.")
    embedding_option: ClassVar[tuple[str, str]] = (
        "embedding", "Embedding size (note, series; 0: one-hot) or dense projection of each measure's code and "
                     "condition (measure; 0: none).")
    piece_noun: ClassVar[str] = "score"
    default_formats: ClassVar[str] = "musicxml,mid,abc,png"
    format_help: ClassVar[str] = ("Comma-separated: musicxml (always written), mid, abc, wav (played), png, svg, pdf "
                                  "(sheet music).")
    required_formats: ClassVar[tuple[str, ...]] = ("musicxml",)
    summary_columns: ClassVar[tuple[str, ...]] = ("score", "key", "key heard", "meter", "measures full", "notes",
                                                  "ends on")
    commands_help: ClassVar[dict[str, str]] = {
        "prepare": "Prepare melodies for a score network: keys, meters, pitches and durations; the measure "
                   "code book; cached.",
        "train": "Train a score model (e.g. `musegen train score corpora/jigs`, `musegen train score music21:bach "
                 "--variant note`).",
        "sample": "Generate scores measure by measure, every measure complete; write MusicXML, MIDI, ABC and sheet "
                  "music.",
        "evaluate": "Validation loss per note (and per measure, with the code book's exact rebuilds, for the "
                    "measure network); completeness, keys heard, endings, pitch statistics and copying of generated "
                    "scores.",
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The 2017 study's setting for every music model (2 LSTM layers, RMSprop), on its note RNN.
        "study": dict(layers=2, units=256, embedding=32, seq_len=50, batch_size=50, epochs=20, optimizer="rmsprop",
                      lr=0.001, clipnorm=5.0, dropout=0.0, extra={"variant": "note"}),
        # The note network: the best loss of the three on the jigs (see bench/score_variants.py and the module text).
        "default": dict(layers=2, units=256, embedding=48, seq_len=64, batch_size=32, epochs=30, optimizer="adam",
                        lr=0.002, clipnorm=1.0, dropout=0.2, patience=4, lr_decay=0.5, extra={"variant": "note"}),
        # The measure network (a code book of measures, an LSTM over their codes).
        "measure": dict(layers=2, units=256, embedding=64, seq_len=16, batch_size=32, epochs=40, optimizer="adam",
                        lr=0.002, clipnorm=1.0, dropout=0.3, patience=5, lr_decay=0.5,
                        extra={"variant": "measure", "codes": 1024, "code_steps": 30}),
        "note": dict(layers=2, units=256, embedding=48, seq_len=64, batch_size=32, epochs=30, optimizer="adam",
                     lr=0.002, clipnorm=1.0, dropout=0.2, patience=4, lr_decay=0.5, extra={"variant": "note"}),
        "series": dict(layers=2, units=256, embedding=48, seq_len=128, batch_size=32, epochs=30, optimizer="adam",
                       lr=0.002, clipnorm=1.0, dropout=0.2, patience=4, lr_decay=0.5, extra={"variant": "series"}),
        # For tests and quick checks: trains in seconds.
        "tiny": dict(layers=1, units=16, embedding=8, seq_len=8, batch_size=8, epochs=2, optimizer="adam", lr=0.01,
                     clipnorm=1.0, extra={"variant": "measure", "codes": 16, "code_steps": 3}),
    }
    output_formats: ClassVar[tuple[str, ...]] = ("musicxml", "mid", "abc", "png", "svg", "pdf", "wav")

    def __init__(self, settings: ScoreSettings | None = None, **values: Any) -> None:
        super().__init__(settings, **values)
        s = self.settings
        self.variant = VARIANTS[s.variant](self)
        self.transpose_to_c = s.transpose_to_c
        self.codes, self.code_steps = s.codes, s.code_steps
        # fitted on the training pieces
        self.keys: list[tuple[int, str]] = [(0, "major")]
        self.meters: list[tuple[int, int]] = [(4, 4)]
        self.headers: list[tuple[tuple[int, str], tuple[int, int], int]] = []  # first key, meter, pieces
        self.lo, self.hi = 60, 72
        self.durations: list[Fraction] = [Fraction(1)]
        self.codec: MeasureCodes | None = None  # the measure variant's code book
        self.skipped: list[str] = []

    @classmethod
    def preset_for(cls, settings: dict[str, Any]) -> str | None:
        """The preset `musegen train score --variant VARIANT` starts from."""
        return VARIANTS[settings["variant"]].preset if settings.get("variant") else None

    @classmethod
    def loss_unit_of(cls, settings: dict[str, Any]) -> str:
        return VARIANTS[settings.get("variant", ScoreSettings.variant)].loss_unit

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
        with no notes are left out; a short last measure is completed
        (:func:`full_ending`); one long piece is cut into pieces of
        :data:`SEGMENT_MEASURES` measures so that some can be held out.
        """
        from musegen.formats.melody import read_melodies

        melodies = read_melodies(path)  # in their own keys: moved (if at all) as they are encoded
        self.skipped = list(melodies.skipped)
        kept = [full_ending(m) for m in melodies if has_notes(m)]
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
    def relative(self, piece: Melody) -> Melody:
        """The piece as the network learns it: moved to a key signature without sharps or flats (:func:`in_c`),
        unless the model keeps keys."""
        return in_c(piece) if self.transpose_to_c else piece

    def fit(self, pieces: list[Melody]) -> None:
        """The keys the pieces begin in (as written: the keys drawn for sampling); keys, meters, pitch range and
        durations of the pieces as learnt (moved to C major / A minor...); the measure variant's code book."""
        firsts = Counter((p.measures[0].key, p.measures[0].meter) for p in pieces if p.measures)
        self.headers = sorted((k, m, n) for (k, m), n in firsts.items())
        pieces = [self.relative(p) for p in pieces]
        measures = [m for p in pieces for m in p.measures]
        pitches = [e.pitch for m in measures for e in m.events if e.pitch is not None]
        if not pitches:
            raise MusegenError("no notes to learn from")
        key_counts, meter_counts = Counter(m.key for m in measures), Counter(m.meter for m in measures)
        self.keys = sorted(key_counts)
        self.meters = sorted(meter_counts, key=lambda m: (meter_length(m), m))
        self.lo, self.hi = min(pitches), max(pitches)
        self.durations = sorted({d for p in pieces for _, d in bar_aligned_notes(p)})
        self.variant.fit(pieces, measures)

    @property
    def rest_id(self) -> int:
        return len(self.keys) + len(self.meters)

    @property
    def hold_id(self) -> int:
        return self.rest_id + 1

    @property
    def final_id(self) -> int:
        """The mark that the last measure begins (note and series networks): read, never drawn."""
        return self.rest_id + 2

    @property
    def pitch_base(self) -> int:
        return self.rest_id + 3

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
        away, then transposed.  A model that moves every piece to a key
        signature without sharps or flats (``transpose_to_c``) knows only
        those keys (C major, A minor, D dorian...): every other key is made by
        transposing one of them.
        """
        key = (int(key[0]), str(key[1]))
        # a model that learns every piece moved to C major / A minor... generates there
        pool = [k for k in self.keys if k[0] == 0] if self.transpose_to_c else self.keys
        if key in (pool or self.keys):
            return key, 0
        counts = Counter({k: n for k, _, n in self.headers})
        same = [k for k in pool if k[1] == key[1]] or pool or self.keys

        def shift(k: tuple[int, str]) -> int:
            return fold(7 * ((key[0] + MODES.get(key[1], 0)) - (k[0] + MODES.get(k[1], 0))))

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
        if pitch == FINAL_PITCH:
            return self.final_id
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
        if not (self.rest_id <= pitch_id < self.duration_base and 0 <= d < len(self.durations)) or \
                pitch_id == self.final_id:
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
            out.update(codes=self.codec.codes, slots=self.codec.slots,
                       codes_exact_rebuild=f"{self.codec.train_exact:.2%} of training measures")
        else:
            out.update(vocabulary=self.vocab_size, durations=len(self.durations))
        if self.skipped:
            out["skipped"] = len(self.skipped)
        return out

    # -- arrays -------------------------------------------------------------------------------------------
    def encode(self, piece: Melody) -> np.ndarray:
        """The piece as the variant's array (:class:`NoteVariant`, :class:`SeriesVariant`, :class:`MeasureVariant`),
        moved to C major / A minor first (see :meth:`relative`)."""
        return self.variant.encode(self.relative(piece))

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
        return ScorePrimer(melody=Melody(melody.measures[:n], melody.title, melody.pickup and n > 1, melody.composer))

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
            arrays.append(self.variant.encode(prefix or Melody([]), key=key, meter=meter, final=False))
            rows.keys.append(key)
            rows.meters.append(meter)
            rows.targets.append(target)
            rows.shifts.append(shift)
            rows.prefixes.append(prefix)
        rows.arrays = np.stack(arrays)
        return rows

    def finish(self, melody: Melody, rows: PrimedRows, i: int) -> Melody:
        """A generated row in the key written: moved by the row's shift, the asked key signature set."""
        return moved_to_key(melody, shift=rows.shifts[i], target=rows.targets[i], made_in=rows.keys[i])

    def with_primer(self, primer: ScorePrimer, piece: Melody) -> Melody:
        """The primer's own measures, then the generated ones (``piece`` holds the primer as fed, then them)."""
        if primer.melody is None:
            return piece
        k = len(primer.melody.measures)
        head = [Measure(list(m.events), *m.meter, *m.key) for m in primer.melody.measures]
        last, fed = head[-1].events[-1], piece.measures[k - 1].events[-1] if len(piece.measures) >= k else None
        tie = fed is not None and fed.tie and fed.pitch == last.pitch and last.pitch is not None
        head[-1].events[-1] = Event(last.pitch, last.duration, tie)
        return Melody(head + piece.measures[k:], piece.title or primer.melody.title, primer.melody.pickup,
                      piece.composer or primer.melody.composer)

    def plan_sampling(self, bundle_path: Path, options: ScoreSampleOptions) -> SamplingPlan:
        """The primer's first measures, or the key and meter asked; the measures asked; the variant's temperature;
        the candidates drawn for each score written."""
        primer = self.primer(options.primer, measures=options.primer_measures, key=options.key, meter=options.meter)
        temperature = self.variant.temperature if options.temperature is None else options.temperature
        return SamplingPlan(primer, options.measures, temperature, candidates=options.candidates)

    def sample_steps(self, net: Any, primer: PrimedRows, *, max_length: int, temperature: float,
                     rng: np.random.Generator, progress: Any = None) -> tuple[list[Melody], int]:
        """``max_length`` complete measures after each primed row, by the variant's own sampler."""
        return self.variant.sample(net, primer, measures=max_length, temperature=temperature, rng=rng,
                                   progress=progress)

    def summary_row(self, piece: dict[str, Any]) -> tuple[str, ...]:
        return (piece["title"], piece["key"], piece["key_heard"], piece["meter"],
                f"{piece['measures_full']}/{piece['measures']}", str(piece["notes"]),
                "tonic" if piece["ends_on_tonic"] else piece["ends_on"])

    def summary_title(self, result: Any, plan: SamplingPlan) -> str:
        return (f"{len(result.pieces)} score(s), {self.variant.name} network: {plan.max_length} measures each in "
                f"{result.seconds:.2f} s (temperature {plan.temperature:g})")

    def postprocess(self, piece: Melody, *, index: int) -> tuple[Melody, dict[str, Any]]:
        """Check that every measure is full (a pickup and the last aside); repair any that is not.

        The summary tells the key written and the key music21 hears in the
        notes (:func:`.keys.key_report`), and the last note.  A score passes
        (``valid``) when it has notes and ends on its key's tonic: of the
        candidates drawn for a score written, the first that does is kept.
        The note network ends 40% of its 16-measure jigs there, the corpus's
        tunes 85% of theirs; the first of four ends there 1 - 0.6^4 = 87%
        of the time.
        """
        from musegen.formats.melody import repair_measure

        repaired = 0
        for i, m in enumerate(piece.measures):
            exempt = (i == 0 and piece.pickup) or i == len(piece.measures) - 1
            if m.length > m.expected or (m.length < m.expected and not exempt):
                m.events = repair_measure(m.events, m.expected)
                repaired += 1
        piece.title = piece.title or f"Score {index}"
        first = piece.measures[0] if piece.measures else Measure([], 4, 4)
        full = sum(m.is_full() for m in piece.measures)
        last = last_pitch(piece)
        return piece, {
            "title": f"score_{index}", "measures": len(piece.measures), "measures_full": full,
            "notes": sum(e.pitch is not None for m in piece.measures for e in m.events),
            "meter": f"{first.numerator}/{first.denominator}", **key_report(piece),
            "ends_on": spelled(last, piece.measures[-1].key) if last is not None else "-",
            "pickup": piece.pickup, "repaired": repaired, "valid": has_notes(piece) and ends_on_tonic(piece),
        }

    # -- output -------------------------------------------------------------------------------------------
    def write_format(self, piece: Melody, path: Path, fmt: str, options: Any) -> None:
        """The piece as ``fmt``, its title and composer line naming musegen and the model (from the provenance)."""
        from dataclasses import replace

        from musegen.formats import MELODY_WRITERS

        MELODY_WRITERS[fmt](replace(piece, **self.credits(piece, options.provenance)), path, options)

    def credits(self, piece: Melody, provenance: dict[str, str]) -> dict[str, str]:
        """The title and composer line of a generated piece: ``Score 1 (score-jigs)``, ``musegen 0.1.0, model
        score-jigs (note network)``; a piece with a composer already (its primer's, read from the primer's ``C:``
        field or MusicXML composer line) keeps it first, unless it is this very line (a primer musegen wrote)."""
        from musegen import __version__

        model = Path(provenance.get("model", "")).name if provenance.get("model") else ""
        made = f"musegen {provenance.get('musegen', __version__)}"
        if model:
            made += f", model {model} ({self.variant.name} network)"
        title = piece.title or "Untitled"
        if model and not title.endswith(f"({model})"):
            title = f"{title} ({model})"
        composer = piece.composer if made in piece.composer.split("; ") else f"{piece.composer}; {made}"
        return {"title": title, "composer": composer if piece.composer else made}

    # -- bundle -------------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name, "variant": self.variant.name, "transpose_to_c": self.transpose_to_c,
            "codes": self.codes, "code_steps": self.code_steps,
            "keys": [[f, m] for f, m in self.keys], "meters": [[n, d] for n, d in self.meters],
            "headers": [[k[0], k[1], m[0], m[1], n] for k, m, n in self.headers],
            "pitch_range": [self.lo, self.hi], "durations": [str(d) for d in self.durations],
            "codec": self.codec.to_config() if self.codec is not None else None,
        }

    def set_config(self, config: dict[str, Any]) -> None:
        try:
            self.__init__(ScoreSettings(variant=str(config["variant"]), transpose_to_c=bool(config["transpose_to_c"]),
                                        codes=int(config.get("codes", 512)),
                                        code_steps=int(config.get("code_steps", 30))))
            self.keys = [(int(f), str(m)) for f, m in config["keys"]]
            self.meters = [(int(n), int(d)) for n, d in config["meters"]]
            self.headers = [((int(f), str(m)), (int(n), int(d)), int(c)) for f, m, n, d, c in config["headers"]]
            self.lo, self.hi = (int(v) for v in config["pitch_range"])
            self.durations = [Fraction(d) for d in config["durations"]]
            if not (self.keys and self.meters and self.durations and self.lo <= self.hi):
                raise ValueError("an empty vocabulary")
            if isinstance(self.variant, MeasureVariant):
                self.codec = MeasureCodes.from_config(config["codec"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError, UsageError) as exc:
            raise MusegenError(f"representation.json: not a score representation ({exc})") from None

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, probe: Any, target: str, options: ScoreEvaluateOptions) -> dict[str, Any]:
        """Validation loss, the code book's exact rebuilds, and statistics of generated scores against the corpus.

        ``target`` (a corpus) is read with the model's settings and split as
        in training, so the model's own corpus gives back its held-out pieces.
        The loss is per note for the note network (pitch plus duration), the
        series network (the pitch token plus the duration token) and the
        measure network (the exact likelihood of each measure under its
        mixture of codes, over the measure's notes and rests), so the three
        compare; the measure network's also per measure, with the code
        book's alone (each code as often as in training) and the share of
        held-out measures it rebuilds exactly.  Then ``samples`` scores of
        ``measures`` measures are generated (keys and meters drawn as the
        training pieces begin) at ``temperature`` (default: the variant's),
        and measured as generated, before any repair or selection: keys
        heard, scale, endings (the held-out pieces' beside them), copying.
        """
        temperature = self.variant.temperature if options.temperature is None else options.temperature
        pieces, train, valid = probe.held_out(target)
        t0 = time.perf_counter()
        result: dict[str, Any] = {"corpus": str(target), "model": str(probe.bundle.path),
                                  "variant": self.variant.name, "pieces": len(pieces), "valid_pieces": len(valid)}
        scores = [self.variant.loss(probe.outputs(a), a) for a in (self.encode(p) for p in valid) if len(a) > 2]
        total, notes, measures = (sum(col) for col in zip(*scores))
        result["loss_per_note"] = total / max(1, notes)
        if measures:
            result["loss_per_measure"] = total / measures
        if self.codec is not None:
            codec = self.codec

            def rows(melodies: list[Any]) -> np.ndarray:
                return np.concatenate([melody_slot_rows(self.relative(p), slots=codec.slots, lo=self.lo, hi=self.hi)
                                       for p in melodies])

            held_out = rows(valid)
            result["codec_exact_rebuild"] = codec.exact_rate(held_out)
            result["codec_exact_rebuild_train"] = codec.exact_rate(rows(train))
            # the code book alone (its codes as often as in training, nothing before known): what the LSTM improves on
            result["codec_loss_per_measure"] = float(-np.mean(logsumexp(codec.likelihoods(held_out) + codec.log_prior)))
        result["seconds"] = round(time.perf_counter() - t0, 3)
        result["corpus_stats"] = pitch_statistics(pieces)
        result["held_out_stats"] = key_statistics(valid)
        if options.samples:
            gen = probe.generate(num=options.samples, temperature=temperature, max_length=options.measures,
                                 primer=self.encode_primer(ScorePrimer(), num=options.samples, seed=probe.seed))
            result["samples"] = {"temperature": temperature, "scores": options.samples,
                                 **sample_statistics(gen.pieces, train), **key_statistics(gen.pieces),
                                 "measures_per_second": round(options.samples * options.measures / gen.seconds, 1)
                                 if gen.seconds else None}
        return result


# -- statistics of melodies -------------------------------------------------------------------------------


def pitch_statistics(melodies: list[Any]) -> dict[str, float]:
    """Pitch-class entropy (bits) and scale consistency of the notes (tied notes joined), as MusPy defines them."""
    stats = [pitch_class_statistics([p for _, _, p in melody_notes(m)]) for m in melodies]
    stats = [s for s in stats if not math.isnan(s["scale_consistency"])]  # melodies with no notes left out
    return {key: float(np.mean([s[key] for s in stats])) if stats else math.nan
            for key in ("pitch_class_entropy", "scale_consistency")}


def measure_key(m) -> tuple:
    return tuple((e.pitch, e.duration) for e in m.events)


def in_c(melody: Melody) -> Melody:
    """The melody moved to a key signature without sharps or flats (as a ``--transpose-to-c`` model learns it)."""
    from musegen.formats.melody import key_offset_to_c, transpose_melody

    shift = key_offset_to_c(melody)
    try:
        return transpose_melody(melody, shift)
    except MusegenError:
        return transpose_melody(melody, shift - 12)


def full_ending(melody: Melody) -> Melody:
    """The melody with a short last measure (the rest of it is a pickup's) completed by its last note held longer:
    what the networks learn of an ending is then a full measure, as they generate, that ends on the last note."""
    if len(melody.measures) < 2 or not melody.measures[-1].events or \
            melody.measures[-1].length >= melody.measures[-1].expected:
        return melody
    last = melody.measures[-1]
    events = list(last.events)
    events[-1] = Event(events[-1].pitch, events[-1].duration + last.expected - last.length)
    return Melody(melody.measures[:-1] + [Measure(events, *last.meter, *last.key)], melody.title, melody.pickup)


def key_statistics(melodies: list[Any]) -> dict[str, float]:
    """Shares of the melodies whose key music21 hears agrees with the key signature, that end on the tonic, and of
    the notes' duration in the written scale (see :mod:`.keys`)."""
    reports = [key_report(m) for m in melodies if has_notes(m)]
    if not reports:
        return {"key_agreement": math.nan, "in_scale_duration": math.nan, "ends_on_tonic": math.nan}
    return {"key_agreement": float(np.mean([r["key_agrees"] for r in reports])),
            "in_scale_duration": float(np.nanmean([r["in_scale"] for r in reports])),
            "ends_on_tonic": float(np.mean([r["ends_on_tonic"] for r in reports]))}


def sample_statistics(generated: list[Any], training: list[Any]) -> dict[str, Any]:
    """Completeness, copying and pitch statistics of generated melodies (as generated: nothing repaired).

    ``measure_complete_rate``: share of measures whose durations add up to
    their meter (a pickup aside); ``copied_measure_rate``: share of measures
    with notes found note for note (pitch and duration) in ``training``,
    both moved to C major / A minor first (a measure copied into another key
    is copied all the same).
    """
    seen = {measure_key(m) for p in training for m in in_c(p).measures}
    measures = [m for p in generated for i, m in enumerate(p.measures) if not (i == 0 and p.pickup)]
    moved = [m for p in generated for i, m in enumerate(in_c(p).measures) if not (i == 0 and p.pickup)]
    with_notes = [m for m in moved if any(e.pitch is not None for e in m.events)]
    return {
        "measures": len(measures),
        "measure_complete_rate": float(np.mean([m.is_full() for m in measures])) if measures else math.nan,
        "copied_measure_rate": float(np.mean([measure_key(m) in seen for m in with_notes])) if with_notes
        else math.nan,
        "notes_per_measure": float(np.mean([sum(e.pitch is not None for e in m.events) for m in measures]))
        if measures else math.nan,
        **pitch_statistics(generated),
    }
