"""How closely musegen's ABC player agrees with abc2midi.

Each tune is converted twice, with the real ``abc2midi`` and with
:func:`musegen.formats.abc.player.abc_to_song`; the melodies are compared note
by note on (onset, pitch), an onset matching when it lies within a small
tolerance (abc2midi starts every note one tick late); the notes of a chord,
which abc2midi starts ten ticks apart, are given the chord's onset.  The score
of a tune is the F1 of the two note lists.

abc2midi writes the melody (first voice) on the first track that holds notes;
the accompaniment of chord symbols goes to a separate "gchord" track on other
channels, so only that first track is compared with musegen's channel 0.

With ``--bars`` the bar lengths are compared instead: abc2midi's warnings
``Bar N has X time units while the time signature has Y [in repeat]`` against
:func:`musegen.formats.abc.player.bar_lengths` (what ``musegen``'s checker
judges by), tune by tune, on every tune abc2midi reads.

Usage::

    .venv/bin/python bench/abc2midi_agreement.py                 # all Nottingham files but jigs
    .venv/bin/python bench/abc2midi_agreement.py corpora/x.abc   # given files
    .venv/bin/python bench/abc2midi_agreement.py --worst 20 --tol 0.08
    .venv/bin/python bench/abc2midi_agreement.py --bars corpora/jigs/jigs.abc corpora/nottingham/*.abc
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from musegen.errors import MusegenError  # noqa: E402
from musegen.formats.abc import header_field, read_abc_text, split_tunes  # noqa: E402
from musegen.formats.abc.player import abc_to_song, bar_lengths  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "nottingham"
CHORD_STAGGER = 10  # ticks between the notes of a chord in abc2midi's output


@dataclass
class TuneResult:
    file: str
    ref: str
    title: str
    f1: float
    n_ref: int
    n_ours: int
    note: str = ""


def abc2midi_melody(tune: str, workdir: Path, name: str, *, timeout: float = 20) -> list[tuple[float, int]] | None:
    """Melody (onset in beats, pitch) of abc2midi's rendering, or None when it writes no (readable) file."""
    import mido

    src = workdir / f"{name}.abc"
    out = workdir / f"{name}.mid"
    src.write_text(tune, encoding="utf-8")
    try:
        subprocess.run(
            ["abc2midi", str(src), "-o", str(out), "-quiet"], capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    if not out.exists():
        return None
    try:
        mid = mido.MidiFile(out, clip=True)
    except (OSError, EOFError, ValueError, KeyError, IndexError):
        return None  # abc2midi sometimes writes a broken file for a broken tune
    tpb = mid.ticks_per_beat
    for track in mid.tracks:
        notes = []
        tick = 0
        onset = last_on = -CHORD_STAGGER - 1
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                # abc2midi starts each further note of a chord CHORD_STAGGER ticks
                # after the previous one: a chain of such notes shares one onset
                if tick - last_on > CHORD_STAGGER:
                    onset = tick
                last_on = tick
                notes.append((onset / tpb, msg.note))
        if notes:
            return notes
    return []


def musegen_melody(tune: str) -> list[tuple[float, int]]:
    song, _ = abc_to_song(tune, chords=False)
    return [(n.start, n.pitch) for n in song.notes if n.channel == 0]


def f1_score(ref: list[tuple[float, int]], ours: list[tuple[float, int]], *, tol: float) -> float:
    """F1 of two note lists matched on pitch and onset (within ``tol`` beats), greedily in time order."""
    if not ref and not ours:
        return 1.0
    if not ref or not ours:
        return 0.0
    by_pitch: dict[int, tuple[list[float], list[float]]] = {}
    for t, p in ref:
        by_pitch.setdefault(p, ([], []))[0].append(t)
    for t, p in ours:
        by_pitch.setdefault(p, ([], []))[1].append(t)
    matched = 0
    for a, b in by_pitch.values():
        a.sort()
        b.sort()
        i = j = 0
        while i < len(a) and j < len(b):
            if abs(a[i] - b[j]) <= tol:
                matched += 1
                i += 1
                j += 1
            elif a[i] < b[j]:
                i += 1
            else:
                j += 1
    return 2 * matched / (len(ref) + len(ours))


def compare_file(path: Path, *, tol: float, jobs: int) -> list[TuneResult]:
    tunes = split_tunes(read_abc_text(path))
    results: list[TuneResult | None] = [None] * len(tunes)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)

        def one(i: int) -> None:
            tune = tunes[i]
            ref_no = header_field(tune, "X", "?")
            title = header_field(tune, "T", "")
            ref = abc2midi_melody(tune, workdir, f"t{i}")
            if ref is None:
                results[i] = TuneResult(path.name, ref_no, title, float("nan"), 0, 0, "abc2midi wrote nothing")
                return
            try:
                ours = musegen_melody(tune)
                note = ""
            except MusegenError as exc:
                ours, note = [], f"musegen: {exc}"
            results[i] = TuneResult(path.name, ref_no, title, f1_score(ref, ours, tol=tol), len(ref), len(ours), note)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, range(len(tunes))))
    return [r for r in results if r is not None]


BAR_WARNING = re.compile(r"Bar (\d+) has (\S+) time units while the time signature has (\d+)( in repeat)?")


