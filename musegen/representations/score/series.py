"""The series network: the notes as one token stream, pitch then duration then pitch..., one softmax.

Input ``tokens``, head ``softmax``.  It samples as the note network does
(:class:`~.note.NoteVariant`), reading the pitch drawn before it gives the
duration.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from musegen.formats.melody import Melody
from musegen.representations.score.note import NoteVariant
from musegen.representations.score.notes import nats


class SeriesVariant(NoteVariant):
    """The notes as one token stream ``[shape=(2 * (notes + 1),)]``: key, meter, pitch, duration, pitch..."""

    name: ClassVar[str] = "series"
    preset: ClassVar[str] = "series"
    input_kind: ClassVar[str] = "tokens"
    head_kind: ClassVar[str] = "softmax"
    pitch_then_duration: ClassVar[bool] = True

    def encode(self, melody: Melody, *, key=None, meter=None, final: bool = True) -> np.ndarray:
        return super().encode(melody, key=key, meter=meter, final=final).ravel()

    def decode(self, array: np.ndarray) -> Melody:
        ids = np.asarray(array).ravel()
        return super().decode(ids[: len(ids) // 2 * 2])

    def step_input(self, pitch: np.ndarray, duration: np.ndarray) -> np.ndarray:
        """The pitch was read already: the duration."""
        return duration

    def loss(self, outputs: np.ndarray, array: np.ndarray) -> tuple[float, int, int]:
        """Nats of every pitch and duration token of a series array (the header's key and meter and the mark of
        the last measure aside), the notes."""
        target = np.asarray(array[2:])  # the first target is the meter: part of the header
        total = nats(outputs, array[1:])[1:]
        notes = target != self.rep.final_id
        return float(total[notes].sum()), int(notes.sum()) // 2, 0
