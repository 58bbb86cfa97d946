"""What a listener checks in a generated score's key: the key music21 hears, the notes in the written scale, the end.

The judge is music21's key analysis (``Score.analyze('key')``: the
Krumhansl-Schmuckler algorithm with music21's default, Aarden-Essen, key
profiles).  A score *agrees* with its key signature when the key heard has
that many sharps or flats (a relative major or minor agrees: they share the
signature).  On the Nottingham jigs (``corpora/jigs``) 92.9% of the tunes
agree, 98.5% of the notes' duration lies in the written scale and 84.7% of
the tunes end on their tonic (``bench/score_quality.py``).
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from typing import Any

from musegen.formats.melody import Melody, melody_notes
from musegen.formats.theory import MODES, NAME_ACCIDENTAL_TEXT, fold, key_name, spell


def tonic_class(key: tuple[int, str]) -> int:
    """The pitch class (0 = C) of a key's tonic: ``(1, "major")`` -> 7 (G), ``(0, "minor")`` -> 9 (A)."""
    fifths, mode = key
    return fold(7 * (fifths + MODES.get(mode, 0))) % 12


def scale_classes(fifths: int) -> frozenset[int]:
    """The seven pitch classes of a key signature's scale (the same for every mode of it)."""
    return frozenset(fold(7 * (fifths + k)) % 12 for k in range(-1, 6))


def written_key(melody: Melody) -> tuple[int, str]:
    """The key signature the melody starts with (C major for an empty one)."""
    return melody.measures[0].key if melody.measures else (0, "major")


def in_scale_share(melody: Melody) -> float:
    """Share of the notes' duration on the written key's scale (each measure's own signature); NaN without notes."""
    total = inside = Fraction(0)
    for m in melody.measures:
        scale = scale_classes(m.fifths)
        for e in m.events:
            if e.pitch is not None:
                total += e.duration
                inside += e.duration if e.pitch % 12 in scale else 0
    return float(inside / total) if total else float("nan")


def last_pitch(melody: Melody) -> int | None:
    notes = melody_notes(melody)
    return notes[-1][2] if notes else None


def ends_on_tonic(melody: Melody) -> bool:
    """True when the last note is the tonic of the last measure's key."""
    pitch = last_pitch(melody)
    return pitch is not None and pitch % 12 == tonic_class(melody.measures[-1].key)


def heard_key(melody: Melody) -> tuple[int, str] | None:
    """The key music21's analysis hears in the melody, as ``(fifths, mode)``; None without notes."""
    if last_pitch(melody) is None:
        return None
    from musegen.formats.melody import melody_to_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = melody_to_score(melody).analyze("key")
    return int(found.sharps), str(found.mode)


def spelled(pitch: int, key: tuple[int, str]) -> str:
    """A pitch's name as the key spells it, without octave: ``F#``, ``Bb``."""
    letter, alter, _ = spell(pitch, *key)
    return letter + NAME_ACCIDENTAL_TEXT.get(alter, "")


def moved_to_key(melody: Melody, *, shift: int, target: tuple[int, str], made_in: tuple[int, str]) -> Melody:
    """A melody made in the key ``made_in`` moved by ``shift`` semitones into ``target``, whose key signature it is
    then written with (when the modes agree)."""
    from musegen.formats.melody import transpose_melody

    if shift:
        melody = transpose_melody(melody, shift)
    if made_in[1] == target[1]:
        for m in melody.measures:
            m.fifths, m.mode = target
    return melody


def key_label(key: tuple[int, str] | None) -> str:
    """``G major``, ``E minor``; ``-`` for None."""
    return " ".join(key_name(*key)) if key is not None else "-"


def key_report(melody: Melody) -> dict[str, Any]:
    """The written key, the key heard and whether they agree, the in-scale share, the tonic ending."""
    written, heard = written_key(melody), heard_key(melody)
    return {"key": key_label(written), "key_heard": key_label(heard),
            "key_agrees": heard is not None and heard[0] == written[0],
            "in_scale": in_scale_share(melody), "ends_on_tonic": ends_on_tonic(melody)}
