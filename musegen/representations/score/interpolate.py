"""Interpolation between two melodies through the measure network's code book (MusicVAE's signature).

Each melody is moved to C major / A minor... (as the network learns it), its
pickup left out, and each of its measures coded: its posterior over the code
book's codes, ``log p(code) + log p(measure | code)``.  Step ``s`` of ``N``
(``t = s / (N - 1)``) weighs the codes by the blend ``(1 - t)`` of measure
``i`` of A's posterior and ``t`` of B's, and writes measure ``i`` as the
likeliest measure (of a training rhythm) of the codes so weighed: step 1 is
A as the code book rebuilds it, step N is B, and the steps between move
measure by measure from one to the other.  The first half is written in A's
key, the second in B's (or in ``key`` for all).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musegen.errors import MusegenError, UsageError
from musegen.formats.melody import Melody
from musegen.formats.theory import meter_length
from musegen.representations.score.keys import moved_to_key
from musegen.representations.score.notes import grid_steps, has_notes, melody_slot_rows, slots_to_melody

MAX_STEPS = 64  # scores one interpolation may write


@dataclass
class Endpoint:
    """One end of an interpolation: the melody read, its full measures' slot rows (in the learnt key)."""

    path: Path
    melody: Melody
    rows: np.ndarray


def read_endpoint(rep, path: str | Path, *, label: str) -> Endpoint:
    """The first melody of ``path`` (MusicXML, ABC or MIDI) as an :class:`Endpoint`; refused in one line when it
    cannot be read, has no notes, or has a measure longer than the code book's."""
    from musegen.fileio import check_input
    from musegen.formats.melody import read_melodies

    path = Path(path)
    try:
        check_input(path)
        if not path.is_file():
            raise MusegenError(f"{path}: not a file")
        melody = read_melodies(path)[0]
    except MusegenError as exc:
        text = str(exc)
        raise MusegenError(f"{label}: {text if str(path) in text else f'{path}: {text}'}") from None
    if not has_notes(melody):
        raise MusegenError(f"{label}: {path}: the melody has no notes")
    full = Melody(melody.measures[int(bool(melody.pickup)):], melody.title)
    codec = rep.codec
    for m in full.measures:
        if grid_steps(m.expected) > codec.slots:
            raise MusegenError(f"{label}: {path}: a {m.numerator}/{m.denominator} measure is longer than any "
                               f"this model learned")
    rows = melody_slot_rows(rep.relative(full), slots=codec.slots, lo=rep.lo, hi=rep.hi)
    return Endpoint(path, melody, rows)


def check_steps(steps: int) -> None:
    """Refuse a number of scores an interpolation cannot write (2..:data:`MAX_STEPS`)."""
    if not 2 <= steps <= MAX_STEPS:
        raise UsageError(f"--steps must be 2..{MAX_STEPS}, got {steps}")


def interpolate(rep, a: Endpoint, b: Endpoint, *, steps: int, key: tuple[int, str] | None = None) -> list[Melody]:
    """``steps`` melodies moving measure by measure from ``a`` to ``b`` (see the module's text)."""
    check_steps(steps)
    meters = (a.melody.measures[-1].meter, b.melody.measures[-1].meter)
    if meter_length(meters[0]) != meter_length(meters[1]):
        raise MusegenError(f"A is in {meters[0][0]}/{meters[0][1]} and B in {meters[1][0]}/{meters[1][1]}: "
                           "an interpolation moves measure by measure, in one meter")
    count = min(len(a.rows), len(b.rows))
    if count < 1:
        raise MusegenError("A or B has no full measure to interpolate")
    codec = rep.codec
    posterior = [codec.likelihoods(e.rows[:count]) + codec.log_prior for e in (a, b)]
    lengths = np.full(count, grid_steps(meter_length(meters[0])))
    slots = np.exp(codec.log_slots)  # [shape=(codes, slots, classes)]
    melodies = []
    for s in range(steps):
        t = s / (steps - 1)
        blend = (1 - t) * posterior[0] + t * posterior[1]  # [shape=(measures, codes)]
        weights = np.exp(blend - blend.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        probs = np.einsum("mk,ksc->msc", weights, slots)
        grid = codec.choose(np.log(np.maximum(probs, 1e-30)), lengths=lengths)
        end = a if t < 0.5 else b
        target = key or end.melody.measures[0].key
        model_key, shift = rep.nearest_key(target)
        melody = slots_to_melody(grid, lo=rep.lo, meters=[meters[0]] * count, keys=[model_key] * count)
        melody.title = f"{a.melody.title or a.path.stem} to {b.melody.title or b.path.stem}, {s + 1} of {steps}"
        melodies.append(moved_to_key(melody, shift=shift, target=target, made_in=model_key))
    return melodies
