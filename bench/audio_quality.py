"""Quality of an FFT-frame audio model against its targets.

Run: .venv/bin/python bench/audio_quality.py [--model models/audio-jigs] [--corpus corpora/jigs] [--samples 8]

Prints the validation loss (the head's own, and the squared error of the
predicted mean, per value of the normalised frames) next to two baselines
(the last frame again; the mean frame), then the spectral flatness of N
generated pieces of 10 s beside the held-out corpus and white noise, all
measured on the band the model generates, and the log-spectral distance to
the corpus.  Targets: flatness under a tenth of white noise's; validation
loss below the repeat-the-last-frame baseline.  Also times generation at
batch 1 and 8, and at temperatures 0 (the study's deterministic regression),
0.5 and 1 shows how flatness moves.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/audio-jigs")
    parser.add_argument("--corpus", default="corpora/jigs")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import numpy as np

    from musegen.evaluation import evaluate
    from musegen.formats.audio import spectral_flatness
    from musegen.models import load_bundle
    from musegen.pipeline import generate

    bundle = load_bundle(args.model, representation="audio")
    rep = bundle.representation
    options = rep.EvaluateOptions(samples=args.samples, seconds=args.seconds, temperature=1.0)
    r = evaluate(bundle, args.corpus, options, seed=args.seed)
    print(f"model: {args.model} ({r['head']} head, {rep.input_spec().size} values per frame, band 0-{r['band_hz']:g} Hz)"
          f"   corpus: {args.corpus}, {r['valid_pieces']} held-out pieces, {r['valid_frames']} frames scored")
    print(f"{'per value of a normalised frame':<34} {'model':>10} {'repeat':>10} {'mean':>10}")
    print(f"{'loss (head own)':<34} {r['loss']:>10.4f} {r['repeat_loss']:>10.4f} {r['mean_loss']:>10.4f}")
    print(f"{'squared error of the mean':<34} {r['mse']:>10.4f} {r['repeat_mse']:>10.4f} {r['mean_mse']:>10.4f}")
    print(f"\n{args.samples} samples of {args.seconds:g} s at temperature 1, a training excerpt as primer")
    print(f"{'spectral flatness':<34} {'samples':>10} {'corpus':>10} {'noise':>10}")
    print(f"{'':<34} {r['sample_flatness']:>10.4f} {r['corpus_flatness']:>10.4f} {r['white_noise_flatness']:>10.4f}")
    print(f"log-spectral distance to the held-out audio: samples {r['log_spectral_distance']:.1f} dB, "
          f"white noise {r['noise_log_spectral_distance']:.1f} dB; clipped samples {r['clipped_share']:.2%}")
    primer = rep.primer(bundle.path, None)
    frames = max(1, round(args.seconds * rep.frames_per_second()))
    for t in (0.0, 0.5):
        gen = generate(bundle, num=4, temperature=t, seed=args.seed, max_length=frames,
                       primer=rep.encode_primer(primer, num=4, seed=args.seed))
        loud = [p for p in gen.pieces if np.abs(p).max() > 1e-4]
        flat = spectral_flatness(loud, sample_rate=rep.sample_rate, max_hz=rep.band_hz) if loud else float("nan")
        print(f"temperature {t:g}: flatness {flat:.4f}, peak {max(float(np.abs(p).max()) for p in gen.pieces):.3f}")
    print()
    for name, ok in (("validation loss below the repeat-last-frame baseline", r["beats_repeat_baseline"]),
                     ("validation loss below the mean-frame baseline", r["beats_mean_baseline"]),
                     ("flatness under a tenth of white noise's", r["flatness_below_tenth_of_noise"])):
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    from musegen.sampling import VectorSampler

    sampler = VectorSampler(bundle.model, rule=rep.column_rule)
    for num in (1, 8):
        cols = rep.encode_primer(primer, num=num, seed=1)
        sampler.generate(cols, max_length=8, temperature=1.0, seed=1)  # compiles
        t0 = time.perf_counter()
        out = sampler.generate(cols, max_length=frames, temperature=1.0, seed=1)
        rate = out.shape[0] * out.shape[1] / (time.perf_counter() - t0)
        print(f"generation, batch {num}: {rate:,.0f} frames/s, {rate * rep.hop / rep.sample_rate:,.1f} s of audio "
              "per s (frames only; the inverse FFT adds little)")


if __name__ == "__main__":
    main()
