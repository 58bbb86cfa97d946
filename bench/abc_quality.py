"""Quality of the shipped ABC model against its targets, next to the human-written jigs.

Run: .venv/bin/python bench/abc_quality.py [--model models/abc-jigs] [--samples 100]

Prints bits per character on the bundle's own validation.abc, next to an
interpolated Kneser-Ney character 4-gram fitted on its training tunes, and for
N tunes sampled at the default temperature: the share abc2midi reads with no
error, the share with every bar fitting the meter and the share copying 48
body characters of a training tune; the same checks on the human-written jigs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/abc-jigs")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from musegen.evaluation import evaluate
    from musegen.formats.abc import read_tunes
    from musegen.formats.abc.check import abc2midi_available, abc2midi_check, check_tune
    from musegen.models import load_bundle

    bundle = load_bundle(args.model)
    options = bundle.representation.EvaluateOptions(samples=args.samples, temperature=args.temperature,
                                                    candidates=args.candidates)
    r = evaluate(bundle, bundle.path / "validation.abc", options, seed=args.seed)
    human = read_tunes(Path(__file__).resolve().parents[1] / "corpora" / "jigs", clean=True)
    checks = [check_tune(t, repair=False) for t in human]
    human_meter = float(np.mean([c.bars_fitting == c.bars for c in checks]))
    human_valid = float(np.mean([c.valid for c in checks]))
    human_abc2midi = float(np.mean([abc2midi_check(t)[0] for t in human])) if abc2midi_available() else None

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.1f}%"

    print(f"model: {args.model}   validation: {r['tunes']} tunes, {r['characters']} characters scored")
    print(f"samples: {args.samples} at temperature {args.temperature}; 'raw' = first draw, unrepaired; "
          f"'written' = what `musegen sample abc` writes (repaired, first of {args.candidates} draws that fits)")
    print(f"{'measure':<48} {'raw':>8} {'written':>8} {'target':>8} {'human':>7}")
    rows = [
        ("bits/char on validation.abc", f"{r['bits_per_char']:.3f}", "", "", ""),
        ("  char 4-gram baseline (bits/char)", f"{r['baseline_bits_per_char']:.3f}", "", "", ""),
        ("  fewer bits than the 4-gram", pct(r["improvement"]), "", ">= 20%", ""),
        ("samples read by abc2midi with no error", pct(r.get("abc2midi_ok_rate_raw")),
         pct(r.get("abc2midi_ok_rate")), ">= 95%", pct(human_abc2midi)),
        ("samples with every bar fitting the meter", pct(r["meter_valid_rate_raw"]), pct(r["meter_valid_rate"]),
         ">= 92%", pct(human_meter)),
        ("samples the checker finds nothing to repair in", pct(r["check_valid_rate_raw"]),
         pct(r["check_valid_rate"]), "", pct(human_valid)),
        ("samples sharing 48 body chars with training", pct(r.get("copy_rate_raw")), pct(r.get("copy_rate")),
         "< 30%", ""),
        ("bars fitting (all bars of raw samples)", pct(r["bars_fitting_rate_raw"]), "", "", ""),
        ("sampling speed (chars/s, one batch)", f"{r['sample_chars_per_second']:.0f}", "", "", ""),
    ]
    for name, raw, written, target, hum in rows:
        print(f"{name:<48} {raw:>8} {written:>8} {target:>8} {hum:>7}")
    for label, suffix in (("raw", "_raw"), ("written", "")):
        passed = [r["improvement"] >= 0.20, r[f"meter_valid_rate{suffix}"] >= 0.92,
                  r.get(f"copy_rate{suffix}", 1) < 0.30]
        if "abc2midi_ok_rate" in r:
            passed.append(r[f"abc2midi_ok_rate{suffix}"] >= 0.95)
        print(f"targets met ({label} samples): {sum(passed)}/{len(passed)}")


if __name__ == "__main__":
    main()
