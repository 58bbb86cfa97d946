"""MIDI <-> piano roll: what survives the round trip, the .npz file, the picture, the CLI."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import mido
import numpy as np
import pytest
from test_convert_cli import refused, run  # the CLI helpers: exit code 2 and one line on stderr

from musegen.errors import MusegenError, UsageError
from musegen.formats.midi import Note, Song, read_midi
from musegen.formats.pianoroll import (Roll, midi_to_roll, note_f1, npz_kind, read_roll, roll_to_midi, roll_to_song,
                                       song_to_roll, write_roll)

TPB = 480
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def track(*lines: str, meta: tuple = ()) -> mido.MidiTrack:
    """A track from ``mido.Message.from_str`` lines (``time`` in ticks since the previous message)."""
    t = mido.MidiTrack(meta)
    t.extend(mido.Message.from_str(line) for line in lines)
    return t


def save(path: Path, *tracks: mido.MidiTrack, type: int = 1) -> Path:
    mid = mido.MidiFile(type=type, ticks_per_beat=TPB)
    mid.tracks.extend(tracks)
    mid.save(path)
    return path


@pytest.fixture
def band(tmp_path) -> Path:
    """Format 1: a melody with a repeated note (c2c), a chord on another track, drums; 3/4 then 2/4; 100 -> 150 bpm."""
    conductor = mido.MidiTrack([
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100), time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150), time=2 * TPB),
        mido.MetaMessage("time_signature", numerator=2, denominator=4, time=TPB),
    ])
    melody = track(
        "note_on channel=0 note=60 velocity=100 time=0",
        "note_off channel=0 note=60 velocity=0 time=960",
        "note_on channel=0 note=60 velocity=70 time=0",  # c2c: the same pitch again at once
        "note_on channel=0 note=60 velocity=0 time=480",  # note_on velocity 0 is a note off
        "note_on channel=0 note=62 velocity=55 time=0",
        "note_off channel=0 note=62 velocity=0 time=240",
    )
    chord = track(
        "program_change channel=1 program=40 time=0",
        "note_on channel=1 note=48 velocity=40 time=0",
        "note_on channel=1 note=52 velocity=41 time=0",
        "note_on channel=1 note=55 velocity=42 time=0",
        "note_off channel=1 note=48 velocity=0 time=1440",
        "note_off channel=1 note=52 velocity=0 time=0",
        "note_off channel=1 note=55 velocity=0 time=0",
    )
    drums = track(
        "note_on channel=9 note=36 velocity=120 time=0",
        "note_off channel=9 note=36 velocity=0 time=120",
    )
    return save(tmp_path / "band.mid", conductor, melody, chord, drums)


BAND_NOTES = [  # (start_step, end_step, pitch, velocity) at 4 steps per beat
    (0, 12, 48, 40), (0, 12, 52, 41), (0, 12, 55, 42), (0, 8, 60, 100), (8, 12, 60, 70), (12, 14, 62, 55),
]


def test_format1_merges_tracks_keeps_repeats_chords_velocities_and_leaves_drums_out(band):
    roll = midi_to_roll(band)
    assert roll.velocity.shape == (128, 14) and roll.velocity.dtype == np.uint8 and roll.onset.dtype == bool
    assert roll.notes() == BAND_NOTES
    assert roll.onset[60].nonzero()[0].tolist() == [0, 8]  # two notes, not one
    assert roll.velocity[60, 7] == 100 and roll.velocity[60, 8] == 70
    assert roll.tempos == [(0.0, 100.0), (2.0, 150.0)] and roll.meters == [(0.0, 3, 4), (3.0, 2, 4)]
    assert roll.title == "band"
    with_drums = midi_to_roll(band, drums=True)
    assert with_drums.notes() == [(0, 1, 36, 120)] + BAND_NOTES


def test_format0_from_raw_bytes_with_running_status(tmp_path):
    def var(n: int) -> bytes:  # MIDI variable-length quantity
        out = [n & 0x7F]
        while n > 0x7F:
            n >>= 7
            out.insert(0, (n & 0x7F) | 0x80)
        return bytes(out)

    body = (var(0) + bytes([0x90, 64, 90])  # note_on E4
            + var(0) + bytes([67, 80])  # running status: note_on G4 (a chord)
            + var(480) + bytes([64, 0])  # running status, velocity 0: E4 off
            + var(0) + bytes([64, 60])  # E4 again at once (c2c)
            + var(0) + bytes([67, 0])
            + var(480) + bytes([64, 0])
            + var(0) + b"\xff\x2f\x00")
    data = b"MThd" + struct.pack(">IHHH", 6, 0, 1, TPB) + b"MTrk" + struct.pack(">I", len(body)) + body
    path = tmp_path / "raw.mid"
    path.write_bytes(data)
    assert mido.MidiFile(path).type == 0
    assert midi_to_roll(path).notes() == [(0, 4, 64, 90), (0, 4, 67, 80), (4, 8, 64, 60)]


def test_format0_of_merged_tracks_reads_the_same(tmp_path, band):
    merged = mido.merge_tracks(mido.MidiFile(band).tracks)
    path = save(tmp_path / "zero.mid", merged, type=0)
    assert mido.MidiFile(path).type == 0
    assert midi_to_roll(path).notes() == BAND_NOTES


def test_running_status_written_by_mido(tmp_path):
    lines = []
    for pitch, velocity in ((60, 90), (60, 91), (64, 92)):  # offs as note_on velocity 0: one status byte in all
        lines += [f"note_on channel=2 note={pitch} velocity={velocity} time=0",
                  f"note_on channel=2 note={pitch} velocity=0 time=240"]
    path = save(tmp_path / "running.mid", track(*lines), type=0)
    assert path.read_bytes().count(b"\x92") == 1
    assert midi_to_roll(path).notes() == [(0, 2, 60, 90), (2, 4, 60, 91), (4, 6, 64, 92)]


def test_midi_roll_midi_keeps_notes_tempos_and_meters(band, tmp_path):
    roll = midi_to_roll(band)
    out = roll_to_midi(roll, tmp_path / "back.mid")
    song = read_midi(out)
    assert sorted((n.start * 4, n.end * 4, n.pitch, n.velocity) for n in song.notes) == sorted(BAND_NOTES)
    assert song.tempos == [(0.0, 100.0), (2.0, 150.0)]
    assert song.meters == [(0.0, 3, 4), (3.0, 2, 4)]
    with pytest.raises(MusegenError, match="already exists"):
        roll_to_midi(roll, out)


def test_triplets_round_trip_exactly_at_12_steps_per_beat(tmp_path):
    third = TPB // 3
    lines = []
    for i, pitch in enumerate([60, 62, 64, 65, 67, 69]):  # two beats of triplet eighths
        lines += [f"note_on channel=0 note={pitch} velocity={50 + i} time=0",
                  f"note_off channel=0 note={pitch} velocity=0 time={third}"]
    lines += ["note_on channel=0 note=72 velocity=99 time=0", "note_off channel=0 note=72 velocity=0 time=480"]
    src = save(tmp_path / "triplets.mid", track(*lines))
    roll = midi_to_roll(src, steps_per_beat=12)
    assert [n[:2] for n in roll.notes()] == [(4 * i, 4 * i + 4) for i in range(6)] + [(24, 36)]
    back = read_midi(roll_to_midi(roll, tmp_path / "back.mid"))
    assert [(round(n.start * TPB), round(n.end * TPB), n.pitch, n.velocity) for n in back.notes] == \
        [(round(n.start * TPB), round(n.end * TPB), n.pitch, n.velocity) for n in read_midi(src).notes]
    # on a grid of sixteenths the triplets move to the nearest sixteenth
    assert [n[0] for n in midi_to_roll(src, steps_per_beat=4).notes()][:6] == [0, 1, 3, 4, 5, 7]


def test_from_notes_later_onset_ends_the_earlier_note():
    roll = Roll.from_notes([(0, 8, 60, 90), (2, 4, 60, 50), (2, 3, 64, 99), (2, 6, 64, 31), (5, 5, 67, 70)])
    # 64 is doubled at step 2: one note, as long as the longest and as loud as the loudest
    assert roll.notes() == [(0, 2, 60, 90), (2, 4, 60, 50), (2, 6, 64, 99), (5, 6, 67, 70)]
    assert roll.steps == 6


def test_notes_from_a_plain_matrix_and_onsets_on_silence_are_ignored():
    velocity = np.zeros((128, 6), dtype=np.uint8)
    velocity[60, 1:4] = [80, 90, 90]  # no onset flags: one note, its velocity taken at the onset
    velocity[62, 0:6] = 40
    onset = np.zeros((128, 6), dtype=bool)
    onset[62, 3] = True  # splits the held note
    onset[70, 2] = True  # silent: nothing
    roll = Roll(velocity, onset)
    assert roll.notes() == [(0, 3, 62, 40), (1, 4, 60, 80), (3, 6, 62, 40)]
    assert not roll.onset[70].any()


def test_song_to_roll_rounds_to_the_grid_and_back():
    song = Song(notes=[Note(0.1, 0.2, 60, 80), Note(1.13, 1.9, 61, 81), Note(2.0, 3.0, 38, 90, channel=9)],
                tempos=[(0.0, 90.0)], meters=[(0.0, 6, 8)], title="grid")
    roll = song_to_roll(song)
    assert roll.notes() == [(0, 1, 60, 80), (5, 8, 61, 81)]
    back = roll_to_song(roll, program=24)
    assert [(n.start, n.end, n.pitch, n.velocity, n.channel) for n in back.notes] == \
        [(0.0, 0.25, 60, 80, 0), (1.25, 2.0, 61, 81, 0)]
    assert back.programs == {0: 24} and back.tempos == [(0.0, 90.0)] and back.meters == [(0.0, 6, 8)]
    assert back.title == "grid"


def test_crop_cuts_notes_and_shifts_tempos_and_meters(band):
    roll = midi_to_roll(band)
    part = roll.crop(6, 13)
    assert part.steps == 7
    assert part.notes() == [(0, 6, 48, 40), (0, 6, 52, 41), (0, 6, 55, 42), (0, 2, 60, 100), (2, 6, 60, 70),
                            (6, 7, 62, 55)]
    assert part.onset[48, 0] and part.onset[60, 0]  # notes cut at the start begin there
    assert part.tempos == [(0.0, 100.0), (0.5, 150.0)]
    assert part.meters == [(0.0, 3, 4), (1.5, 2, 4)]
    with pytest.raises(UsageError):
        roll.crop(5, 2)


def test_steps_per_beat_is_checked(band):
    for bad in (0, 97, -4):
        with pytest.raises(UsageError, match="steps-per-beat"):
            midi_to_roll(band, steps_per_beat=bad)
    with pytest.raises(UsageError):
        Roll(np.zeros((128, 2), np.uint8), np.zeros((128, 2), bool), steps_per_beat=0)


def test_npz_round_trip_is_exact(band, tmp_path):
    roll = midi_to_roll(band, steps_per_beat=24, drums=True)
    path = write_roll(roll, tmp_path / "roll.npz")
    assert path.exists() and not list(tmp_path.glob(".*part*"))
    assert npz_kind(path) == "pianoroll"
    again = read_roll(path)
    assert np.array_equal(again.velocity, roll.velocity) and again.velocity.dtype == np.uint8
    assert np.array_equal(again.onset, roll.onset) and again.onset.dtype == bool
    assert (again.steps_per_beat, again.tempos, again.meters, again.title) == \
        (24, roll.tempos, roll.meters, roll.title)
    assert again.notes() == roll.notes()
    with pytest.raises(MusegenError, match="already exists"):
        write_roll(roll, path)
    write_roll(Roll.from_notes([(0, 1, 60, 1)]), path, force=True)
    assert read_roll(path).notes() == [(0, 1, 60, 1)]
    no_suffix = write_roll(roll, tmp_path / "plain")
    assert no_suffix.exists() and not (tmp_path / "plain.npz").exists()


def _one_line_error(func, path, contains):
    with pytest.raises(MusegenError) as info:
        func(path)
    message = str(info.value)
    assert "\n" not in message and contains in message, message


def test_bad_npz_files_are_refused_in_one_line(band, tmp_path):
    text = tmp_path / "text.npz"
    text.write_text("velocity,onset\n1,2\n")
    _one_line_error(read_roll, text, "not a readable .npz")
    _one_line_error(npz_kind, text, "not a readable .npz")
    noise = tmp_path / "noise.npz"
    noise.write_bytes(np.random.default_rng(0).bytes(3000))
    _one_line_error(read_roll, noise, "not a readable .npz")
    _one_line_error(read_roll, tmp_path / "missing.npz", "no such file")

    good = write_roll(midi_to_roll(band), tmp_path / "good.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-200])
    _one_line_error(read_roll, truncated, ".npz")
    corrupt = tmp_path / "corrupt.npz"
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("velocity.npy")
    start = info.header_offset + 30 + len(info.filename) + 10
    data[start:start + 40] = bytes(40)  # damage the compressed velocity array
    corrupt.write_bytes(bytes(data))
    _one_line_error(read_roll, corrupt, "corrupt")

    def npz(name, **arrays):
        path = tmp_path / name
        with open(path, "wb") as f:
            np.savez(f, **arrays)
        return path

    base = {"kind": np.str_("pianoroll"), "velocity": np.zeros((128, 4), np.uint8), "onset": np.zeros((128, 4), bool),
            "steps_per_beat": np.int64(4), "tempos": np.array([[0.0, 120.0]]), "meters": np.array([[0.0, 4, 4]]),
            "title": np.str_("")}
    assert read_roll(npz("ok.npz", **base)).steps == 4
    _one_line_error(read_roll, npz("frames.npz", kind=np.str_("frames"), data=np.zeros(3)), "'frames'")
    _one_line_error(read_roll, npz("nokind.npz", **{k: v for k, v in base.items() if k != "kind"}), "'kind'")
    _one_line_error(read_roll, npz("noonset.npz", **{k: v for k, v in base.items() if k != "onset"}), "'onset'")
    _one_line_error(read_roll, npz("shape.npz", **{**base, "velocity": np.zeros((64, 4), np.uint8)}), "shape")
    _one_line_error(read_roll, npz("dtype.npz", **{**base, "velocity": np.zeros((128, 4), np.float32)}), "type")
    _one_line_error(read_roll, npz("loud.npz", **{**base, "velocity": np.full((128, 4), 200, np.uint8)}), "0..127")
    _one_line_error(read_roll, npz("spb.npz", **{**base, "steps_per_beat": np.int64(0)}), "steps-per-beat")
    _one_line_error(read_roll, npz("bpm.npz", **{**base, "tempos": np.array([[0.0, 0.0]])}), "positive bpm")
    _one_line_error(read_roll, npz("meter.npz", **{**base, "meters": np.array([[0.0, 4, 3]])}), "power-of-two")
    pickled = tmp_path / "pickled.npz"
    with open(pickled, "wb") as f:
        np.savez(f, kind=np.array([{"a": 1}], dtype=object))
    _one_line_error(read_roll, pickled, ".npz")
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    _one_line_error(read_roll, single, "not an .npz")


def test_random_bytes_named_mid_are_refused(tmp_path):
    noise = tmp_path / "noise.mid"
    noise.write_bytes(np.random.default_rng(1).bytes(500))
    _one_line_error(midi_to_roll, noise, "not a readable MIDI")


def test_note_f1():
    ref = [(0.0, 60), (0.0, 60, 90), (1.0, 62), (2.0, 64)]  # duplicates count once; extra items are ignored
    assert note_f1(ref, ref)["f1"] == 1.0
    score = note_f1(ref, [(0.0, 60), (1.1, 62)])
    assert score["precision"] == 0.5 and score["recall"] == pytest.approx(1 / 3)
    assert score["f1"] == pytest.approx(0.4)
    assert note_f1(ref, [(0.0, 60), (1.1, 62)], onset_tolerance=0.1)["matched"] == 2
    assert note_f1(ref, [(0.95, 62), (1.05, 62)], onset_tolerance=0.1)["matched"] == 1  # one to one
    assert note_f1([], [])["f1"] == 1.0 and note_f1(ref, [])["f1"] == 0.0


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_draw_roll_writes_a_png(band, tmp_path):
    from musegen.formats.pictures import draw_roll, grid_lines, note_name

    path = draw_roll(midi_to_roll(band), tmp_path / "band.png", title="Band")
    width, height = png_size(path)
    assert width >= 600 and height >= 300
    with pytest.raises(MusegenError, match="already exists"):
        draw_roll(midi_to_roll(band), path)
    draw_roll(Roll.from_notes([]), tmp_path / "empty.png")  # an empty roll still draws
    assert png_size(tmp_path / "empty.png")[0] > 0
    assert [note_name(p) for p in (60, 61, 21, 127)] == ["C4", "C#4", "A0", "G9"]
    assert grid_lines([(0.0, 3, 4), (3.0, 6, 8)], 9.0) == ([0.0, 3.0, 6.0, 9.0], [1.0, 2.0, 3.5, 4.0, 4.5, 5.0, 5.5,
                                                                                   6.5, 7.0, 7.5, 8.0, 8.5])


# -- the CLI ------------------------------------------------------------------------------------------------


def test_cli_mid_to_npz_to_mid_and_png(band, tmp_path):
    npz, mid, png = tmp_path / "a.npz", tmp_path / "b.mid", tmp_path / "a.png"
    r = run("convert", band, npz)
    assert r.exit_code == 0, r.output
    assert read_roll(npz).notes() == BAND_NOTES
    r = run("convert", npz, mid)
    assert r.exit_code == 0, r.output
    song = read_midi(mid)
    assert sorted((n.start * 4, n.end * 4, n.pitch, n.velocity) for n in song.notes) == sorted(BAND_NOTES)
    assert song.tempos == [(0.0, 100.0), (2.0, 150.0)] and song.meters == [(0.0, 3, 4), (3.0, 2, 4)]
    r = run("convert", band, png)
    assert r.exit_code == 0, r.output
    width, height = png_size(png)
    assert width >= 600 and height >= 300
    r = run("convert", npz, tmp_path / "b.png")
    assert r.exit_code == 0 and png_size(tmp_path / "b.png") == (width, height)

    before = npz.read_bytes()
    refused(run("convert", band, npz), "already exists")
    refused(run("convert", npz, mid), "already exists")
    refused(run("convert", band, png), "already exists")
    assert npz.read_bytes() == before
    r = run("convert", band, npz, "--force", "--drums", "--steps-per-beat", 12)
    assert r.exit_code == 0, r.output
    again = read_roll(npz)
    assert again.steps_per_beat == 12 and (0, 3, 36, 120) in again.notes()


def test_cli_npz_to_wav_and_abc_to_npz_and_png(band, tmp_path):
    import soundfile as sf

    npz = tmp_path / "a.npz"
    assert run("convert", band, npz).exit_code == 0
    r = run("convert", npz, tmp_path / "a.wav", "--sample-rate", 8000)
    assert r.exit_code == 0, r.output
    assert sf.info(tmp_path / "a.wav").samplerate == 8000
    abc = tmp_path / "tune.abc"
    abc.write_text("X:1\nT:Reel\nM:4/4\nL:1/8\nK:D\n|:d2d2 fedc:|\n")
    r = run("convert", abc, tmp_path / "tune.npz", "--no-chords")
    assert r.exit_code == 0, r.output
    bar = [(0, 74), (4, 74), (8, 78), (10, 76), (12, 74), (14, 73)]  # d2d2 fedc in D, L:1/8, played twice
    assert [(n[0], n[2]) for n in read_roll(tmp_path / "tune.npz").notes()] == bar + [(s + 16, p) for s, p in bar]
    assert run("convert", abc, tmp_path / "tune.png").exit_code == 0
    assert png_size(tmp_path / "tune.png")[0] > 0


def test_cli_refusals_leave_no_output(band, tmp_path):
    noise = tmp_path / "noise.mid"
    noise.write_bytes(np.random.default_rng(2).bytes(400))
    refused(run("convert", noise, tmp_path / "x.npz"), "not a readable MIDI")
    refused(run("convert", noise, tmp_path / "x.png"), "not a readable MIDI")
    text = tmp_path / "text.npz"
    text.write_text("not arrays\n")
    refused(run("convert", text, tmp_path / "x.mid"), "not a readable .npz")
    refused(run("convert", text, tmp_path / "x.png"), "not a readable .npz")
    frames = tmp_path / "frames.npz"
    with open(frames, "wb") as f:
        np.savez(f, kind=np.str_("frames"), data=np.zeros(3))
    refused(run("convert", frames, tmp_path / "x.mid"), "kind 'frames'")
    refused(run("convert", band, tmp_path / "x.npz", "--steps-per-beat", 0), "--steps-per-beat")
    refused(run("convert", band, tmp_path / "x.npz", "--steps-per-beat", 200), "--steps-per-beat")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["band.mid", "frames.npz", "noise.mid", "text.npz"]


def test_cli_npz_kind_picks_the_converter(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "tone.wav", 0.3 * np.sin(np.arange(8000) / 8).astype(np.float32), 16000)
    frames = tmp_path / "tone.npz"
    assert run("convert", tmp_path / "tone.wav", frames).exit_code == 0
    assert npz_kind(frames) == "frames"
    r = run("convert", frames, tmp_path / "spectrogram.png")  # a spectrogram, not a piano roll
    assert r.exit_code == 0, r.output
    assert png_size(tmp_path / "spectrogram.png")[0] > 0
    assert run("convert", frames, tmp_path / "back.wav").exit_code == 0
    assert sf.info(tmp_path / "back.wav").frames >= 8000
    refused(run("convert", frames, tmp_path / "x.mid"), "kind 'frames'")
