"""The three score networks side by side: note, series and measure, trained on the same split of one corpus.

Run: .venv/bin/python bench/score_variants.py [--corpus corpora/jigs] [--epochs 40] [--samples 20] [--out DIR]

Each variant starts from its own preset (``note``, ``series``, ``measure``)
with at most ``--epochs`` epochs, trains on the same split, and is scored on
the held-out pieces: validation loss per note, the same measure for all
three (note: the pitch's and the duration's nats; series: the pitch token's
and the duration token's; measure: the exact likelihood of each measure
under the mixture of the code book's codes that the network gives, over the
measure's notes); for the measure network also per measure, the code book's
alone (no network) and its exact rebuilds.  Then ``--samples`` scores of 16
measures each, as generated (nothing repaired): the share of complete
measures, pitch statistics, the key music21 hears against the written one,
tonic endings (the held-out pieces' beside them), the share of measures
copied note for note from the training pieces (both moved to C major / A
minor first), and the speed of training and sampling.  The target: the
measure network's loss per note within 15% of the note network's.  The
prepared corpora are cached (``MUSEGEN_CACHE``), the measure code book with
them: its fitting is counted once, as "prepare".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS = ("note", "series", "measure")


def run_variant(variant: str, corpus: str, out: Path, *, epochs: int, samples: int,
                temperature: float | None) -> dict:
    from musegen.models import load_bundle
    from musegen.pipeline import prepare, resolve_config, train
    from musegen.evaluation import evaluate
    from musegen.representations.score import ScoreRepresentation

    preset = ScoreRepresentation.preset_for({"variant": variant})
    config, name = resolve_config("score", preset=preset, overrides={})
    config = config.replace(epochs=min(epochs, config.epochs))
    t0 = time.perf_counter()
    prepare("score", corpus, config=config)
    prepared = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = train("score", corpus, out=out, config=config, preset=name, force=True)
    trained = time.perf_counter() - t0
    bundle = load_bundle(out, representation="score")
    options = ScoreRepresentation.EvaluateOptions(samples=samples, measures=16, temperature=temperature)
    report = evaluate(bundle, corpus, options, seed=0)
    h = result.history
    return {"variant": variant, "preset": name, "params": bundle.model.count_params(),
            "prepare_s": prepared, "train_s": trained, "epochs": len(h["loss"]), "best_epoch": h["best_epoch"],
            "s_per_epoch": sum(h["seconds"]) / max(1, len(h["seconds"])),
            "bundle_mb": sum(f.stat().st_size for f in out.iterdir()) / 1e6, **report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="corpora/jigs")
    parser.add_argument("--epochs", type=int, default=40, help="At most this many epochs per variant.")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--temperature", type=float, default=None, help="Default: each network's own.")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default=None, help="Keep the bundles here (default: a temporary folder).")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        root = Path(args.out or tmp)
        rows = []
        for variant in args.variants.split(","):
            print(f"training {variant}...", file=sys.stderr, flush=True)
            rows.append(run_variant(variant, args.corpus, root / f"score-{variant}", epochs=args.epochs,
                                    samples=args.samples, temperature=args.temperature))
    corpus = {**rows[0]["corpus_stats"], **rows[0]["held_out_stats"]}
    print(f"corpus: {args.corpus}, {rows[0]['pieces']} pieces, {rows[0]['valid_pieces']} held out; "
          f"{args.samples} scores of 16 measures per variant\n")
    lines = [
        ("preset", lambda r: r["preset"]),
        ("parameters", lambda r: f"{r['params']:,}"),
        ("bundle (MB)", lambda r: f"{r['bundle_mb']:.1f}"),
        ("prepare (s)", lambda r: f"{r['prepare_s']:.0f}"),
        ("train (s)", lambda r: f"{r['train_s']:.0f}"),
        ("epochs (best)", lambda r: f"{r['epochs']} ({r['best_epoch']})"),
        ("s per epoch", lambda r: f"{r['s_per_epoch']:.1f}"),
        ("val. nats per note", lambda r: f"{r['loss_per_note']:.3f}" if "loss_per_note" in r else "-"),
        ("val. nats per measure", lambda r: f"{r['loss_per_measure']:.2f}" if "loss_per_measure" in r else "-"),
        ("code book alone, per measure", lambda r: f"{r['codec_loss_per_measure']:.2f}"
         if "codec_loss_per_measure" in r else "-"),
        ("code book exact, held out", lambda r: f"{r['codec_exact_rebuild']:.2%}" if "codec_exact_rebuild" in r
         else "-"),
        ("sampling temperature", lambda r: f"{r['samples']['temperature']:g}"),
        ("measures complete", lambda r: f"{r['samples']['measure_complete_rate']:.1%}"),
        ("measures copied", lambda r: f"{r['samples']['copied_measure_rate']:.1%}"),
        ("notes per measure", lambda r: f"{r['samples']['notes_per_measure']:.2f}"),
        (f"pitch-class entropy ({corpus['pitch_class_entropy']:.2f})",
         lambda r: f"{r['samples']['pitch_class_entropy']:.2f}"),
        (f"key heard = written ({corpus['key_agreement']:.0%})", lambda r: f"{r['samples']['key_agreement']:.0%}"),
        (f"duration in scale ({corpus['in_scale_duration']:.1%})",
         lambda r: f"{r['samples']['in_scale_duration']:.1%}"),
        (f"ends on the tonic ({corpus['ends_on_tonic']:.0%})", lambda r: f"{r['samples']['ends_on_tonic']:.0%}"),
        ("sampling (measures/s)", lambda r: f"{r['samples']['measures_per_second']:.0f}"),
    ]
    print(f"{'':<32}" + "".join(f"{r['variant']:>12}" for r in rows))
    for name, cell in lines:
        print(f"{name:<32}" + "".join(f"{cell(r):>12}" for r in rows))
    by = {r["variant"]: r for r in rows}
    if "note" in by and "measure" in by:
        ratio = by["measure"]["loss_per_note"] / by["note"]["loss_per_note"]
        print(f"\n{'PASS' if ratio <= 1.15 else 'FAIL'}  the measure network's loss per note is within 15% of the "
              f"note network's ({ratio - 1:+.1%})")
    ok = all(r["samples"]["measure_complete_rate"] == 1.0 for r in rows)
    print(f"{'PASS' if ok else 'FAIL'}  every generated measure is complete (a pickup aside)")


if __name__ == "__main__":
    main()
