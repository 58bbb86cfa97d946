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


# -- midi --------------------------------------------------------------------------------------------------

ROLL_STATS = ("notes_per_second", "polyphony", "pitch_range", "pitch_class_entropy", "scale_consistency",
              "empty_beat_rate")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


class _RollBaselines:
    """Two predictors of the next column, fitted on the training columns.

    ``repeat``: the previous column again (sounding stays sounding with the
    training rate of that, a held note keeps its velocity); ``average``: each
    pitch's training average, whatever came before.
    """

    def __init__(self, train: np.ndarray, n: int) -> None:
        prev, nxt = train[:-1], train[1:]
        self.n = n
        if train.shape[1] == n:  # linear head: velocities only
            self.mean_vel = train.mean(axis=0)
            return
        ps, s = prev[:, :n] > 0.5, nxt[:, :n] > 0.5
        self.stay = s[ps].mean() if ps.any() else 0.5  # P(sounding | sounding before)
        self.start = s[~ps].mean() if (~ps).any() else 0.01  # P(sounding | silent before)
        both = ps & s
        self.restrike = (nxt[:, n:2 * n][both] > 0.5).mean() if both.any() else 0.1
        self.p_sound = np.clip(train[:, :n].mean(axis=0), 1e-6, 1)
        sounding = train[:, :n] > 0.5
        self.p_onset = np.clip((train[:, n:2 * n] * sounding).sum(0) / np.maximum(1, sounding.sum(0)), 1e-3, 1 - 1e-3)
        onsets = train[:, n:2 * n] > 0.5
        overall = train[:, 2 * n:][onsets].mean() if onsets.any() else 0.6
        self.onset_vel = np.where(onsets.sum(0) > 0, (train[:, 2 * n:] * onsets).sum(0) / np.maximum(1, onsets.sum(0)),
                                  overall)
        self.mean_vel = train[:, 2 * n:].mean(axis=0)  # expected velocity, silence counted as 0

    def predict(self, kind: str, prev: np.ndarray) -> np.ndarray:
        """Head outputs ``[shape like the model's]`` predicting each column after ``prev``."""
        n = self.n
        if prev.shape[1] == n:
            return prev if kind == "repeat" else np.broadcast_to(self.mean_vel, prev.shape)
        ps = prev[:, :n] > 0.5
        if kind == "repeat":
            sound = np.where(ps, self.stay, self.start)
            onset = np.where(ps, self.restrike, 1.0)
            vel = np.where(ps, prev[:, 2 * n:], self.onset_vel)
        else:
            sound = np.broadcast_to(self.p_sound, ps.shape)
            onset = np.broadcast_to(self.p_onset, ps.shape)
            vel = np.broadcast_to(self.onset_vel, ps.shape)
        return np.concatenate([_logit(sound), _logit(onset), vel], axis=1)


def held_out_scores(bundle, pieces: list[Any], predictors: dict[str, Any], score) -> tuple[int, dict[str, float]]:
    """Score every step after the first of each held-out piece, by the model and by each baseline.

    ``predictors`` maps a baseline's name to ``predict(previous columns) ->
    outputs shaped like the model's``; ``score(outputs, targets, previous)``
    returns named per-step means.  Returns the number of steps scored and the
    step-weighted means: ``key`` for the model, ``NAME_key`` for a baseline.
    """
    rows: dict[str, list[tuple[int, dict[str, float]]]] = {"model": [], **{k: [] for k in predictors}}
    rep = bundle.representation
    for piece in pieces:
        cols = rep.encode(piece)
        if len(cols) < 2:
            continue
        prev, target = cols[:-1], cols[1:]
        pred = np.asarray(bundle.model(cols[None, :-1], training=False))[0]
        rows["model"].append((len(target), score(pred, target, prev)))
        for kind, predict in predictors.items():
            rows[kind].append((len(target), score(predict(prev), target, prev)))
    if not rows["model"]:
        raise UsageError("no held-out piece is long enough to score (two steps at least)")
    means: dict[str, float] = {}
    for kind, scored in rows.items():
        weights = np.array([w for w, _ in scored], float)
        for key in scored[0][1]:
            means[key if kind == "model" else f"{kind}_{key}"] = float(
                np.average([r[key] for _, r in scored], weights=weights))
    return int(sum(w for w, _ in rows["model"])), means


def _roll_scores(pred: np.ndarray, target: np.ndarray, prev: np.ndarray, n: int) -> dict[str, float]:
    """Per column: the head's loss (and its parts) and the expected-velocity error in velocity units squared."""
    from musegen.models import roll_loss_terms

    if target.shape[1] == n:  # linear head
        mse = float(np.mean(np.square(pred - target)))
        return {"loss": mse, "velocity_mse": mse * 127.0 ** 2}
    total, sound, onset, vel = roll_loss_terms(np, target, pred)
    ps = prev[:, :n] > 0.5
    p = 1.0 / (1.0 + np.exp(-pred[:, :n]))
    expected = p * np.where(ps, prev[:, 2 * n:], np.clip(pred[:, 2 * n:], 0, 1)) * 127.0
    return {"loss": float(total.mean()), "sounding_nats": float(sound.mean()), "onset_nats": float(onset.mean()),
            "velocity_error": float(vel.mean()),
            "velocity_mse": float(np.mean(np.square(expected - target[:, 2 * n:] * 127.0)))}


