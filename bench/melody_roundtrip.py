"""Melody round trips: how many pieces come back exactly, how long reading takes, how many measures are full.

Run: .venv/bin/python bench/melody_roundtrip.py [--limit N] [--corpus jigs|bach|all]

For each piece of the 340 Nottingham jigs (corpora/jigs, read tune by tune
from ABC) and of the Bach chorales bundled with music21 (``music21:bach``,
the soprano, from MusicXML): the melody is read, written as ABC, MusicXML
and MIDI, and read back; a round trip counts when the melody read back is
equal to the first one (pitches, durations, ties, measures, meters, keys).
"ABC plays it" counts the pieces whose written ABC, played by musegen's ABC
player, gives the melody's notes (onsets and pitches).  Times are per piece,
on this machine; "full measures" is the share of measures whose notes and
rests fill their meter (pickups, bars before second endings and last bars are
not).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]


def jig_pieces(limit: int | None) -> list[tuple[str, Callable]]:
    from musegen.formats.abc import read_tunes, tune_title
    from musegen.formats.melody import abc_to_melody

    tunes = read_tunes(ROOT / "corpora" / "jigs" / "jigs.abc")[:limit]
    return [(tune_title(t), lambda t=t: abc_to_melody(t)) for t in tunes]


def bach_pieces(limit: int | None) -> list[tuple[str, Callable]]:
    from musegen.formats.melody import corpus_files, read_musicxml_melody

    return [(p.name, lambda p=p: read_musicxml_melody(p)) for p in corpus_files("music21:bach")[:limit]]


# corpus name -> (how it is read, its pieces).  Add an entry here.
CORPORA: dict[str, tuple[str, Callable[[int | None], list[tuple[str, Callable]]]]] = {
    "jigs": ("ABC", jig_pieces),
    "bach": ("MusicXML", bach_pieces),
}


def measure(pieces: list[tuple[str, Callable]], tmp: Path) -> dict:
    from musegen.errors import MusegenError
    from musegen.formats.abc.player import abc_to_song
    from musegen.formats.melody import (
        abc_to_melody,
        melody_notes,
        melody_to_abc,
        read_midi_melody,
        read_musicxml_melody,
        write_melody,
    )

    trips = {
        "ABC": lambda m: abc_to_melody(melody_to_abc(m)),
        "MusicXML": lambda m: read_musicxml_melody(write_melody(m, tmp / "m.musicxml", fmt="musicxml", force=True)),
        "MIDI": lambda m: read_midi_melody(write_melody(m, tmp / "m.mid", fmt="mid", force=True)),
    }
    r = {"pieces": len(pieces), "read": 0, "failed": [], "read_s": 0.0, "measures": 0, "full": 0, "plays": 0,
         **{name: 0 for name in trips}, **{name + "_s": 0.0 for name in trips}, "misses": {n: [] for n in trips}}
    for title, read in pieces:
        start = time.perf_counter()
        try:
            melody = read()
        except MusegenError as exc:
            r["failed"].append(f"{title}: {exc}")
            continue
        r["read_s"] += time.perf_counter() - start
        r["read"] += 1
        r["measures"] += len(melody.measures)
        r["full"] += sum(m.is_full() for m in melody.measures)
        for name, trip in trips.items():
            start = time.perf_counter()
            try:
                same = trip(melody) == melody
            except MusegenError:
                same = False
            r[name + "_s"] += time.perf_counter() - start
            r[name] += same
            if not same:
                r["misses"][name].append(title)
        song, _ = abc_to_song(melody_to_abc(melody), chords=False)
        want = [(float(a), p) for a, _, p in melody_notes(melody)]
        r["plays"] += [(n.start, n.pitch) for n in song.notes] == want
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pieces of each corpus")
    args = parser.parse_args()
    names = list(CORPORA) if args.corpus == "all" else [args.corpus]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            source, pieces = CORPORA[name]
            results[name] = (source, measure(pieces(args.limit), Path(tmp)))

    def pct(n: int, d: int) -> str:
        return f"{n}/{d} ({100 * n / d:.1f}%)" if d else "n/a"

    def ms(s: float, n: int) -> str:
        return f"{1000 * s / n:.0f} ms" if n else "n/a"

    print(f"{'corpus':<8} {'read from':<9} {'read':>9} {'ABC trip':>17} {'MusicXML trip':>17} {'MIDI trip':>17} "
          f"{'ABC plays it':>17} {'full measures':>19}")
    for name, (source, r) in results.items():
        n, read = r["read"], f"{r['read']}/{r['pieces']}"
        print(f"{name:<8} {source:<9} {read:>9} {pct(r['ABC'], n):>17} {pct(r['MusicXML'], n):>17} "
              f"{pct(r['MIDI'], n):>17} {pct(r['plays'], n):>17} {pct(r['full'], r['measures']):>19}")
    print(f"\n{'corpus':<8} {'read':>8} {'ABC trip':>9} {'MusicXML trip':>14} {'MIDI trip':>10}   (time per piece)")
    for name, (_, r) in results.items():
        n = r["read"]
        print(f"{name:<8} {ms(r['read_s'], n):>8} {ms(r['ABC_s'], n):>9} {ms(r['MusicXML_s'], n):>14} "
              f"{ms(r['MIDI_s'], n):>10}")
    for name, (_, r) in results.items():
        for why in r["failed"][:5]:
            print(f"{name}: not read: {why}")
        for trip, titles in r["misses"].items():
            if titles:
                print(f"{name}: {trip} round trip differs for {len(titles)}: {', '.join(titles[:6])}")


if __name__ == "__main__":
    main()
