"""Evaluate a model: likelihood next to a baseline, and the quality of its samples."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from musegen.errors import UsageError


def evaluate_abc(bundle, path: str | os.PathLike, *, samples: int = 0, temperature: float = 1.0, seed: int = 0,
                 max_length: int = 2000, order: int = 4, abc2midi: bool = True) -> dict[str, Any]:
    """Bits per character of the tunes in ``path`` under the model and under an n-gram baseline.

    Every character of every tune (comments dropped, as in training) is scored,
    plus each tune's end marker; the start marker is the context.  The
    baseline is an interpolated character ``order``-gram fitted on the model's
    training tunes (``training.abc`` in the bundle).  With ``samples`` > 0,
    that many tunes are generated and checked: the share with every bar
    fitting, the share abc2midi reads with no error (when installed) and the
    share that copies a run of 48 body characters of a training tune.
    """
    from musegen.formats.abc import read_tunes
    from musegen.metrics import CharNgram, shared_runs
    from musegen.pipeline import token_bits

    from musegen.pipeline import check_sampling

    if samples < 0:
        raise UsageError(f"--samples must be 0 or positive, got {samples}")
    check_sampling(temperature=temperature, seed=seed)
    rep = bundle.representation
    tunes = read_tunes(path, clean=True)
    arrays = [rep.encode(t) for t in tunes]
    t0 = time.perf_counter()
    bits = token_bits(bundle.model, arrays)
    result: dict[str, Any] = {
        "file": str(path),
        "model": str(bundle.path),
        "tunes": len(tunes),
        "characters": int(bits.size),
        "bits_per_char": float(bits.mean()),
        "unknown_chars": int(sum(int((a == 3).sum()) for a in arrays)),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    training = _training_tunes(bundle.path)
    if training:
        ngram = CharNgram(order=order).fit(training)
        result["baseline"] = f"interpolated Kneser-Ney character {order}-gram on {len(training)} training tunes"
        result["baseline_bits_per_char"] = float(ngram.bits_per_char(tunes))
        result["improvement"] = 1.0 - result["bits_per_char"] / result["baseline_bits_per_char"]
    if samples:
        result.update(sample_quality(bundle, samples=samples, temperature=temperature, seed=seed,
                                     max_length=max_length, training=training, abc2midi=abc2midi))
        result["copy_rate_n"] = 48
        _ = shared_runs  # imported for the side effect of failing early when metrics is missing
    return result


def _training_tunes(bundle_path: Path) -> list[str]:
    from musegen.formats.abc import read_tunes

    f = Path(bundle_path) / "training.abc"
    return read_tunes(f, clean=True) if f.is_file() else []


def sample_quality(bundle, *, samples: int, temperature: float, seed: int, max_length: int,
                   training: list[str], abc2midi: bool = True) -> dict[str, Any]:
    """Generate ``samples`` tunes and measure validity and copying."""
    from musegen.formats.abccheck import abc2midi_available, abc2midi_check, check_tune
    from musegen.metrics import shared_runs
    from musegen.pipeline import generate_tokens

    rep = bundle.representation
    gen = generate_tokens(bundle, num=samples, temperature=temperature, seed=seed, max_length=max_length,
                          primer=rep.encode_primer("X:1\n"))
    texts = ["X:1\n" + p for p in gen.pieces]  # the primer, then what was generated
    checks = [check_tune(t, repair=False) for t in texts]
    out: dict[str, Any] = {
        "samples": samples,
        "sample_chars_per_second": round(gen.tokens / gen.seconds, 1) if gen.seconds else None,
        "complete_rate": float(np.mean([t.rstrip().endswith(("|", "]", ":")) or len(t) < max_length for t in texts])),
        "meter_valid_rate": float(np.mean([c.valid for c in checks])),
        "bars_fitting_rate": float(sum(c.bars_fitting for c in checks) / max(1, sum(c.bars for c in checks))),
    }
    if training:
        out["copy_rate"] = float(np.mean(shared_runs(texts, training, n=48)))
    if abc2midi and abc2midi_available():
        out["abc2midi_ok_rate"] = float(np.mean([abc2midi_check(t)[0] for t in texts]))
    return out
