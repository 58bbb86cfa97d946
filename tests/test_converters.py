"""Every converter of the registry gets a check: a round trip or an exact output, on tiny inputs.

:func:`test_converter` runs over ``sorted(CONVERTERS)`` itself, and
:func:`test_every_converter_has_a_check` fails when a converter is added to
the registry without an entry in :data:`CHECKS`.  Inputs are built in code
(ABC text, MIDI through mido, MusicXML through music21, audio through
numpy and soundfile) and written under ``tmp_path``; outputs are read back
with public libraries only (mido, music21, numpy, soundfile, PIL).

Sheet music (abc->svg, musicxml->svg, musicxml->png) needs an engraver
(verovio or abcm2ps) and, for PNG, an SVG rasteriser.  Without one the
converter must refuse in one line and leave nothing behind: that refusal is
what the check asserts (it is not skipped).
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from musegen.errors import MusegenError  # the error type musegen.formats raises (no converter internals)
from musegen.formats import CONVERTERS, ConvertOptions, convert

TPB = 480  # ticks per quarter note of the MIDI files built here
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SYNTH = ConvertOptions(synth="builtin", sample_rate=16000)  # the numpy synthesizer: no fluidsynth, fast
PCM16 = 1 / 32768  # one step of a 16-bit WAV

# ----------------------------------------------------------------------------------------------- inputs

# Q:1/4=120, L:1/8; in G (f is F#); a dotted pair, a half note, a rest; chord symbols G and D
TINY = """X:1
T:Tiny
M:4/4
L:1/8
Q:1/4=120
K:G
"G"GAB>c d2 e2|"D"f4 g2z2|]
"""
# (onset, pitch, duration) in quarter notes of the melody of TINY
TINY_NOTES = [(0.0, 67, 0.5), (0.5, 69, 0.5), (1.0, 71, 0.75), (1.75, 72, 0.25), (2.0, 74, 1.0), (3.0, 76, 1.0),
              (4.0, 78, 2.0), (6.0, 79, 1.0)]
G_TRIAD, D_TRIAD = {7, 11, 2}, {2, 6, 9}  # pitch classes

BOOK = """% a tune book: comments are dropped from what is converted
X:1
T:First Tune
M:6/8
L:1/8
K:G
|:"G"GAB "D7"c2d:|

X:2
T:Second Tune
M:3/4
L:1/4
K:D
d f a|a2 z|]  % end of the tune
"""
SECOND_TUNE = "X:2\nT:Second Tune\nM:3/4\nL:1/4\nK:D\nd f a|a2 z|]"  # tune 2 of BOOK without its comment

# at 120 bpm (a half note is 1 s): A4 for 1 s, E5 for 1 s, a rest of 1 s, C5 for 1 s
TONES_ABC = """X:1
T:Tones
M:4/4
L:1/4
Q:1/4=120
K:C
A2 e2|z2 c2|]
"""
TONES = [(0.0, 1.0, 440.0), (1.0, 2.0, 659.26), (3.0, 4.0, 523.25)]  # (start s, end s, Hz)
TONES_REST = (2.0, 3.0)  # seconds of silence


def _t(text: str):
    return mido.Message.from_str(text)


def save_midi(path: Path, *tracks: list) -> Path:
    """A type-1 MIDI file of ``tracks``, each a list of mido messages or ``Message.from_str`` lines."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    for messages in tracks:
        mid.tracks.append(mido.MidiTrack(_t(m) if isinstance(m, str) else m for m in messages))
    mid.save(path)
    return path


def band_midi(path: Path) -> Path:
    """3/4 at 90 bpm: a melody (one note 7 ticks late), a held chord under it, a bass note, a drum hit."""
    conductor = [mido.MetaMessage("time_signature", numerator=3, denominator=4),
                 mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90))]
    melody = ["note_on channel=0 note=72 velocity=90 time=0", "note_off channel=0 note=72 velocity=0 time=480",
              "note_on channel=0 note=74 velocity=91 time=7", "note_off channel=0 note=74 velocity=0 time=233",
              "note_on channel=0 note=76 velocity=92 time=0", "note_off channel=0 note=76 velocity=0 time=240",
              "note_on channel=0 note=79 velocity=93 time=0", "note_off channel=0 note=79 velocity=0 time=960",
              "note_on channel=0 note=77 velocity=94 time=0", "note_off channel=0 note=77 velocity=0 time=480"]
    chord = ["note_on channel=1 note=48 velocity=60 time=0", "note_on channel=1 note=64 velocity=61 time=0",
             "note_off channel=1 note=48 velocity=0 time=1440", "note_off channel=1 note=64 velocity=0 time=0",
             "note_on channel=1 note=43 velocity=62 time=0", "note_off channel=1 note=43 velocity=0 time=960"]
    drums = ["note_on channel=9 note=36 velocity=100 time=0", "note_off channel=9 note=36 velocity=0 time=120"]
    return save_midi(path, conductor, melody, chord, drums)


