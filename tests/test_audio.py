"""The audio representation end to end: codes of a code book and FFT frames of a corpus, sampling with both heads,
evaluation, real recordings, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import assert_refused, run


@pytest.fixture(scope="module")
def tiny_gaussian_model(tmp_path_factory, audio_corpus) -> Path:
    """A tiny Gaussian-head FFT-frame model (the tiny preset with --head gaussian), 2 epochs on the WAV corpus."""
    out = tmp_path_factory.mktemp("models") / "audio-gaussian"
    r = run("train", "audio", audio_corpus, "--preset", "tiny", "--head", "gaussian", "--out", out, "--json")
    assert r.exit_code == 0, r.output
    return out


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


@pytest.mark.parametrize("model", ["tiny_audio_model", "tiny_gaussian_model"])
def test_temperature_zero_is_deterministic_whatever_the_seed(model, request, tmp_path, audio_corpus):
    tiny_audio_model = request.getfixturevalue(model)
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


def test_evaluate_reports_baselines_and_flatness(tiny_gaussian_model, audio_corpus):
    r = run("evaluate", "audio", audio_corpus, "--model", tiny_gaussian_model, "--samples", 1, "--seconds", 2,
            "--no-pitch", "--json")
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


# -- the codes head (the default preset) ------------------------------------------------------------------


def test_codes_head_is_a_token_model_over_a_fitted_code_book(audio_corpus):
    from musegen.representations.audio import AudioRepresentation

    rep = AudioRepresentation(head="codes", frame_seconds=0.064, codes=24, max_hz=2000)
    assert (rep.frame_length, rep.hop, rep.kept_bins) == (1024, 512, 129)
    pieces = rep.read_corpus(audio_corpus)
    rep.fit(pieces[:3])
    assert rep.input_spec().kind == "tokens" and rep.input_spec().size == 24
    assert rep.head().kind == "softmax" and rep.head().size == 24
    ids = rep.encode(pieces[3])
    assert ids.dtype == np.int32 and len(ids) == 1 + len(pieces[3]) // 512 and 0 <= ids.min() and ids.max() < 24
    assert len(set(ids.tolist())) > 8  # a scale of notes is many codes, not one
    audio = rep.decode(ids)
    assert audio.dtype == np.float32 and len(audio) == (len(ids) - 1) * 512
    # what is heard is the codes' sound: the rebuilt audio encodes back to (nearly) the same codes
    assert np.mean(rep.encode(audio) == ids) > 0.8
    back = AudioRepresentation.from_config(json.loads(json.dumps(rep.get_config())))
    assert np.array_equal(back.encode(pieces[3]), ids)
    np.testing.assert_allclose(back.codebook.magnitudes(ids), rep.codebook.magnitudes(ids), rtol=1e-4, atol=1e-6)
    again = back.decode(ids).astype(np.float64)  # 4 decimals of log magnitude kept: the same sound, to 40 dB
    assert 10 * np.log10(np.sum(audio.astype(np.float64) ** 2) / np.sum((again - audio) ** 2)) > 40


def test_codes_head_plays_the_notes_of_its_codes():
    """Codes of a scale of plucked notes: the rebuilt sound carries the same notes (pYIN), tonal, in key."""
    from musegen.formats.audio import band_flatness, melody_of
    from musegen.representations.audio import AudioRepresentation

    sr = 16000
    t = np.arange(int(0.3 * sr)) / sr
    envelope = 0.3 * np.minimum(1, t / 0.005) * np.exp(-4 * t)
    steps = (0, 2, 4, 5, 7, 9, 11, 12)
    scale = np.concatenate([envelope * sum(np.sin(2 * np.pi * 330 * 2 ** (k / 12) * h * t) / h for h in (1, 2, 3))
                            for k in steps]).astype(np.float32)
    rep = AudioRepresentation(head="codes", frame_seconds=0.064, codes=32, max_hz=3000)  # 4 a note
    rep.fit([scale])
    heard = melody_of(rep.decode(rep.encode(scale)), sample_rate=sr)
    assert heard.notes == [64 + k for k in steps]  # E4 major scale, note for note
    assert heard.voiced > 0.9 and heard.in_scale == 1.0
    assert band_flatness(rep.decode(rep.encode(scale)), sample_rate=sr) < 0.002


def test_codes_model_samples_evaluates_and_stays_new(tiny_audio_model, audio_corpus, tmp_path):
    cfg = json.loads((tiny_audio_model / "representation.json").read_text())
    assert cfg["head"] == "codes" and len(cfg["codebook"]["centroids"]) == 16
    r = run("sample", "audio", "--model", tiny_audio_model, "--seconds", 1, "--num", 2, "--iterations", 4,
            "--out", tmp_path / "o", "--format", "wav", "--json")
    assert r.exit_code == 0, r.output
    pieces = json.loads(r.stdout)["pieces"]
    assert len(pieces) == 2 and all(0 <= p["median_flatness"] <= 1 for p in pieces)
    r = run("evaluate", "audio", audio_corpus, "--model", tiny_audio_model, "--samples", 1, "--seconds", 2, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["loss_unit"] == "nats/frame" and result["valid_frames"] > 50
    for key in ("loss", "unigram_loss", "repeat_loss", "bigram_loss"):
        assert 0 < result[key] < 2 * np.log(16), key
    assert result["beats_unigram_baseline"] == (result["loss"] < result["unigram_loss"])
    melody = result["sample_melody"][0]
    assert set(melody) == {"voiced", "pitch_changes_per_second", "notes", "in_scale"}
    assert result["corpus_melody"][0]["voiced"] > 0.8  # the held-out scale: harmonic tones throughout
    assert 0 <= result["sample_copied_seconds"][0] <= 2.1 and result["corpus_copied_seconds"][0] >= 0


def test_real_recordings_of_every_format_train_the_codes_head(tmp_path):
    """A folder of WAV (float and 16-bit), FLAC and OGG recordings at other rates trains, samples and evaluates."""
    rng = np.random.default_rng(3)
    folder = tmp_path / "recordings"
    folder.mkdir()
    for i, (suffix, rate, subtype) in enumerate(((".wav", 44100, "FLOAT"), (".flac", 48000, "PCM_24"),
                                                  (".ogg", 22050, "VORBIS"), (".wav", 16000, "PCM_16"))):
        t = np.arange(int(2.5 * rate)) / rate
        f0 = 220 * 2 ** (rng.integers(0, 12, size=10) / 12)
        tone = np.concatenate([np.sin(2 * np.pi * f * t[: len(t) // 10]) * np.exp(-3 * t[: len(t) // 10])
                               for f in f0])
        tone = 0.3 * tone + 0.003 * rng.standard_normal(len(tone))  # a room's hiss
        sf.write(folder / f"take{i}{suffix}", tone.astype(np.float32), rate, subtype=subtype)
    r = run("train", "audio", folder, "--preset", "tiny", "--epochs", 1, "--out", tmp_path / "m", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["pieces"] == 4
    r = run("sample", "audio", "--model", tmp_path / "m", "--seconds", 1, "--primer", folder / "take1.flac",
            "--out", tmp_path / "o", "--format", "wav", "--json")
    assert r.exit_code == 0, r.output
    audio, sr = sf.read(json.loads(r.stdout)["files"][0])
    assert sr == 16000 and abs(len(audio) - 16000) <= 1024


@pytest.mark.parametrize("args, message", [
    (["--head", "gaussian", "--hop-seconds", "0.01"], "--hop-seconds is for the codes head"),
    (["--hop-seconds", "0.1"], "at most --frame-seconds"),
    (["--codes", "1"], "--codes must be between 2"),
    (["--codes", "5000"], "--codes must be between 2"),
    (["--codes", "4000"], "cannot make 4,000 codes"),  # more codes than the corpus has frames
])
def test_codes_settings_are_checked(tmp_path, audio_corpus, args, message):
    out = tmp_path / "m"
    assert_refused(run("train", "audio", audio_corpus, "--preset", "tiny", *args, "--out", out), contains=message)
    assert not out.exists()


def test_heads_start_from_their_presets():
    from musegen.representations.audio import AudioRepresentation

    assert AudioRepresentation.preset_for({"head": "gaussian"}) == "frames"
    assert AudioRepresentation.preset_for({"head": "linear"}) == "frames"
    assert AudioRepresentation.preset_for({"head": "codes"}) is None  # the default preset
    assert AudioRepresentation.presets["default"]["extra"]["head"] == "codes"
    assert AudioRepresentation.presets["study"]["extra"] == {"head": "linear", "frame_seconds": 0.25, "max_hz": 0,
                                                             "overlap": False}
    assert AudioRepresentation.loss_unit_of({"head": "codes"}) == "nats/frame"


def test_a_float_wav_comes_back_float_through_frames(tmp_path):
    """convert a.wav a.npz, then a.npz b.wav: a 32-bit float file stays float (lossless), or --subtype says."""
    rng = np.random.default_rng(0)
    t = np.arange(3 * 16000) / 16000
    signal = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    signal[100] = 1.5  # over full scale: a float file may hold it, a 16-bit one may not
    sf.write(tmp_path / "a.wav", signal, 16000, subtype="FLOAT")
    for args in (["a.wav", "a.npz"], ["a.npz", "b.wav"], ["a.npz", "c.wav", "--subtype", "pcm_16"],
                 ["a.wav", "o.npz", "--overlap"], ["o.npz", "o.wav"]):
        r = run("convert", *(tmp_path / a if not a.startswith("--") and a != "pcm_16" else a for a in args))
        assert r.exit_code == 0, r.output

    def snr(path):
        back, sr = sf.read(tmp_path / path, dtype="float64")
        assert sr == 16000 and len(back) == len(signal)
        ref = signal.astype(np.float64)
        return 10 * np.log10(np.sum(ref**2) / np.sum((ref - back) ** 2))

    assert sf.info(tmp_path / "b.wav").subtype == "FLOAT" and snr("b.wav") >= 120
    assert sf.info(tmp_path / "o.wav").subtype == "FLOAT" and snr("o.wav") >= 90
    assert sf.info(tmp_path / "c.wav").subtype == "PCM_16" and snr("c.wav") < 90  # rounded (and clipped)
    assert_refused(run("convert", tmp_path / "a.npz", tmp_path / "d.wav", "--subtype", "MP9"), contains="--subtype")
    assert not (tmp_path / "d.wav").exists()


def test_sampling_audio_never_imports_librosa_or_tensorflow(tiny_audio_model, tmp_path):
    """A sampled piece (codes head: its primer's transform, Griffin-Lim) pays for NumPy only: librosa's import
    alone took seconds, more than the rest of `sample audio --seconds 4`."""
    code = ("import sys; from musegen.cli import main; sys.argv = ['musegen', 'sample', 'audio', '--model', "
            f"{str(tiny_audio_model)!r}, '--engine', 'numpy', '--seconds', '1', '--iterations', '2', '--out', "
            f"{str(tmp_path)!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "heavy = [m for m in ('librosa', 'scipy.signal', 'tensorflow', 'keras') if m in sys.modules]\n"
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "audio_1.wav").is_file()
