"""Hostile inputs to the file formats (issue 13): each ends in exit 0 and the right file, or exit 2 and one line.

Every hostile file is built here in a few bytes; nothing big is allocated.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_refused, run

from musegen.errors import MusegenError
from musegen.limits import MAX_AUDIO_SAMPLES, MAX_ROLL_STEPS

TITLES = ["O’Carolan’s Farewell", "Калинка", "さくらさくら"]  # none of them fits Latin-1


def _book(tmp_path: Path, titles: list[str]) -> Path:
    tunes = [f"X:{i}\nT:{title}\nM:6/8\nL:1/8\nK:G\nGAB c2d|BAG A3|\n" for i, title in enumerate(titles, 1)]
    path = tmp_path / "book.abc"
    path.write_text("\n".join(tunes), encoding="utf-8")
    return path


def _track_names(path: Path) -> list[str]:
    from musegen.formats.midi import open_midifile

    return [m.name for t in open_midifile(path).tracks for m in t if m.type == "track_name"]


def _left(folder: Path) -> list[str]:
    """Every name under ``folder``, hidden temporaries included."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _var(n: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _midi_bytes(track: bytes, *, ticks_per_beat: int = 1) -> bytes:
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat) + b"MTrk" + struct.pack(">I", len(track)) + track


def _one_note_midi(path: Path, ticks: int, *, ticks_per_beat: int = 1) -> Path:
    """A format-0 file of one middle C held ``ticks`` ticks (37 bytes for 2**28 - 1)."""
    track = b"\x00\x90\x3c\x40" + _var(ticks) + b"\x80\x3c\x00" + b"\x00\xff\x2f\x00"
    path.write_bytes(_midi_bytes(track, ticks_per_beat=ticks_per_beat))
    return path


def _wav_bytes(samples: int, rate: int) -> bytes:
    """A 16-bit mono PCM WAV of ``samples`` zeros whose header says ``rate`` Hz."""
    data = bytes(2 * samples)
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + fmt + b"data" + \
        struct.pack("<I", len(data)) + data


def _npz_with_headers(path: Path, arrays: dict[str, np.ndarray], headers: dict[str, tuple]) -> Path:
    """An .npz whose ``headers`` members claim ``(shape, descr)`` but hold no data: a bomb in a few bytes."""
    import io

    with zipfile.ZipFile(path, "w") as z:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, value)
            z.writestr(f"{key}.npy", buffer.getvalue())
        for key, (shape, descr) in headers.items():
            buffer = io.BytesIO()
            np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
            z.writestr(f"{key}.npy", buffer.getvalue())
    return path


def _roll_arrays(steps: int = 8, tempo: float = 120.0) -> dict[str, np.ndarray]:
    velocity = np.zeros((128, steps), np.uint8)
    velocity[60, :4] = 80
    onset = velocity > 0
    return {"kind": np.str_("pianoroll"), "velocity": velocity, "onset": onset, "steps_per_beat": np.int64(4),
            "tempos": np.array([[0.0, tempo]]), "meters": np.array([[0.0, 4.0, 4.0]]), "title": np.str_("さくら")}


# -- 1. titles outside Latin-1 ---------------------------------------------------------------------------


def test_any_title_survives_abc_to_midi_with_all(tmp_path):
    out = tmp_path / "out"
    result = run("convert", _book(tmp_path, TITLES), out, "--all", "--to", "mid")
    assert result.exit_code == 0, result.output
    files = sorted(out.glob("*.mid"))
    assert len(files) == 3 and not [p for p in out.iterdir() if p.name.startswith(".")]
    assert sorted(name for f in files for name in _track_names(f)) == sorted(TITLES)


def test_title_read_back_through_the_melody_reader(tmp_path):
    from musegen.formats.melody import read_midi_melody

    mid = tmp_path / "sakura.mid"
    assert run("convert", _book(tmp_path, [TITLES[2]]), mid).exit_code == 0
    assert read_midi_melody(mid).title == TITLES[2]
    xml = tmp_path / "sakura.musicxml"
    assert run("convert", mid, xml).exit_code == 0
    assert TITLES[2] in xml.read_text(encoding="utf-8")


