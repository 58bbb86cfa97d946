"""Note F1 of MIDI -> piano roll -> MIDI on real MIDI files not used in development.

Run: ``.venv/bin/python bench/roll_roundtrip.py [--limit N] [--steps-per-beat 4 12]``

Sources: every Bach chorale bundled with music21 (``corpus.chorales.Iterator``),
written to MIDI by music21 into a temporary folder, and every ``.mid`` file
bundled inside the music21 package.  Each file goes through musegen's
``midi_to_roll`` then ``roll_to_midi``.  Both files are then read by a small
mido reader written here (independent of musegen's), drums left out: the
reference notes are the original's onsets put on the grid (nearest step), the
estimate the round trip's; F1 counts unique (onset in beats, pitch) pairs that
agree exactly.  Columns: ``notes`` (note_on events of the originals),
``on grid`` (the share of them starting exactly on a step: the rest move to
the nearest one), ``pairs`` (unique (onset, pitch) pairs once on the grid:
unison doublings and notes the grid brings together count once), mean and
lowest F1 per file, ``velocity`` (the share of matched pairs whose velocities
agree; where one pair holds several velocities, the loudest), time of the
round trips.  Target: mean F1 >= 0.99.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DRUM_CHANNEL = 9


def onsets(path: Path, steps_per_beat: int) -> tuple[dict[tuple[float, int], int], int, int]:
    """Read the note_on events of ``path`` with mido (drums out).

    Returns (onset in beats on the grid, pitch) -> loudest velocity, the number
    of notes and how many of them start exactly on a grid step.
    """
    import mido

    mid = mido.MidiFile(path, clip=True)
    out: dict[tuple[float, int], int] = {}
    count = on_grid = 0
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0 and msg.channel != DRUM_CHANNEL:
                exact = tick * steps_per_beat / mid.ticks_per_beat
                step = int(np.floor(exact + 0.5))
                key = (step / steps_per_beat, msg.note)
                out[key] = max(out.get(key, 0), msg.velocity)
                count += 1
                on_grid += exact == step
    return out, count, on_grid


def chorale_midis(folder: Path, limit: int | None) -> tuple[list[Path], list[str], float]:
    """Write the Bach chorales of the music21 corpus as MIDI files.

    Returns the files, one line per chorale music21 could not write, and the seconds spent.
    """
    from music21 import corpus

    start = time.perf_counter()
    paths, failed = [], []
    for i, score in enumerate(corpus.chorales.Iterator()):
        if limit is not None and i >= limit:
            break
        path = folder / f"chorale_{i + 1:03d}.mid"
        try:
            score.write("midi", fp=str(path))
        except Exception as exc:  # music21 fails on a few (badly formed repeats)
            failed.append(f"chorale {i + 1} ({score.metadata.title if score.metadata else '?'}): "
                          f"{type(exc).__name__}: {exc}")
            continue
        paths.append(path)
    return paths, failed, time.perf_counter() - start


def bundled_midis() -> list[Path]:
    """Every .mid file inside the installed music21 package."""
    import music21

    root = Path(music21.__file__).parent
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi"))


def round_trip(paths: list[Path], folder: Path, steps_per_beat: int) -> dict:
    from musegen.errors import MusegenError
    from musegen.formats.pianoroll import midi_to_roll, note_f1, roll_to_midi

    f1s, names, skipped = [], [], []
    notes = on_grid = pairs = velocity_ok = matched = 0
    start = time.perf_counter()
    for path in paths:
        try:
            roll = midi_to_roll(path, steps_per_beat=steps_per_beat)
        except MusegenError as exc:
            skipped.append(str(exc))
            continue
        back = roll_to_midi(roll, folder / f"{path.stem}.{steps_per_beat}.rt.mid", force=True)
        (ref, count, exact), (est, _, _) = onsets(path, steps_per_beat), onsets(back, steps_per_beat)
        f1s.append(note_f1(ref, est)["f1"])
        names.append(path.name)
        notes, on_grid, pairs = notes + count, on_grid + exact, pairs + len(ref)
        common = ref.keys() & est.keys()
        matched += len(common)
        velocity_ok += sum(ref[k] == est[k] for k in common)
    return {"files": len(f1s), "notes": notes, "on_grid": on_grid / max(notes, 1), "pairs": pairs,
            "f1": np.array(f1s), "names": names, "skipped": skipped,
            "velocity": velocity_ok / matched if matched else float("nan"), "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="at most this many chorales")
    parser.add_argument("--steps-per-beat", type=int, nargs="+", default=[4, 12])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        chorales, failed, write_seconds = chorale_midis(folder, args.limit)
        sources = {"Bach chorales (music21 -> MIDI)": chorales, "music21 bundled .mid files": bundled_midis()}
        print(f"wrote {len(chorales)} chorales as MIDI with music21 in {write_seconds:.1f} s; "
              f"music21 could not write {len(failed)}:")
        for line in failed:
            print("  " + line)
        print(f"{'source':<32} {'spb':>4} {'files':>6} {'notes':>7} {'on grid':>8} {'pairs':>7} {'mean F1':>8} "
              f"{'min F1':>7} {'velocity':>9} {'time':>7}")
        worst = []
        for name, paths in sources.items():
            for spb in args.steps_per_beat:
                r = round_trip(paths, folder, spb)
                f1 = r["f1"]
                print(f"{name:<32} {spb:>4} {r['files']:>6} {r['notes']:>7} {100 * r['on_grid']:>7.2f}% "
                      f"{r['pairs']:>7} {f1.mean():>8.4f} {f1.min():>7.4f} {100 * r['velocity']:>8.2f}% "
                      f"{r['seconds']:>6.1f}s")
                worst += [f"{name}, spb {spb}: {p} F1 {x:.4f}" for p, x in zip(r["names"], f1) if x < 0.99]
                worst += [f"{name}, spb {spb}: skipped: {s}" for s in r["skipped"]]
        print("target: mean F1 >= 0.99")
        for line in worst:
            print("  " + line)


if __name__ == "__main__":
    main()
