"""A MIDI piano roll: 128 pitches by time steps on a grid in beats."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.config import Settings, check_range, check_sampling, option
from musegen.errors import MusegenError, UsageError
from musegen.fileio import path_files
from musegen.limits import MAX_EVALUATE_BEATS, MAX_PRIMER_BEATS
from musegen.representations.base import InputSpec, OutputSpec, Representation, SamplingPlan

PITCHES = 128
MIDI_SUFFIXES = (".mid", ".midi")
CORPUS_SUFFIXES = (*MIDI_SUFFIXES, ".abc")
SEGMENT_BEATS = 32  # a corpus of one piece is cut into segments this long, so some can be held out


ROLL_STATS = ("notes_per_second", "polyphony", "pitch_range", "pitch_class_entropy", "scale_consistency",
              "empty_beat_rate")


@dataclass(frozen=True)
class MidiSettings(Settings):
    """How pieces are read: the grid, the drums, the network's head."""

    owner = "midi"
    head: str = option("roll", "Output: roll (sounding, onset and velocity per pitch) or linear (the study's 128 "
                               "velocities, MSE).", choices=("roll", "linear"),
                       show_default="roll; linear with --preset study")
    steps_per_beat: int = option(4, "Columns per quarter-note beat (12 or 24 for triplets).")
    drums: bool = option(False, "Keep channel 10 (drums).", flag="--drums/--no-drums", show_default="no drums")

    def validate(self) -> None:
        from musegen.formats.pianoroll import check_steps_per_beat

        check_steps_per_beat(self.steps_per_beat)


def check_threshold(threshold: float) -> None:
    """Refuse a threshold outside 0..127 velocity units."""
    if not (0 <= threshold <= 127):
        raise UsageError(f"--threshold is in velocity units from 0 to 127, got {threshold}")


def length_in_steps(*, steps: int | None, beats: float | None, seconds: float | None, bpm: float,
                    steps_per_beat: int) -> int:
    """The number of columns asked for by exactly one of ``--steps``, ``--beats`` or ``--seconds``."""
    given = [(n, v) for n, v in (("--steps", steps), ("--beats", beats), ("--seconds", seconds)) if v is not None]
    if len(given) > 1:
        raise UsageError(f"give one of --steps, --beats and --seconds, not {' and '.join(n for n, _ in given)}")
    name, value = given[0] if given else ("--beats", 64.0)
    if not value > 0:
        raise UsageError(f"{name} must be positive, got {value}")
    if name == "--steps":
        return int(value)
    if name == "--seconds":
        value = value * bpm / 60.0
    return max(1, round(value * steps_per_beat))


@dataclass(frozen=True)
class MidiSampleOptions(Settings):
    owner = "midi"
    threshold: float = option(15.0, "A note sounds where its predicted velocity is at least this (velocity units, "
                                    "0-127).")
    steps: int | None = option(None, "Columns to generate.")
    beats: float | None = option(None, "Beats to generate [default: 64].", show_default=False)
    seconds: float | None = option(None, "Seconds to generate (at --bpm).")
    temperature: float = option(0.25, "Logistic noise added to the network's decisions (0: the study's "
                                      "deterministic rule).")
    primer: str | None = option(None, "A MIDI (or ABC) file whose first beats start every piece [default: a random "
                                      "training excerpt each].", show_default=False)
    primer_beats: float = option(4.0, "Beats of the primer read before generating.")
    bpm: float | None = option(None, "Tempo of the pieces written [default: the primer's, else the corpus's usual "
                                     "tempo].", show_default=False)

    def validate(self) -> None:
        check_threshold(self.threshold)
        check_range("--primer-beats", self.primer_beats, MAX_PRIMER_BEATS)
        if self.bpm is not None and not 10 <= self.bpm <= 400:
            raise UsageError(f"--bpm must be between 10 and 400, got {self.bpm}")
        check_sampling(temperature=self.temperature)
        if self.primer is not None and not Path(self.primer).is_file():
            raise UsageError(f"--primer {self.primer}: no such file")
        length_in_steps(steps=self.steps, beats=self.beats, seconds=self.seconds, bpm=self.bpm or 120.0,
                        steps_per_beat=1)


