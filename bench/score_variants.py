"""The three score networks side by side: note, series and measure, trained on the same split of one corpus.

Run: .venv/bin/python bench/score_variants.py [--corpus corpora/jigs] [--epochs 30] [--samples 16] [--out DIR]

Each variant starts from its own preset (``note``, ``series``, ``default``:
the measure network) with at most ``--epochs`` epochs, trains on the same
split, and is scored on the held-out pieces: validation loss per note (note:
the pitch's and the duration's nats; series: the pitch token's and the
duration token's; the measure network's loss is per measure vector, not
comparable, and comes with its autoencoder's exact-rebuild rate on held-out
measures: target 99 %), then ``--samples`` scores of 16 measures each, as
generated (nothing repaired): the share of complete measures, pitch-class
entropy and scale consistency (the corpus's beside them), the share of
measures copied note for note from the training pieces, and the speed of
training and sampling.  The prepared corpora are cached (``MUSEGEN_CACHE``),
the measure network's autoencoder with them: its training time is counted
once, as "prepare".
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
    parser.add_argument("--epochs", type=int, default=30, help="At most this many epochs per variant.")
    parser.add_argument("--samples", type=int, default=16)
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
    corpus = rows[0]["corpus_stats"]
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
        ("codec exact, held out", lambda r: f"{r['codec_exact_rebuild']:.2%}" if "codec_exact_rebuild" in r else "-"),
        ("codec exact, training", lambda r: f"{r['codec_exact_rebuild_train']:.2%}"
         if "codec_exact_rebuild_train" in r else "-"),
        ("sampling temperature", lambda r: f"{r['samples']['temperature']:g}"),
        ("measures complete", lambda r: f"{r['samples']['measure_complete_rate']:.1%}"),
        ("measures copied", lambda r: f"{r['samples']['copied_measure_rate']:.1%}"),
        ("notes per measure", lambda r: f"{r['samples']['notes_per_measure']:.2f}"),
        (f"pitch-class entropy ({corpus['pitch_class_entropy']:.2f})",
         lambda r: f"{r['samples']['pitch_class_entropy']:.2f}"),
        (f"scale consistency ({corpus['scale_consistency']:.3f})",
         lambda r: f"{r['samples']['scale_consistency']:.3f}"),
        ("sampling (measures/s)", lambda r: f"{r['samples']['measures_per_second']:.0f}"),
    ]
    print(f"{'':<28}" + "".join(f"{r['variant']:>12}" for r in rows))
    for name, cell in lines:
        print(f"{name:<28}" + "".join(f"{cell(r):>12}" for r in rows))
    measure = [r for r in rows if "codec_exact_rebuild" in r]
    if measure:
        ok = measure[0]["codec_exact_rebuild"] >= 0.99
        print(f"\n{'PASS' if ok else 'FAIL'}  the autoencoder rebuilds at least 99% of held-out measures exactly")
    ok = all(r["samples"]["measure_complete_rate"] == 1.0 for r in rows)
    print(f"{'PASS' if ok else 'FAIL'}  every generated measure is complete (a pickup aside)")


if __name__ == "__main__":
    main()