def test_every_midi_writer_writes_any_title(tmp_path):
    from musegen.formats import write_tune
    from musegen.formats.melody import abc_to_melody, read_midi_melody, write_melody
    from musegen.formats.midi import Note, Song, write_midi

    write_midi(Song(notes=[Note(0, 1, 60)], title=TITLES[1]), tmp_path / "song.mid")
    assert _track_names(tmp_path / "song.mid") == [TITLES[1]]
    tune = _book(tmp_path, [TITLES[0]]).read_text(encoding="utf-8")
    write_melody(abc_to_melody(tune), tmp_path / "melody.mid", fmt="mid")
    assert read_midi_melody(tmp_path / "melody.mid").title == TITLES[0]
    written = write_tune(tune, tmp_path / "tune", formats=("abc", "mid"))  # what `sample abc` writes
    assert [p.name for p in written] == ["tune.abc", "tune.mid"] and _track_names(written[1]) == [TITLES[0]]
    # a lone surrogate cannot be encoded at all: replaced, not a crash
    write_midi(Song(notes=[Note(0, 1, 60)], title="bad \udcff title"), tmp_path / "odd.mid")
    assert _track_names(tmp_path / "odd.mid") == ["bad ? title"]


def test_roll_npz_to_midi_keeps_the_title(tmp_path):
    src = _npz_with_headers(tmp_path / "roll.npz", _roll_arrays(), {})
    dst = tmp_path / "roll.mid"
    result = run("convert", src, dst)
    assert result.exit_code == 0, result.output
    assert _track_names(dst) == ["さくら"]


def test_old_latin1_titles_still_read(tmp_path):
    import mido

    from musegen.formats.midi import meta_text

    mid = mido.MidiFile(charset="latin1")
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name="Café"), mido.Message("note_on", note=60),
                                      mido.Message("note_off", note=60, time=480)]))
    mid.save(tmp_path / "old.mid")
    assert _track_names(tmp_path / "old.mid") == ["Café"]
    assert meta_text("Ã©") == "é" and meta_text("Ã") == "Ã"


# -- 2. tiny inputs asking for huge memory -----------------------------------------------------------------


def test_wav_whose_header_says_1_hz_is_refused(tmp_path):
    src = tmp_path / "x.wav"
    src.write_bytes(_wav_bytes(16000, 1))  # 32 KB: 256,000,000 samples once resampled to 16 kHz
    dst = tmp_path / "x.npz"
    assert_refused(run("convert", src, dst), contains="x.wav: a sample rate of 1 Hz")
    assert not dst.exists() and _left(tmp_path) == ["x.wav"]


def test_audio_over_the_sample_budget_is_refused_with_the_figure(tmp_path, monkeypatch):
    from musegen.formats import audio

    monkeypatch.setattr(audio, "MAX_AUDIO_SAMPLES", 10_000)  # the budget, made small enough for a test
    src = tmp_path / "x.wav"
    src.write_bytes(_wav_bytes(8000, 8000))
    assert_refused(run("convert", src, tmp_path / "x.npz", "--sample-rate", 16000),
                   contains="16,000 samples, more than the 10,000 allowed")
    assert _left(tmp_path) == ["x.wav"]


def test_frames_npz_bomb_is_refused_from_its_header(tmp_path):
    scalars = {"kind": np.array("frames"), "sample_rate": np.array(16000), "frame_length": np.array(4000),
               "hop": np.array(4000), "window": np.array("none"), "length": np.array(4000)}
    rows = MAX_AUDIO_SAMPLES // 4000 + 1
    src = _npz_with_headers(tmp_path / "frames.npz", scalars, {"data": ((rows, 4002), "<f4")})
    assert src.stat().st_size < 2000
    assert_refused(run("convert", src, tmp_path / "x.wav"), contains="allowed")
    assert _left(tmp_path) == ["frames.npz"]


