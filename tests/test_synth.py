"""The built-in synthesizer, WAV output and the FluidSynth path."""

from __future__ import annotations

import numpy as np
import pytest

from musegen.errors import MusegenError, UsageError
from musegen.formats.midi import Note, Song
from musegen.formats.synth import (
    FAMILY_TIMBRES,
    MAX_TAIL_SECONDS,
    TARGET_PEAK,
    TIMBRES,
    beats_to_seconds,
    find_soundfont,
    fluidsynth_available,
    midi_to_wav,
    render_song,
    render_tone,
    song_to_wav,
    timbre_for,
    write_wav,
)

SR = 22050


def dominant_hz(audio: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest FFT bin, zero-padded to 0.25 Hz bins."""
    n = 4 * sr
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n))
    return float(np.fft.rfftfreq(n, 1 / sr)[spectrum.argmax()])


def rms(audio: np.ndarray, start: float, stop: float, sr: int = SR) -> float:
    part = audio[int(start * sr) : int(stop * sr)]
    return float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))


def test_single_a4_length_pitch_and_level():
    song = Song(notes=[Note(0.0, 1.0, 69, 100, 0)], tempos=[(0.0, 120.0)], programs={0: 0})
    audio = render_song(song, sample_rate=SR)
    assert audio.dtype == np.float32 and audio.ndim == 1
    seconds = len(audio) / SR
    assert 0.5 < seconds <= 0.5 + MAX_TAIL_SECONDS + 1e-3
    assert MAX_TAIL_SECONDS < 0.5
    assert abs(dominant_hz(audio) - 440.0) < 2.0
    peak = np.abs(audio).max()
    assert 0.8 < peak <= TARGET_PEAK + 1e-6
    assert audio[0] == 0.0 and abs(audio[-1]) < 1e-4  # no clicks at the ends


@pytest.mark.parametrize("program", [None, 0, 19, 24, 40, 56, 71, 73])
def test_every_family_plays_the_written_pitch(program):
    programs = {} if program is None else {0: program}
    audio = render_song(Song(notes=[Note(0.0, 2.0, 57, 90, 0)], programs=programs), sample_rate=SR)
    assert abs(dominant_hz(audio) - 220.0) < 3.0  # detuned voices stay within a few cents


def test_silence_before_a_later_note():
    song = Song(notes=[Note(4.0, 5.0, 72, 100, 0)], tempos=[(0.0, 120.0)])
    audio = render_song(song, sample_rate=SR)
    onset = int(2.0 * SR)  # beat 4 at 120 bpm
    assert np.all(audio[:onset] == 0.0)
    assert np.abs(audio[onset : onset + SR // 10]).max() > 0.1


def test_tempo_changes_move_the_onsets():
    song = Song(notes=[Note(0, 1, 60), Note(6, 7, 64)], tempos=[(0.0, 120.0), (2.0, 60.0), (4.0, 240.0)])
    beats = np.array([0.0, 1.0, 2.0, 3.0, 4.5, 6.0, 8.0])
    assert np.allclose(beats_to_seconds(song, beats), [song.seconds(b) for b in beats])
    audio = render_song(song, sample_rate=SR)
    onset = song.seconds(6.0)  # 1 s + 2 s + 0.5 s = 3.5 s
    assert onset == pytest.approx(3.5)
    assert rms(audio, onset - 0.3, onset - 0.01) < 1e-6  # the first note is long gone
    assert rms(audio, onset + 0.02, onset + 0.1) > 0.05


def test_repeated_note_keeps_two_onsets():
    song = Song(notes=[Note(0.0, 1.0, 69, 100, 0), Note(1.0, 2.0, 69, 100, 0)], tempos=[(0.0, 120.0)])
    audio = render_song(song, sample_rate=SR)
    boundary = 0.5
    dip = rms(audio, boundary - 0.003, boundary + 0.003)
    held = min(rms(audio, 0.3, 0.45), rms(audio, 0.75, 0.9))
    assert dip < 0.5 * held


def test_chords_never_clip_and_quiet_notes_stay_quieter():
    notes = [Note(0, 4, p, 127, 0) for p in (48, 52, 55, 60, 64, 67, 72, 76)]
    notes += [Note(4, 8, 60, 20, 0)]
    audio = render_song(Song(notes=notes), sample_rate=SR)
    assert np.abs(audio).max() <= TARGET_PEAK + 1e-6
    assert rms(audio, 0.5, 1.5) > 3 * rms(audio, 2.5, 3.5) > 0


def test_drums_and_accompaniment_render():
    notes = [Note(b, b + 0.5, 36 + (b % 2) * 2, 100, 9) for b in range(8)]
    notes += [Note(0, 8, 48, 70, 1), Note(0, 8, 72, 90, 0)]
    audio = render_song(Song(notes=notes, programs={1: 48}), sample_rate=SR)
    assert np.isfinite(audio).all() and np.abs(audio).max() <= TARGET_PEAK + 1e-6
    assert timbre_for(1, {1: 48}) == ("ensemble", True)
    assert timbre_for(0, {}) == ("accordion", False)
    assert set(FAMILY_TIMBRES) == set(range(16)) and set(FAMILY_TIMBRES.values()) <= set(TIMBRES)


def test_render_tone_envelope_starts_and_ends_at_zero():
    tone = render_tone(69, timbre="fiddle", hold=0.3, sample_rate=SR)
    assert len(tone) == round(0.3 * SR) + round(TIMBRES["fiddle"].release * SR)
    assert tone[0] == 0.0 and abs(tone[-1]) < 1e-3


def test_empty_song_is_short_silence():
    audio = render_song(Song(), sample_rate=SR)
    assert len(audio) > 0 and not audio.any()


def test_bad_sample_rate_is_refused():
    with pytest.raises(UsageError):
        render_song(Song(notes=[Note(0, 1, 60)]), sample_rate=100)


def test_write_wav_round_trip_and_clipping(tmp_path):
    import soundfile as sf

    audio = np.linspace(-1.5, 1.5, 1000).astype(np.float32)  # beyond full scale on purpose
    path = write_wav(audio, tmp_path / "a.wav", sample_rate=SR)
    data, rate = sf.read(path, dtype="int16")
    assert rate == SR and data.shape == (1000,) and sf.info(path).subtype == "PCM_16"
    assert data[0] == -32768 and data[-1] == 32767  # clipped, not wrapped
    assert np.all(np.diff(data.astype(int)) >= 0)
    stereo = np.zeros((10, 2), dtype=np.float64)
    back, _ = sf.read(write_wav(stereo, tmp_path / "s.wav", sample_rate=SR, subtype="FLOAT"))
    assert back.shape == (10, 2)


def test_write_wav_refuses_existing_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "a.wav"
    path.write_bytes(b"keep me")
    with pytest.raises(MusegenError, match="already exists"):
        write_wav(np.zeros(10, dtype=np.float32), path, sample_rate=SR)
    assert path.read_bytes() == b"keep me"
    with pytest.raises(MusegenError):
        write_wav(np.array([0.0, np.nan]), tmp_path / "b.wav", sample_rate=SR)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    write_wav(np.zeros(10, dtype=np.float32), path, sample_rate=SR, force=True)
    assert path.read_bytes()[:4] == b"RIFF"


def test_midi_to_wav_from_a_mido_file(tmp_path):
    import mido
    import soundfile as sf

    mid = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for line in ("program_change channel=0 program=73 time=0", "note_on channel=0 note=69 velocity=100 time=0",
                 "note_off channel=0 note=69 velocity=0 time=96", "note_on channel=0 note=76 velocity=90 time=0",
                 "note_on channel=0 note=76 velocity=0 time=96"):
        track.append(mido.Message.from_str(line))
    track.insert(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60)))
    mid.save(tmp_path / "in.mid")
    out = midi_to_wav(tmp_path / "in.mid", tmp_path / "out.wav", sample_rate=SR)
    audio, rate = sf.read(out, dtype="float32")
    assert rate == SR and 2.0 < len(audio) / SR <= 2.0 + MAX_TAIL_SECONDS + 1e-3
    assert abs(dominant_hz(audio[: int(0.9 * SR)]) - 440.0) < 3.0
    assert abs(dominant_hz(audio[int(1.1 * SR) : int(1.9 * SR)]) - 659.26) < 3.0
    with pytest.raises(MusegenError, match="already exists"):
        midi_to_wav(tmp_path / "in.mid", out, sample_rate=SR)
    with pytest.raises(MusegenError, match="no such file"):
        midi_to_wav(tmp_path / "missing.mid", tmp_path / "x.wav")


def test_soundfont_errors(tmp_path):
    with pytest.raises(MusegenError, match="no such SoundFont"):
        find_soundfont(tmp_path / "none.sf2")
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"not a soundfont at all")
    with pytest.raises(MusegenError, match="not a SoundFont"):
        find_soundfont(fake)
    song = Song(notes=[Note(0, 1, 60)])
    with pytest.raises(UsageError):
        song_to_wav(song, tmp_path / "x.wav", synth="builtin", soundfont=fake)
    with pytest.raises(UsageError):
        song_to_wav(song, tmp_path / "x.wav", synth="timidity")
    assert not (tmp_path / "x.wav").exists()


def test_fluidsynth_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth here
    assert not fluidsynth_available()
    with pytest.raises(MusegenError, match="fluidsynth is needed"):
        song_to_wav(Song(notes=[Note(0, 1, 60)]), tmp_path / "x.wav", synth="fluidsynth")


@pytest.mark.skipif(not fluidsynth_available() or find_soundfont() is None, reason="needs fluidsynth and a SoundFont")
def test_fluidsynth_renders(tmp_path):
    import soundfile as sf

    song = Song(notes=[Note(0, 2, 69, 100, 0)], tempos=[(0.0, 120.0)], programs={0: 0})
    out = song_to_wav(song, tmp_path / "fs.wav", synth="fluidsynth", sample_rate=SR)
    audio, rate = sf.read(out, dtype="float32", always_2d=True)
    assert rate == SR and audio.shape[1] == 2 and 1.0 <= len(audio) / SR < 6.0
    assert abs(dominant_hz(audio[: SR, 0]) - 440.0) < 3.0
    assert 0.5 < np.abs(audio).max() <= 1.0