def abc2midi_bar_warnings(tune: str, workdir: Path, name: str, *, timeout: float = 20) -> list[str] | None:
    """abc2midi's bar-length warnings on a tune (without its ``Track N`` prefix), or None when it reads no tune."""
    src = workdir / f"{name}.abc"
    out = workdir / f"{name}.mid"
    src.write_text(tune, encoding="utf-8")
    try:
        proc = subprocess.run(["abc2midi", src.name, "-o", out.name], cwd=workdir, capture_output=True, text=True,
                              errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if not out.exists():
        return None
    return sorted({m.group(0) for m in BAR_WARNING.finditer(proc.stdout + proc.stderr)})


def compare_bars(files: list[Path], *, jobs: int, worst: int) -> int:
    """Tune by tune, abc2midi's bar-length warnings against musegen's; print the agreement."""
    tunes = [(path.name, tune) for path in files for tune in split_tunes(read_abc_text(path))]
    rows: list[tuple[str, str, list[str] | None, list[str]]] = []
    with tempfile.TemporaryDirectory() as tmp:

        def one(i: int) -> tuple[str, str, list[str] | None, list[str]]:
            name, tune = tunes[i]
            theirs = abc2midi_bar_warnings(tune, Path(tmp), f"t{i}")
            try:
                ours = sorted({w.message() for w in bar_lengths(tune)})
            except MusegenError as exc:
                ours = [f"musegen: {exc}"]
            return name, header_field(tune, "X", "?"), theirs, ours

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            rows = list(pool.map(one, range(len(tunes))))
    read = [r for r in rows if r[2] is not None]
    same = [r for r in read if r[2] == r[3]]
    verdict = [r for r in read if bool(r[2]) == bool(r[3])]
    warned = [r for r in read if r[2]]
    print(f"{len(read)} tunes abc2midi reads (of {len(rows)}); it warns about bar lengths in {len(warned)}")
    print(f"same warnings (bar numbers, lengths, 'in repeat'): {len(same)} ({100 * len(same) / max(1, len(read)):.1f}%)")
    print(f"same verdict (some warning or none): {len(verdict)} ({100 * len(verdict) / max(1, len(read)):.1f}%)")
    for name, ref, theirs, ours in [r for r in read if r[2] != r[3]][:worst]:
        print(f"  {name}:X{ref}  abc2midi {theirs}  musegen {ours}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="ABC files (default: Nottingham files except jigs.abc)")
    ap.add_argument("--tol", type=float, default=0.08, help="onset tolerance in beats (default 0.08)")
    ap.add_argument("--worst", type=int, default=10, help="how many of the worst tunes to list (default 10)")
    ap.add_argument("--jobs", type=int, default=8, help="abc2midi processes in parallel (default 8)")
    ap.add_argument("--bars", action="store_true", help="compare bar-length warnings instead of melodies")
    args = ap.parse_args(argv)
    if shutil.which("abc2midi") is None:
        print("abc2midi is not installed (Debian/Ubuntu: apt-get install abcmidi)", file=sys.stderr)
        return 2
    files = args.files or sorted(p for p in CORPUS.glob("*.abc") if p.name != "jigs.abc")
    if not files:
        print(f"no ABC files found (looked in {CORPUS})", file=sys.stderr)
        return 2
    if args.bars:
        return compare_bars(files, jobs=args.jobs, worst=args.worst)
    all_results: list[TuneResult] = []
    started = time.perf_counter()
    header = f"{'file':<16} {'tunes':>5} {'mean F1':>8} {'min F1':>7} {'exact':>6} {'notes a2m':>10} {'notes ours':>10}"
    print(header)
    print("-" * len(header))
    for path in files:
        results = compare_file(path, tol=args.tol, jobs=args.jobs)
        scored = [r for r in results if r.f1 == r.f1]  # drop NaN (abc2midi wrote nothing)
        all_results.extend(results)
        if not scored:
            print(f"{path.name:<16} {len(results):>5} {'-':>8}")
            continue
        mean = sum(r.f1 for r in scored) / len(scored)
        exact = sum(r.f1 == 1.0 for r in scored)
        print(
            f"{path.name:<16} {len(scored):>5} {mean:>8.4f} {min(r.f1 for r in scored):>7.3f} {exact:>6}"
            f" {sum(r.n_ref for r in scored):>10} {sum(r.n_ours for r in scored):>10}"
        )
    scored = [r for r in all_results if r.f1 == r.f1]
    print("-" * len(header))
    if scored:
        mean = sum(r.f1 for r in scored) / len(scored)
        exact = sum(r.f1 == 1.0 for r in scored)
        print(f"{'overall':<16} {len(scored):>5} {mean:>8.4f} {min(r.f1 for r in scored):>7.3f} {exact:>6}")
    skipped = [r for r in all_results if r.f1 != r.f1]
    if skipped:
        print(
            f"\n{len(skipped)} tunes skipped (abc2midi wrote no readable MIDI): "
            + ", ".join(f"{r.file}:X{r.ref}" for r in skipped[:10])
        )
    worst = sorted(scored, key=lambda r: r.f1)[: args.worst]
    worst = [r for r in worst if r.f1 < 1.0]
    if worst:
        print(f"\nworst tunes (of {len(scored)}):")
        for r in worst:
            extra = f"  [{r.note}]" if r.note else ""
            print(f"  {r.f1:6.3f}  {r.file}:X{r.ref:<4} {r.title[:40]:<40} a2m {r.n_ref:>4} ours {r.n_ours:>4}{extra}")
    print(f"\n{len(all_results)} tunes in {time.perf_counter() - started:.1f} s (tolerance {args.tol} beats)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