def evaluate_midi(bundle, corpus: str | os.PathLike, *, samples: int = 8, threshold: float = 15.0,
                  temperature: float = 0.25, seed: int = 0, beats: float = 64.0, primer_beats: float = 4.0,
                  thresholds: tuple[float, ...] = ()) -> dict[str, Any]:
    """Validation loss next to two baselines, and musical statistics of samples against the corpus.

    ``corpus`` is read with the model's settings and split as in training
    (the bundle's ``valid_split`` and ``seed``), so the model's own corpus
    gives back its held-out pieces.  The losses are per column (time step):
    the head's loss, and for every head the squared error of the expected
    velocity (``P(sounding)`` times velocity; the study's MSE) in velocity
    units.  Baselines: ``repeat`` (the previous column again) and
    ``average`` (each pitch's training average).  Then ``samples`` pieces of
    ``beats`` beats are generated at ``threshold`` (and at each of
    ``thresholds``), and MusPy's statistics are compared with the corpus's.
    """
    from musegen.metrics import roll_statistics
    from musegen.pipeline import check_sampling, generate, split_pieces

    if samples < 0:
        raise UsageError(f"--samples must be 0 or positive, got {samples}")
    check_threshold(threshold)
    for t in thresholds:
        check_threshold(t)
    check_sampling(temperature=temperature, seed=seed)
    rep = bundle.representation
    path = rep.resolve_corpus(corpus)
    pieces = rep.read_corpus(path)
    train, valid = split_pieces(pieces, valid_split=bundle.config.valid_split, seed=bundle.config.seed)
    n = 128
    t0 = time.perf_counter()
    train_cols = np.concatenate([rep.encode(p) for p in train])
    baselines = _RollBaselines(train_cols, n)
    predictors = {kind: (lambda prev, kind=kind: baselines.predict(kind, prev)) for kind in ("repeat", "average")}
    steps, means = held_out_scores(bundle, valid, predictors,
                                   lambda pred, target, prev: _roll_scores(pred, target, prev, n))
    result: dict[str, Any] = {"corpus": str(corpus), "model": str(bundle.path), "head": rep.head_kind,
                              "pieces": len(pieces), "valid_pieces": len(valid), "valid_columns": steps, **means}
    result["beats_both_baselines"] = bool(result["loss"] < min(result["repeat_loss"], result["average_loss"]))
    result["seconds"] = round(time.perf_counter() - t0, 3)
    corpus_stats = [roll_statistics(p) for p in pieces]
    result["corpus_stats"] = _mean_stats(corpus_stats)
    result["corpus_max_polyphony"] = int(max(int((p.velocity > 0).sum(axis=0).max(initial=0)) for p in pieces))
    if samples:
        primer = rep.primer(bundle.path, None, beats=primer_beats)
        steps = max(1, round(beats * rep.steps_per_beat))
        for t in (threshold, *thresholds):
            gen = generate(bundle, num=samples, temperature=temperature, seed=seed, max_length=steps,
                           primer=rep.encode_primer(primer, num=samples, seed=seed), threshold=t)
            stats = [roll_statistics(p) for p in gen.pieces]
            key = "samples" if t == threshold else f"samples_at_{t:g}"
            result[key] = {"threshold": t, "temperature": temperature, **_mean_stats(stats),
                           "silent_rate": float(np.mean([s["notes"] == 0 for s in stats])),
                           "max_polyphony": int(max(int((p.velocity > 0).sum(axis=0).max(initial=0))
                                                    for p in gen.pieces)),
                           "columns_per_second": round(gen.tokens / gen.seconds, 1) if gen.seconds else None}
        result["samples_within_30pct"] = {
            k: bool(abs(result["samples"][k] / result["corpus_stats"][k] - 1) <= 0.3)
            for k in ("notes_per_second", "polyphony") if result["corpus_stats"].get(k)}
    return result


def _mean_stats(stats: list[dict[str, Any]]) -> dict[str, float]:
    """Mean of each statistic over pieces (NaN, e.g. of a silent piece, left out); notes summed."""
    out: dict[str, float] = {"notes": int(sum(s["notes"] for s in stats))}
    for key in ROLL_STATS:
        vals = [s[key] for s in stats if not np.isnan(s[key])]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    return out


def check_threshold(threshold: float) -> None:
    """Refuse a threshold outside 0..127 velocity units."""
    if not (0 <= threshold <= 127):
        raise UsageError(f"--threshold is in velocity units from 0 to 127, got {threshold}")


# -- audio -------------------------------------------------------------------------------------------------