@dataclass(frozen=True)
class MidiEvaluateOptions(Settings):
    owner = "midi"
    samples: int = option(8, "Pieces generated to compare with the corpus (0: none).")
    threshold: float = option(15.0, "Threshold of the samples (velocity units).")
    thresholds: str = option("", "Also sample at these thresholds (e.g. '10,20,30').", show_default=False)
    temperature: float = option(0.25, "Temperature of the samples.")
    beats: float = option(64.0, "Beats per sample.")
    primer_beats: float = option(4.0, "Beats of the training excerpt each sample starts from.")

    def validate(self) -> None:
        if self.samples < 0:
            raise UsageError(f"--samples must be 0 or positive, got {self.samples}")
        for t in (self.threshold, *self.extra_thresholds()):
            check_threshold(t)
        check_range("--beats", self.beats, MAX_EVALUATE_BEATS)
        check_range("--primer-beats", self.primer_beats, MAX_PRIMER_BEATS)
        check_sampling(temperature=self.temperature)

    def extra_thresholds(self) -> tuple[float, ...]:
        try:
            return tuple(float(t) for t in self.thresholds.split(",") if t.strip())
        except ValueError:
            raise UsageError(f"--thresholds takes numbers like '10,20,30', got {self.thresholds!r}") from None


def corpus_files(path: Path) -> list[Path]:
    """A file, or the MIDI and ABC files under a folder (sorted)."""
    return path_files(path, CORPUS_SUFFIXES, what=".mid, .midi or .abc files")


def transpose_roll(roll, semitones: int):
    """``roll`` moved by ``semitones``; notes pushed outside 0..127 are dropped."""
    from dataclasses import replace

    vel = np.zeros_like(roll.velocity)
    onset = np.zeros_like(roll.onset)
    k = int(semitones)
    src = slice(max(0, -k), PITCHES - max(0, k))
    dst = slice(max(0, k), PITCHES - max(0, -k))
    vel[dst], onset[dst] = roll.velocity[src], roll.onset[src]
    return replace(roll, velocity=vel, onset=onset)