# (onset tick, pitch, duration ticks, velocity) of band_midi without its drums; the late D5 lands on the grid
BAND_NOTES = [(0, 48, 1440, 60), (0, 64, 1440, 61), (0, 72, 480, 90), (480, 74, 240, 91), (720, 76, 240, 92),
              (960, 79, 960, 93), (1440, 43, 960, 62), (1920, 77, 480, 94)]
# the top voice of band_midi in quarter notes: G5 crosses the bar line (a tie), the bass never sounds on top
BAND_TOP = [(0.0, 72, 1.0), (1.0, 74, 0.5), (1.5, 76, 0.5), (2.0, 79, 2.0), (4.0, 77, 1.0)]


def tones_midi(path: Path) -> Path:
    """The notes of TONES at 120 bpm."""
    messages = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120))]
    for pitch, ticks, gap in ((69, 960, 0), (76, 960, 0), (72, 960, 960)):
        messages += [mido.Message("note_on", note=pitch, velocity=90, time=gap),
                     mido.Message("note_off", note=pitch, velocity=0, time=ticks)]
    return save_midi(path, messages)


def duet_musicxml(path: Path) -> Path:
    """A MusicXML score written by music21: a 'Bass' part, then a 'Soprano' part with a chord and a tie."""
    from music21 import chord, key, metadata, meter, note, stream, tie

    def part(name: str, bars: list[list]) -> stream.Part:
        p = stream.Part()
        p.partName = name
        for number, bar in enumerate(bars, start=1):
            m = stream.Measure(number=number)
            if number == 1:
                m.append(meter.TimeSignature("3/4"))
                m.append(key.Key("G"))
            for item in bar:
                m.append(item)
            p.append(m)
        return p

    tied_start, tied_stop = note.Note("A4", quarterLength=1), note.Note("A4", quarterLength=1)
    tied_start.tie, tied_stop.tie = tie.Tie("start"), tie.Tie("stop")
    soprano = part("Soprano", [
        [note.Note("G4", quarterLength=1), note.Note("A4", quarterLength=0.5), note.Note("B4", quarterLength=0.5),
         chord.Chord(["G4", "D5"], quarterLength=1)],  # the chord gives its top note
        [note.Note("C5", quarterLength=1.5), note.Note("B4", quarterLength=0.5), tied_start],
        [tied_stop, note.Note("G4", quarterLength=1), note.Rest(quarterLength=1)],
    ])
    bass = part("Bass", [[note.Note("G2", quarterLength=3)], [note.Note("C3", quarterLength=3)],
                         [note.Note("D3", quarterLength=2), note.Note("G2", quarterLength=1)]])
    score = stream.Score()
    score.insert(0, metadata.Metadata(title="Little Duet"))
    score.insert(0, bass)
    score.insert(0, soprano)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score.write("musicxml", fp=str(path))
    return path


# the top voice of the Soprano part of duet_musicxml: (onset, pitch, duration) in quarter notes
DUET_TOP = [(0.0, 67, 1.0), (1.0, 69, 0.5), (1.5, 71, 0.5), (2.0, 74, 1.0), (3.0, 72, 1.5), (4.5, 71, 0.5),
            (5.0, 69, 2.0), (7.0, 67, 1.0)]


def two_tones(sr: int = 16000, seconds: float = 1.0, low: float = 500.0, high: float = 3000.0) -> np.ndarray:
    """``low`` Hz then ``high`` Hz, ``seconds`` each, at half scale."""
    t = np.arange(round(seconds * sr)) / sr
    return np.concatenate([0.5 * np.sin(2 * np.pi * low * t), 0.5 * np.sin(2 * np.pi * high * t)]).astype(np.float32)


def roll_npz(path: Path) -> Path:
    """A piano roll .npz built by hand (the documented layout): 2/4 at 100 bpm, 4 steps per beat.

    C4 steps 0-4 then struck again at 4-6 (a repeated note), a C-E chord at 6-8, G4 at 8-16 soft.
    """
    velocity = np.zeros((128, 16), np.uint8)
    onset = np.zeros((128, 16), bool)
    for start, stop, pitch, vel in ROLL_NOTES:
        velocity[pitch, start:stop] = vel
        onset[pitch, start] = True
    with open(path, "wb") as f:
        np.savez_compressed(f, kind=np.str_("pianoroll"), velocity=velocity, onset=onset,
                            steps_per_beat=np.int64(4), tempos=np.array([[0.0, 100.0]]),
                            meters=np.array([[0.0, 2.0, 4.0]]), title=np.str_("hand made"))
    return path


ROLL_NOTES = [(0, 4, 60, 100), (4, 6, 60, 50), (6, 8, 60, 70), (6, 8, 64, 71), (8, 16, 67, 30)]  # steps, pitch, vel


# ----------------------------------------------------------------------------------------------- readers


