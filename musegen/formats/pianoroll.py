"""MIDI piano rolls: one 128-pitch matrix of velocities on a fixed grid of steps.

A :class:`Roll` holds two matrices of the same shape ``(128, T)``: ``velocity``
(0 where silent, else the velocity of the note sounding there) and ``onset``
(True where a note starts).  The onset flags keep repeated notes apart: two
quarter notes C C are two notes, not one half note, which a plain on/off matrix
could not tell.  Tempo and time-signature changes are kept as beat positions,
so a MIDI file survives ``MIDI -> roll -> MIDI`` with every onset (on the grid),
pitch and velocity.

Rolls are saved as ``.npz`` files with ``kind = "pianoroll"``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musegen.errors import MusegenError, UsageError
from musegen.fileio import atomic_path
from musegen.fileio import input_file, output_errors
from musegen.formats.midi import (
    DEFAULT_BPM,
    DRUM_CHANNEL,
    Note,
    Song,
    check_bpm,
    check_meter,
    read_midi,
    write_midi,
)
from musegen.limits import MAX_ROLL_STEPS

PITCHES = 128
KIND = "pianoroll"
MAX_STEPS_PER_BEAT = 96
# the arrays of a piano-roll .npz file besides "kind": key -> (numpy dtype kinds allowed, number of dimensions)
NPZ_KEYS: dict[str, tuple[str, int]] = {
    "velocity": ("u", 2),
    "onset": ("b", 2),
    "steps_per_beat": ("iu", 0),
    "tempos": ("fiu", 2),
    "meters": ("fiu", 2),
    "title": ("U", 0),
}
# the most bytes each array of a piano-roll .npz file may hold once decompressed (checked from its header):
# a 128 x MAX_ROLL_STEPS matrix, at most one tempo or meter per column, a title of a few pages
NPZ_BYTES: dict[str, int] = {"velocity": PITCHES * MAX_ROLL_STEPS, "onset": PITCHES * MAX_ROLL_STEPS,
                             "steps_per_beat": 8, "tempos": 2 * 8 * MAX_ROLL_STEPS, "meters": 3 * 8 * MAX_ROLL_STEPS,
                             "title": 4 * 10_000}


def check_steps(steps: int, source: str = "the piano roll has") -> int:
    """``steps`` when a roll of that many columns fits :data:`~musegen.limits.MAX_ROLL_STEPS`.

    Else a one-line refusal with the figure: ``"{source} 2,000,000 piano-roll
    columns, more than the 1,000,000 allowed"``.
    """
    if steps > MAX_ROLL_STEPS:
        raise MusegenError(f"{source} {steps:,} piano-roll columns, more than the {MAX_ROLL_STEPS:,} allowed")
    return int(steps)


def check_steps_per_beat(steps_per_beat: int) -> int:
    """Return ``steps_per_beat`` if it is a whole number in 1..96, else a one-line UsageError."""
    if isinstance(steps_per_beat, bool) or not isinstance(steps_per_beat, (int, np.integer)) \
            or not 1 <= steps_per_beat <= MAX_STEPS_PER_BEAT:
        raise UsageError(f"--steps-per-beat must be a whole number from 1 to {MAX_STEPS_PER_BEAT} "
                         f"(12 for triplets), got {steps_per_beat!r}")
    return int(steps_per_beat)


def to_step(beats: float | np.ndarray, steps_per_beat: int) -> np.ndarray:
    """The nearest grid step of a time in beats (halves round up).

    Parameters
    ----------
    beats : float or np.ndarray [shape=(n,)]
        Times in quarter-note beats.
    steps_per_beat : int

    Returns
    -------
    np.ndarray [shape=(n,) or ()], int64
    """
    return np.floor(np.asarray(beats, dtype=np.float64) * steps_per_beat + 0.5).astype(np.int64)


@dataclass
class Roll:
    """A piano roll: velocities and onsets of 128 pitches on a grid of steps.

    Parameters
    ----------
    velocity : np.ndarray [shape=(128, T)], uint8
        Velocity (1..127) of the note sounding at each step, 0 where silent.
    onset : np.ndarray [shape=(128, T)], bool
        True where a note starts.  A step that sounds after a silent one starts
        a note even without its flag.
    steps_per_beat : int
        Steps per quarter-note beat (4: sixteenth notes; 12: also triplets).
    tempos : list of (beat, bpm)
        Sorted by beat.
    meters : list of (beat, numerator, denominator)
        Sorted by beat.
    title : str
    """

    velocity: np.ndarray
    onset: np.ndarray
    steps_per_beat: int = 4
    tempos: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, DEFAULT_BPM)])
    meters: list[tuple[float, int, int]] = field(default_factory=lambda: [(0.0, 4, 4)])
    title: str = ""

    def __post_init__(self) -> None:
        self.steps_per_beat = check_steps_per_beat(self.steps_per_beat)
        velocity = np.asarray(self.velocity)
        onset = np.asarray(self.onset, dtype=bool)
        if velocity.ndim != 2 or velocity.shape[0] != PITCHES or onset.shape != velocity.shape:
            raise MusegenError(f"a piano roll needs velocity and onset arrays of shape (128, T), "
                               f"got {velocity.shape} and {onset.shape}")
        check_steps(velocity.shape[1])
        if velocity.size and (velocity.min() < 0 or velocity.max() > 127):
            raise MusegenError(f"piano-roll velocities must lie in 0..127, got {velocity.min()}..{velocity.max()}")
        self.velocity = velocity.astype(np.uint8, copy=False)
        self.onset = onset & (self.velocity > 0)  # an onset on a silent step means nothing
        if len(self.tempos) + len(self.meters) > MAX_ROLL_STEPS:
            raise MusegenError(f"{len(self.tempos):,} tempos and {len(self.meters):,} meters: more than the "
                               f"{MAX_ROLL_STEPS:,} allowed")
        self.tempos = sorted((float(b), float(bpm)) for b, bpm in self.tempos) or [(0.0, DEFAULT_BPM)]
        self.meters = sorted((float(b), int(n), int(d)) for b, n, d in self.meters) or [(0.0, 4, 4)]
        for b, bpm in self.tempos:
            if not np.isfinite(b):
                raise MusegenError(f"a tempo at beat {b}: beats must be finite")
            check_bpm(bpm, b)
        for b, n, d in self.meters:
            if not np.isfinite(b):
                raise MusegenError(f"a meter at beat {b}: beats must be finite")
            check_meter(n, d)

    @property
    def steps(self) -> int:
        """Number of time steps T."""
        return int(self.velocity.shape[1])

    @property
    def beats(self) -> float:
        """Length in quarter-note beats."""
        return self.steps / self.steps_per_beat

    def notes(self) -> list[tuple[int, int, int, int]]:
        """The notes of the roll.

        Each onset flag, or a silent-to-sounding step, starts a note that lasts
        until the next onset of its pitch or the next silent step.

        Returns
        -------
        list of (start_step, end_step, pitch, velocity)
            Sorted by (start, pitch); the velocity is the one at the onset step.
        """
        width = self.steps + 1  # a silent column after each row ends its last note
        sounding = np.zeros((PITCHES, width), dtype=bool)
        sounding[:, :-1] = self.velocity > 0
        before = np.zeros_like(sounding)
        before[:, 1:] = sounding[:, :-1]
        starts_mask = sounding & ~before
        starts_mask[:, :-1] |= self.onset
        starts_mask &= sounding
        starts = np.flatnonzero(starts_mask)
        del starts_mask
        # a note ends at the next start of its row or where the row falls silent, whichever comes first
        np.logical_not(sounding, out=sounding)
        np.logical_and(before, sounding, out=before)
        bounds = np.union1d(starts, np.flatnonzero(before))
        del sounding, before
        ends = bounds[np.searchsorted(bounds, starts, side="right")]
        pitch, start = np.divmod(starts, width)
        end = ends - pitch * width
        velocity = self.velocity[pitch, start]
        order = np.lexsort((pitch, start))
        return [(int(s), int(e), int(p), int(v))
                for s, e, p, v in zip(start[order], end[order], pitch[order], velocity[order])]

    @classmethod
    def from_notes(
        cls,
        notes: Iterable[Sequence[int]],
        *,
        steps: int | None = None,
        steps_per_beat: int = 4,
        tempos: list[tuple[float, float]] | None = None,
        meters: list[tuple[float, int, int]] | None = None,
        title: str = "",
    ) -> Roll:
        """Paint notes ``(start_step, end_step, pitch, velocity)`` into a roll.

        Where two notes of one pitch overlap, the later onset ends the earlier
        note; notes with the same onset and pitch (a unison doubling) become
        one, as long as the longest and as loud as the loudest.  Notes of zero
        length last one step; notes past ``steps`` are cut.

        Parameters
        ----------
        notes : iterable of (int, int, int, int)
        steps : int, optional
            Number of steps T; default: up to the end of the last note.
        steps_per_beat, tempos, meters, title
            As in :class:`Roll`.
        """
        arr = np.array([tuple(n[:4]) for n in notes], dtype=np.int64).reshape(-1, 4)
        start, end, pitch, vel = arr.T
        end = np.maximum(end, start + 1)
        if arr.size and (pitch.min() < 0 or pitch.max() >= PITCHES):
            raise MusegenError(f"note pitches must lie in 0..127, got {pitch.min()}..{pitch.max()}")
        keep = (start >= 0) & (vel > 0)
        start, end, pitch, vel = start[keep], end[keep], pitch[keep], np.minimum(vel[keep], 127)
        # sort by pitch then onset; notes with the same onset and pitch (a unison doubling) become one
        order = np.lexsort((start, pitch))
        start, end, pitch, vel = start[order], end[order], pitch[order], vel[order]
        if pitch.size:
            first = np.flatnonzero(np.r_[True, (pitch[1:] != pitch[:-1]) | (start[1:] != start[:-1])])
            end, vel = np.maximum.reduceat(end, first), np.maximum.reduceat(vel, first)
            start, pitch = start[first], pitch[first]
        # a note ends where the next one of its pitch starts
        same = pitch[:-1] == pitch[1:]
        end[:-1][same] = np.minimum(end[:-1][same], start[1:][same])
        if steps is None:
            steps = int(end.max()) if end.size else 0
        check_steps(steps, "the notes make")
        end = np.minimum(end, steps)
        velocity = np.zeros((PITCHES, steps), dtype=np.uint8)
        onset = np.zeros((PITCHES, steps), dtype=bool)
        for s, e, p, v in zip(start.tolist(), end.tolist(), pitch.tolist(), vel.tolist()):
            if e > s:
                velocity[p, s:e] = v
                onset[p, s] = True
        return cls(velocity, onset, steps_per_beat=steps_per_beat, tempos=list(tempos or [(0.0, DEFAULT_BPM)]),
                   meters=list(meters or [(0.0, 4, 4)]), title=title)

    def crop(self, start: int, stop: int) -> Roll:
        """Steps ``[start, stop)`` as a new roll.

        Notes sounding across an edge are cut there (a note cut at ``start``
        starts at step 0); the tempo and meter in effect at ``start`` move to
        beat 0 and later changes shift with it.
        """
        stop = min(int(stop), self.steps)
        start = int(start)
        if not 0 <= start <= stop:
            raise UsageError(f"cannot crop steps [{start}, {stop}) from a roll of {self.steps} steps")
        velocity = self.velocity[:, start:stop].copy()
        onset = self.onset[:, start:stop].copy()
        if onset.shape[1]:
            onset[:, 0] |= velocity[:, 0] > 0
        offset = start / self.steps_per_beat
        return Roll(velocity, onset, steps_per_beat=self.steps_per_beat, tempos=_shift(self.tempos, offset),
                    meters=_shift(self.meters, offset), title=self.title)


def _shift(events: list[tuple], offset: float) -> list[tuple]:
    """Events (beat, ...) seen from ``offset``: the one in effect there moves to 0, earlier ones go."""
    before = [e for e in events if e[0] <= offset]
    out = [(0.0, *before[-1][1:])] if before else []
    return out + [(e[0] - offset, *e[1:]) for e in events if e[0] > offset]


# -- MIDI ---------------------------------------------------------------------------------------------------


def song_to_roll(song: Song, *, steps_per_beat: int = 4, drums: bool = False) -> Roll:
    """Put the notes of every track of ``song`` on one 128-pitch grid.

    Parameters
    ----------
    song : Song
        Times in quarter-note beats.
    steps_per_beat : int
        1..96; 4 puts notes on sixteenths, 12 (or 6, 24) keeps triplets.
    drums : bool
        Keep the notes of the drum channel (channel index 9), left out by default.

    Returns
    -------
    Roll
        Onset step ``round(start * steps_per_beat)``, end step at least one
        step later; the tempo and meter maps of the song.
    """
    steps_per_beat = check_steps_per_beat(steps_per_beat)
    notes = [n for n in song.notes if drums or n.channel != DRUM_CHANNEL]
    end = max((max(n.start, n.end) for n in notes), default=0.0)
    if not np.isfinite(end) or end * steps_per_beat + 0.5 > MAX_ROLL_STEPS:  # before any array is made
        check_steps(MAX_ROLL_STEPS + 1 if not np.isfinite(end) else int(end * steps_per_beat + 0.5),
                    f"notes up to beat {end:,.10g} at {steps_per_beat} steps a beat make")
    starts = to_step([n.start for n in notes], steps_per_beat)
    ends = np.maximum(starts + 1, to_step([n.end for n in notes], steps_per_beat))
    return Roll.from_notes(
        zip(starts.tolist(), ends.tolist(), (n.pitch for n in notes), (n.velocity for n in notes)),
        steps_per_beat=steps_per_beat, tempos=song.tempos, meters=song.meters, title=song.title,
    )


def roll_to_song(roll: Roll, *, program: int = 0) -> Song:
    """The notes of ``roll`` as a one-channel song (channel 0, General MIDI ``program``)."""
    if not 0 <= program <= 127:
        raise UsageError(f"program must lie in 0..127, got {program}")
    spb = roll.steps_per_beat
    notes = [Note(s / spb, e / spb, p, v, 0) for s, e, p, v in roll.notes()]
    return Song(notes=notes, tempos=list(roll.tempos), meters=list(roll.meters), programs={0: program},
                title=roll.title)


def midi_to_roll(path: str | os.PathLike, *, steps_per_beat: int = 4, drums: bool = False) -> Roll:
    """Read a MIDI file (format 0 or 1) as a piano roll; see :func:`song_to_roll`.

    A file whose notes would need more than :data:`~musegen.limits.MAX_ROLL_STEPS`
    columns is refused before any roll is allocated.
    """
    steps_per_beat = check_steps_per_beat(steps_per_beat)
    song = read_midi(path, drums=drums)
    try:
        return song_to_roll(song, steps_per_beat=steps_per_beat, drums=drums)
    except MusegenError as exc:
        raise MusegenError(f"{path}: {exc}") from None


def roll_to_midi(roll: Roll, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``roll`` as a type-1 MIDI file (one piano track), atomically."""
    return write_midi(roll_to_song(roll), path, force=force)