def _frame_scores(pred: np.ndarray, target: np.ndarray, head: str) -> dict[str, float]:
    """Per frame: the head's loss (Gaussian nats per value, or L2) and the squared error of the mean."""
    from musegen.models import gaussian_nll

    n = target.shape[1]
    mse = float(np.mean(np.square(pred[:, :n] - target)))
    if head == "gaussian":
        return {"loss": float(np.mean(gaussian_nll(np, target, pred))), "mse": mse}
    return {"loss": mse, "mse": mse}


def evaluate_audio(bundle, corpus: str | os.PathLike, *, samples: int = 4, seconds: float = 10.0,
                   temperature: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Validation loss next to two baselines, and the sound of samples against the corpus.

    ``corpus`` is read with the model's settings and split as in training, so
    the model's own corpus gives back its held-out pieces.  Losses are per
    value of the normalised frames: the head's loss (Gaussian nats, or the
    study's L2) and the mean squared error of the predicted mean.  Baselines:
    ``repeat`` (the last frame again, with the training variance of a frame's
    change) and ``mean`` (the training mean frame, unit variance).  Samples:
    spectral flatness and log-spectral distance to the held-out audio, both
    measured on the band the model generates, beside white noise in that band.
    """
    from musegen.formats.audio import log_spectral_distance, spectral_flatness
    from musegen.pipeline import check_sampling, generate, split_pieces

    if samples < 0:
        raise UsageError(f"--samples must be 0 or positive, got {samples}")
    if not seconds > 0:
        raise UsageError(f"--seconds must be positive, got {seconds}")
    check_sampling(temperature=temperature, seed=seed)
    rep = bundle.representation
    pieces = rep.read_corpus(rep.resolve_corpus(corpus))
    train, valid = split_pieces(pieces, valid_split=bundle.config.valid_split, seed=bundle.config.seed)
    t0 = time.perf_counter()
    train_cols = [rep.encode(p) for p in train]
    change_var = np.mean(np.concatenate([np.square(np.diff(c, axis=0)) for c in train_cols if len(c) > 1]), axis=0)
    n = rep.input_spec().size
    baselines = {  # outputs shaped like the model's: [mean] or [mean, log-variance]
        "repeat": lambda prev: np.concatenate([prev, np.broadcast_to(np.log(np.maximum(change_var, 1e-6)),
                                                                     prev.shape)], axis=1),
        "mean": lambda prev: np.zeros((len(prev), 2 * n), np.float32),  # normalised: mean 0, variance 1
    }
    steps, means = held_out_scores(bundle, valid, baselines,
                                   lambda pred, target, prev: _frame_scores(pred, target, rep.head_kind))
    result: dict[str, Any] = {"corpus": str(corpus), "model": str(bundle.path), "head": rep.head_kind,
                              "pieces": len(pieces), "valid_pieces": len(valid), "valid_frames": steps, **means}
    result["beats_repeat_baseline"] = bool(result["loss"] < result["repeat_loss"])
    result["beats_mean_baseline"] = bool(result["loss"] < result["mean_loss"])
    band = rep.band_hz
    noise = np.random.default_rng(0).normal(0, 0.1, rep.sample_rate * 10).astype(np.float32)
    result["band_hz"] = band or rep.sample_rate / 2
    result["corpus_flatness"] = spectral_flatness(valid, sample_rate=rep.sample_rate, max_hz=band)
    result["white_noise_flatness"] = spectral_flatness(noise, sample_rate=rep.sample_rate, max_hz=band)
    result["seconds"] = round(time.perf_counter() - t0, 3)
    if samples:
        frames = max(1, round(seconds * rep.frames_per_second()))
        primer = rep.primer(bundle.path, None)
        gen = generate(bundle, num=samples, temperature=temperature, seed=seed, max_length=frames,
                       primer=rep.encode_primer(primer, num=samples, seed=seed))
        audio = [p for p in gen.pieces if np.abs(p).max() > 1e-4]
        result["samples"] = samples
        result["temperature"] = temperature
        result["silent_samples"] = samples - len(audio)
        result["frames_per_second_generated"] = round(gen.tokens / gen.seconds, 1) if gen.seconds else None
        if audio:
            result["sample_flatness"] = spectral_flatness(audio, sample_rate=rep.sample_rate, max_hz=band)
            result["sample_flatness_per_piece"] = [
                round(spectral_flatness(a, sample_rate=rep.sample_rate, max_hz=band), 5) for a in audio]
            result["flatness_below_tenth_of_noise"] = bool(
                result["sample_flatness"] < 0.1 * result["white_noise_flatness"])
            result["log_spectral_distance"] = log_spectral_distance(audio, valid, sample_rate=rep.sample_rate,
                                                                    max_hz=band)
            result["noise_log_spectral_distance"] = log_spectral_distance(noise, valid, sample_rate=rep.sample_rate,
                                                                          max_hz=band)
            result["clipped_share"] = float(np.mean(np.concatenate([np.abs(a) > 1 for a in audio])))
    return result
