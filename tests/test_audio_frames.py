"""Audio FFT frames: reading any audio, framing round trips, .npz files, WAV output (in the source's sample format),
measures (flatness, melody, shared runs), pictures, code books and Griffin-Lim."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import soundfile as sf

from musegen.errors import MusegenError, UsageError
from musegen.formats.audio import (
    FRAME_SECONDS,
    SAMPLE_RATE,
    FrameNormalizer,
    Frames,
    audio_files,
    audio_to_frames,
    draw_spectrogram,
    draw_spectrogram_npz,
    frames_npz_to_wav,
    frames_to_audio,
    log_spectral_distance,
    midi_or_abc_to_audio,
    read_audio,
    read_frames,
    song_to_audio,
    spectral_flatness,
    wav_to_frames_npz,
    write_audio,
    write_frames,
)
from musegen.formats.midi import Note, Song

SR = SAMPLE_RATE
ATOL = 1e-6  # float32 frames: the samples come back to about 1e-7
TWO_TUNES = """X:1
T:One
M:6/8
L:1/8
K:D
|:A|dfa agf|e2d cBA|dfa agf|e3 e2:|

X:2
T:Two
M:3/4
L:1/4
K:G
|:G A B|c B A|G2 D|G3:|
"""


def snr_db(reference: np.ndarray, rebuilt: np.ndarray) -> float:
    ref = np.asarray(reference, dtype=np.float64)
    err = ref - np.asarray(rebuilt, dtype=np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-300)))


def sine(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(round(seconds * sr))) / sr)).astype(np.float32)


def chirp(seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.7 * np.sin(2 * np.pi * (100 * t + (5000 - 100) * t**2 / (2 * seconds)))).astype(np.float32)


def noise(seconds: float, sr: int = SR, seed: int = 0, scale: float = 0.2) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def amplitude_at(audio: np.ndarray, freq: int, sr: int = SR) -> float:
    """Amplitude of an integer-Hz component, from one second in the middle (1 Hz DFT bins)."""
    mid = len(audio) // 2
    part = audio[mid - sr // 2 : mid + sr // 2].astype(np.float64)
    return float(2 * np.abs(np.fft.rfft(part))[freq] / len(part))


def peak_hz(audio: np.ndarray, sr: int = SR) -> float:
    n = 4 * sr
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n))
    return float(np.fft.rfftfreq(n, 1 / sr)[spectrum.argmax()])


def one_line_error(excinfo) -> str:
    text = str(excinfo.value)
    assert text and "\n" not in text
    return text


SIGNALS = {"sine": lambda: sine(440, 2.0), "chirp": lambda: chirp(2.0), "noise": lambda: noise(2.0)}


# --------------------------------------------------------------------------- framing round trips


@pytest.mark.parametrize("overlap", [False, True], ids=["plain", "overlap-add"])
@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_round_trip_is_lossless(name, overlap):
    audio = SIGNALS[name]()
    frames = audio_to_frames(audio, overlap=overlap)
    back = frames_to_audio(frames)
    assert back.dtype == np.float32 and back.shape == audio.shape
    assert np.allclose(back, audio, rtol=0, atol=ATOL)
    assert snr_db(audio, back) >= 90


@pytest.mark.parametrize("overlap", [False, True], ids=["plain", "overlap-add"])
@pytest.mark.parametrize("n", [1, 2, 1999, 3999, 4000, 4001, 12345])
def test_any_length_is_kept_exactly(n, overlap):
    audio = noise(1.0, seed=n)[:n] if n <= SR else noise(n / SR + 1, seed=n)[:n]
    frames = audio_to_frames(audio, overlap=overlap)
    assert frames.length == n <= frames.capacity
    back = frames_to_audio(frames)
    assert len(back) == n
    assert np.allclose(back, audio, rtol=0, atol=ATOL)


def test_plain_frames_layout():
    audio = chirp(1.1)
    frames = audio_to_frames(audio)
    L = int(SR * FRAME_SECONDS)
    assert (frames.frame_length, frames.hop, frames.window, frames.sample_rate) == (L, L, "none", SR)
    bins = L // 2 + 1
    assert frames.data.shape == (-(-len(audio) // L), 2 * bins) == (5, 4002)
    assert frames.data.dtype == np.float32
    spectrum = np.fft.rfft(audio[L : 2 * L].astype(np.float64))
    assert np.allclose(frames.data[1, :bins], spectrum.real, atol=1e-3)
    assert np.allclose(frames.data[1, bins:], spectrum.imag, atol=1e-3)
    # the last frame holds the tail, padded with zeros
    tail = np.zeros(L)
    tail[: len(audio) - 4 * L] = audio[4 * L :]
    assert np.allclose(frames.data[4, :bins], np.fft.rfft(tail).real, atol=1e-3)


def test_overlap_frames_layout_and_odd_frame_length():
    frames = audio_to_frames(noise(1.0), overlap=True)
    assert (frames.hop, frames.window) == (2000, "hann")
    assert len(frames.data) == SR // 2000 + 1
    odd = audio_to_frames(noise(0.5), frame_seconds=1001 / SR, overlap=True)  # 1001 samples, hop 500
    assert (odd.frame_length, odd.hop) == (1001, 500)
    assert np.allclose(frames_to_audio(odd), noise(0.5), rtol=0, atol=ATOL)


def test_overlap_add_joins_generated_frames_without_clicks():
    """Frames of unrelated low tones (as a model may generate): plain frames jump at the joins, overlap-add not."""
    rng = np.random.default_rng(1)
    L, count = 4000, 8
    t = np.arange(L) / SR
    tones = [0.8 * np.sin(2 * np.pi * f * t + p) for f, p in zip(rng.uniform(60, 120, count), rng.uniform(0, 6, count))]

    def generated(window: np.ndarray, hop: int, name: str) -> Frames:
        spectra = np.fft.rfft(np.array(tones) * window, axis=1)
        data = np.concatenate([spectra.real, spectra.imag], axis=1).astype(np.float32)
        frames = Frames(data=data, sample_rate=SR, frame_length=L, hop=hop, window=name, length=1)
        frames.length = frames.capacity
        return frames

    plain = frames_to_audio(generated(np.ones(L), L, "none"))
    smooth = frames_to_audio(generated(np.sqrt(np.hanning(L + 1)[:-1]), L // 2, "hann"))
    slope = 2 * np.pi * 120 / SR * 0.8 * 2  # the steepest a sum of two such tones can be
    assert np.abs(np.diff(plain)).max() > 3 * slope  # a click at some join
    assert np.abs(np.diff(smooth)).max() <= slope


def test_frames_refuse_bad_audio_and_options():
    for bad in (np.array([], dtype=np.float32), np.zeros((10, 2), np.float32), np.array([0.0, np.nan]),
                np.array([np.inf, 0.0])):
        with pytest.raises(MusegenError) as excinfo:
            audio_to_frames(bad)
        one_line_error(excinfo)
    with pytest.raises(UsageError):
        audio_to_frames(noise(0.1), frame_seconds=0.0)
    with pytest.raises(UsageError):
        audio_to_frames(noise(0.1), frame_seconds=float("nan"))
    frames = audio_to_frames(noise(0.5))
    frames.hop = 123
    with pytest.raises(MusegenError, match="hop"):
        frames_to_audio(frames)


# --------------------------------------------------------------------------- reading any audio


def stereo_test_signal(sr: int, seconds: float = 2.0) -> np.ndarray:
    """Left: 440 Hz at 0.6; right: 1000 Hz at 0.2.  Mixed to mono: 0.3 and 0.1."""
    return np.stack([sine(440, seconds, sr, 0.6), sine(1000, seconds, sr, 0.2)], axis=1)


@pytest.mark.parametrize(
    "fmt, subtype, suffix, tol",
    [("WAV", "PCM_16", ".wav", 0.005), ("WAV", "PCM_24", ".wav", 0.005), ("WAV", "FLOAT", ".wav", 0.005),
     ("FLAC", "PCM_16", ".flac", 0.005), ("FLAC", "PCM_24", ".flac", 0.005), ("OGG", "VORBIS", ".ogg", 0.03)],
)
def test_read_audio_mixes_and_resamples_any_format(tmp_path, fmt, subtype, suffix, tol):
    sr_in, seconds = 44100, 2.0
    path = tmp_path / f"in{suffix}"
    sf.write(path, stereo_test_signal(sr_in, seconds), sr_in, format=fmt, subtype=subtype)
    audio = read_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - seconds * SR) <= seconds + 1  # within 1 sample per second
    assert abs(amplitude_at(audio, 440) - 0.3) < tol
    assert abs(amplitude_at(audio, 1000) - 0.1) < tol
    left_only = audio - sine(1000, len(audio) / SR, SR, 0.1)[: len(audio)]
    assert abs(peak_hz(left_only) - 440) < 1.0


def test_read_audio_other_rates_and_mono(tmp_path):
    for sr_in, subtype in ((8000, "PCM_U8"), (22050, "PCM_16"), (48000, "PCM_32"), (16000, "FLOAT")):
        path = tmp_path / f"mono{sr_in}.wav"
        sf.write(path, sine(1000, 1.5, sr_in, 0.5), sr_in, subtype=subtype)
        audio = read_audio(path)
        assert abs(len(audio) - 1.5 * SR) <= 2.5
        assert abs(peak_hz(audio) - 1000) < 1.0
        assert abs(amplitude_at(audio, 1000) - 0.5) < 0.02
    assert abs(len(read_audio(tmp_path / "mono22050.wav", sample_rate=22050)) - 1.5 * 22050) <= 2.5


def test_audio_files_of_a_folder(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("z.wav", "a.FLAC", "b/c.ogg", "notes.txt", "b/d.mid"):
        (tmp_path / name).write_bytes(b"x")
    assert audio_files(tmp_path) == [tmp_path / "a.FLAC", tmp_path / "b" / "c.ogg", tmp_path / "z.wav"]
    assert audio_files(tmp_path / "z.wav") == [tmp_path / "z.wav"]
    empty = tmp_path / "empty"
    empty.mkdir()
    for bad in (empty, tmp_path / "missing.wav"):
        with pytest.raises(MusegenError) as excinfo:
            audio_files(bad)
        one_line_error(excinfo)


# --------------------------------------------------------------------------- .npz files and converters


def test_frames_npz_round_trip(tmp_path):
    for overlap in (False, True):
        frames = audio_to_frames(chirp(1.3), overlap=overlap)
        for name in ("song.npz", "song.frames"):
            path = write_frames(frames, tmp_path / f"{overlap}-{name}")
            assert path.is_file()
            back = read_frames(path)
            assert np.array_equal(back.data, frames.data)
            assert (back.sample_rate, back.frame_length, back.hop, back.window, back.length) == (
                frames.sample_rate, frames.frame_length, frames.hop, frames.window, frames.length)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "False-song.frames", "False-song.npz", "True-song.frames", "True-song.npz"]  # no temporary files left


@pytest.mark.parametrize("overlap", [False, True], ids=["plain", "overlap-add"])
def test_wav_npz_wav_is_lossless_at_16k(tmp_path, overlap):
    audio = np.concatenate([chirp(1.0), noise(0.6, seed=3)])
    src = tmp_path / "song.wav"
    sf.write(src, audio, SR, subtype="FLOAT")
    npz = wav_to_frames_npz(src, tmp_path / "song.npz", overlap=overlap)
    out = frames_npz_to_wav(npz, tmp_path / "back.wav")  # the source's sample format: float
    assert sf.info(out).subtype == "FLOAT" and read_frames(npz).subtype == "FLOAT"
    back, rate = sf.read(out, dtype="float32")
    assert rate == SR and len(back) == len(audio)
    assert np.allclose(back, audio, rtol=0, atol=ATOL)
    assert snr_db(audio, back) >= 90
    pcm, _ = sf.read(frames_npz_to_wav(npz, tmp_path / "back16.wav", subtype="PCM_16"), dtype="float32")
    assert sf.info(tmp_path / "back16.wav").subtype == "PCM_16"
    assert np.abs(pcm - audio).max() <= 1 / 32768 + 1e-6


def test_npz_from_any_format_keeps_the_length(tmp_path):
    src = tmp_path / "in.flac"
    sf.write(src, stereo_test_signal(44100, 1.7), 44100, format="FLAC")
    frames = read_frames(wav_to_frames_npz(src, tmp_path / "in.npz", frame_seconds=0.5))
    assert frames.frame_length == 8000
    assert abs(frames.length - 1.7 * SR) <= 2.7
    assert len(frames_to_audio(frames)) == frames.length


def test_write_audio_clips_16_bit_never_wraps(tmp_path):
    loud = sine(440, 0.5, amp=1.5)
    path = write_audio(loud, tmp_path / "loud.wav", sample_rate=SR)
    ints, rate = sf.read(path, dtype="int16")
    assert rate == SR and sf.info(path).subtype == "PCM_16"
    assert ints.max() == 32767 and ints.min() <= -32767
    assert np.all(ints[loud > 1.0] == 32767) and np.all(ints[loud < -1.0] <= -32767)
    floats, _ = sf.read(write_audio(loud, tmp_path / "loud-float.wav", sample_rate=SR, subtype="FLOAT"))
    assert np.isclose(floats.max(), 1.5, atol=1e-4)
    with pytest.raises(MusegenError) as excinfo:
        write_audio(np.array([0.0, np.nan], np.float32), tmp_path / "nan.wav", sample_rate=SR)
    one_line_error(excinfo)
    assert not (tmp_path / "nan.wav").exists()


# --------------------------------------------------------------------------- refusals


def _bad_inputs(tmp_path):
    """name -> a file that must be refused by the converter of its suffix."""
    rng = np.random.default_rng(5)
    (tmp_path / "random.wav").write_bytes(rng.bytes(2048))
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), SR)
    sf.write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.1] * 100, np.float32), SR, subtype="FLOAT")
    sf.write(tmp_path / "inf.wav", np.array([0.0, np.inf, 0.1] * 100, np.float32), SR, subtype="FLOAT")
    (tmp_path / "random.npz").write_bytes(rng.bytes(2048))
    good = write_frames(audio_to_frames(noise(0.5)), tmp_path / "good.npz")
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) // 2 : len(data) // 2 + 16] = bytes(16)  # inside the data member: a CRC error
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    with zipfile.ZipFile(tmp_path / "badmember.npz", "w") as z:  # a zip whose arrays are not arrays
        for key in ("kind", "data", "sample_rate", "frame_length", "hop", "window", "length"):
            z.writestr(f"{key}.npy", b"not an array")
    np.savez(tmp_path / "wrongkind.npz", kind=np.array("model"), data=np.zeros((1, 4002), np.float32))
    np.savez(tmp_path / "missing.npz", kind=np.array("frames"), data=np.zeros((1, 4002), np.float32))
    fields = dict(kind=np.array("frames"), sample_rate=np.array(SR), frame_length=np.array(4000),
                  hop=np.array(4000), window=np.array("none"), length=np.array(4000))
    np.savez(tmp_path / "wrongshape.npz", data=np.zeros((2, 4000), np.float32), **fields)
    np.savez(tmp_path / "toolong.npz", data=np.zeros((1, 4002), np.float32), **{**fields, "length": np.array(4001)})
    np.savez(tmp_path / "nanframes.npz", data=np.full((1, 4002), np.nan, np.float32), **fields)
    return ["random.wav", "empty.wav", "nan.wav", "inf.wav", "random.npz", "truncated.npz", "flipped.npz",
            "badmember.npz",
            "wrongkind.npz", "missing.npz", "wrongshape.npz", "toolong.npz", "nanframes.npz"]


def test_bad_input_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    names = _bad_inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    for name in names:
        src = tmp_path / name
        with pytest.raises(MusegenError) as excinfo:
            if name.endswith(".wav"):
                wav_to_frames_npz(src, out / "x.npz")
            else:
                frames_npz_to_wav(src, out / "x.wav")
        text = one_line_error(excinfo)
        assert name in text, text
        assert not any(out.iterdir()), name
    for name in names:
        reader = read_audio if name.endswith(".wav") else read_frames
        with pytest.raises(MusegenError):
            reader(tmp_path / name)
    with pytest.raises(MusegenError, match="kind 'model'"):
        read_frames(tmp_path / "wrongkind.npz")
    for name in ("flipped.npz", "badmember.npz"):
        with pytest.raises(MusegenError, match="corrupt"):
            read_frames(tmp_path / name)


def test_existing_output_is_kept_without_force(tmp_path):
    src = tmp_path / "in.wav"
    sf.write(src, noise(0.5), SR)
    npz = wav_to_frames_npz(src, tmp_path / "in.npz")
    targets = {"out.npz": b"keep me", "out.wav": b"keep me too", "out.png": b"and me"}
    for name, content in targets.items():
        (tmp_path / name).write_bytes(content)
    calls = [lambda: wav_to_frames_npz(src, tmp_path / "out.npz"),
             lambda: frames_npz_to_wav(npz, tmp_path / "out.wav"),
             lambda: write_audio(noise(0.1), tmp_path / "out.wav", sample_rate=SR),
             lambda: write_frames(read_frames(npz), tmp_path / "out.npz"),
             lambda: draw_spectrogram(noise(0.1), tmp_path / "out.png", sample_rate=SR),
             lambda: draw_spectrogram_npz(npz, tmp_path / "out.png")]
    for call in calls:
        with pytest.raises(MusegenError, match="already exists") as excinfo:
            call()
        one_line_error(excinfo)
    assert {name: (tmp_path / name).read_bytes() for name in targets} == targets
    frames_npz_to_wav(npz, tmp_path / "out.wav", force=True)
    assert sf.info(tmp_path / "out.wav").frames == read_frames(npz).length


# --------------------------------------------------------------------------- measures, pictures, normaliser


def test_spectral_flatness_orders_tone_noisy_tone_noise():
    tone = sine(440, 2.0) + sine(880, 2.0, amp=0.2)
    white = noise(2.0, seed=7)
    noisy = tone + noise(2.0, seed=8, scale=0.05)
    flat_tone, flat_noisy, flat_white = (spectral_flatness(x) for x in (tone, noisy, white))
    assert flat_tone < 0.01 < flat_noisy < flat_white
    assert abs(flat_white - 0.5615) < 0.02  # exp(-euler_gamma) for white noise
    silent_edges = np.concatenate([np.zeros(SR, np.float32), tone, np.zeros(SR, np.float32)])
    assert abs(spectral_flatness(silent_edges) - flat_tone) < 0.01  # silent frames are skipped
    with pytest.raises(MusegenError):
        spectral_flatness(np.zeros(SR, np.float32))


def test_log_spectral_distance():
    a, b = sine(440, 1.0) + noise(1.0, scale=0.01), noise(1.0, seed=2)
    assert log_spectral_distance(a, a) == 0.0
    assert abs(log_spectral_distance(a, 0.5 * a) - 20 * np.log10(2)) < 0.01
    assert log_spectral_distance(a, b) > 10
    corpus = [sine(440, 1.0) + noise(1.0, seed=s, scale=0.01) for s in (3, 4)]
    assert log_spectral_distance(a, corpus) < log_spectral_distance(b, corpus)


def test_draw_spectrogram_png(tmp_path):
    png = draw_spectrogram(chirp(1.0), tmp_path / "s.png", sample_rate=SR, title="chirp")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    npz = write_frames(audio_to_frames(chirp(1.0), overlap=True), tmp_path / "s.npz")
    png2 = draw_spectrogram_npz(npz, tmp_path / "s2.png")
    assert png2.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz", "s.png", "s2.png"]


def test_frame_normalizer_round_trip_and_json():
    rng = np.random.default_rng(3)
    arrays = [rng.normal(5.0, 3.0, (40, 6)).astype(np.float32), rng.normal(5.0, 3.0, (25, 6)).astype(np.float32)]
    arrays[0][:, 2] = arrays[1][:, 2] = 7.0  # a constant coefficient (as the imaginary part of the DC bin)
    norm = FrameNormalizer.fit(arrays)
    both = np.concatenate(arrays)
    assert np.allclose(norm.mean, both.mean(axis=0), atol=1e-4)
    encoded = norm.encode(both)
    assert encoded.dtype == np.float32
    assert np.allclose(encoded[:, [0, 1, 3, 4, 5]].std(axis=0), 1.0, atol=1e-3)
    assert np.all(encoded[:, 2] == 0)
    assert np.allclose(norm.decode(encoded), both, atol=1e-4)
    again = FrameNormalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert np.array_equal(again.mean, norm.mean) and np.array_equal(again.std, norm.std)
    for bad in ({"mean": [0.0]}, {"mean": [0.0, 1.0], "std": [1.0]}, {"mean": [0.0], "std": [0.0]},
                {"mean": ["x"], "std": [1.0]}):
        with pytest.raises(MusegenError):
            FrameNormalizer.from_dict(bad)
    with pytest.raises(MusegenError):
        FrameNormalizer.fit([np.zeros((3, 6)), np.zeros((3, 5))])
    with pytest.raises(MusegenError):
        norm.encode(np.zeros((2, 5)))


def test_frames_of_a_corpus_normalise(tmp_path):
    frames = [audio_to_frames(x).data for x in (chirp(1.0), noise(1.0))]
    norm = FrameNormalizer.fit(frames)
    assert norm.features == 4002
    assert np.allclose(norm.decode(norm.encode(frames[0])), frames[0], rtol=1e-4, atol=1e-2)


# --------------------------------------------------------------------------- audio from ABC and MIDI


def test_song_and_scores_to_audio(tmp_path):
    from musegen.formats.abc.player import abc_to_midi

    audio = song_to_audio(Song(notes=[Note(0.0, 1.0, 69, 100, 0)], tempos=[(0.0, 120.0)]))
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0.5 * SR
    assert abs(peak_hz(audio) - 440) < 2
    abc = tmp_path / "two.abc"
    abc.write_text(TWO_TUNES, encoding="utf-8")
    tunes = midi_or_abc_to_audio(abc)
    assert len(tunes) == 2 and all(t.dtype == np.float32 and t.ndim == 1 for t in tunes)
    abc_to_midi(TWO_TUNES.split("\n\n")[1], tmp_path / "sub" / "two.mid")
    folder = midi_or_abc_to_audio(tmp_path)
    assert len(folder) == 3
    with pytest.raises(MusegenError):
        midi_or_abc_to_audio(tmp_path / "missing.abc")
    (tmp_path / "x.wav").write_bytes(b"")
    with pytest.raises(UsageError):
        midi_or_abc_to_audio(tmp_path / "x.wav")


# --------------------------------------------------------------------------- sample formats of WAV written back


def test_frames_keep_the_sample_format_of_their_source(tmp_path):
    from musegen.formats.audio import wav_subtype

    audio = chirp(0.5)
    for subtype, back in (("PCM_24", "PCM_24"), ("PCM_16", "PCM_16"), ("DOUBLE", "DOUBLE")):
        sf.write(tmp_path / f"{subtype}.wav", audio, SR, subtype=subtype)
        npz = wav_to_frames_npz(tmp_path / f"{subtype}.wav", tmp_path / f"{subtype}.npz")
        assert sf.info(frames_npz_to_wav(npz, tmp_path / f"{subtype}-back.wav")).subtype == back
    sf.write(tmp_path / "v.ogg", audio, SR, subtype="VORBIS")  # a lossy source: 16-bit back
    npz = wav_to_frames_npz(tmp_path / "v.ogg", tmp_path / "v.npz")
    assert sf.info(frames_npz_to_wav(npz, tmp_path / "v.wav")).subtype == "PCM_16"
    assert wav_subtype("FLOAT", "pcm_24") == "PCM_24" and wav_subtype(None) == "PCM_16"
    with pytest.raises(UsageError, match="--subtype MP9"):
        wav_subtype("FLOAT", "MP9")
    # an .npz written before the sample format was kept (no subtype member): 16-bit, as then
    frames = read_frames(tmp_path / "DOUBLE.npz")
    with np.load(tmp_path / "DOUBLE.npz") as z:
        members = {k: z[k] for k in z.files if k != "subtype"}
    np.savez(tmp_path / "old.npz", **members)
    old = read_frames(tmp_path / "old.npz")
    assert old.subtype == "PCM_16" and np.array_equal(old.data, frames.data)
    np.savez(tmp_path / "bad.npz", **members, subtype=np.array("x/../y"))
    with pytest.raises(MusegenError, match="field subtype is not a name"):
        read_frames(tmp_path / "bad.npz")


# --------------------------------------------------------------------------- melody measures, shared runs


def harmonic_notes(semitones, seconds=0.3, base=330.0, sr=SR) -> np.ndarray:
    """Plucked notes (3 harmonics, 5 ms attack, decaying), one after the other."""
    t = np.arange(int(seconds * sr)) / sr
    envelope = 0.3 * np.minimum(1, t / 0.005) * np.exp(-4 * t)
    return np.concatenate([envelope * sum(np.sin(2 * np.pi * base * 2 ** (k / 12) * h * t) / h for h in (1, 2, 3))
                           for k in semitones]).astype(np.float32)


def test_melody_of_hears_the_notes_of_a_tune():
    from musegen.formats.audio import melody_of

    tune = harmonic_notes([0, 2, 4, 4, 7, 5, 1])  # a repeated note is one note; C# is off the scale
    heard = melody_of(tune)
    assert heard.notes == [64, 66, 68, 71, 69, 65]
    assert heard.voiced > 0.9 and abs(heard.seconds - 2.1) < 1e-6
    assert heard.changes_per_second == pytest.approx(5 / 2.1)
    assert heard.in_scale == 1.0  # six pitch classes: all within the 7 most used
    chromatic = melody_of(harmonic_notes(range(12), seconds=0.2))
    assert len(chromatic.notes) == 12 and chromatic.in_scale == pytest.approx(7 / 12)
    hiss = melody_of(noise(2.0))
    assert hiss.voiced < 0.2 and len(hiss.notes) <= 3
    assert melody_of(np.zeros(SR, np.float32)).notes == []


def test_band_flatness_agrees_with_librosa():
    """The melody measure is librosa's spectral flatness of the band 0-3 kHz, 1,024-sample frames, median."""
    import librosa

    from musegen.formats.audio import band_flatness

    for audio in (harmonic_notes([0, 4, 7]), harmonic_notes([0]) + noise(0.3, scale=0.01), noise(1.0)):
        spectrum = np.abs(librosa.stft(audio, n_fft=1024, hop_length=256))[: int(3000 * 1024 / SR) + 1]
        judge = float(np.median(librosa.feature.spectral_flatness(S=spectrum, power=2.0)))
        assert band_flatness(audio) == pytest.approx(judge, rel=1e-3, abs=1e-9)
    assert band_flatness(harmonic_notes([0, 4, 7])) < 0.002 < 0.5 < band_flatness(noise(1.0))


