"""The note network: one step per note, the pair (pitch id, duration id); two softmaxes predict the next.

Input ``token_pairs`` (the embeddings of both ids side by side), head
``pair_softmax`` (the cross-entropies of pitch and duration, summed).  The
sampler draws a duration only among those that fit what remains of the
measure, so every generated measure is complete.  A training piece's last
measure is announced by a mark (the pair ``(final, final)``, see
:func:`~.notes.mark_last_measure`), which the sampler feeds before the last
measure it generates: the network learns how tunes end (on the tonic, 85%
of the jigs) and ends there.  The mark is read, never drawn, and not counted
as a note in the loss.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from musegen.formats.melody import GRID, Melody
from musegen.formats.theory import meter_length
from musegen.representations.score.notes import (FINAL_PITCH, PrimedRows, Variant, bar_aligned_notes, draw,
                                                 grid_steps, mark_last_measure, nats, notes_to_melody)


class NoteVariant(Variant):
    """One step per note: ``[shape=(notes + 1, 2)]`` (pitch id, duration id), the header (key id, meter id) first."""

    name: ClassVar[str] = "note"
    preset: ClassVar[str] = "note"
    input_kind: ClassVar[str] = "token_pairs"
    head_kind: ClassVar[str] = "pair_softmax"
    pitch_then_duration: ClassVar[bool] = False  # the network reads the pitch drawn before it gives the duration

    def encode(self, melody: Melody, *, key=None, meter=None, final: bool = True) -> np.ndarray:
        """The header pair, then a pair per note; with ``final`` (a whole piece, not a primer) the mark
        before its last measure."""
        rep = self.rep
        first = melody.measures[0] if melody.measures else None
        header = (rep.key_id(key or first.key), rep.meter_id(meter or first.meter))
        notes = bar_aligned_notes(melody)
        if final and melody.measures:
            notes = mark_last_measure(notes, melody.measures[-1].length)
        pairs = [header] + [(rep.final_id,) * 2 if p == FINAL_PITCH else (rep.pitch_id(p), rep.duration_id(d))
                            for p, d in notes]
        return np.asarray(pairs, dtype=np.int32).reshape(-1, 2)

    def decode(self, array: np.ndarray) -> Melody:
        pairs = np.asarray(array, dtype=np.int64).reshape(-1, 2)
        if not len(pairs):
            return Melody([])
        rep = self.rep
        key, meter = rep.header_of(int(pairs[0, 0]), int(pairs[0, 1]))
        notes = [rep.note_of(int(p), int(d)) for p, d in pairs[1:]]
        return notes_to_melody([n for n in notes if n is not None], meter=meter, key=key)

    def step_input(self, pitch: np.ndarray, duration: np.ndarray) -> np.ndarray:
        """What the network reads after a note is drawn: the pair."""
        return np.stack([pitch, duration], axis=1)

    def sample(self, net: Any, rows: PrimedRows, *, measures: int, temperature: float, rng: np.random.Generator,
               progress: Any = None) -> tuple[list[Melody], int]:
        """Notes, each duration drawn among those that fit the measure.

        The note network gives a pitch and a duration per step (two
        softmaxes); the series network (:attr:`pitch_then_duration`) reads the
        pitch drawn before it gives the duration.  Before its last measure
        each piece reads the mark that the last measure begins (both ids
        ``final``) instead of a drawn note.
        """
        rep = self.rep
        num, vocab = len(rows), rep.vocab_size
        pitches = np.zeros((1, vocab), bool)
        pitches[0, rep.rest_id:rep.duration_base] = True
        pitches[0, rep.final_id] = False
        steps = rep.duration_steps()
        expected = np.array([grid_steps(meter_length(m)) for m in rows.meters])
        left, done = expected.copy(), np.zeros(num, int)
        marked = np.zeros(num, bool)
        notes: list[list[tuple[int | None, Any]]] = [[] for _ in range(num)]
        out, made = net.feed(rows.arrays), 0
        while (done < measures).any():
            active = done < measures
            mark = active & ~marked & (done == measures - 1) & (left == expected)  # the last measure begins
            marked |= mark
            pitch = np.where(mark, rep.final_id, draw(out[:, :vocab], pitches, temperature, rng))
            if self.pitch_then_duration:
                out = net.step(pitch)
            fits = (steps[None, :] > 0) & (steps[None, :] <= left[:, None])
            dur = draw(out[:, -vocab:], fits, temperature, rng)
            stuck = ~fits.any(axis=1)  # no duration of the vocabulary fits: the note fills the measure
            units = np.where(mark, 0, np.where(stuck, left, steps[dur]))
            dur = np.array([rep.final_id if mark[i] else rep.duration_id(left[i] * GRID) if stuck[i] else dur[i]
                            for i in range(num)])
            for i in np.flatnonzero(active & ~mark):
                notes[i].append((rep.note_of(int(pitch[i]), int(dur[i]))[0], units[i] * GRID))
            left = np.where(active, left - units, left)
            finished = active & (left == 0)
            done, left = done + finished, np.where(finished, expected, left)
            if progress is not None and done.min() > made:
                progress(int(done.min()) - made)
                made = int(done.min())
            out = net.step(self.step_input(pitch, dur))
        pieces = []
        for i in range(num):
            prefix = bar_aligned_notes(rows.prefixes[i]) if rows.prefixes[i] is not None else []
            melody = notes_to_melody(prefix + notes[i], meter=rows.meters[i], key=rows.keys[i])
            pieces.append(rep.finish(melody, rows, i))
        return pieces, sum(len(n) for n in notes) * (2 if self.pitch_then_duration else 1)

    def loss(self, outputs: np.ndarray, array: np.ndarray) -> tuple[float, int, int]:
        """Nats of every note of a note-network array (the pitch's plus the duration's), the notes, the measures
        (the mark of the last measure is read, not predicted: left out)."""
        target, vocab = array[1:], self.rep.vocab_size
        total = nats(outputs[:, :vocab], target[:, 0]) + nats(outputs[:, vocab:], target[:, 1])
        notes = target[:, 0] != self.rep.final_id
        return float(total[notes].sum()), int(notes.sum()), 0