@pytest.mark.parametrize("suffix, contains", [
    (".npz", "268,435,455 at 4 steps a beat make 1,073,741,820 piano-roll columns, more than the 1,000,000 allowed"),
    (".png", "piano-roll columns, more than the 1,000,000 allowed"),
    (".musicxml", "more than the 4,000 measures allowed"),
])
def test_37_byte_midi_of_one_long_note_is_refused(tmp_path, suffix, contains):
    src = _one_note_midi(tmp_path / "x.mid", 2**28 - 1)
    assert src.stat().st_size == 37
    dst = tmp_path / f"out{suffix}"
    assert_refused(run("convert", src, dst), contains=contains)
    assert _left(tmp_path) == ["x.mid"]


def test_piano_roll_npz_bomb_is_refused_before_decompression(tmp_path):
    arrays = {k: v for k, v in _roll_arrays().items() if k not in ("velocity", "onset")}
    src = _npz_with_headers(tmp_path / "big.npz", arrays, {"velocity": ((128, 2_000_000), "|u1"),
                                                           "onset": ((128, 2_000_000), "|b1")})
    assert src.stat().st_size < 4000
    for suffix in (".mid", ".png", ".wav"):
        assert_refused(run("convert", src, tmp_path / f"out{suffix}"),
                       contains="big.npz: the roll has 2,000,000 piano-roll columns, more than the 1,000,000 allowed")
    tempos = _npz_with_headers(tmp_path / "tempos.npz", {k: v for k, v in _roll_arrays().items() if k != "tempos"},
                               {"tempos": ((10**9, 2), "<f8")})
    assert_refused(run("convert", tempos, tmp_path / "out.mid"), contains="the 'tempos' array of shape (1000000000, 2)")
    assert _left(tmp_path) == ["big.npz", "tempos.npz"]


def test_roll_npz_with_a_tempo_of_1e_300_is_refused(tmp_path):
    src = _npz_with_headers(tmp_path / "slow.npz", _roll_arrays(tempo=1e-300), {})
    for suffix in (".mid", ".png", ".wav"):
        assert_refused(run("convert", src, tmp_path / f"out{suffix}"), contains="tempo 1e-300 bpm")
    assert _left(tmp_path) == ["slow.npz"]


def test_roll_budget_holds_before_allocation():
    from musegen.formats.midi import Note, Song
    from musegen.formats.pianoroll import Roll, song_to_roll

    with pytest.raises(MusegenError, match="more than the 1,000,000 allowed"):
        Roll.from_notes([(0, MAX_ROLL_STEPS + 1, 60, 80)])
    with pytest.raises(MusegenError, match="more than the 1,000,000 allowed"):
        song_to_roll(Song(notes=[Note(0.0, float("inf"), 60)]))
    assert Roll.from_notes([(MAX_ROLL_STEPS - 1, MAX_ROLL_STEPS, 60, 80)]).steps == MAX_ROLL_STEPS


def test_midi_too_long_for_the_synth_budget_is_refused(tmp_path):
    src = _one_note_midi(tmp_path / "long.mid", 3000 * 480, ticks_per_beat=480)  # 25 minutes at 120 bpm
    assert_refused(run("convert", src, tmp_path / "x.wav", "--sample-rate", 48000),
                   contains=f"more than the {MAX_AUDIO_SAMPLES:,} allowed")
    assert _left(tmp_path) == ["long.mid"]


@pytest.mark.parametrize("track, contains", [
    (b"\x00\xff\x51\x03\x00\x00\x00\x00\x90\x3c\x40\x01\x80\x3c\x00\x00\xff\x2f\x00", "a tempo of 0"),
    (b"\x00\xff\x58\x04\x00\x02\x18\x08\x00\x90\x3c\x40\x01\x80\x3c\x00\x00\xff\x2f\x00", "time signature 0/4"),
])
def test_midi_with_impossible_tempo_or_meter_is_refused(tmp_path, track, contains):
    src = tmp_path / "x.mid"
    src.write_bytes(_midi_bytes(track))
    for suffix in (".npz", ".musicxml", ".wav"):
        assert_refused(run("convert", src, tmp_path / f"out{suffix}"), contains=contains)
    assert _left(tmp_path) == ["x.mid"]