def test_shared_run_is_the_longest_common_run():
    from musegen.formats.audio import shared_run

    training = [[60, 62, 64, 65, 67], [67, 65, 64, 62, 60, 62]]
    assert shared_run([1, 62, 64, 65, 2], training) == 3
    assert shared_run([64, 62, 60, 62, 64], training) == 4  # within the second piece
    assert shared_run([65, 64, 65], training) == 2  # 65 64 (second), 64 65 (first): never three in a row
    assert shared_run([5, 6], training) == 0 and shared_run([], training) == 0
    assert shared_run([60, 62, 64, 65, 67], training) == 5
    long = np.random.default_rng(0).integers(0, 500, 3000)
    assert shared_run(long[1000:1250], [long[:700], long]) == 250


# --------------------------------------------------------------------------- code books and Griffin-Lim


def test_kmeans_finds_separate_clusters_and_refuses_too_few_rows():
    from musegen.formats.audio import kmeans, nearest

    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    x = np.concatenate([c + rng.standard_normal((500, 2)) for c in centres]).astype(np.float32)
    found = kmeans(x, 4, seed=1)
    ids, _ = nearest(centres, found)
    assert sorted(ids.tolist()) == [0, 1, 2, 3]  # one centroid per cluster
    np.testing.assert_allclose(found[ids], centres, atol=0.2)
    assert np.array_equal(kmeans(x, 4, seed=1), found)  # seeded
    with pytest.raises(MusegenError, match="3 frames cannot make 4 codes"):
        kmeans(x[:3], 4)


