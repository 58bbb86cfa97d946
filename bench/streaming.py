"""Memory and time of prepare + one epoch as the corpus grows (issue 15: corpora larger than memory).

Run: .venv/bin/python bench/streaming.py [--hours 5 10 20] [--repeats 1 16] [--batch-size 64]

Two series, each command a whole process (`musegen prepare`, then
`musegen train --epochs 1`), with a fresh cache for each size:

- audio, `--preset tiny` (codes): the 340 shipped jigs rendered as audio
  (about 5 hours), then with the same jigs transposed (+2, then -3 and +5
  semitones) added as further files: 5, 10 and 20 hours;
- abc, `--preset tiny`: the 1,034 Nottingham tunes (corpora/jigs and
  corpora/nottingham), repeated 1 and 16 times as separate files.

`--batch-size` (default 64) is the one change to the tiny presets, so that an
epoch of 20 hours stays a few minutes.  For each size it prints the steps
prepared, the shards, the wall-clock seconds and the peak resident memory of
each process (``ru_maxrss`` of the process, from ``os.wait4``), and the ratios
to the smallest size: time should grow with the corpus, peak memory should not.
Target: prepare + one epoch on 20 hours in at most 1.5x the peak of 5 hours,
and under 3 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHIFTS = (0, 2, -3, 5)  # the jigs as they are, then transposed: one more 5-hour copy each


def measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``musegen ARGS``: its seconds, its peak resident memory in MB, its stdout (exits on failure)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "musegen", *args], stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # the rusage of this process alone
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            sys.exit(f"musegen {' '.join(args)} failed:\n{err.read()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def run_sizes(name: str, rep: str, corpora: list[tuple[str, Path]], *, work: Path, batch_size: int) -> list[dict]:
    rows = []
    for label, corpus in corpora:
        env = {**os.environ, "MUSEGEN_CACHE": str(work / f"cache-{rep}-{label}")}
        prep_s, prep_mb, out = measured(["prepare", rep, str(corpus), "--preset", "tiny", "--json"], env)
        summary = json.loads(out)
        train_s, train_mb, _ = measured(["train", rep, str(corpus), "--preset", "tiny", "--epochs", "1",
                                         "--batch-size", str(batch_size), "--out", str(work / f"model-{rep}-{label}"),
                                         "--json"], env)
        cache = sum(f.stat().st_size for f in (work / f"cache-{rep}-{label}").rglob("*") if f.is_file())
        rows.append({"size": label, "steps": summary.get("train_steps", 0) + summary.get("valid_steps", 0),
                     "shards": summary.get("shards"), "prepare_s": prep_s, "prepare_mb": prep_mb,
                     "train_s": train_s, "train_mb": train_mb, "cache_mb": cache / 2**20})
        shutil.rmtree(work / f"cache-{rep}-{label}", ignore_errors=True)
        shutil.rmtree(work / f"model-{rep}-{label}", ignore_errors=True)
        print(f"  {name} {label}: done", file=sys.stderr, flush=True)
    return rows


def show(title: str, rows: list[dict]) -> None:
    base = rows[0]
    print(f"\n{title}")
    print(f"{'size':>8} {'steps':>10} {'shards':>6} {'prepare s':>10} {'prepare MB':>11} {'epoch s':>8} "
          f"{'train MB':>9} {'cache MB':>9} {'time x':>7} {'peak x':>7}")
    for r in rows:
        total, base_total = r["prepare_s"] + r["train_s"], base["prepare_s"] + base["train_s"]
        peak, base_peak = max(r["prepare_mb"], r["train_mb"]), max(base["prepare_mb"], base["train_mb"])
        print(f"{r['size']:>8} {r['steps']:>10,} {r['shards']!s:>6} {r['prepare_s']:>10.1f} {r['prepare_mb']:>11,.0f} "
              f"{r['train_s']:>8.1f} {r['train_mb']:>9,.0f} {r['cache_mb']:>9,.0f} {total / base_total:>7.2f} "
              f"{peak / base_peak:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, nargs="*", default=[5, 10, 20], choices=[5, 10, 20])
    parser.add_argument("--repeats", type=int, nargs="*", default=[1, 16])
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    from musegen.formats.abc import read_tunes
    from musegen.formats.abc.transpose import transpose_tune

    with tempfile.TemporaryDirectory(prefix="musegen-streaming-") as tmp:
        work = Path(tmp)
        jigs = read_tunes(ROOT / "corpora" / "jigs" / "jigs.abc", clean=False)
        audio = []
        for hours in args.hours:
            folder = work / f"audio-{hours}h"
            folder.mkdir()
            for shift in SHIFTS[: hours // 5]:
                tunes = jigs if not shift else [transpose_tune(t, shift) for t in jigs]
                (folder / f"jigs{shift:+d}.abc").write_text("\n".join(tunes), encoding="utf-8")
            audio.append((f"{hours} h", folder))
        nottingham = sorted([*(ROOT / "corpora" / "jigs").glob("*.abc"), *(ROOT / "corpora" / "nottingham").glob("*.abc")])
        abc = []
        for times in args.repeats:
            folder = work / f"abc-x{times}"
            folder.mkdir()
            for i in range(times):
                for f in nottingham:
                    shutil.copy(f, folder / f"{i:02d}-{f.name}")
            abc.append((f"x{times}", folder))
        audio_rows = run_sizes("audio", "audio", audio, work=work, batch_size=args.batch_size) if audio else []
        abc_rows = run_sizes("abc", "abc", abc, work=work, batch_size=args.batch_size) if abc else []
    if audio_rows:
        show("audio (--preset tiny, the jigs rendered; steps: frames of 64 ms)", audio_rows)
        last = audio_rows[-1]
        peak = max(last["prepare_mb"], last["train_mb"])
        ratio = peak / max(audio_rows[0]["prepare_mb"], audio_rows[0]["train_mb"])
        print(f"target: peak of {last['size']} within 1.5x of {audio_rows[0]['size']} and under 3 GB: "
              f"{ratio:.2f}x, {peak:,.0f} MB -> {'met' if ratio <= 1.5 and peak < 3072 else 'NOT met'}")
    if abc_rows:
        show("abc (--preset tiny, the Nottingham tunes repeated; steps: characters)", abc_rows)


if __name__ == "__main__":
    main()