# -- 3. a full disk ------------------------------------------------------------------------------------------


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("suffix, target", [
    (".wav", "pathlib.Path.write_bytes"),
    (".abc", "pathlib.Path.write_bytes"),
    (".mid", "mido.MidiFile.save"),
    (".npz", "numpy.savez_compressed"),
    (".png", "pathlib.Path.write_bytes"),  # sheet music from ABC
    (".svg", "pathlib.Path.write_bytes"),
    (".pdf", "pathlib.Path.write_bytes"),
    (".musicxml", "pathlib.Path.write_bytes"),
])
def test_a_full_disk_is_one_line_naming_the_output(tmp_path, monkeypatch, suffix, target):
    book = _book(tmp_path, ["Full"])
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(target, _no_space)
    dst = out / f"x{suffix}"
    r = run("convert", book, dst)
    assert_refused(r, contains=f"{dst}: ")  # the output is named first (sheet music says what it was writing)
    assert r.stderr.rstrip().endswith("No space left on device")
    assert _left(out) == []


def test_libsndfile_error_is_one_line(tmp_path, monkeypatch):
    import soundfile as sf

    def fail(*args, **kwargs):
        raise sf.LibsndfileError(2)

    monkeypatch.setattr(sf, "write", fail)
    dst = tmp_path / "out" / "x.wav"
    assert_refused(run("convert", _book(tmp_path, ["Full"]), dst), contains="x.wav: cannot write the file")
    assert not dst.exists()


# -- 4. nonsense option values -------------------------------------------------------------------------------


@pytest.mark.parametrize("option, value", [
    ("--frame-seconds", "1e9"), ("--frame-seconds", "0"), ("--frame-seconds", "nan"), ("--frame-seconds", "inf"),
    ("--frame-seconds", "-inf"), ("--frame-seconds", "-1"),
    ("--steps-per-beat", "0"), ("--steps-per-beat", "97"), ("--steps-per-beat", "-4"),
    ("--steps-per-beat", "1e9"), ("--steps-per-beat", str(10**30)),
    ("--sample-rate", "0"), ("--sample-rate", "1"), ("--sample-rate", str(10**30)), ("--sample-rate", "nan"),
])
def test_numeric_options_out_of_range_are_one_line(tmp_path, option, value):
    src = tmp_path / "x.wav"
    src.write_bytes(_wav_bytes(800, 8000))
    assert_refused(run("convert", src, tmp_path / "x.npz", f"{option}={value}"), contains=option)
    assert _left(tmp_path) == ["x.wav"]


def test_tiny_frame_seconds_is_one_line(tmp_path):
    src = tmp_path / "x.wav"
    src.write_bytes(_wav_bytes(800, 8000))
    assert_refused(run("convert", src, tmp_path / "x.npz", "--frame-seconds=1e-9"), contains="frame length")


def test_tune_number_out_of_range_is_one_line(tmp_path):
    book = _book(tmp_path, ["One"])
    assert_refused(run("convert", book, tmp_path / "x.mid", "--tune", "0"), contains="--tune")
    assert_refused(run("convert", book, tmp_path / "x.mid", "--tune", str(10**30)), contains="--tune")


# -- 5. temporaries and non-regular files --------------------------------------------------------------------


def _corpus_with_leftovers(folder: Path, suffix: str, content: bytes) -> list[Path]:
    """Two real files, and the leftovers a killed run or another program leaves: none of them is corpus."""
    folder.mkdir()
    good = [folder / f"a{suffix}", folder / "sub" / f"b{suffix}"]
    leftovers = [folder / f".a{suffix}.k3j2x.part{suffix}", folder / "sub" / f"c.part{suffix}",
                 folder / ".hidden" / f"d{suffix}", folder / ".out.x1.part" / f"e{suffix}", folder / f".f{suffix}"]
    for path in good + leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / f"fifo{suffix}")
    return sorted(good)


