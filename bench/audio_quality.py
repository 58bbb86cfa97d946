"""Quality of an audio model against the targets of issue 11 ("Audio that plays melodies").

Run: .venv/bin/python bench/audio_quality.py [--model models/audio-jigs] [--corpus corpora/jigs] [--samples 3]
     [--seconds 8] [--seed 0] [--temperature 1]

Prints

- the validation loss on the held-out pieces next to the baselines, in the
  model's own unit (codes head: nats per frame, against repeating the last
  code, the unigram and a bigram of the training codes; FFT-frame heads: per
  value of a normalised frame, against repeating the last frame and the mean
  frame);
- for N samples of S seconds (as `musegen sample audio --seconds S --seed`
  makes them, a training excerpt as primer) beside N held-out clips and N
  training clips of the same length: what ``librosa.pyin`` hears (150 to
  1400 Hz, 1,024-sample frames): voiced frames, pitch changes per second
  (notes of 48 ms or more, a repeated pitch one note), the share of the
  notes on the 7 most used pitch classes; spectral flatness of 0 to 3 kHz
  (the median over 1,024-sample frames, by musegen and by
  ``librosa.feature.spectral_flatness`` as the judge, and musegen's mean over
  2,048-sample frames); the network's raw output (decoded, as drawn) beside
  what is written (turned down where it peaks over full scale);
- novelty: the longest run of the sample's tracked notes found in order in a
  training tune (the notes of its score, for a corpus of ABC or MIDI files;
  else the pitch track of the training audio), beside the same for held-out
  clips (new music of the same kind) and training clips (copies); and for the
  codes head, the longest run of frames whose codes follow a training piece;
- the bundle's size and its training time (history.json), then PASS/FAIL for
  each target.

Targets: voiced >= 50 %, >= 1.5 pitch changes per second, >= 90 % of the notes
on the 7 most used pitch classes, flatness 0-3 kHz (median) <= 0.002, for every
sample; validation loss below the repeat baseline; bundle < 20 MB; trained in
under two hours.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"voiced": 0.5, "pitch_changes_per_second": 1.5, "in_scale": 0.9, "median_flatness": 0.002}


def judge_flatness(audio: np.ndarray, sr: int, max_hz: float = 3000.0) -> float:
    """librosa's own spectral flatness of the band 0 to max_hz, 1,024-sample frames, median over frames."""
    import librosa

    n_fft = 1024 * sr // 16000
    spectrum = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=n_fft // 4))[: int(max_hz * n_fft / sr) + 1]
    return float(np.median(librosa.feature.spectral_flatness(S=spectrum, power=2.0)))