# -- .npz files ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_npz(path: str | os.PathLike) -> Iterator[np.lib.npyio.NpzFile]:
    """Open an ``.npz`` file without pickles, or fail with one line; closed on leaving.

    Nothing is decompressed here: check a member's size with :func:`npz_header`
    before reading it.
    """
    path = input_file(path)
    with open(path, "rb") as f:  # our own file object: closed even when numpy fails half way
        try:
            data = np.load(f, allow_pickle=False)
        except Exception:  # zipfile, zlib, pickle refusal, format errors...
            raise MusegenError(f"{path}: not a readable .npz file") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise MusegenError(f"{path}: a single .npy array, not an .npz file of named arrays")
        with data:
            yield data


def npz_header(data: np.lib.npyio.NpzFile, key: str, path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of the member ``key`` of an open ``.npz`` file, read without decompressing its data.

    Raises
    ------
    MusegenError
        When the member is missing or its header unreadable.
    """
    if key not in data.files:
        raise MusegenError(f"{path}: the .npz file has no {key!r} array")
    try:
        with data.zip.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
    except Exception:  # noqa: BLE001 - zipfile, zlib and numpy raise many kinds on corrupt members
        raise MusegenError(f"{path}: the {key!r} array of the .npz file is corrupt") from None
    return tuple(int(n) for n in shape), dtype


def npz_array(data: np.lib.npyio.NpzFile, key: str, path: str | os.PathLike, *, most_bytes: int) -> np.ndarray:
    """The member ``key`` of an open ``.npz`` file, refused before decompression when it exceeds ``most_bytes``."""
    shape, dtype = npz_header(data, key, path)
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > most_bytes:
        raise MusegenError(f"{path}: the {key!r} array of shape {shape} holds {size:,} bytes, more than the "
                           f"{most_bytes:,} allowed")
    return _array(data, key, Path(path))


def _array(data: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return data[key]
    except KeyError:
        raise MusegenError(f"{path}: the .npz file has no {key!r} array") from None
    except Exception:
        raise MusegenError(f"{path}: the {key!r} array of the .npz file is corrupt") from None


def _kind(data: np.lib.npyio.NpzFile, path: Path) -> str:
    shape, dtype = npz_header(data, "kind", path)
    if dtype.kind != "U" or shape != () or dtype.itemsize > 4096:
        raise MusegenError(f"{path}: the 'kind' of the .npz file is not a string")
    return str(_array(data, "kind", path))


def npz_kind(path: str | os.PathLike) -> str:
    """What an ``.npz`` file holds: its ``kind`` string ("pianoroll", "frames"...), or a one-line error."""
    path = Path(path)
    with open_npz(path) as data:
        return _kind(data, path)


def read_roll(path: str | os.PathLike) -> Roll:
    """Read a piano roll written by :func:`write_roll`.

    Raises
    ------
    MusegenError
        One line when the file is missing, not an ``.npz`` file, or not a
        piano roll (missing keys, wrong shapes or types, another kind).
    """
    path = Path(path)
    with open_npz(path) as data:
        kind = _kind(data, path)
        if kind != KIND:
            raise MusegenError(f"{path}: a {kind!r} .npz file, not a piano roll")
        shape, _ = npz_header(data, "velocity", path)
        if len(shape) == 2:  # refused before the matrix is decompressed
            check_steps(shape[1], f"{path}: the roll has")
        arrays = {key: npz_array(data, key, path, most_bytes=NPZ_BYTES[key]) for key in NPZ_KEYS}
    for key, (dtype_kinds, ndim) in NPZ_KEYS.items():
        a = arrays[key]
        if a.dtype.kind not in dtype_kinds or a.ndim != ndim:
            raise MusegenError(f"{path}: the {key!r} array has type {a.dtype} and {a.ndim} dimension(s), "
                               "not a piano roll's")
    velocity, onset = arrays["velocity"], arrays["onset"]
    tempos, meters = arrays["tempos"], arrays["meters"]
    if velocity.dtype != np.uint8 or velocity.shape[0] != PITCHES or onset.shape != velocity.shape \
            or tempos.shape[1:] != (2,) or meters.shape[1:] != (3,):
        raise MusegenError(f"{path}: arrays of the wrong shape for a piano roll (velocity {velocity.shape}, "
                           f"onset {onset.shape}, tempos {tempos.shape}, meters {meters.shape})")
    try:
        return Roll(velocity, onset, steps_per_beat=int(arrays["steps_per_beat"]),
                    tempos=[(b, bpm) for b, bpm in tempos.tolist()],
                    meters=[(b, int(n), int(d)) for b, n, d in meters.tolist()], title=str(arrays["title"]))
    except MusegenError as exc:
        raise MusegenError(f"{path}: {exc}") from None


def write_roll(roll: Roll, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Save ``roll`` as a compressed ``.npz`` file (kind "pianoroll"), atomically.

    The file holds ``kind``, ``velocity`` (uint8 [shape=(128, T)]), ``onset``
    (bool [shape=(128, T)]), ``steps_per_beat``, ``tempos`` (float
    [shape=(k, 2)]: beat, bpm), ``meters`` (float [shape=(k, 3)]: beat,
    numerator, denominator) and ``title``.
    """
    arrays = {
        "kind": np.str_(KIND),  # written first: readers dispatch on it
        "velocity": roll.velocity.astype(np.uint8, copy=False),
        "onset": roll.onset.astype(bool, copy=False),
        "steps_per_beat": np.int64(roll.steps_per_beat),
        "tempos": np.array(roll.tempos, dtype=np.float64).reshape(-1, 2),
        "meters": np.array(roll.meters, dtype=np.float64).reshape(-1, 3),
        "title": np.str_(roll.title),
    }
    with output_errors(path), atomic_path(path, force=force) as tmp, open(tmp, "wb") as f:  # no ".npz" appended
        np.savez_compressed(f, **arrays)
    return Path(path)


# -- evaluation ---------------------------------------------------------------------------------------------


def note_f1(reference: Iterable[Sequence], estimate: Iterable[Sequence], *, onset_tolerance: float = 0.0) -> dict:
    """Precision, recall and F1 of estimated notes against reference notes.

    Notes are tuples whose first two items are (onset, pitch); further items
    are ignored.  Each side is reduced to its unique (onset, pitch) pairs, and
    pairs are matched one to one: same pitch, onsets at most
    ``onset_tolerance`` apart (in the unit of the onsets).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (1.0 when both sides are empty),
        ``reference``, ``estimate`` and ``matched`` counts.
    """
    ref = sorted({(float(n[0]), int(n[1])) for n in reference})
    est = sorted({(float(n[0]), int(n[1])) for n in estimate})
    if onset_tolerance <= 0:
        matched = len(set(ref) & set(est))
    else:
        matched = _match_onsets(ref, est, onset_tolerance + 1e-9)
    if not ref and not est:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "reference": 0, "estimate": 0, "matched": 0}
    precision = matched / len(est) if est else 0.0
    recall = matched / len(ref) if ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "reference": len(ref), "estimate": len(est),
            "matched": matched}


def _match_onsets(ref: list[tuple[float, int]], est: list[tuple[float, int]], tolerance: float) -> int:
    """Most one-to-one matches of sorted onsets, pitch by pitch (greedy is optimal on a line)."""
    def by_pitch(pairs: list[tuple[float, int]]) -> dict[int, list[float]]:
        out: dict[int, list[float]] = {}
        for onset, pitch in pairs:
            out.setdefault(pitch, []).append(onset)
        return out

    est_by_pitch = by_pitch(est)
    matched = 0
    for pitch, onsets in by_pitch(ref).items():
        other = est_by_pitch.get(pitch, [])
        j = 0
        for onset in onsets:
            while j < len(other) and other[j] < onset - tolerance:
                j += 1
            if j < len(other) and other[j] <= onset + tolerance:
                matched += 1
                j += 1
    return matched
