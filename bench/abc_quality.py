"""Quality of the shipped ABC model against its targets, next to the human-written jigs.

Run: .venv/bin/python bench/abc_quality.py [--model models/abc-jigs] [--samples 100] [--no-form]

Prints bits per character on the bundle's own validation.abc (held-out jigs),
as a share of an interpolated Kneser-Ney character 4-gram fitted on its
training jigs, and for N tunes sampled at the default settings of
`musegen sample abc` (a jig: 6/8, two or three 8-bar parts, repeated; temperature 0.8; the
first of 4 draws that passes the checks is written): the share with the form
of a jig (12 to 40 written bars; and the share with repeat signs), the share abc2midi reads
with no error, the share with no bar-length warning from abc2midi (``Bar N has
X time units``), the share every bar of which musegen's checker finds fitting
(as abc2midi plays it), the share copying 48 body characters of a training
tune; 'raw' is the first draw of each tune (before repair and before choosing
among candidates), 'written' what `musegen sample abc` writes; the same
checks on the 340 human-written Nottingham jigs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/abc-jigs")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-form", dest="form", action="store_false",
                        help="sample without the form (plain character sampling), for comparison")
    args = parser.parse_args()

    from musegen.evaluation import evaluate
    from musegen.formats.abc import read_tunes
    from musegen.formats.abc.check import (
        abc2midi_available,
        abc2midi_bar_warnings,
        abc2midi_check,
        check_tune,
        tune_shape,
    )
    from musegen.models import load_bundle

    bundle = load_bundle(args.model)
    options = bundle.representation.EvaluateOptions(samples=args.samples, temperature=args.temperature,
                                                    candidates=args.candidates, form=args.form)
    r = evaluate(bundle, bundle.path / "validation.abc", options, seed=args.seed)
    human = read_tunes(ROOT / "corpora" / "jigs", clean=True)
    checks = [check_tune(t, repair=False) for t in human]
    shapes = [tune_shape(t) for t in human]
    human_rows = {
        "form": float(np.mean([s.dance_form for s in shapes])),
        "bars": float(np.median([s.bars for s in shapes])),
        "repeats": float(np.mean([s.repeats for s in shapes])),
        "meter": float(np.mean([c.bars_fitting == c.bars for c in checks])),
        "valid": float(np.mean([c.valid for c in checks])),
    }
    if abc2midi_available():
        judged = [abc2midi_check(t) for t in human]
        human_rows["abc2midi"] = float(np.mean([ok for ok, _ in judged]))
        human_rows["abc2midi_bars"] = float(np.mean([not abc2midi_bar_warnings(m) for _, m in judged]))

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.1f}%"

    ratio = r["bits_per_char"] / r["baseline_bits_per_char"]
    print(f"model: {args.model}   validation: {r['tunes']} tunes, {r['characters']} characters scored")
    print(f"samples: {args.samples} at temperature {args.temperature}, form {'on' if args.form else 'off'}; "
          f"'raw' = first draw, before repair and choice; 'written' = what `musegen sample abc` writes "
          f"(repaired, first of {args.candidates} draws that passes)")
    print(f"{'measure':<52} {'raw':>8} {'written':>8} {'target':>8} {'human':>7}")
    rows = [
        ("bits/char on validation.abc", f"{r['bits_per_char']:.3f}", "", "", ""),
        ("  char 4-gram baseline (bits/char)", f"{r['baseline_bits_per_char']:.3f}", "", "", ""),
        ("  model / 4-gram", f"{ratio:.3f}", "", "<= 0.72", ""),
        ("tunes of 12-40 written bars", pct(r["dance_form_rate_raw"]),
         pct(r["dance_form_rate"]), ">= 90%", pct(human_rows["form"])),
        ("  with repeat signs (:|)", pct(r["repeats_rate_raw"]), pct(r["repeats_rate"]), "",
         pct(human_rows["repeats"])),
        ("  median written bars", f"{r['bars_median_raw']:.0f}", f"{r['bars_median']:.0f}", "",
         f"{human_rows['bars']:.0f}"),
        ("read by abc2midi with no error", pct(r.get("abc2midi_ok_rate_raw")),
         pct(r.get("abc2midi_ok_rate")), ">= 95%", pct(human_rows.get("abc2midi"))),
        ("no bar-length warning from abc2midi", pct(r.get("abc2midi_bars_ok_rate_raw")),
         pct(r.get("abc2midi_bars_ok_rate")), ">= 92%", pct(human_rows.get("abc2midi_bars"))),
        ("every bar fitting (musegen's checker, as abc2midi)", pct(r["meter_valid_rate_raw"]),
         pct(r["meter_valid_rate"]), "", pct(human_rows["meter"])),
        ("nothing for the checker to repair", pct(r["check_valid_rate_raw"]),
         pct(r["check_valid_rate"]), "", pct(human_rows["valid"])),
        ("sharing 48 body chars with a training tune", pct(r.get("copy_rate_raw")), pct(r.get("copy_rate")),
         "< 30%", ""),
        ("sampling speed (chars/s, one batch)", f"{r['sample_chars_per_second']:.0f}", "", "", ""),
    ]
    for name, raw, written, target, hum in rows:
        print(f"{name:<52} {raw:>8} {written:>8} {target:>8} {hum:>7}")
    for label, suffix, form_target, bars_target in (("raw", "_raw", 0.85, 0.85), ("written", "", 0.90, 0.92)):
        passed = [ratio <= 0.72, r[f"dance_form_rate{suffix}"] >= form_target, r.get(f"copy_rate{suffix}", 1) < 0.30]
        if "abc2midi_ok_rate" in r:
            passed += [r[f"abc2midi_bars_ok_rate{suffix}"] >= bars_target]
            if not suffix:
                passed.append(r["abc2midi_ok_rate"] >= 0.95)
        print(f"targets met ({label} samples; form >= {form_target:.0%}, no bar warning >= {bars_target:.0%}): "
              f"{sum(passed)}/{len(passed)}")


if __name__ == "__main__":
    main()
