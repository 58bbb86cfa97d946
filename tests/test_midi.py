"""The MIDI piano-roll representation end to end: corpora, training, threshold sampling, evaluation, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
from helpers import assert_refused, run


def write_song(path: Path, notes: list[tuple[int, int, int, int]], *, tpb: int = 96) -> Path:
    """A type-1 MIDI file from (start_tick, end_tick, pitch, velocity) notes."""
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    track = mido.MidiTrack()
    events = []
    for start, end, pitch, vel in notes:
        events.append((start, 1, mido.Message("note_on", note=pitch, velocity=vel)))
        events.append((end, 0, mido.Message("note_off", note=pitch, velocity=0)))
    now = 0
    for t, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=t - now))
        now = t
    mid.tracks.append(track)
    mid.save(path)
    return path


@pytest.fixture(scope="session")
def midi_folder(tmp_path_factory) -> Path:
    """Four short MIDI files: scales, a chord and repeated notes."""
    folder = tmp_path_factory.mktemp("midis")
    for i in range(4):
        notes = [(k * 48, (k + 1) * 48, 60 + i + k % 8, 70 + k % 3 * 10) for k in range(40)]
        notes += [(0, 192, 48 + i, 90), (0, 192, 52 + i, 90), (0, 192, 55 + i, 90)]  # a chord
        write_song(folder / f"song{i}.mid", notes)
    return folder


# -- the representation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["roll", "linear"])
def test_encode_decode_round_trip_keeps_notes(head):
    from musegen.formats.pianoroll import Roll
    from musegen.representations.midi import MidiRepresentation

    notes = [(0, 2, 60, 80), (2, 4, 60, 81), (0, 8, 48, 100), (4, 6, 64, 30)]  # c2c: repeated notes
    roll = Roll.from_notes(notes, steps=8)
    rep = MidiRepresentation(head=head)
    back = rep.decode(rep.encode(roll))
    if head == "roll":
        assert back.notes() == roll.notes()
    else:  # the study's velocities alone cannot tell c2c from one long c: the repeated note merges
        assert back.notes() == [(0, 8, 48, 100), (0, 4, 60, 80), (4, 6, 64, 30)]


def test_transposition_moves_rows_and_drops_notes_off_the_keyboard():
    from musegen.formats.pianoroll import Roll
    from musegen.representations.midi import transpose_roll

    roll = Roll.from_notes([(0, 2, 60, 80), (1, 3, 126, 70)], steps=4)
    assert transpose_roll(roll, 2).notes() == [(0, 2, 62, 80)]
    assert transpose_roll(roll, -3).notes() == [(0, 2, 57, 80), (1, 3, 123, 70)]


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_roll_rule_threshold_in_velocity_units_and_restrikes(engine, rule_ops):
    from musegen.rules import COLUMN_RULES

    rule = COLUMN_RULES["roll"][0]
    ops, arr = rule_ops(engine)
    n = 128
    out = np.full((1, 3 * n), -20.0, np.float32)
    out[0, 2 * n:] = 80 / 127  # every note would be struck at velocity 80
    out[0, 60], out[0, 62], out[0, 64] = 20.0, 0.0, 20.0  # P(sounding) ~1, 0.5, ~1
    out[0, n + 64] = 5.0  # 64 is struck again
    prev = np.zeros((1, 3 * n), np.float32)
    prev[0, [64, 2 * n + 64]] = 1.0, 50 / 127  # 64 sounding before, velocity 50
    noise = np.zeros((1, 2 * n), np.float32)

    def column(threshold):
        col = np.asarray(rule(ops, arr(out), arr(prev), arr(noise), 0.0, threshold))[0]
        return col[:n] > 0.5, col[n:2 * n] > 0.5, np.round(col[2 * n:] * 127)

    sound, onset, vel = column(15.0)
    assert set(np.flatnonzero(sound)) == {60, 62, 64}  # 62: 0.5 * 80 = 40 >= 15
    assert onset[60] and onset[62] and onset[64]
    assert vel[60] == 80 and vel[64] == 80
    sound, _, _ = column(45.0)
    assert set(np.flatnonzero(sound)) == {60, 64}  # 40 < 45: a higher threshold keeps fewer notes
    out[0, n + 64] = -5.0  # not struck again: held at its own velocity
    sound, onset, vel = column(15.0)
    assert sound[64] and not onset[64] and vel[64] == 50
    out[0, 64] = -0.5  # P(sounding) 0.38: 0.38 * 80 = 30 >= 15 would start a note, but a held one stops
    prev[0, 2 * n + 64] = 80 / 127
    sound, _, _ = column(15.0)
    assert not sound[64]
    prev[0, 64] = 0.0  # not sounding before: 30 >= 15 starts it
    sound, onset, _ = column(15.0)
    assert sound[64] and onset[64]


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_linear_rule_is_the_study_threshold(engine, rule_ops):
    from musegen.rules import COLUMN_RULES

    ops, arr = rule_ops(engine)
    out = np.zeros((1, 128), np.float32)
    out[0, :4] = np.array([10, 15, 16, 100]) / 127
    col = np.asarray(COLUMN_RULES["velocity"][0](ops, arr(out), arr(out), arr(np.zeros_like(out)), 0.0, 15.0))[0]
    np.testing.assert_allclose(np.round(col[:5] * 127), [0, 15, 16, 100, 0])


def test_stepped_sampler_matches_the_keras_model(tiny_midi_model):
    from musegen.models import load_bundle
    from musegen.sampling import VectorSampler

    bundle = load_bundle(tiny_midi_model)
    rep = bundle.representation
    cols = rep.encode(rep.read_bundle_pieces(tiny_midi_model, "validation.json")[0])[None, :50]
    stepped = VectorSampler(bundle.model, rule=rep.column_rule).outputs(cols)
    np.testing.assert_allclose(stepped, np.asarray(bundle.model(cols)), atol=1e-4)


# -- the command line ------------------------------------------------------------------------------------


def test_sample_writes_midi_and_pictures_and_the_same_seed_gives_the_same_music(tiny_midi_model, tmp_path):
    runs = []
    for name in ("a", "b", "c"):
        seed = 3 if name != "c" else 4
        r = run("sample", "midi", "--model", tiny_midi_model, "--num", 2, "--seed", seed, "--beats", 8,
                "--out", tmp_path / name, "--format", "mid,png,npz", "--json")
        assert r.exit_code == 0, r.output
        runs.append(json.loads(r.stdout))
    files = [Path(f) for f in runs[0]["files"]]
    assert sorted(f.name for f in files) == ["midi_1.mid", "midi_1.npz", "midi_1.png", "midi_2.mid", "midi_2.npz",
                                             "midi_2.png"]
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files if f.suffix == ".png")
    assert runs[0]["tokens"] == 2 * 8 * 4  # columns: pieces x beats x steps per beat
    mids = [[Path(f).read_bytes() for f in r["files"] if f.endswith(".mid")] for r in runs]
    assert mids[0] == mids[1] and mids[0] != mids[2]
    from musegen.formats.pianoroll import read_roll

    roll = read_roll(tmp_path / "a" / "midi_1.npz")
    assert roll.steps == 32 and runs[0]["pieces"][0]["notes"] == len(roll.notes())


def test_primer_file_sets_the_start_and_tempo(tiny_midi_model, tmp_path, midi_folder):
    r = run("sample", "midi", "--model", tiny_midi_model, "--primer", midi_folder / "song0.mid", "--steps", 12,
            "--out", tmp_path, "--format", "mid", "--json")
    assert r.exit_code == 0, r.output
    from musegen.formats.midi import read_midi

    song = read_midi(json.loads(r.stdout)["files"][0])
    assert song.tempos[0][1] == pytest.approx(120.0)
    assert song.end_beat <= 3.0 + 1e-9  # 12 columns at 4 per beat, primer not included


@pytest.mark.parametrize("args, message", [
    (["--threshold", "-1"], "--threshold"),
    (["--threshold", "200"], "--threshold"),
    (["--beats", "0"], "--beats must be positive"),
    (["--beats", "4", "--seconds", "3"], "give one of"),
    (["--format", "abc"], "unknown output format"),
    (["--primer-beats", "0"], "--primer-beats"),
    (["--bpm", "0"], "--bpm"),
])
def test_sample_refuses_bad_options(tiny_midi_model, tmp_path, args, message):
    assert_refused(run("sample", "midi", "--model", tiny_midi_model, "--out", tmp_path / "o", *args),
                   contains=message)
    assert not (tmp_path / "o").exists()


def test_primer_that_is_not_midi_is_refused(tiny_midi_model, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert_refused(run("sample", "midi", "--model", tiny_midi_model, "--primer", text, "--out", tmp_path / "o"),
                   contains="not a MIDI or ABC file")
    fake = tmp_path / "fake.mid"
    fake.write_bytes(b"\x00\x01garbage" * 10)
    assert_refused(run("sample", "midi", "--model", tiny_midi_model, "--primer", fake, "--out", tmp_path / "o"),
                   contains="fake.mid")
    assert not (tmp_path / "o").exists()


def test_an_abc_model_is_not_a_midi_model(tiny_model, tmp_path):
    assert_refused(run("sample", "midi", "--model", tiny_model, "--out", tmp_path), contains="not 'midi'")


def test_train_on_a_midi_folder_and_the_prepared_corpus_is_cached(tmp_path, midi_folder):
    r = run("prepare", "midi", midi_folder, "--json")
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)
    assert first["pieces"] == 4 and not first["cached"] and first["input"] == "vectors x 384"
    second = json.loads(run("prepare", "midi", midi_folder, "--json").stdout)
    assert second["cached"] and second["train_steps"] == first["train_steps"]
    r = run("train", "midi", midi_folder, "--preset", "tiny", "--epochs", 1, "--seq-len", 8,
            "--out", tmp_path / "m", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["epochs"] == 1
    assert {"model.keras", "training.json", "validation.json"} <= {p.name for p in (tmp_path / "m").iterdir()}


def test_study_preset_uses_the_linear_head(tmp_path, midi_folder):
    r = run("train", "midi", midi_folder, "--preset", "study", "--units", 8, "--epochs", 1, "--out", tmp_path / "s",
            "--json")
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "s" / "representation.json").read_text())
    assert cfg["head"] == "linear"
    r = run("sample", "midi", "--model", tmp_path / "s", "--beats", 2, "--out", tmp_path / "o", "--json")
    assert r.exit_code == 0, r.output


def test_bad_corpora_are_refused(tmp_path):
    junk = tmp_path / "junk.mid"
    junk.write_bytes(np.random.default_rng(0).bytes(300))
    assert_refused(run("train", "midi", junk, "--preset", "tiny", "--out", tmp_path / "m1"), contains="junk.mid")
    truncated = tmp_path / "cut.mid"
    write_song(truncated, [(0, 96, 60, 80), (96, 192, 62, 80)])
    truncated.write_bytes(truncated.read_bytes()[:30])
    assert_refused(run("train", "midi", truncated, "--preset", "tiny", "--out", tmp_path / "m2"), contains="cut.mid")
    empty = write_song(tmp_path / "empty.mid", [])
    assert_refused(run("train", "midi", empty, "--preset", "tiny", "--out", tmp_path / "m3"), contains="no notes")
    assert_refused(run("train", "midi", "music21:nothing", "--preset", "tiny", "--out", tmp_path / "m4"),
                   contains="unknown bundled corpus")
    assert_refused(run("train", "midi", tmp_path / "missing", "--out", tmp_path / "m5"), contains="no such")
    assert_refused(run("train", "midi", tmp_path, "--head", "softmax", "--out", tmp_path / "m6"),
                   contains="unknown midi head")
    assert not any((tmp_path / f"m{i}").exists() for i in range(1, 7))


def test_one_long_file_is_cut_into_pieces_so_some_are_held_out(tmp_path):
    from musegen.representations.midi import MidiRepresentation

    notes = [(k * 48, (k + 1) * 48, 60 + k % 12, 80) for k in range(400)]  # 200 beats
    rolls = MidiRepresentation().read_corpus(write_song(tmp_path / "long.mid", notes))
    assert len(rolls) == 7 and sum(len(r.notes()) for r in rolls) >= 400


def test_evaluate_reports_the_loss_beside_both_baselines_and_sample_statistics(tiny_midi_model, small_corpus):
    r = run("evaluate", "midi", small_corpus, "--model", tiny_midi_model, "--samples", 2, "--beats", 8, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    for key in ("loss", "repeat_loss", "average_loss", "velocity_mse", "repeat_velocity_mse",
                "average_velocity_mse"):
        assert np.isfinite(result[key]), key
    assert result["valid_pieces"] == 2  # 24 tunes, 10% held out, as in training
    for key in ("notes_per_second", "polyphony", "pitch_class_entropy", "scale_consistency", "empty_beat_rate"):
        assert key in result["samples"] and key in result["corpus_stats"]
    assert 1.5 < result["corpus_stats"]["polyphony"] < 4  # melody and chords of the jigs
    assert_refused(run("evaluate", "midi", small_corpus, "--model", tiny_midi_model, "--threshold", "-3"),
                   contains="--threshold")


def test_roll_statistics_as_muspy_defines_them():
    from musegen.formats.pianoroll import Roll
    from musegen.metrics import roll_statistics

    # C major triad for a beat, then a beat of silence, then C D at 120 bpm, 4 steps per beat
    roll = Roll.from_notes([(0, 4, 60, 80), (0, 4, 64, 80), (0, 4, 67, 80), (8, 10, 60, 80), (10, 12, 62, 80)],
                           steps=12)
    s = roll_statistics(roll)
    assert s["notes"] == 5 and s["seconds"] == pytest.approx(1.5)
    assert s["notes_per_second"] == pytest.approx(5 / 1.5)
    assert s["polyphony"] == pytest.approx((3 * 4 + 4) / 8)
    assert s["pitch_range"] == 7
    assert s["empty_beat_rate"] == pytest.approx(1 / 3)
    assert s["scale_consistency"] == 1.0
    p = np.array([2, 1, 1, 1]) / 5
    assert s["pitch_class_entropy"] == pytest.approx(float(-(p * np.log2(p)).sum()))