class MidiRepresentation(Representation):
    """Each piece is a piano roll; the network reads one column per step and predicts the next.

    Two heads (``extra["head"]``):

    ``roll`` (default)
        Per pitch a "sounding" and an "onset" logit and a velocity; the input
        column is ``[sounding, onset, velocity / 127]`` (384 values), so
        repeated notes stay apart.
    ``linear``
        The study's: 128 velocities (divided by 127), mean squared error.

    Either way a note sounds in a sampled column where its predicted velocity
    (for ``roll``: ``P(sounding)`` times the velocity) is at least the
    threshold, in velocity units.
    """

    name: ClassVar[str] = "midi"
    Settings = MidiSettings
    SampleOptions = MidiSampleOptions
    EvaluateOptions = MidiEvaluateOptions
    default_model: ClassVar[str] = "midi-jigs"
    corpus_help: ClassVar[str] = "A MIDI file, a folder of .mid/.midi/.abc files, or music21:bach."
    evaluate_help: ClassVar[str] = ("The corpus (split as in training: its held-out part is scored), e.g. "
                                    "corpora/jigs or music21:bach.")
    embedding_option: ClassVar[tuple[str, str]] = ("projection", "Dense projection of each column before the "
                                                                 "LSTMs (0: none).")
    loss_unit: ClassVar[str] = "per column"
    default_formats: ClassVar[str] = "mid,png"
    summary_columns: ClassVar[tuple[str, ...]] = ("piece", "notes", "notes/s", "polyphony")
    commands_help: ClassVar[dict[str, str]] = {
        "prepare": "Prepare a MIDI corpus: piano rolls on a grid in beats, split by piece, cached.",
        "train": "Train the piano-roll model (e.g. `musegen train midi corpora/jigs`, `musegen train midi "
                 "music21:bach`).",
        "sample": "Sample piano-roll pieces: each column thresholded and fed back in; write .mid with a .png picture.",
        "evaluate": "Loss per column next to two baselines (repeat the last column; each pitch's average); sample "
                    "statistics.",
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The 2017 study on the jigs: 2 x LSTM 512, a linear layer of 128 velocities, MSE, RMSprop,
        # sequences of 10 columns, batches of 50.
        "study": dict(layers=2, units=512, embedding=0, seq_len=10, batch_size=50, epochs=20, optimizer="rmsprop",
                      lr=0.001, clipnorm=5.0, dropout=0.0, extra={"head": "linear"}),
        # Best measured on the jigs on a 2-core CPU (see README).
        "default": dict(layers=2, units=256, embedding=0, seq_len=96, batch_size=32, epochs=20, optimizer="adam",
                        lr=0.002, clipnorm=1.0, dropout=0.2, patience=3, lr_decay=0.5, transpose=(-1, 1),
                        extra={"head": "roll"}),
        # For tests and quick checks: trains in seconds.
        "tiny": dict(layers=1, units=16, embedding=0, seq_len=16, batch_size=8, epochs=2, optimizer="adam",
                     lr=0.01, clipnorm=1.0, extra={"head": "roll"}),
    }
    output_formats: ClassVar[tuple[str, ...]] = ("mid", "png", "wav", "npz")

    def __init__(self, settings: MidiSettings | None = None, **values: Any) -> None:
        super().__init__(settings, **values)
        self.head_kind = self.settings.head
        self.steps_per_beat = self.settings.steps_per_beat
        self.drums = self.settings.drums
        # corpus statistics, used for generated pieces
        self.bpm = 120.0
        self.meter = (4, 4)
        self.skipped: list[str] = []

    @property
    def column_rule(self) -> str:  # type: ignore[override]
        return "roll" if self.head_kind == "roll" else "velocity"

    # -- corpus -----------------------------------------------------------------------------------------
    @classmethod
    def resolve_corpus(cls, corpus: str | os.PathLike) -> Path:
        """A path, or ``music21:bach``: the Bach chorales bundled with music21, written to MIDI once (cached)."""
        text = str(corpus)
        if text.startswith("music21:"):
            from musegen.formats.bundled import bundled_midi

            return bundled_midi(text.split(":", 1)[1])
        return super().resolve_corpus(corpus)

    def read_corpus(self, path: str | os.PathLike) -> list[Any]:
        """Every piece at ``path`` as a piano roll: MIDI files, and every tune of ABC files.

        ABC tunes are played with musegen's own ABC player (chords included).
        In a folder, files that cannot be read are skipped (listed in
        :attr:`skipped`); pieces with no notes are left out.
        """
        path = Path(path)
        files = corpus_files(path)
        rolls = []
        self.skipped = []
        for f in files:
            try:
                rolls.extend(self._read_file(f))
            except MusegenError as exc:
                if len(files) == 1:
                    raise
                self.skipped.append(f"{f.name}: {exc}")
        rolls = [r for r in rolls if r.onset.any() or r.velocity.any()]
        if not rolls:
            raise MusegenError(f"{path}: no notes to learn from" + (f" ({len(self.skipped)} file(s) unreadable)"
                                                                     if self.skipped else ""))
        if len(rolls) == 1:  # one piece: cut it into segments so that some can be held out
            roll, seg = rolls[0], SEGMENT_BEATS * self.steps_per_beat
            rolls = [roll.crop(s, min(s + seg, roll.steps)) for s in range(0, roll.steps, seg)]
            rolls = [r for r in rolls if r.velocity.any()]
        return rolls

    def _read_file(self, f: Path) -> list[Any]:
        from musegen.formats import pianoroll

        if f.suffix.lower() == ".abc":
            from musegen.formats.abc import read_tunes, tune_title
            from musegen.formats.abc.player import abc_to_song

            rolls = []
            for tune in read_tunes(f, clean=True):
                try:
                    song, _ = abc_to_song(tune)
                except MusegenError:
                    continue
                song.title = tune_title(tune)
                rolls.append(pianoroll.song_to_roll(song, steps_per_beat=self.steps_per_beat, drums=self.drums))
            return rolls
        return [pianoroll.midi_to_roll(f, steps_per_beat=self.steps_per_beat, drums=self.drums)]

    def describe(self) -> dict[str, Any]:
        out = {"head": self.head_kind, "steps_per_beat": self.steps_per_beat, "tempo": f"{self.bpm:g} bpm",
               "meter": f"{self.meter[0]}/{self.meter[1]}"}
        if self.skipped:
            out["skipped"] = len(self.skipped)
        return out

    def dump_piece(self, piece: Any) -> dict[str, Any]:
        return {"notes": [list(n) for n in piece.notes()], "steps": piece.steps,
                "tempos": [list(t) for t in piece.tempos], "meters": [list(m) for m in piece.meters],
                "title": piece.title}

    def load_piece(self, data: dict[str, Any]) -> Any:
        from musegen.formats.pianoroll import Roll

        return Roll.from_notes([tuple(n) for n in data["notes"]], steps=int(data["steps"]),
                               steps_per_beat=self.steps_per_beat,
                               tempos=[(float(b), float(t)) for b, t in data["tempos"]],
                               meters=[(float(b), int(n), int(d)) for b, n, d in data["meters"]],
                               title=str(data.get("title", "")))

    def augment(self, pieces: list[Any], *, transpose: tuple[int, ...] = ()) -> list[Any]:
        """The pieces plus each moved by every shift in ``transpose`` (semitones)."""
        out = list(pieces)
        for shift in transpose:
            if shift:
                out.extend(transpose_roll(p, shift) for p in pieces)
        return out

    def bundle_files(self, train: list[Any], valid: list[Any]) -> dict[str, bytes]:
        """``training.json`` (primers, baselines) and ``validation.json`` (held-out pieces), as sparse notes."""
        import json

        return {"training.json": json.dumps([self.dump_piece(p) for p in train]).encode(),
                "validation.json": json.dumps([self.dump_piece(p) for p in valid]).encode()}

    def read_bundle_pieces(self, bundle_path: Path, name: str) -> list[Any]:
        """The pieces stored in a bundle file (``training.json`` or ``validation.json``)."""
        import json

        f = Path(bundle_path) / name
        if not f.is_file():
            raise MusegenError(f"{bundle_path}: the model holds no {name}")
        try:
            return [self.load_piece(d) for d in json.loads(f.read_text())]
        except (ValueError, KeyError, TypeError) as exc:
            raise MusegenError(f"{f}: corrupt ({exc})") from None

    # -- arrays -----------------------------------------------------------------------------------------
    def fit(self, pieces: list[Any]) -> None:
        """Note the corpus's usual tempo and meter (used for generated pieces)."""
        bpms = [t for p in pieces for _, t in p.tempos[:1]]
        self.bpm = float(np.median(bpms)) if bpms else 120.0
        meters = Counter((int(n), int(d)) for p in pieces for _, n, d in p.meters[:1])
        self.meter = meters.most_common(1)[0][0] if meters else (4, 4)

    def encode(self, piece: Any) -> np.ndarray:
        """``[shape=(steps, 384)]`` sounding, onset, velocity / 127 (``roll``) or ``[shape=(steps, 128)]`` (``linear``)."""
        vel = piece.velocity.T.astype(np.float32) / 127.0
        if self.head_kind == "linear":
            return vel
        return np.concatenate([(vel > 0).astype(np.float32), piece.onset.T.astype(np.float32), vel], axis=1)

    def decode(self, array: np.ndarray) -> Any:
        """A piano roll from encoded columns (the inverse of :meth:`encode`), at the corpus's tempo and meter."""
        from musegen.formats.pianoroll import Roll

        a = np.asarray(array, dtype=np.float32)
        if self.head_kind == "linear":
            vel = np.clip(np.round(a * 127.0), 0, 127).astype(np.uint8)
            prev = np.vstack([np.zeros((1, PITCHES), np.uint8), vel[:-1]])
            onset = (vel > 0) & (prev == 0)
        else:
            sound = a[:, :PITCHES] > 0.5
            vel = np.where(sound, np.clip(np.round(a[:, 2 * PITCHES:] * 127.0), 1, 127), 0).astype(np.uint8)
            onset = sound & (a[:, PITCHES:2 * PITCHES] > 0.5)
        return Roll(velocity=np.ascontiguousarray(vel.T), onset=np.ascontiguousarray(onset.T),
                    steps_per_beat=self.steps_per_beat, tempos=[(0.0, self.bpm)],
                    meters=[(0.0, int(self.meter[0]), int(self.meter[1]))])

    def input_spec(self) -> InputSpec:
        return InputSpec("vectors", PITCHES if self.head_kind == "linear" else 3 * PITCHES)

    def head(self) -> OutputSpec:
        return OutputSpec(self.head_kind, PITCHES)

    # -- sampling ---------------------------------------------------------------------------------------
    def encode_primer(self, primer: Any, *, num: int, seed: int) -> np.ndarray:
        """One primer per piece ``[shape=(num, steps, features)]``.

        ``primer`` is ``(rolls, steps)``: a list of piano rolls and the number
        of columns to take.  With one roll, every piece starts from its first
        ``steps`` columns; with several, each piece starts from a window of a
        roll drawn with ``seed`` (random training excerpts).
        """
        rolls, steps = primer
        steps = max(1, int(steps))
        rng = np.random.default_rng(seed)
        out = np.zeros((num, steps, self.input_spec().size), np.float32)
        for i in range(num):
            if len(rolls) == 1:
                roll, start = rolls[0], 0
            else:
                roll = rolls[int(rng.integers(len(rolls)))]
                start = int(rng.integers(0, max(1, roll.steps - steps + 1)))
            cols = self.encode(roll.crop(start, min(roll.steps, start + steps)))
            out[i, steps - len(cols):] = cols  # a short primer is preceded by silence
        return out

    def primer(self, bundle_path: Path, path: str | os.PathLike | None = None, *,
               beats: float = 4.0) -> tuple[list[Any], int]:
        """What :meth:`encode_primer` takes: the first ``beats`` of a MIDI (or ABC) file, or training excerpts.

        A primer file also sets the tempo and meter of the generated pieces.
        """
        steps = max(1, round(beats * self.steps_per_beat))
        if path is None:
            return self.read_bundle_pieces(bundle_path, "training.json"), steps
        path = Path(path)
        if not path.is_file():
            raise MusegenError(f"--primer {path}: no such file")
        if path.suffix.lower() not in CORPUS_SUFFIXES:
            raise MusegenError(f"--primer {path}: not a MIDI or ABC file (.mid, .midi, .abc)")
        rolls = [r for r in self._read_file(path) if r.velocity.any()]
        if not rolls:
            raise MusegenError(f"--primer {path}: no notes")
        roll = rolls[0]
        self.bpm = float(roll.tempos[0][1]) if roll.tempos else self.bpm
        if roll.meters:
            self.meter = (int(roll.meters[0][1]), int(roll.meters[0][2]))
        return [roll.crop(0, min(roll.steps, steps))], steps

    def plan_sampling(self, bundle_path: Path, options: MidiSampleOptions) -> SamplingPlan:
        """The primer file's first beats (it sets tempo and meter) or training excerpts; the length asked for."""
        primer = self.primer(bundle_path, options.primer, beats=options.primer_beats)
        if options.bpm is not None:
            self.bpm = options.bpm
        steps = length_in_steps(steps=options.steps, beats=options.beats, seconds=options.seconds, bpm=self.bpm,
                                steps_per_beat=self.steps_per_beat)
        return SamplingPlan(primer, steps, options.temperature, options={"threshold": options.threshold})

    def summary_row(self, piece: dict[str, Any]) -> tuple[str, ...]:
        return piece["title"], str(piece["notes"]), f"{piece['notes_per_second']:.2f}", f"{piece['polyphony']:.2f}"

    def summary_title(self, result: Any, plan: SamplingPlan) -> str:
        return (f"{len(result.pieces)} piece(s): {result.tokens} columns in {result.seconds:.2f} s "
                f"(threshold {plan.options['threshold']:g}, temperature {plan.temperature:g})")

    def postprocess(self, piece: Any, *, index: int) -> tuple[Any, dict[str, Any]]:
        """Summary statistics; a silent piece does not pass (another candidate is kept if there is one)."""
        from musegen.metrics import roll_statistics

        stats = roll_statistics(piece)
        return piece, {"title": f"midi_{index}", **stats, "valid": stats["notes"] > 0}

    def write_format(self, piece: Any, path: Path, fmt: str, options: Any) -> None:
        from musegen.formats import ROLL_WRITERS

        ROLL_WRITERS[fmt](piece, path, options)

    # -- bundle -----------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "head": self.head_kind, "steps_per_beat": self.steps_per_beat,
                "drums": self.drums, "bpm": self.bpm, "meter": list(self.meter)}

    def set_config(self, config: dict[str, Any]) -> None:
        try:
            self.__init__(MidiSettings(head=config["head"], steps_per_beat=int(config["steps_per_beat"]),
                                       drums=bool(config.get("drums", False))))
            self.bpm = float(config.get("bpm", 120.0))
            num, den = config.get("meter", (4, 4))
            self.meter = (int(num), int(den))
        except (KeyError, TypeError, ValueError, UsageError) as exc:
            raise MusegenError(f"representation.json: not a midi representation ({exc})") from None

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, probe: Any, target: str, options: MidiEvaluateOptions) -> dict[str, Any]:
        """Validation loss next to two baselines, and musical statistics of samples against the corpus.

        ``target`` (a corpus) is read with the model's settings and split as
        in training, so the model's own corpus gives back its held-out pieces.
        The losses are per column (time step): the head's loss, and for every
        head the squared error of the expected velocity (``P(sounding)`` times
        velocity; the study's MSE) in velocity units.  Baselines: ``repeat``
        (the previous column again) and ``average`` (each pitch's training
        average).  Then ``samples`` pieces of ``beats`` beats are generated at
        ``threshold`` (and at each of ``thresholds``), and MusPy's statistics
        are compared with the corpus's.
        """
        from musegen.metrics import roll_statistics

        pieces, train, valid = probe.held_out(target)
        t0 = time.perf_counter()
        baselines = RollBaselines(np.concatenate([self.encode(p) for p in train]), PITCHES)
        predictors = {kind: (lambda prev, kind=kind: baselines.predict(kind, prev)) for kind in ("repeat", "average")}
        loss_terms = probe.head_loss("roll") if self.head_kind == "roll" else None
        steps, means = probe.held_out_scores(valid, predictors,
                                             lambda pred, target, prev: roll_scores(pred, target, prev, loss_terms))
        result: dict[str, Any] = {"corpus": str(target), "model": str(probe.bundle.path), "head": self.head_kind,
                                  "pieces": len(pieces), "valid_pieces": len(valid), "valid_columns": steps, **means}
        result["beats_both_baselines"] = bool(result["loss"] < min(result["repeat_loss"], result["average_loss"]))
        result["seconds"] = round(time.perf_counter() - t0, 3)
        result["corpus_stats"] = mean_stats([roll_statistics(p) for p in pieces])
        result["corpus_max_polyphony"] = max_polyphony(pieces)
        if options.samples:
            primer = self.primer(probe.bundle.path, None, beats=options.primer_beats)
            length = max(1, round(options.beats * self.steps_per_beat))
            for t in (options.threshold, *options.extra_thresholds()):
                gen = probe.generate(num=options.samples, temperature=options.temperature, max_length=length,
                                     primer=self.encode_primer(primer, num=options.samples, seed=probe.seed),
                                     threshold=t)
                stats = [roll_statistics(p) for p in gen.pieces]
                key = "samples" if t == options.threshold else f"samples_at_{t:g}"
                result[key] = {"threshold": t, "temperature": options.temperature, **mean_stats(stats),
                               "silent_rate": float(np.mean([s["notes"] == 0 for s in stats])),
                               "max_polyphony": max_polyphony(gen.pieces),
                               "columns_per_second": round(gen.tokens / gen.seconds, 1) if gen.seconds else None}
            result["samples_within_30pct"] = {
                k: bool(abs(result["samples"][k] / result["corpus_stats"][k] - 1) <= 0.3)
                for k in ("notes_per_second", "polyphony") if result["corpus_stats"].get(k)}
        return result