def test_code_book_round_trip_and_refusals():
    from musegen.formats.audio import LOG_FLOOR, CodeBook, magnitude_frames

    t = np.arange(SR // 2) / SR
    fade = np.minimum(1, np.minimum(t, 0.5 - t) / 0.01)
    tones = [(0.3 * fade * sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3))).astype(np.float32)
             for f in (440, 660)]
    audio = np.concatenate([*tones, np.zeros(SR // 2, np.float32)])
    mags = magnitude_frames(audio, sample_rate=SR, frame_length=1024, hop=512, bins=193)
    assert mags.shape == (1 + len(audio) // 512, 193) and mags.dtype == np.float32
    book = CodeBook.fit([mags], size=5, seed=0)  # two tones, silence, and the frames where they meet
    ids = book.encode(mags)
    assert len(set(ids[2:12].tolist())) == 1 and len(set(ids[-5:].tolist())) == 1  # a steady tone, silence
    assert len({ids[5], ids[22], ids[-3]}) == 3  # 440 Hz, 660 Hz, silence: three codes
    peak = np.argmax(book.magnitudes([ids[5]])[0]) * SR / 1024
    assert abs(peak - 440) < SR / 1024
    assert book.magnitudes([ids[-3]]).max() < 10 * LOG_FLOOR
    back = CodeBook.from_dict(json.loads(json.dumps(book.to_dict())))
    assert np.array_equal(back.encode(mags), ids)
    for bad in ({"centroids": [[1.0, float("nan")]]}, {"centroids": "x"}, {"codes": []}, {"centroids": [[-30.0]]}):
        with pytest.raises(MusegenError, match="code book"):
            CodeBook.from_dict(bad)
    with pytest.raises(MusegenError, match="out of range"):
        book.magnitudes([5])


def test_griffin_lim_rebuilds_a_sound_from_its_magnitudes():
    from musegen.formats.audio import griffin_lim, magnitude_frames

    audio = np.concatenate([sine(440, 0.5) + sine(1320, 0.5, amp=0.1), sine(587.33, 0.5)])
    mags = magnitude_frames(audio, sample_rate=SR, frame_length=1024, hop=256)
    rebuilt = griffin_lim(mags, frame_length=1024, hop=256, iterations=32, length=len(audio))
    assert rebuilt.dtype == np.float32 and len(rebuilt) == len(audio)
    again = magnitude_frames(rebuilt, sample_rate=SR, frame_length=1024, hop=256)
    assert np.linalg.norm(again - mags) / np.linalg.norm(mags) < 0.1  # spectral convergence
    assert abs(peak_hz(rebuilt[: SR // 2]) - 440) < 2 and abs(peak_hz(rebuilt[SR // 2:]) - 587.33) < 2
    np.testing.assert_array_equal(griffin_lim(mags, frame_length=1024, hop=256, seed=3),
                                  griffin_lim(mags, frame_length=1024, hop=256, seed=3))
    with pytest.raises(UsageError, match="at least 1 iteration"):
        griffin_lim(mags, frame_length=1024, hop=256, iterations=0)
    with pytest.raises(MusegenError, match="expected \\(frames, 1 to 513 bins\\)"):
        griffin_lim(np.ones((4, 600)), frame_length=1024, hop=256)


@pytest.mark.parametrize("n_fft,hop", [(1024, 512), (1024, 256), (512, 512), (400, 160)])
def test_stft_istft_and_griffin_lim_are_librosas_to_the_bit(n_fft, hop):
    """musegen's transforms (NumPy alone, so that a sampled piece does not pay for librosa's import) give the
    very bits of librosa's, for lengths that fill the last frame and lengths that do not."""
    import librosa

    from musegen.formats.audio import griffin_lim, istft, stft

    rng = np.random.default_rng(n_fft + hop)
    for n in (n_fft, 5000, 16001):
        audio = (0.3 * rng.standard_normal(n)).astype(np.float32)
        ref = librosa.stft(audio, n_fft=n_fft, hop_length=hop, window="hann", center=True)
        np.testing.assert_array_equal(stft(audio, n_fft=n_fft, hop=hop), ref)
        for length in (n, n - 37, n + 100):
            np.testing.assert_array_equal(
                istft(ref, n_fft=n_fft, hop=hop, length=length),
                librosa.istft(ref, n_fft=n_fft, hop_length=hop, window="hann", center=True, length=length))
    mags = np.abs(rng.standard_normal((40, n_fft // 4))).astype(np.float32)
    full = np.zeros((n_fft // 2 + 1, len(mags)), np.float32)
    full[: mags.shape[1]] = mags.T
    ref = librosa.griffinlim(full, n_iter=5, hop_length=hop, n_fft=n_fft, window="hann", center=True,
                             length=(len(mags) - 1) * hop, random_state=np.random.default_rng(9))
    np.testing.assert_array_equal(griffin_lim(mags, frame_length=n_fft, hop=hop, iterations=5, seed=9), ref)
