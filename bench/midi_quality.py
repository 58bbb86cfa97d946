"""Quality of a piano-roll model against its targets, next to its corpus.

Run: .venv/bin/python bench/midi_quality.py [--model models/midi-jigs] [--corpus corpora/jigs] [--samples 32]

Prints the validation loss per column (and the study's expected-velocity
squared error) next to two baselines (the previous column again; each pitch's
average), then MusPy's statistics of N samples of 64 beats at thresholds 10,
15, 20 and 30 next to the corpus's, and checks the targets: the model beats
both baselines; at threshold 15 notes per second and polyphony within 30 % of
the corpus; no silent sample; no cluster of every pitch; a higher threshold
gives fewer notes.  Also times the sampler (columns per second, batch 1 and
batch 32).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/midi-jigs")
    parser.add_argument("--corpus", default="corpora/jigs")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--beats", type=float, default=64.0)
    parser.add_argument("--temperature", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from musegen.evaluation import evaluate
    from musegen.models import load_bundle
    bundle = load_bundle(args.model, representation="midi")
    options = bundle.representation.EvaluateOptions(samples=args.samples, threshold=15.0, thresholds="10,20,30",
                                                    temperature=args.temperature, beats=args.beats)
    r = evaluate(bundle, args.corpus, options, seed=args.seed)
    print(f"model: {args.model} ({r['head']} head)   corpus: {args.corpus}, {r['valid_pieces']} held-out pieces, "
          f"{r['valid_columns']} columns scored")
    print(f"{'per column':<34} {'model':>10} {'repeat':>10} {'average':>10}")
    for key, name in (("loss", "loss (head's own)"), ("velocity_mse", "expected-velocity MSE (vel^2)")):
        print(f"{name:<34} {r[key]:>10.4f} {r['repeat_' + key]:>10.4f} {r['average_' + key]:>10.4f}")
    stats = ("notes_per_second", "polyphony", "pitch_range", "pitch_class_entropy", "scale_consistency",
             "empty_beat_rate")
    print(f"\n{args.samples} samples of {args.beats:g} beats at temperature {args.temperature:g}, "
          "a training excerpt of 4 beats as primer")
    cols = [("corpus", r["corpus_stats"])] + [(f"thr {s['threshold']:g}", s) for s in
                                              sorted((v for k, v in r.items() if k.startswith("samples")
                                                      and isinstance(v, dict) and "threshold" in v),
                                                     key=lambda s: s["threshold"])]
    print(f"{'statistic':<22}" + "".join(f"{name:>10}" for name, _ in cols))
    for key in stats:
        print(f"{key:<22}" + "".join(f"{s[key]:>10.3f}" for _, s in cols))
    print(f"{'silent samples':<22}{'':>10}" + "".join(f"{s['silent_rate']:>10.0%}" for _, s in cols[1:]))
    print(f"{'most pitches at once':<22}{r['corpus_max_polyphony']:>10}" + "".join(
        f"{s['max_polyphony']:>10}" for _, s in cols[1:]))
    at15 = r["samples"]
    by_thr = [s for _, s in cols[1:]]
    checks = [
        ("beats both baselines (loss)", r["beats_both_baselines"]),
        ("beats both baselines (expected-velocity MSE)",
         r["velocity_mse"] < min(r["repeat_velocity_mse"], r["average_velocity_mse"])),
        ("notes/s at threshold 15 within 30% of corpus", r["samples_within_30pct"].get("notes_per_second")),
        ("polyphony at threshold 15 within 30% of corpus", r["samples_within_30pct"].get("polyphony")),
        ("no silent sample", at15["silent_rate"] == 0),
        ("no cluster of every pitch (max at once <= 2x corpus)", at15["max_polyphony"] <= 2 * r["corpus_max_polyphony"]),
        ("higher threshold, fewer notes", all(a["notes"] > b["notes"] for a, b in zip(by_thr, by_thr[1:]))),
    ]
    print()
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")

    from musegen.sampling import VectorSampler

    rep = bundle.representation
    primer = rep.primer(bundle.path, None)
    sampler = VectorSampler(bundle.model, rule=rep.column_rule)
    for num in (1, 32):
        cols = rep.encode_primer(primer, num=num, seed=1)
        t0 = time.perf_counter()
        sampler.generate(cols, max_length=256, temperature=args.temperature, seed=1, threshold=15.0)  # compiles
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = sampler.generate(cols, max_length=1024, temperature=args.temperature, seed=1, threshold=15.0)
        rate = out.shape[0] * out.shape[1] / (time.perf_counter() - t0)
        print(f"sampler, batch {num:>2}: {rate:,.0f} columns/s "
              f"({rate / rep.steps_per_beat * 60 / rep.bpm:,.0f} s of music per s; first call with compilation "
              f"{first:.2f} s)")

if __name__ == "__main__":
    main()