def max_polyphony(rolls: list[Any]) -> int:
    """The most pitches sounding at once in any of ``rolls``."""
    return int(max(int((p.velocity > 0).sum(axis=0).max(initial=0)) for p in rolls))


def mean_stats(stats: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each statistic over pieces (NaN, e.g. of a silent piece, left out); notes summed."""
    out: dict[str, float] = {"notes": int(sum(s["notes"] for s in stats))}
    for key in ROLL_STATS:
        vals = [s[key] for s in stats if not np.isnan(s[key])]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    return out


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


class RollBaselines:
    """Two predictors of the next column, fitted on the training columns.

    ``repeat``: the previous column again (sounding stays sounding with the
    training rate of that, a held note keeps its velocity); ``average``: each
    pitch's training average, whatever came before.
    """

    def __init__(self, train: np.ndarray, n: int) -> None:
        prev, nxt = train[:-1], train[1:]
        self.n = n
        if train.shape[1] == n:  # linear head: velocities only
            self.mean_vel = train.mean(axis=0)
            return
        ps, s = prev[:, :n] > 0.5, nxt[:, :n] > 0.5
        self.stay = s[ps].mean() if ps.any() else 0.5  # P(sounding | sounding before)
        self.start = s[~ps].mean() if (~ps).any() else 0.01  # P(sounding | silent before)
        both = ps & s
        self.restrike = (nxt[:, n:2 * n][both] > 0.5).mean() if both.any() else 0.1
        self.p_sound = np.clip(train[:, :n].mean(axis=0), 1e-6, 1)
        sounding = train[:, :n] > 0.5
        self.p_onset = np.clip((train[:, n:2 * n] * sounding).sum(0) / np.maximum(1, sounding.sum(0)), 1e-3, 1 - 1e-3)
        onsets = train[:, n:2 * n] > 0.5
        overall = train[:, 2 * n:][onsets].mean() if onsets.any() else 0.6
        self.onset_vel = np.where(onsets.sum(0) > 0, (train[:, 2 * n:] * onsets).sum(0) / np.maximum(1, onsets.sum(0)),
                                  overall)
        self.mean_vel = train[:, 2 * n:].mean(axis=0)  # expected velocity, silence counted as 0

    def predict(self, kind: str, prev: np.ndarray) -> np.ndarray:
        """Head outputs ``[shape like the model's]`` predicting each column after ``prev``."""
        n = self.n
        if prev.shape[1] == n:
            return prev if kind == "repeat" else np.broadcast_to(self.mean_vel, prev.shape)
        ps = prev[:, :n] > 0.5
        if kind == "repeat":
            sound = np.where(ps, self.stay, self.start)
            onset = np.where(ps, self.restrike, 1.0)
            vel = np.where(ps, prev[:, 2 * n:], self.onset_vel)
        else:
            sound = np.broadcast_to(self.p_sound, ps.shape)
            onset = np.broadcast_to(self.p_onset, ps.shape)
            vel = np.broadcast_to(self.onset_vel, ps.shape)
        return np.concatenate([logit(sound), logit(onset), vel], axis=1)


def roll_scores(pred: np.ndarray, target: np.ndarray, prev: np.ndarray, loss_terms) -> dict[str, float]:
    """Per column: the head's loss (and its parts) and the expected-velocity error in velocity units squared.

    ``loss_terms`` is the roll head's loss in NumPy form (None for the linear head).
    """
    n = PITCHES
    if target.shape[1] == n:  # linear head
        mse = float(np.mean(np.square(pred - target)))
        return {"loss": mse, "velocity_mse": mse * 127.0 ** 2}
    total, sound, onset, vel = loss_terms(np, target, pred)
    ps = prev[:, :n] > 0.5
    p = 1.0 / (1.0 + np.exp(-pred[:, :n]))
    expected = p * np.where(ps, prev[:, 2 * n:], np.clip(pred[:, 2 * n:], 0, 1)) * 127.0
    return {"loss": float(total.mean()), "sounding_nats": float(sound.mean()), "onset_nats": float(onset.mean()),
            "velocity_error": float(vel.mean()),
            "velocity_mse": float(np.mean(np.square(expected - target[:, 2 * n:] * 127.0)))}
