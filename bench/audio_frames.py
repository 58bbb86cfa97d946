"""Audio FFT frames: round-trip accuracy and speed, and spectral flatness of reference sounds.

Run: .venv/bin/python bench/audio_frames.py [--tunes 4] [--repeat 3] [--seed 0]

The first N jigs of corpora/jigs/jigs.abc are played (abc_to_song) and rendered
by the built-in synthesizer at 16 kHz.  For plain frames and for windowed
overlap-add (sqrt-Hann, 50 %) it prints the round-trip SNR (dB, worst tune and
all tunes together) and the speed of audio -> frames and frames -> audio in
frames per second and as a real-time factor (seconds of audio per second of
work); then the round trip of files, a 32-bit float WAV through `musegen
convert a.wav a.npz` and `a.npz b.wav`: the sample format written back and the
SNR (target: float back, at least 90 dB), and with --subtype PCM_16.  Then the spectral flatness of the music, of white noise, of the music
with white noise 10 dB below it (RMS), and of a single sine; the issue's
reference figures are music near 0.003, white noise 0.56, music + noise at
-10 dB 0.12.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def snr_db(reference: np.ndarray, rebuilt: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    err = ref - rebuilt.astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-300)))


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tunes", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from musegen.formats.abc import read_tunes
    from musegen.formats.abc.player import abc_to_song
    from musegen.formats.audio import (
        SAMPLE_RATE,
        audio_to_frames,
        frames_to_audio,
        log_spectral_distance,
        song_to_audio,
        spectral_flatness,
    )

    sr = SAMPLE_RATE
    tunes = read_tunes(ROOT / "corpora" / "jigs" / "jigs.abc")[: args.tunes]
    start = time.perf_counter()
    music = [song_to_audio(abc_to_song(t)[0], sample_rate=sr) for t in tunes]
    seconds = sum(len(m) for m in music) / sr
    print(f"{len(music)} jigs rendered at {sr} Hz: {seconds:.1f} s of audio in {time.perf_counter() - start:.2f} s")

    print(f"\n{'framing':<18}{'frames':>8}{'SNR min':>10}{'SNR all':>10}{'max err':>10}"
          f"{'fwd fr/s':>11}{'fwd RTF':>9}{'inv fr/s':>11}{'inv RTF':>9}")
    for name, overlap in (("plain", False), ("overlap-add hann", True)):
        frames_total, t_fwd, t_inv, snrs, err, num, den = 0, 0.0, 0.0, [], 0.0, 0.0, 0.0
        for m in music:
            tf, frames = best_time(lambda: audio_to_frames(m, sample_rate=sr, overlap=overlap), args.repeat)
            ti, back = best_time(lambda: frames_to_audio(frames), args.repeat)
            assert len(back) == len(m)
            frames_total += len(frames.data)
            t_fwd, t_inv = t_fwd + tf, t_inv + ti
            snrs.append(snr_db(m, back))
            err = max(err, float(np.abs(m - back).max()))
            num += float(np.sum(m.astype(np.float64) ** 2))
            den += float(np.sum((m.astype(np.float64) - back) ** 2))
        print(f"{name:<18}{frames_total:>8}{min(snrs):>10.1f}{10 * np.log10(num / den):>10.1f}{err:>10.1e}"
              f"{frames_total / t_fwd:>11.0f}{seconds / t_fwd:>9.0f}"
              f"{frames_total / t_inv:>11.0f}{seconds / t_inv:>9.0f}")

    import tempfile

    import soundfile as sf

    from musegen.formats import ConvertOptions, convert

    print("\nfiles: a 32-bit float WAV -> .npz of frames -> WAV (musegen convert), every tune")
    print(f"{'framing':<18}{'written as':<22}{'subtype':>9}{'SNR min':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, overlap in (("plain", False), ("overlap-add hann", True)):
            for label, subtype in (("default (the source's)", None), ("--subtype PCM_16", "PCM_16")):
                snrs, written = [], set()
                for i, m in enumerate(music):
                    src, npz, out = (Path(tmp) / f"{i}{s}" for s in (".wav", ".npz", "-back.wav"))
                    sf.write(src, m, sr, subtype="FLOAT")
                    convert(src, npz, options=ConvertOptions(overlap=overlap, force=True))
                    convert(npz, out, options=ConvertOptions(subtype=subtype, force=True))
                    back, _ = sf.read(out, dtype="float32")
                    snrs.append(snr_db(m, back))
                    written.add(sf.info(out).subtype)
                print(f"{name:<18}{label:<22}{'/'.join(sorted(written)):>9}{min(snrs):>10.1f}")

    rng = np.random.default_rng(args.seed)
    noise = [rng.standard_normal(len(m)).astype(np.float32) * 0.1 for m in music]
    noisy = []
    for m, z in zip(music, noise):
        gain = np.sqrt(np.mean(m.astype(np.float64) ** 2) / np.mean(z.astype(np.float64) ** 2)) * 10 ** (-10 / 20)
        noisy.append((m + gain * z).astype(np.float32))
    t = np.arange(4 * sr) / sr
    sine = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)

    print("\nspectral flatness (mean over non-silent 128 ms frames; issue's reference in brackets)")
    rows = (("music (jigs)", music, "0.003"), ("white noise", noise, "0.56"),
            ("music + noise at -10 dB", noisy, "0.12"), ("sine 440 Hz", sine, "-"))
    for name, audio, ref in rows:
        each = [spectral_flatness(a, sample_rate=sr) for a in (audio if isinstance(audio, list) else [audio])]
        print(f"  {name:<26}{np.mean(each):>8.4f}   per tune {' '.join(f'{v:.4f}' for v in each)}   [{ref}]")

    print("\nlog spectral distance to the music (dB)")
    for name, audio in (("music, first half vs second half", None), ("white noise", noise),
                        ("music + noise at -10 dB", noisy)):
        if audio is None:
            half = len(music) // 2 or 1
            d = log_spectral_distance(music[:half], music[half:] or music, sample_rate=sr)
        else:
            d = log_spectral_distance(audio, music, sample_rate=sr)
        print(f"  {name:<34}{d:>8.2f}")


if __name__ == "__main__":
    main()
