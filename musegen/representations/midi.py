"""A MIDI piano roll: 128 pitches by time steps on a grid in beats."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.errors import MusegenError, UsageError
from musegen.representations.base import InputSpec, OutputSpec, Representation

PITCHES = 128
MIDI_SUFFIXES = (".mid", ".midi")
CORPUS_SUFFIXES = (*MIDI_SUFFIXES, ".abc")
SEGMENT_BEATS = 32  # a corpus of one piece is cut into segments this long, so some can be held out


def corpus_files(path: Path) -> list[Path]:
    """A file, or the MIDI and ABC files under a folder (sorted)."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CORPUS_SUFFIXES)
    if not files:
        raise MusegenError(f"{path}: no .mid, .midi or .abc files in this folder")
    return files


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
    heads: ClassVar[tuple[str, ...]] = ("roll", "linear")

    def __init__(self, *, head: str = "roll", steps_per_beat: int = 4, drums: bool = False) -> None:
        if head not in self.heads:
            raise UsageError(f"unknown midi head {head!r}; choose one of {', '.join(self.heads)}")
        if not 1 <= int(steps_per_beat) <= 96:
            raise UsageError(f"--steps-per-beat must be between 1 and 96, got {steps_per_beat}")
        self.head_kind = head
        self.steps_per_beat = int(steps_per_beat)
        self.drums = bool(drums)
        # corpus statistics, used for generated pieces
        self.bpm = 120.0
        self.meter = (4, 4)
        self.skipped: list[str] = []

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> MidiRepresentation:
        known = {"head", "steps_per_beat", "drums"}
        return cls(**{k: v for k, v in settings.items() if k in known})

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
            from musegen.formats.abcparse import abc_to_song

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

    def postprocess(self, piece: Any, *, index: int) -> tuple[Any, dict[str, Any]]:
        """Summary statistics; a silent piece does not pass (another candidate is kept if there is one)."""
        from musegen.metrics import roll_statistics

        stats = roll_statistics(piece)
        return piece, {"title": f"midi_{index}", **stats, "valid": stats["notes"] > 0}

    def write(self, piece: Any, stem: Path, *, formats: tuple[str, ...], force: bool = False) -> list[Path]:
        from musegen.formats import ROLL_WRITERS, ConvertOptions

        paths = []
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            ROLL_WRITERS[fmt](piece, path, ConvertOptions(force=force))
            paths.append(path)
        return paths

    # -- bundle -----------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "head": self.head_kind, "steps_per_beat": self.steps_per_beat,
                "drums": self.drums, "bpm": self.bpm, "meter": list(self.meter)}

    def set_config(self, config: dict[str, Any]) -> None:
        try:
            self.__init__(head=config["head"], steps_per_beat=int(config["steps_per_beat"]),
                          drums=bool(config.get("drums", False)))
            self.bpm = float(config.get("bpm", 120.0))
            num, den = config.get("meter", (4, 4))
            self.meter = (int(num), int(den))
        except (KeyError, TypeError, ValueError, UsageError) as exc:
            raise MusegenError(f"representation.json: not a midi representation ({exc})") from None