def midi_notes(path: Path, *, channel: int | None = None) -> list[tuple[int, int, int, int]]:
    """Sorted (onset tick, pitch, duration ticks, velocity) of a MIDI file, read with mido."""
    mid = mido.MidiFile(path)
    assert mid.ticks_per_beat == TPB, mid.ticks_per_beat
    notes = []
    for track in mid.tracks:
        now, sounding = 0, {}
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity:
                assert (msg.channel, msg.note) not in sounding, f"{msg} while the note still sounds"
                sounding[msg.channel, msg.note] = (now, msg.velocity)
            elif msg.type in ("note_on", "note_off"):
                start, velocity = sounding.pop((msg.channel, msg.note))
                if channel is None or msg.channel == channel:
                    notes.append((start, msg.note, now - start, velocity))
        assert not sounding, f"notes never released: {sounding}"
    return sorted(notes)


def midi_meta(path: Path, kind: str) -> list:
    return [m for t in mido.MidiFile(path).tracks for m in t if m.type == kind]


def in_beats(notes) -> list[tuple[float, int, float]]:
    return [(start / TPB, pitch, length / TPB) for start, pitch, length, *_ in notes]


def musicxml_notes(path: Path) -> tuple[list[tuple[float, int, float]], object]:
    """(onset, pitch, duration) in quarter notes of every note of a MusicXML file (ties merged), and the score."""
    from music21 import converter, note

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = converter.parse(str(path), format="musicxml", forceSource=True).stripTies()
    notes = [(float(n.getOffsetInHierarchy(score)), n.pitch.midi, float(n.quarterLength))
             for n in score.recurse().getElementsByClass(note.Note)]
    return sorted(notes), score


def abc_melody(tmp_path: Path, abc: Path) -> list[tuple[float, int, float]]:
    """The melody of an ABC file in quarter notes, played with abc->mid (checked exactly on its own)."""
    mid = tmp_path / f"{abc.stem}-played.mid"
    convert(abc, mid, options=ConvertOptions(chords=False))
    return in_beats(midi_notes(mid, channel=0))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    info = sf.info(path)
    assert info.format == "WAV" and info.channels == 1, info
    audio, rate = sf.read(path, dtype="float32")
    return audio, rate


def dominant_hz(audio: np.ndarray, sr: int, start: float, stop: float) -> float:
    """The strongest frequency between ``start`` and ``stop`` seconds (Hann window, zero-padded to 0.25 Hz)."""
    seg = audio[round(start * sr):round(stop * sr)].astype(np.float64)
    n = 4 * sr
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=n))
    return float(np.fft.rfftfreq(n, 1 / sr)[np.argmax(spectrum)])


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    noise = np.sum((reference.astype(np.float64) - estimate) ** 2)
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / max(noise, 1e-30)))


