"""Evaluate a model: likelihood next to a baseline, and the quality of its samples."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from musegen.errors import UsageError


DEFAULT_PRIMER = "X:"  # the model writes the tune number, then the header and the tune


def evaluate_abc(bundle, path: str | os.PathLike, *, samples: int = 0, temperature: float = 0.8, seed: int = 0,
                 max_length: int = 2000, order: int = 4, abc2midi: bool = True,
                 candidates: int = 4) -> dict[str, Any]:
    """Bits per character of the tunes in ``path`` under the model and under an n-gram baseline.

    Every character of every tune (comments dropped, as in training) is scored,
    plus each tune's end marker; the start marker is the context.  The
    baseline is an interpolated character ``order``-gram fitted on the model's
    training tunes (``training.abc`` in the bundle).  With ``samples`` > 0,
    that many tunes are generated and checked: the share with every bar
    fitting, the share abc2midi reads with no error (when installed) and the
    share that copies a run of 48 body characters of a training tune, both
    raw (``*_raw``: first draw, unrepaired) and as ``musegen sample`` writes
    them (repaired, best of ``candidates`` draws).
    """
    from musegen.formats.abc import read_tunes
    from musegen.metrics import CharNgram
    from musegen.pipeline import check_sampling, token_bits
    from musegen.representations.abc import UNK_ID

    if samples < 0:
        raise UsageError(f"--samples must be 0 or positive, got {samples}")
    check_sampling(temperature=temperature, seed=seed, max_length=max_length, candidates=candidates)
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
        "unknown_chars": int(sum(int((a == UNK_ID).sum()) for a in arrays)),
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
                                     max_length=max_length, training=training, abc2midi=abc2midi,
                                     candidates=candidates))
        result["copy_rate_n"] = 48
    return result


def _training_tunes(bundle_path: Path) -> list[str]:
    from musegen.formats.abc import read_tunes

    f = Path(bundle_path) / "training.abc"
    return read_tunes(f, clean=True) if f.is_file() else []


def sample_quality(bundle, *, samples: int, temperature: float, seed: int, max_length: int,
                   training: list[str], abc2midi: bool = True, candidates: int = 4) -> dict[str, Any]:
    """Generate tunes and measure validity and copying, raw and as ``musegen sample`` writes them.

    ``raw``: the first draw for each tune, unrepaired.  Written: repaired,
    and the first of ``candidates`` draws whose every bar fits (as
    :func:`musegen.pipeline.sample` does).
    """
    from musegen.formats.abccheck import abc2midi_available, abc2midi_check, check_tune
    from musegen.metrics import shared_runs
    from musegen.pipeline import generate_tokens, select_candidates

    rep = bundle.representation
    gen = generate_tokens(bundle, num=samples * candidates, temperature=temperature, seed=seed,
                          max_length=max_length, primer=rep.encode_primer(DEFAULT_PRIMER))
    texts = [DEFAULT_PRIMER + p for p in gen.pieces]  # the primer, then what was generated
    raw = texts[::candidates]
    written = [piece for piece, _ in select_candidates(rep, texts, candidates=candidates)]
    raw_checks = [check_tune(t, repair=False) for t in raw]
    written_checks = [check_tune(t, repair=False) for t in written]
    out: dict[str, Any] = {
        "samples": samples,
        "temperature": temperature,
        "candidates": candidates,
        "sample_chars_per_second": round(gen.tokens / gen.seconds, 1) if gen.seconds else None,
        "meter_valid_rate": float(np.mean([c.bars_fitting == c.bars for c in written_checks])),
        "meter_valid_rate_raw": float(np.mean([c.bars_fitting == c.bars for c in raw_checks])),
        "check_valid_rate": float(np.mean([c.valid for c in written_checks])),
        "check_valid_rate_raw": float(np.mean([c.valid for c in raw_checks])),
        "bars_fitting_rate_raw": float(sum(c.bars_fitting for c in raw_checks)
                                       / max(1, sum(c.bars for c in raw_checks))),
    }
    if training:
        out["copy_rate"] = float(np.mean(shared_runs(written, training, n=48)))
        out["copy_rate_raw"] = float(np.mean(shared_runs(raw, training, n=48)))
    if abc2midi and abc2midi_available():
        out["abc2midi_ok_rate"] = float(np.mean([abc2midi_check(t)[0] for t in written]))
        out["abc2midi_ok_rate_raw"] = float(np.mean([abc2midi_check(t)[0] for t in raw]))
    return out
