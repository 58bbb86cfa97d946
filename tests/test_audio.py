"""The audio representation end to end: frames of a corpus, Gaussian sampling, evaluation, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import assert_refused, run


def test_encode_decode_round_trip_is_lossless_with_every_coefficient(audio_corpus):
    from musegen.representations.audio import AudioRepresentation

    for overlap in (False, True):
        rep = AudioRepresentation(max_hz=0, overlap=overlap)
        pieces = rep.read_corpus(audio_corpus)
        assert len(pieces) == 4 and all(abs(len(p) - 48000) <= 8 for p in pieces)  # 3 s at 16 kHz, mono
        rep.fit(pieces)
        back = rep.decode(rep.encode(pieces[0]))
        assert len(pieces[0]) <= len(back) < len(pieces[0]) + rep.frame_length  # within a frame
        np.testing.assert_allclose(back[: len(pieces[0])], pieces[0], atol=2e-5)


def test_coefficients_above_max_hz_are_left_out():
    from musegen.representations.audio import AudioRepresentation

    rep = AudioRepresentation(max_hz=1000, overlap=False)
    assert rep.input_spec().size == 2 * 251  # 4 Hz bins from 0 to 1000 Hz
    t = np.arange(16000) / 16000
    low, high = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 3000 * t)
    rep.fit([low + high])
    back = rep.decode(rep.encode(low + high))[:16000]
    np.testing.assert_allclose(back, low, atol=1e-3)  # the 3 kHz partial is gone, 440 Hz kept


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_gaussian_rule_draws_around_the_mean(engine, rule_ops):
    from musegen.rules import COLUMN_RULES

    rule = COLUMN_RULES["gaussian"][0]
    out = np.zeros((2000, 4), np.float32)
    out[:, :2] = [1.0, -1.0]  # means
    out[:, 2:] = [np.log(0.25), np.log(4.0)]  # variances 0.25 and 4
    noise = np.random.default_rng(5).standard_normal((2000, 2)).astype(np.float32)
    ops, arr = rule_ops(engine)

    def draw(temperature):
        return np.asarray(rule(ops, arr(out), arr(out[:, :2]), arr(noise), temperature, 0.0))

    np.testing.assert_allclose(draw(0.0), out[:, :2])  # temperature 0: the study's deterministic regression
    x = draw(1.0)
    np.testing.assert_allclose(x.mean(axis=0), [1, -1], atol=0.15)
    np.testing.assert_allclose(x.std(axis=0), [0.5, 2.0], rtol=0.1)
    np.testing.assert_allclose(draw(0.5).std(axis=0), [0.25, 1.0], rtol=0.1)


def test_sample_writes_16khz_wav_and_spectrogram_and_the_seed_decides(tiny_audio_model, tmp_path):
    outs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        r = run("sample", "audio", "--model", tiny_audio_model, "--seconds", 2, "--num", 2, "--seed", seed,
                "--out", tmp_path / name, "--json")
        assert r.exit_code == 0, r.output
        outs.append(json.loads(r.stdout))
    files = sorted(Path(f).name for f in outs[0]["files"])
    assert files == ["audio_1.png", "audio_1.wav", "audio_2.png", "audio_2.wav"]
    audio, sr = sf.read(tmp_path / "a" / "audio_1.wav", dtype="int16")
    assert sr == 16000 and audio.ndim == 1 and abs(len(audio) - 32000) <= 4000
    same = [(tmp_path / n / "audio_1.wav").read_bytes() for n in ("a", "b", "c")]
    assert same[0] == same[1] and same[0] != same[2]
    assert (tmp_path / "a" / "audio_1.png").read_bytes()[:4] == b"\x89PNG"
    assert outs[0]["pieces"][0]["spectral_flatness"] >= 0


def test_temperature_zero_is_deterministic_whatever_the_seed(tiny_audio_model, tmp_path, audio_corpus):
    wavs = []
    for seed in (1, 2):
        r = run("sample", "audio", "--model", tiny_audio_model, "--frames", 6, "--temperature", 0, "--seed", seed,
                "--primer", audio_corpus / "tune0.wav", "--out", tmp_path / str(seed), "--format", "wav", "--json")
        assert r.exit_code == 0, r.output
        wavs.append(sf.read(json.loads(r.stdout)["files"][0], dtype="int16")[0])  # the sound (the seed is noted)
    assert np.array_equal(wavs[0], wavs[1])


@pytest.mark.parametrize("args, message", [
    (["--seconds", "0"], "--seconds must be positive"),
    (["--seconds", "-2"], "--seconds must be positive"),
    (["--frames", "0"], "--frames"),
    (["--seconds", "1", "--frames", "3"], "not both"),
    (["--format", "mid"], "unknown output format"),
    (["--temperature", "-1"], "--temperature"),
])
def test_sample_refuses_bad_options(tiny_audio_model, tmp_path, args, message):
    assert_refused(run("sample", "audio", "--model", tiny_audio_model, "--out", tmp_path / "o", *args),
                   contains=message)
    assert not (tmp_path / "o").exists()


def test_bad_audio_is_refused_and_nothing_written(tmp_path, tiny_audio_model):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(np.random.default_rng(1).bytes(500))
    assert_refused(run("train", "audio", junk, "--preset", "tiny", "--out", tmp_path / "m1"), contains="junk.wav")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    assert_refused(run("train", "audio", empty, "--preset", "tiny", "--out", tmp_path / "m2"), contains="empty.wav")
    bad = tmp_path / "nan.wav"
    sf.write(bad, np.array([0.1, np.nan, 0.2] * 4000, np.float32), 16000, subtype="FLOAT")
    assert_refused(run("train", "audio", bad, "--preset", "tiny", "--out", tmp_path / "m3"), contains="NaN")
    assert_refused(run("sample", "audio", "--model", tiny_audio_model, "--primer", junk, "--out", tmp_path / "o"),
                   contains="junk.wav")
    assert_refused(run("train", "audio", tmp_path, "--head", "roll", "--out", tmp_path / "m4"),
                   contains="unknown audio head")
    assert not any((tmp_path / f"m{i}").exists() for i in range(1, 5)) and not (tmp_path / "o").exists()


def test_audio_rendered_from_abc_trains(tmp_path, small_corpus):
    from musegen.formats.abc import read_tunes

    two = tmp_path / "two.abc"
    two.write_text("\n".join(read_tunes(small_corpus, clean=False)[:3]))
    r = run("train", "audio", two, "--preset", "tiny", "--epochs", 1, "--out", tmp_path / "m", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["valid_pieces"] == 1


def test_evaluate_reports_baselines_and_flatness(tiny_audio_model, audio_corpus):
    r = run("evaluate", "audio", audio_corpus, "--model", tiny_audio_model, "--samples", 1, "--seconds", 2,
            "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    for key in ("loss", "repeat_loss", "mean_loss", "mse", "repeat_mse", "mean_mse", "sample_flatness",
                "corpus_flatness", "log_spectral_distance"):
        assert np.isfinite(result[key]), key
    assert 0.5 < result["white_noise_flatness"] < 0.6
    assert result["corpus_flatness"] < 0.05  # harmonic tones


def test_convert_any_audio_to_frames_spectrogram_and_back(tmp_path):
    t = np.arange(44100) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 441 * t)
    sf.write(tmp_path / "a.flac", np.stack([tone, tone], axis=1), 44100)
    for args in (["a.flac", "a.npz", "--overlap"], ["a.npz", "b.wav"], ["a.flac", "a.png"], ["a.flac", "c.wav"]):
        r = run("convert", *(tmp_path / a if not a.startswith("--") else a for a in args))
        assert r.exit_code == 0, r.output
    back, sr = sf.read(tmp_path / "b.wav")
    direct, _ = sf.read(tmp_path / "c.wav")
    assert sr == 16000 and abs(len(back) - 16000) <= 1 and len(direct) == len(back)
    np.testing.assert_allclose(back, direct, atol=2 / 32768)  # frames are lossless at 16-bit precision
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert_refused(run("convert", tmp_path / "a.npz", tmp_path / "d.flac"), contains="cannot convert")
    assert_refused(run("convert", tmp_path / "a.flac", tmp_path / "e.npz", "--frame-seconds", "0"),
                   contains="frame length")
    assert not (tmp_path / "d.flac").exists() and not (tmp_path / "e.npz").exists()


def test_study_preset_is_the_l2_regression_of_every_coefficient(tmp_path, audio_corpus):
    r = run("train", "audio", audio_corpus, "--preset", "study", "--units", 8, "--epochs", 1, "--seq-len", 8,
            "--out", tmp_path / "s", "--json")
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "s" / "representation.json").read_text())
    assert cfg["head"] == "linear" and cfg["max_hz"] == 0 and not cfg["overlap"]
    assert len(cfg["normalizer"]["mean"]) == 2 * 2001  # every coefficient of a 4,000-sample frame
    r = run("sample", "audio", "--model", tmp_path / "s", "--frames", 4, "--temperature", 0, "--out", tmp_path / "o",
            "--format", "wav", "--json")
    assert r.exit_code == 0, r.output
    audio, sr = sf.read(json.loads(r.stdout)["files"][0])
    assert sr == 16000 and len(audio) == 4 * 4000  # plain frames, back to back
