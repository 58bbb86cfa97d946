"""musegen convert through the real CLI: conversions picked from suffixes, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from musegen.cli import app
from musegen.formats import CONVERTERS, SUFFIXES

DATA = Path(__file__).parent / "data"
runner = CliRunner()

TUNES = """X:1
T:First Tune
M:6/8
L:1/8
K:G
|:"G"GAB "D7"c2d:|

X:2
T:Second/Tune
M:6/8
K:D
|:dfa "A"afd:|
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def refused(result, contains):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and contains in lines[0], result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def book(tmp_path):
    p = tmp_path / "book.abc"
    p.write_text(TUNES)
    return p


def test_abc_to_midi_picks_tune_and_melody_channel(book, tmp_path):
    import mido

    out = tmp_path / "two.mid"
    r = run("convert", book, out, "--tune", 2)
    assert r.exit_code == 0, r.output
    mid = mido.MidiFile(out)
    melody = [m.note for t in mid.tracks for m in t if m.type == "note_on" and m.velocity and m.channel == 0]
    assert melody == [74, 78, 81, 81, 78, 74] * 2  # d f a a f d, repeated (K:D)


def test_no_chords_leaves_the_accompaniment_out(book, tmp_path):
    import mido

    def channels(path):
        return {m.channel for t in mido.MidiFile(path).tracks for m in t if m.type == "note_on"}

    assert run("convert", book, tmp_path / "a.mid").exit_code == 0
    assert run("convert", book, tmp_path / "b.mid", "--no-chords").exit_code == 0
    assert channels(tmp_path / "a.mid") == {0, 1}
    assert channels(tmp_path / "b.mid") == {0}


def test_all_tunes_into_a_folder_named_from_titles(book, tmp_path):
    out = tmp_path / "folder"
    r = run("convert", book, out, "--all", "--to", "mid", "--json")
    assert r.exit_code == 0, r.output
    names = sorted(Path(f).name for f in json.loads(r.stdout)["files"])
    assert names == ["First_Tune.mid", "SecondTune.mid"]
    refused(run("convert", book, out, "--all", "--to", "mid"), "already exists")


def test_study_tune_converts_with_a_report(tmp_path):
    import mido

    out = tmp_path / "study.mid"
    r = run("convert", DATA / "study_tune.abc", out, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)["report"]
    assert report, "what was skipped is reported"
    notes = [m for t in mido.MidiFile(out).tracks for m in t if m.type == "note_on" and m.velocity]
    assert len(notes) > 100


def test_midi_to_wav_and_abc_to_wav(book, tmp_path):
    import soundfile as sf

    mid = tmp_path / "t.mid"
    assert run("convert", book, mid).exit_code == 0
    r = run("convert", mid, tmp_path / "t.wav", "--sample-rate", 22050)
    assert r.exit_code == 0, r.output
    info = sf.info(tmp_path / "t.wav")
    assert info.samplerate == 22050 and info.frames > 22050
    assert run("convert", book, tmp_path / "u.wav").exit_code == 0


def test_abc_to_musicxml(book, tmp_path):
    out = tmp_path / "t.musicxml"
    r = run("convert", book, out)
    assert r.exit_code == 0, r.output
    assert "<score-partwise" in out.read_text()


def test_refusals(book, tmp_path):
    refused(run("convert", book, tmp_path / "x.xyz"), "unknown file type")
    refused(run("convert", tmp_path / "missing.abc", tmp_path / "x.mid"), "no such file")
    (tmp_path / "s.wav").write_bytes(b"RIFF")
    refused(run("convert", tmp_path / "s.wav", tmp_path / "x.abc"), "supported:")
    refused(run("convert", book, tmp_path / "x.mid", "--tune", 9), "out of range")
    refused(run("convert", book, tmp_path / "x.mid", "--tune", 0), "--tune")
    existing = tmp_path / "exists.mid"
    existing.write_bytes(b"keep")
    refused(run("convert", book, existing), "already exists")
    assert existing.read_bytes() == b"keep"
    binary = tmp_path / "bin.abc"
    binary.write_bytes(bytes(range(256)))
    refused(run("convert", binary, tmp_path / "y.mid"), "binary")
    bad_mid = tmp_path / "bad.mid"
    bad_mid.write_bytes(b"MThd garbage")
    refused(run("convert", bad_mid, tmp_path / "y.wav"), "not a readable MIDI")
    assert not (tmp_path / "y.mid").exists() and not (tmp_path / "y.wav").exists()


def test_every_converter_pair_is_reachable_from_suffixes():
    formats = set(SUFFIXES.values())
    for src, dst in CONVERTERS:
        assert src in formats and dst in formats