def test_folder_readers_skip_hidden_files_and_temporaries(tmp_path):
    from musegen.formats.abc import abc_files, read_tunes
    from musegen.formats.audio import audio_files
    from musegen.formats.melody import corpus_files

    tune = b"X:1\nT:Good\nK:D\nDEF|\n"
    good = _corpus_with_leftovers(tmp_path / "abc", ".abc", tune)
    assert abc_files(tmp_path / "abc") == good
    assert len(read_tunes(tmp_path / "abc")) == 2
    assert corpus_files(tmp_path / "abc") == good
    wavs = _corpus_with_leftovers(tmp_path / "wav", ".wav", _wav_bytes(800, 8000))
    assert audio_files(tmp_path / "wav") == wavs
    partita = tmp_path / "bach" / "bach.partita.abc"  # a name that only looks like a temporary is read
    partita.parent.mkdir()
    partita.write_bytes(tune)
    assert abc_files(partita.parent) == [partita]


def test_prepare_abc_reads_no_leftover_temporary(tmp_path):
    folder = tmp_path / "corpus"
    _corpus_with_leftovers(folder, ".abc", b"X:1\nT:Good\nK:D\nDEF|\n")
    result = run("prepare", "abc", folder, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[: result.stdout.rindex("}") + 1])["pieces"] == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("suffix, dst", [(".abc", "x.mid"), (".mid", "x.npz"), (".npz", "x.mid"), (".wav", "x.npz"),
                                         (".musicxml", "x.abc")])
def test_a_fifo_is_not_a_regular_file(tmp_path, suffix, dst):
    fifo = tmp_path / f"in{suffix}"
    os.mkfifo(fifo)
    assert_refused(run("convert", fifo, tmp_path / dst), contains=f"in{suffix}: not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_library_readers_refuse_a_fifo(tmp_path):
    from musegen.formats.abc import read_tunes
    from musegen.formats.audio import read_audio, read_frames
    from musegen.formats.midi import read_midi
    from musegen.formats.pianoroll import read_roll
    from musegen.formats.synth import find_soundfont

    fifo = tmp_path / "in.x"
    os.mkfifo(fifo)
    for reader in (read_tunes, read_audio, read_frames, read_midi, read_roll, find_soundfont):
        with pytest.raises(MusegenError, match="not a regular file"):
            reader(fifo)


# -- ABC text too long for a tune ---------------------------------------------------------------------------


def test_a_megabyte_line_of_abc_is_refused_with_the_figure(tmp_path):
    from musegen.limits import MAX_TUNE_CHARS

    book = tmp_path / "long.abc"
    book.write_text("X:1\nT:Long\nM:6/8\nL:1/8\nK:G\n" + "|".join(["GAB c2d"] * 125_000) + "|\n")
    r = run("convert", book, tmp_path / "long.mid")
    assert_refused(r, contains=f"more than the {MAX_TUNE_CHARS:,} a tune may have")
    assert "1,000,028 characters" in r.stderr and not (tmp_path / "long.mid").exists()
    assert_refused(run("prepare", "abc", book), contains="tune 1 has 1,000,028 characters")


def test_sample_abc_refuses_a_max_length_beyond_a_tune(tmp_path):
    assert_refused(run("sample", "abc", "--max-length", 10**9, "--model", tmp_path / "none", "--out", tmp_path / "o"),
                   contains="--max-length must be at most")


@pytest.mark.parametrize("order", ["A200000000", "A99999999999999", "(AB)600"])
def test_a_part_order_that_plays_too_many_parts_is_refused_before_it_is_expanded(order, tmp_path):
    book = tmp_path / "parts.abc"
    book.write_text(f"X:1\nT:Parts\nM:6/8\nL:1/8\nP:{order}\nK:G\nP:A\nGAB c2d|\nP:B\nd2c BAG|\n")
    assert_refused(run("convert", book, tmp_path / "parts.mid"), contains="more than the 1,000 a tune may play")
    assert not (tmp_path / "parts.mid").exists()
    book.write_text("X:1\nT:Parts\nM:6/8\nL:1/8\nP:(AB)3\nK:G\nP:A\nGAB c2d|\nP:B\nd2c BAG|\n")  # a real medley
    assert run("convert", book, tmp_path / "parts.mid").exit_code == 0
