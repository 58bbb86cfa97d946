"""Speed of the built-in synthesizer: render time and real-time factor.

Run: ``python bench/synth_speed.py [--minutes 3] [--notes 2000] [--rate 44100]``

Two generated songs of the same length and note count are rendered:
``folk`` (a jig-like melody on channel 0 with chords on channel 1, durations
on a grid and a few velocities, so many notes repeat exactly) and
``random`` (random pitches, lengths, velocities and programs on 4 channels
with drums: the worst case, nothing repeats).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from musegen.formats.midi import Note, Song
from musegen.formats.synth import render_song


def folk_song(minutes: float, notes: int, seed: int = 0) -> Song:
    """A 6/8 melody of eighth notes plus a chord every dotted quarter, ``notes`` notes in all."""
    rng = np.random.default_rng(seed)
    beats = minutes * 60 * 120 / 60  # 120 bpm
    n_chords = notes // 4
    n_melody = notes - 3 * n_chords // 3
    step = beats / n_melody
    scale = np.array([62, 64, 66, 67, 69, 71, 73, 74, 76, 78, 79, 81])
    out, deg = [], 4
    for i in range(n_melody):
        deg = int(np.clip(deg + rng.integers(-2, 3), 0, len(scale) - 1))
        out.append(Note(i * step, (i + 1) * step, int(scale[deg]), int(rng.choice([70, 85, 100])), 0))
    roots = [50, 55, 57, 52]
    span = beats / (n_chords // 3)
    for i in range(n_chords // 3):
        root = roots[i % 4]
        for p in (root, root + 4, root + 7):
            out.append(Note(i * span, (i + 1) * span, p, 60, 1))
    return Song(notes=out, tempos=[(0.0, 120.0)], programs={})


def random_song(minutes: float, notes: int, seed: int = 1) -> Song:
    rng = np.random.default_rng(seed)
    beats = minutes * 60 * 2
    starts = np.sort(rng.uniform(0, beats - 2, notes))
    out = []
    for s in starts:
        ch = int(rng.choice([0, 1, 2, 3, 9]))
        out.append(Note(float(s), float(s + rng.uniform(0.1, 2.0)), int(rng.integers(36, 96)),
                        int(rng.integers(30, 127)), ch))
    return Song(notes=out, tempos=[(0.0, 100.0), (beats / 2, 140.0)],
                programs={0: 40, 1: 0, 2: 48, 3: 21})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--notes", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=44100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    render_song(Song(notes=[Note(0, 1, 69)]), sample_rate=args.rate)  # warm the table caches
    print(f"{'song':8} {'notes':>6} {'audio s':>8} {'render s':>9} {'x real time':>12}")
    for name, make in (("folk", folk_song), ("random", random_song)):
        song = make(args.minutes, args.notes)
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            audio = render_song(song, sample_rate=args.rate)
            best = min(best, time.perf_counter() - t0)
        seconds = len(audio) / args.rate
        print(f"{name:8} {len(song.notes):6d} {seconds:8.1f} {best:9.2f} {seconds / best:12.0f}")


if __name__ == "__main__":
    main()