def score_notes(corpus: Path, count: int) -> list[list[int]] | None:
    """The melody notes (channel 0, a repeated pitch once) of each tune of an ABC or MIDI corpus, in the order
    the audio representation reads them; None for a corpus of recordings."""
    from musegen.fileio import path_files
    from musegen.formats.abc import read_tunes
    from musegen.formats.abc.player import abc_to_song
    from musegen.formats.audio import AUDIO_SUFFIXES, SCORE_SUFFIXES
    from musegen.formats.midi import read_midi

    files = path_files(corpus, (*AUDIO_SUFFIXES, *SCORE_SUFFIXES), what="audio, ABC or MIDI files")
    if any(f.suffix.lower() in AUDIO_SUFFIXES for f in files):
        return None
    songs = []
    for f in files:
        songs.extend([abc_to_song(t)[0] for t in read_tunes(f)] if f.suffix.lower() == ".abc" else [read_midi(f)])
    if len(songs) != count:
        return None  # a tune was left out as silent: the split would not line up
    out = []
    for song in songs:
        melody = sorted((n for n in song.notes if n.channel == min(m.channel for m in song.notes)),
                        key=lambda n: n.start)
        notes: list[int] = []
        for n in melody:
            if not notes or notes[-1] != n.pitch:
                notes.append(int(n.pitch))
        out.append(notes)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/audio-jigs")
    parser.add_argument("--corpus", default="corpora/jigs")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=1.0)
    args = parser.parse_args()

    from musegen.evaluation import Probe, evaluate
    from musegen.formats.audio import band_flatness, melody_of, shared_run, spectral_flatness
    from musegen.models import load_bundle
    from musegen.pipeline import generate, split_pieces

    bundle = load_bundle(args.model, representation="audio")
    rep = bundle.representation
    rate = rep.sample_rate
    r = evaluate(bundle, args.corpus, rep.EvaluateOptions(samples=0), seed=args.seed)
    print(f"model: {args.model} ({rep.head_kind} head: {rep.describe()})")
    print(f"corpus: {args.corpus}, {r['valid_pieces']} held-out pieces, {r['valid_frames']:,} frames scored\n")
    if rep.is_coded:
        print(f"validation loss, nats per frame: model {r['loss']:.4f}   repeat last code {r['repeat_loss']:.4f} "
              f"(repeats: {r['repeat_share']:.0%})   unigram {r['unigram_loss']:.4f}   bigram {r['bigram_loss']:.4f}")
        baselines = ("repeat", "unigram", "bigram")
    else:
        print(f"validation loss per value: model {r['loss']:.4f}   repeat last frame {r['repeat_loss']:.4f}   "
              f"mean frame {r['mean_loss']:.4f}")
        baselines = ("repeat", "mean")

    # samples, as `musegen sample audio --seconds S --seed SEED` draws them (one training excerpt each as primer)
    plan = rep.plan_sampling(bundle.path, rep.SampleOptions(seconds=args.seconds, temperature=args.temperature))
    t0 = time.perf_counter()
    gen = generate(bundle, num=args.samples, temperature=args.temperature, seed=args.seed,
                   max_length=plan.max_length, primer=rep.encode_primer(plan.primer, num=args.samples,
                                                                         seed=args.seed))
    made = time.perf_counter() - t0
    raw = gen.pieces
    written = [rep.postprocess(p, index=i + 1) for i, p in enumerate(raw)]
    pieces, train, valid = Probe(bundle, seed=args.seed).held_out(args.corpus)
    held = rep.clips(valid, args.seconds, args.samples)
    trained = rep.clips(train, args.seconds, args.samples)
    print(f"\n{args.samples} samples of {args.seconds:g} s (temperature {args.temperature:g}, seed {args.seed}) "
          f"made in {made:.1f} s; beside {len(held)} held-out and {len(trained)} training clips "
          "(the middle of the first pieces)")

    notes_of = score_notes(rep.resolve_corpus(args.corpus), len(pieces))
    if notes_of is not None:
        order = list(range(len(pieces)))
        train_notes, _ = split_pieces([notes_of[i] for i in order], valid_split=bundle.config.valid_split,
                                      seed=bundle.config.seed)
        reference = "the notes of the training scores"
    else:
        train_notes = [melody_of(p, sample_rate=rate).notes for p in train]
        reference = "the pitch track of the training audio"
    train_codes = [rep.encode(p) for p in train] if rep.is_coded else None

    header = (f"{'':<16}{'voiced':>8}{'changes/s':>11}{'notes':>7}{'in 7 pcs':>10}{'flat med':>10}"
              f"{'(librosa)':>11}{'flat mean':>11}{'peak':>7}{'gain':>7}{'notes copied':>14}{'s copied':>10}")
    print(header)
    rows = {"sample": [], "held-out": [], "training": []}
    for kind, clips in (("sample", [p for p, _ in written]), ("held-out", held), ("training", trained)):
        for i, audio in enumerate(clips):
            melody = melody_of(audio, sample_rate=rate)
            median = band_flatness(audio, sample_rate=rate, max_hz=3000)
            row = {"voiced": melody.voiced, "pitch_changes_per_second": melody.changes_per_second,
                   "in_scale": melody.in_scale, "median_flatness": median,
                   "copied_notes": shared_run(melody.notes, train_notes)}
            rows[kind].append(row)
            peak = float(np.abs(raw[i]).max()) if kind == "sample" else float(np.abs(audio).max())
            gain = written[i][1]["gain"] if kind == "sample" else 1.0
            copied = (f"{shared_run(rep.encode(audio), train_codes) / rep.frames_per_second():.2f}"
                      if train_codes is not None else "-")
            print(f"{kind + ' ' + str(i + 1):<16}{melody.voiced:>8.1%}{melody.changes_per_second:>11.2f}"
                  f"{len(melody.notes):>7}{melody.in_scale:>10.1%}{median:>10.5f}{judge_flatness(audio, rate):>11.5f}"
                  f"{spectral_flatness(audio, sample_rate=rate, max_hz=3000):>11.4f}{peak:>7.3f}{gain:>7.3f}"
                  f"{row['copied_notes']:>8} of {len(melody.notes):<3}{copied:>10}")
    print(f"(notes copied: the longest run of the clip's notes found in order in {reference} (pYIN hears the "
          "chords' notes between the melody's, so even a training clip matches its own score in short runs); "
          "s copied: the longest run of frames whose codes follow a training piece (a training clip: all of it). "
          "Samples: raw peak, gain applied when written.)")

    from musegen.models import TRAINING_STATE

    size = sum(f.stat().st_size for f in Path(args.model).iterdir() if f.is_file() and f.name != TRAINING_STATE)
    seconds = sum(bundle.history.get("seconds", []))
    print(f"\nbundle (as shipped: no optimizer state): {size / 1e6:.1f} MB; training: {len(bundle.history.get('loss', []))} epochs in "
          f"{seconds / 60:.1f} min (history.json)\n")
    checks = [(f"every sample: {key.replace('_', ' ')} {'<=' if key == 'median_flatness' else '>='} {goal:g}",
               all((row[key] <= goal) if key == "median_flatness" else (row[key] >= goal) for row in rows["sample"]))
              for key, goal in TARGETS.items()]
    checks += [(f"validation loss below the {name} baseline", bool(r[f"beats_{name}_baseline"])) for name in baselines]
    checks += [("bundle under 20 MB", size < 20e6), ("trained in under two hours", 0 < seconds < 7200)]
    for name, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    main()