def png_pixels(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB pixels of a PNG after checking its signature and that its IHDR size is what PIL decodes."""
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", data[:16]
    width, height = struct.unpack(">II", data[16:24])
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (width, height)
        pixels = np.asarray(image.convert("RGB")).astype(int)
    if size is not None:
        assert (width, height) == size
    return pixels


def colour_count(pixels: np.ndarray, rgb) -> int:
    return int((np.abs(pixels - np.asarray(rgb[:3], int)).max(axis=2) <= 2).sum())


def check_roll_picture(png: Path, notes: list[tuple[int, float]], size: tuple[int, int]) -> None:
    """A piano-roll picture: each velocity drawn in its viridis colour, over an area that grows with the beats.

    ``notes``: (velocity, beats it sounds).  The colour bar holds every colour
    too, but only a few dozen pixels of each; a beat of a note is ~100 x 10.
    """
    import matplotlib

    pixels = png_pixels(png, size)
    viridis = matplotlib.colormaps["viridis"]
    for velocity, beats in notes:
        rgb = viridis(matplotlib.colors.Normalize(1, 127)(velocity), bytes=True)
        count = colour_count(pixels, rgb)
        assert count > 300 * beats, (velocity, beats, count)
    assert colour_count(pixels, (255, 255, 255)) > pixels.shape[0] * pixels.shape[1] // 3  # a white background


def spectrogram_lines(png: Path, *, top_hz: float, size=(1000, 400)) -> tuple[float, float]:
    """The frequency of the brightest line in the first and in the last third of a spectrogram picture.

    The plot area is where the darkest magma colour lies; its rows map linearly to 0..``top_hz``.
    """
    import matplotlib

    pixels = png_pixels(png, size)
    magma = matplotlib.colormaps["magma"]
    dark = (pixels == np.asarray(magma(0.0, bytes=True)[:3], int)).all(axis=2)  # not the black of text and axes
    bright = np.abs(pixels - np.asarray(magma(1.0, bytes=True)[:3], int)).max(axis=2) <= 40
    columns = np.flatnonzero(dark.sum(axis=0) > 0.5 * pixels.shape[0])  # the plot, not the colour bar
    assert columns.size > 0.5 * pixels.shape[1], "no dark plot area: a blank picture"
    rows = np.flatnonzero(dark[:, columns].sum(axis=1) > 0.3 * columns.size)
    top, bottom = rows.min(), rows.max()
    left, right = columns.min(), columns.max()
    third = (right - left) // 3

    def line_hz(x0: int, x1: int) -> float:
        ys, _ = np.nonzero(bright[:, x0:x1])
        assert ys.size > 0.5 * (x1 - x0), "no bright line"
        return float((bottom - np.median(ys)) / (bottom - top) * top_hz)

    return line_hz(left + 10, left + third), line_hz(right - third, right - 10)


def engraver_installed() -> bool:
    return importlib.util.find_spec("verovio") is not None or shutil.which("abcm2ps") is not None


def rasteriser_installed() -> bool:
    return (importlib.util.find_spec("resvg_py") is not None or importlib.util.find_spec("cairosvg") is not None
            or shutil.which("rsvg-convert") is not None)


def check_sheet(tmp_path: Path, src: Path, dst: Path, notes: int) -> None:
    """Sheet music: drawn with note heads where an engraver is installed, else refused in one line, no file left."""
    before = sorted(tmp_path.rglob("*"))
    drawable = engraver_installed() and (dst.suffix == ".svg" or rasteriser_installed())
    if not drawable:
        with pytest.raises(MusegenError) as info:
            convert(src, dst)
        message = str(info.value)
        assert "\n" not in message and "cannot draw sheet music" in message and "install" in message, message
        assert ("rasteriser" if engraver_installed() else "verovio") in message, message
        assert sorted(tmp_path.rglob("*")) == before, "a refused conversion left a file behind"
        return
    convert(src, dst)
    if dst.suffix == ".png":
        pixels = png_pixels(dst)
        assert pixels.shape[1] == 1600 and (pixels < 128).any() and (pixels > 200).any()
        return
    if dst.suffix == ".pdf":  # a vector page: drawing operators of every note head's path
        data = dst.read_bytes()
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF") and b"/Page" in data
        return
    root = ET.fromstring(dst.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg")
    text = dst.read_text(encoding="utf-8")
    heads = text.count('class="notehead"') or sum(text.count(f'href="#{h}"') for h in ("hd", "Hd", "HD"))
    assert heads >= notes, heads  # verovio: one notehead group per note; abcm2ps: a use of a head glyph


# ----------------------------------------------------------------------------------------------- checks
# each check gets tmp_path and asserts what the converter of its (src, dst) pair does


def check_abc_abc(tmp: Path) -> None:
    """One tune of a book (--tune 2), comments dropped; --all writes one file per tune named from its title."""
    book = tmp / "book.abc"
    book.write_text(BOOK, encoding="utf-8")
    out = tmp / "second.abc"
    report = convert(book, out, options=ConvertOptions(tune=2))
    assert report.files == [out]
    assert out.read_text(encoding="utf-8").strip() == SECOND_TUNE
    folder = tmp / "all"
    report = convert(book, folder, options=ConvertOptions(all_tunes=True, to="abc"))
    assert sorted(p.name for p in folder.iterdir()) == ["First_Tune.abc", "Second_Tune.abc"]
    assert (folder / "Second_Tune.abc").read_text(encoding="utf-8").strip() == SECOND_TUNE
    assert (folder / "First_Tune.abc").read_text(encoding="utf-8").startswith("X:1\nT:First Tune\n")
    assert abc_melody(tmp, out) == [(0.0, 74, 1.0), (1.0, 78, 1.0), (2.0, 81, 1.0), (3.0, 81, 2.0)]


def check_abc_mid(tmp: Path) -> None:
    """The melody exactly on channel 0 at 120 bpm in 4/4; the chords G then D on channel 1."""
    src = tmp / "tiny.abc"
    src.write_text(TINY, encoding="utf-8")
    out = tmp / "tiny.mid"
    convert(src, out)
    melody = midi_notes(out, channel=0)
    assert in_beats(melody) == TINY_NOTES
    assert {v for *_, v in melody} == {80}
    assert [m.tempo for m in midi_meta(out, "set_tempo")] == [500000]
    assert [(m.numerator, m.denominator) for m in midi_meta(out, "time_signature")] == [(4, 4)]
    chords = midi_notes(out, channel=1)
    assert {p % 12 for s, p, *_ in chords if s < 4 * TPB} == G_TRIAD
    assert {p % 12 for s, p, *_ in chords if s >= 4 * TPB} == D_TRIAD
    assert all(s + d <= 8 * TPB for s, _, d, _ in chords)
    plain = tmp / "plain.mid"
    convert(src, plain, options=ConvertOptions(chords=False))
    assert midi_notes(plain) == melody  # --no-chords: the melody alone


def check_abc_musicxml(tmp: Path) -> None:
    """music21 reads back exactly the notes, the meter, the key and the title."""
    src = tmp / "tiny.abc"
    src.write_text(TINY, encoding="utf-8")
    out = tmp / "tiny.musicxml"
    convert(src, out)
    notes, score = musicxml_notes(out)
    assert notes == TINY_NOTES
    from music21 import key, meter

    flat = score.flatten()
    assert [ts.ratioString for ts in flat.getElementsByClass(meter.TimeSignature)] == ["4/4"]
    assert [k.sharps for k in flat.getElementsByClass(key.KeySignature)] == [1]
    assert score.metadata.bestTitle == "Tiny"


def check_abc_wav(tmp: Path) -> None:
    """The built-in synth plays each note at its pitch and time, silence in the rest, peak at -1 dBFS."""
    src = tmp / "tones.abc"
    src.write_text(TONES_ABC, encoding="utf-8")
    out = tmp / "tones.wav"
    convert(src, out, options=SYNTH)
    check_tones(out)


def check_tones(wav: Path) -> None:
    audio, rate = read_wav(wav)
    assert rate == 16000
    assert 4.0 <= len(audio) / rate <= 5.0  # the last note ends at 4 s, then its release
    assert np.isclose(np.abs(audio).max(), 10 ** (-1 / 20), atol=0.01)
    for start, stop, hz in TONES:
        assert abs(dominant_hz(audio, rate, start + 0.1, stop - 0.1) / hz - 1) < 0.01, (start, hz)  # 1/6 semitone
    rest = audio[round((TONES_REST[0] + 0.3) * rate):round(TONES_REST[1] * rate)]
    assert np.abs(rest).max() < 1e-3


def check_abc_npz(tmp: Path) -> None:
    """A piano roll: the notes on a grid of 4 steps per beat, onsets, the tempo, the meter, the title."""
    src = tmp / "tiny.abc"
    src.write_text(TINY, encoding="utf-8")
    out = tmp / "tiny.npz"
    convert(src, out, options=ConvertOptions(chords=False))
    with np.load(out, allow_pickle=False) as npz:
        assert str(npz["kind"]) == "pianoroll" and int(npz["steps_per_beat"]) == 4
        velocity, onset = npz["velocity"], npz["onset"]
        assert npz["tempos"].tolist() == [[0.0, 120.0]] and npz["meters"].tolist() == [[0.0, 4.0, 4.0]]
        assert str(npz["title"]) == "Tiny"
    assert velocity.shape == (128, 28) and velocity.dtype == np.uint8 and onset.dtype == bool  # 7 beats of notes
    expected_v = np.zeros((128, 28), np.uint8)
    expected_on = np.zeros((128, 28), bool)
    for start, pitch, length in TINY_NOTES:
        expected_v[pitch, round(start * 4):round((start + length) * 4)] = 80
        expected_on[pitch, round(start * 4)] = True
    assert np.array_equal(velocity, expected_v) and np.array_equal(onset, expected_on)


def check_abc_png(tmp: Path) -> None:
    """Sheet music, 1600 pixels wide (a tune's piano-roll picture is abc->npz->png)."""
    src = tmp / "tiny.abc"
    src.write_text(TINY, encoding="utf-8")
    check_sheet(tmp, src, tmp / "tiny.png", notes=len(TINY_NOTES))
    roll = tmp / "tiny.npz"
    convert(src, roll, options=ConvertOptions(chords=False))
    convert(roll, tmp / "roll.png")
    check_roll_picture(tmp / "roll.png", [(80, 7.0)], size=(800, 360))


def check_abc_pdf(tmp: Path) -> None:
    src = tmp / "tiny.abc"
    src.write_text(TINY, encoding="utf-8")
    check_sheet(tmp, src, tmp / "tiny.pdf", notes=len(TINY_NOTES))


def check_abc_svg(tmp: Path) -> None:
    src = tmp / "tiny.abc"
    src.write_text(TINY, encoding="utf-8")
    check_sheet(tmp, src, tmp / "tiny.svg", notes=len(TINY_NOTES))
    if not engraver_installed():  # --all refuses before the first tune too: no folder, no file
        book = tmp / "book.abc"
        book.write_text(BOOK, encoding="utf-8")
        with pytest.raises(MusegenError, match="cannot draw sheet music"):
            convert(book, tmp / "sheets", options=ConvertOptions(all_tunes=True, to="svg"))
        assert sorted(p.name for p in tmp.iterdir()) == ["book.abc", "tiny.abc"]


def check_musicxml_abc(tmp: Path) -> None:
    """abc->musicxml->abc gives the same notes (played back), meter, key and title; a duet gives its melody part."""
    src = tmp / "tiny.abc"
    src.write_text(TINY, encoding="utf-8")
    xml = tmp / "tiny.musicxml"
    convert(src, xml)
    back = tmp / "back.abc"
    convert(xml, back)
    text = back.read_text(encoding="utf-8")
    assert {"T:Tiny", "M:4/4", "K:G"} <= set(text.splitlines())
    assert abc_melody(tmp, back) == TINY_NOTES
    duet = tmp / "duet.abc"
    report = convert(duet_musicxml(tmp / "duet.musicxml"), duet)
    assert len(report.notes) == 1 and "2 parts" in report.notes[0] and "'Soprano'" in report.notes[0]
    assert abc_melody(tmp, duet) == DUET_TOP


def check_musicxml_mid(tmp: Path) -> None:
    """The top voice of the melody part (named Soprano, not the first part) exactly, tie merged, chord topped."""
    out = tmp / "duet.mid"
    report = convert(duet_musicxml(tmp / "duet.musicxml"), out)
    assert len(report.notes) == 1 and "2 parts" in report.notes[0]
    assert in_beats(midi_notes(out)) == DUET_TOP
    assert [(m.numerator, m.denominator) for m in midi_meta(out, "time_signature")] == [(3, 4)]


def check_musicxml_png(tmp: Path) -> None:
    src = duet_musicxml(tmp / "duet.musicxml")
    check_sheet(tmp, src, tmp / "duet.png", notes=len(DUET_TOP))


def check_musicxml_svg(tmp: Path) -> None:
    src = duet_musicxml(tmp / "duet.musicxml")
    check_sheet(tmp, src, tmp / "duet.svg", notes=len(DUET_TOP))


def check_musicxml_pdf(tmp: Path) -> None:
    src = duet_musicxml(tmp / "duet.musicxml")
    check_sheet(tmp, src, tmp / "duet.pdf", notes=len(DUET_TOP))


def check_musicxml_wav(tmp: Path) -> None:
    """The melody's top voice played: each note's strongest partial is a harmonic of its pitch, within 1%
    (short notes of the synthesizer's tone can be loudest an octave up)."""
    out = tmp / "duet.wav"
    convert(duet_musicxml(tmp / "duet.musicxml"), out, options=SYNTH)
    audio, rate = read_wav(out)
    seconds_per_beat = 0.5  # no tempo in the score: 120 quarter notes a minute
    assert len(audio) / rate >= DUET_TOP[-1][0] * seconds_per_beat
    for start, pitch, length in DUET_TOP:
        a, b = start * seconds_per_beat + 0.05, (start + length) * seconds_per_beat - 0.05
        ratio = dominant_hz(audio, rate, a, b) / (440 * 2 ** ((pitch - 69) / 12))
        assert round(ratio) in (1, 2, 3) and abs(ratio / round(ratio) - 1) < 0.01, (start, pitch, ratio)


def check_mid_musicxml(tmp: Path) -> None:
    """The top voice exactly: quantised (a late note lands on the grid), drums out, the meter kept."""
    out = tmp / "band.musicxml"
    convert(band_midi(tmp / "band.mid"), out)
    notes, score = musicxml_notes(out)
    assert notes == BAND_TOP
    from music21 import meter

    assert [ts.ratioString for ts in score.flatten().getElementsByClass(meter.TimeSignature)] == ["3/4"]


def check_mid_wav(tmp: Path) -> None:
    out = tmp / "tones.wav"
    convert(tones_midi(tmp / "tones.mid"), out, options=SYNTH)
    check_tones(out)


def check_mid_npz(tmp: Path) -> None:
    """Every track merged into a roll exactly (drums out), tempo and meter kept; mid->npz->mid gives the notes back."""
    src = band_midi(tmp / "band.mid")
    out = tmp / "band.npz"
    convert(src, out)
    with np.load(out, allow_pickle=False) as npz:
        assert str(npz["kind"]) == "pianoroll" and int(npz["steps_per_beat"]) == 4 and str(npz["title"]) == "band"
        velocity, onset = npz["velocity"], npz["onset"]
        assert np.allclose(npz["tempos"], [[0.0, 90.0]], atol=1e-3)  # 90 bpm is 666667 us per beat in MIDI
        assert npz["meters"].tolist() == [[0.0, 3.0, 4.0]]
    expected_v = np.zeros((128, 20), np.uint8)  # 5 beats
    expected_on = np.zeros((128, 20), bool)
    for start, pitch, length, vel in BAND_NOTES:
        expected_v[pitch, start // 120:(start + length) // 120] = vel
        expected_on[pitch, start // 120] = True
    assert np.array_equal(velocity, expected_v) and np.array_equal(onset, expected_on)
    back = tmp / "back.mid"
    convert(out, back)
    assert midi_notes(back) == BAND_NOTES
    assert [m.tempo for m in midi_meta(back, "set_tempo")] == [mido.bpm2tempo(90)]


def check_mid_png(tmp: Path) -> None:
    """A piano-roll picture of 800 x 600 (G2..G5 and a margin); each velocity drawn for as long as its note."""
    out = tmp / "band.png"
    convert(band_midi(tmp / "band.mid"), out)
    check_roll_picture(out, [(v, d / TPB) for _, _, d, v in BAND_NOTES], size=(800, 600))


def check_wav_npz(tmp: Path) -> None:
    """Audio frames: each frame the FFT of 0.25 s of the samples; wav->npz->wav gives the samples back."""
    audio = two_tones(seconds=0.6)
    src = tmp / "tones.wav"
    sf.write(src, audio, 16000, subtype="FLOAT")
    out = tmp / "tones.npz"
    convert(src, out)
    with np.load(out, allow_pickle=False) as npz:
        assert str(npz["kind"]) == "frames" and str(npz["window"]) == "none"
        assert (int(npz["sample_rate"]), int(npz["frame_length"]), int(npz["hop"]), int(npz["length"])) == (
            16000, 4000, 4000, len(audio))
        data = npz["data"]
    assert data.shape == (5, 2 * 2001)  # 19,200 samples: 4 frames and a padded one
    padded = np.zeros(5 * 4000)
    padded[:len(audio)] = audio
    spectrum = np.fft.rfft(padded.reshape(5, 4000), axis=1)
    assert np.allclose(data[:, :2001], spectrum.real, atol=1e-2) and np.allclose(data[:, 2001:], spectrum.imag,
                                                                                   atol=1e-2)
    for overlap in (False, True):
        npz = tmp / f"overlap-{overlap}.npz"
        convert(src, npz, options=ConvertOptions(overlap=overlap))
        back = tmp / f"back-{overlap}.wav"
        convert(npz, back)
        samples, rate = read_wav(back)
        assert rate == 16000 and len(samples) == len(audio)
        assert np.allclose(samples, audio, rtol=0, atol=PCM16 + 1e-6)  # 16-bit WAV out


def check_wav_png(tmp: Path) -> None:
    """A spectrogram of 1000 x 400: a bright line at 500 Hz, then one at 3000 Hz."""
    src = tmp / "tones.wav"
    sf.write(src, two_tones(), 16000, subtype="PCM_16")
    out = tmp / "tones.png"
    convert(src, out)
    low, high = spectrogram_lines(out, top_hz=8000)
    assert abs(low - 500) < 150 and abs(high - 3000) < 150, (low, high)


def check_audio_npz(tmp: Path) -> None:
    """A FLAC file (stereo, 44.1 kHz) to frames at 16 kHz mono; the frames play back the tones."""
    src = tmp / "tones.flac"
    sf.write(src, np.stack([two_tones(44100, 0.5)] * 2, axis=1), 44100, format="FLAC", subtype="PCM_16")
    out = tmp / "tones.npz"
    convert(src, out)
    with np.load(out, allow_pickle=False) as npz:
        assert str(npz["kind"]) == "frames" and int(npz["sample_rate"]) == 16000
        assert abs(int(npz["length"]) - 16000) <= 1
    back = tmp / "back.wav"
    convert(out, back)
    samples, rate = read_wav(back)
    reference = two_tones(16000, 0.5)
    n = min(len(samples), len(reference))
    assert abs(len(samples) - len(reference)) <= 1
    steady = np.r_[100:n // 2 - 100, n // 2 + 100:n - 100]  # the resampler rings at the edges and the jump
    assert np.allclose(samples[steady], reference[steady], atol=0.01)
    assert np.allclose(samples[:n], reference[:n], atol=0.1)


def check_audio_png(tmp: Path) -> None:
    """An OGG file drawn as a spectrogram (16 kHz): 500 Hz then 3000 Hz."""
    src = tmp / "tones.ogg"
    sf.write(src, two_tones(22050), 22050, format="OGG", subtype="VORBIS")
    out = tmp / "tones.png"
    convert(src, out)
    low, high = spectrogram_lines(out, top_hz=8000)
    assert abs(low - 500) < 150 and abs(high - 3000) < 150, (low, high)


def check_audio_wav(tmp: Path) -> None:
    """FLAC and OGG to a 16 kHz mono 16-bit WAV with the same samples (FLAC: lossless; OGG: lossy, close)."""
    audio = two_tones()
    cases = [("mono.flac", audio, 16000, "FLAC", "PCM_16", PCM16 + 1e-6, 80),
             ("stereo.flac", np.stack([audio, audio], axis=1), 16000, "FLAC", "PCM_24", PCM16 + 1e-6, 80),
             ("tones.ogg", audio, 16000, "OGG", "VORBIS", 0.15, 20)]
    for name, data, rate, fmt, subtype, atol, min_snr in cases:
        src = tmp / name
        sf.write(src, data, rate, format=fmt, subtype=subtype)
        out = tmp / f"{name}.wav"
        report = convert(src, out)
        assert report.notes == ["mixed to mono at 16000 Hz"]
        samples, rate = read_wav(out)
        assert rate == 16000 and sf.info(out).subtype == "PCM_16" and len(samples) == len(audio)
        assert np.allclose(samples, audio, rtol=0, atol=atol), (name, np.abs(samples - audio).max())
        assert snr_db(audio, samples) > min_snr, name
    resampled = tmp / "22k.wav"
    convert(tmp / "mono.flac", resampled, options=ConvertOptions(sample_rate=22050))
    samples, rate = read_wav(resampled)
    assert rate == 22050 and abs(len(samples) - 44100) <= 2
    assert abs(dominant_hz(samples, rate, 0.1, 0.9) - 500) < 1 and abs(dominant_hz(samples, rate, 1.1, 1.9) - 3000) < 1


def check_npz_mid(tmp: Path) -> None:
    """A hand-built roll exactly: the repeated note struck twice, the chord, velocities, tempo, meter."""
    out = tmp / "roll.mid"
    convert(roll_npz(tmp / "roll.npz"), out)
    ticks = TPB // 4
    assert midi_notes(out) == sorted((a * ticks, p, (b - a) * ticks, v) for a, b, p, v in ROLL_NOTES)
    assert [m.tempo for m in midi_meta(out, "set_tempo")] == [mido.bpm2tempo(100)]
    assert [(m.numerator, m.denominator) for m in midi_meta(out, "time_signature")] == [(2, 4)]
    frames = tmp / "frames.npz"
    sf.write(tmp / "a.wav", two_tones(seconds=0.3), 16000)
    convert(tmp / "a.wav", frames)
    with pytest.raises(MusegenError, match="cannot convert an .npz of kind 'frames' to mid"):
        convert(frames, tmp / "frames.mid")
    assert not (tmp / "frames.mid").exists()


def check_npz_png(tmp: Path) -> None:
    """A roll .npz as a piano-roll picture (each velocity in its colour); a frames .npz as a spectrogram."""
    roll = tmp / "roll.png"
    convert(roll_npz(tmp / "roll.npz"), roll)
    check_roll_picture(roll, [(v, (b - a) / 4) for a, b, _, v in ROLL_NOTES], size=(800, 350))
    sf.write(tmp / "tones.wav", two_tones(), 16000, subtype="PCM_16")
    convert(tmp / "tones.wav", tmp / "frames.npz")
    spectrogram = tmp / "frames.png"
    convert(tmp / "frames.npz", spectrogram)
    low, high = spectrogram_lines(spectrogram, top_hz=8000)
    assert abs(low - 500) < 150 and abs(high - 3000) < 150, (low, high)


def check_npz_wav(tmp: Path) -> None:
    """Frames .npz built by hand (FFT of each 0.25 s) to the same samples; a roll .npz played at its pitches."""
    audio = two_tones(seconds=0.5)
    blocks = audio.reshape(4, 4000).astype(np.float64)
    spectrum = np.fft.rfft(blocks, axis=1)
    frames = tmp / "frames.npz"
    with open(frames, "wb") as f:
        np.savez(f, kind=np.array("frames"), version=np.array(1),
                 data=np.concatenate([spectrum.real, spectrum.imag], axis=1).astype(np.float32),
                 sample_rate=np.array(16000), frame_length=np.array(4000), hop=np.array(4000),
                 window=np.array("none"), length=np.array(len(audio)))
    out = tmp / "frames.wav"
    convert(frames, out)
    samples, rate = read_wav(out)
    assert rate == 16000 and len(samples) == len(audio)
    assert np.allclose(samples, audio, rtol=0, atol=PCM16 + 1e-6)
    roll = tmp / "roll.npz"
    convert(tones_midi(tmp / "tones.mid"), roll)
    played = tmp / "roll.wav"
    convert(roll, played, options=SYNTH)
    check_tones(played)


# (source format, destination format) -> check; a converter added to CONVERTERS needs an entry here
CHECKS: dict[tuple[str, str], Callable[[Path], None]] = {
    ("abc", "abc"): check_abc_abc,
    ("abc", "mid"): check_abc_mid,
    ("abc", "musicxml"): check_abc_musicxml,
    ("abc", "wav"): check_abc_wav,
    ("abc", "npz"): check_abc_npz,
    ("abc", "png"): check_abc_png,
    ("abc", "svg"): check_abc_svg,
    ("abc", "pdf"): check_abc_pdf,
    ("musicxml", "abc"): check_musicxml_abc,
    ("musicxml", "mid"): check_musicxml_mid,
    ("musicxml", "png"): check_musicxml_png,
    ("musicxml", "svg"): check_musicxml_svg,
    ("musicxml", "pdf"): check_musicxml_pdf,
    ("musicxml", "wav"): check_musicxml_wav,
    ("mid", "musicxml"): check_mid_musicxml,
    ("mid", "wav"): check_mid_wav,
    ("mid", "npz"): check_mid_npz,
    ("mid", "png"): check_mid_png,
    ("wav", "npz"): check_wav_npz,
    ("wav", "png"): check_wav_png,
    ("audio", "npz"): check_audio_npz,
    ("audio", "png"): check_audio_png,
    ("audio", "wav"): check_audio_wav,
    ("npz", "mid"): check_npz_mid,
    ("npz", "png"): check_npz_png,
    ("npz", "wav"): check_npz_wav,
}
# (src, dst) -> reason, for a check that shows a known converter bug (run as xfail(strict=True))
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _params():
    for pair in sorted(CONVERTERS):
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[pair])] if pair in KNOWN_BUGS else []
        yield pytest.param(pair, id=f"{pair[0]}->{pair[1]}", marks=marks)


def test_every_converter_has_a_check():
    missing = [f"{a}->{b}" for a, b in sorted(CONVERTERS) if (a, b) not in CHECKS]
    assert not missing, f"converters without a check in tests/test_converters.py CHECKS: {', '.join(missing)}"
    stale = [f"{a}->{b}" for a, b in sorted(CHECKS) if (a, b) not in CONVERTERS]
    assert not stale, f"checks of converters that are gone: {', '.join(stale)}"


@pytest.mark.parametrize("pair", _params())
def test_converter(pair, tmp_path):
    assert pair in CHECKS, f"no check for the converter {pair[0]}->{pair[1]}: add one to CHECKS"
    CHECKS[pair](tmp_path)
