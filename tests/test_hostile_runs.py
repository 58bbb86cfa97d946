"""Hostile runs: races, interrupts, nonsense values, broken caches and bundles, links and FIFOs.

Every case ends with exit 0 and the right files, or exit 2 and one line on
stderr with nothing half-written (issue 13; the file formats' cases are in
test_hostile_formats.py).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import assert_refused, run

# -- two runs, one output ---------------------------------------------------------------------------------


def test_a_training_into_a_folder_another_run_is_writing_is_refused(tmp_path, small_corpus):
    from musegen.fileio import claim

    out = tmp_path / "m"
    with claim(out):  # another run holds it
        assert_refused(run("train", "abc", small_corpus, "--preset", "tiny", "--out", out),
                       contains="being written by another musegen run")
    assert not out.exists()
    assert run("train", "abc", small_corpus, "--preset", "tiny", "--epochs", 1, "--out", out).exit_code == 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no lock or temporary left


def test_a_file_written_meanwhile_by_another_run_is_never_overwritten(tmp_path):
    from musegen.errors import OutputExists
    from musegen.fileio import atomic_path

    target = tmp_path / "tune.abc"
    with pytest.raises(OutputExists), atomic_path(target) as tmp:
        tmp.write_text("mine")
        target.write_text("theirs")  # the other run renames first
    assert target.read_text() == "theirs" and [p.name for p in tmp_path.iterdir()] == ["tune.abc"]


def test_a_dangling_link_at_the_output_is_a_file_there(tmp_path):
    book = tmp_path / "tune.abc"
    book.write_text("X:1\nT:T\nM:6/8\nL:1/8\nK:G\nGAB c2d|\n")
    link = tmp_path / "out.mid"
    link.symlink_to(tmp_path / "nowhere.mid")
    assert_refused(run("convert", book, link), contains="already exists")
    assert link.is_symlink() and not link.exists()
    assert run("convert", book, link, "--force").exit_code == 0
    assert link.is_file() and not link.is_symlink()


def test_force_through_a_linked_bundle_rewrites_where_the_link_points(tmp_path, small_corpus):
    real = tmp_path / "real"
    assert run("train", "abc", small_corpus, "--preset", "tiny", "--epochs", 1, "--out", real).exit_code == 0
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    r = run("train", "abc", small_corpus, "--preset", "tiny", "--epochs", 1, "--seed", 3, "--force", "--out", link)
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and (real / "model.keras").is_file()
    assert json.loads((real / "config.json").read_text())["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # no hidden temporary left


# -- interrupts and nothing to do --------------------------------------------------------------------------


def test_ctrl_c_anywhere_says_so_in_one_line_and_exits_130(tiny_model, tmp_path, monkeypatch):
    import musegen.pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(musegen.pipeline, "sample", interrupted)
    r = run("sample", "abc", "--model", tiny_model, "--out", tmp_path / "o")
    assert r.exit_code == 130
    assert r.stderr.strip().splitlines() == ["musegen: error: interrupted"]


def test_resume_with_nothing_left_to_do_says_so(tmp_path, small_corpus):
    out = tmp_path / "m"
    assert run("train", "abc", small_corpus, "--preset", "tiny", "--epochs", 1, "--out", out).exit_code == 0
    before = (out / "model.keras").read_bytes()
    r = run("train", "abc", small_corpus, "--out", out, "--resume", "--epochs", 1)
    assert r.exit_code == 0 and "nothing to do" in r.output and "model written" not in r.output
    assert (out / "model.keras").read_bytes() == before


# -- nonsense values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["sample", "midi", "--beats", "inf"], "--beats must be a finite number"),
    (["sample", "midi", "--seconds", "inf"], "--seconds must be a finite number"),
    (["sample", "midi", "--primer-beats", "inf"], "--primer-beats must be a finite number"),
    (["sample", "audio", "--seconds", "nan"], "--seconds must be a finite number"),
    (["sample", "audio", "--temperature", "1e30"], "--temperature must be at most"),
    (["sample", "abc", "--temperature", "1e30"], "--temperature must be at most"),
    (["evaluate", "midi", "jigs", "--beats", "inf"], "--beats must be a finite number"),
])
def test_nonsense_sampling_values_are_refused_before_the_model_loads(args, message, tmp_path):
    assert_refused(run(*args, "--model", tmp_path / "no-model", "--out", tmp_path / "o")
                   if args[0] == "sample" else run(*args, "--model", tmp_path / "no-model"), contains=message)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--units", "100000000"], "--units must be at most"),
    (["--layers", "4", "--units", "8000"], "recurrent weights, more than the"),
    (["--transpose=-1000..1000"], "--transpose shifts must be between -24 and 24"),
    (["--lr", "inf"], "--lr"),
])
def test_nonsense_training_values_are_refused(args, message, tmp_path, small_corpus):
    out = tmp_path / "m"
    assert_refused(run("train", "abc", small_corpus, "--preset", "tiny", "--out", out, *args), contains=message)
    assert not out.exists()


def test_a_piece_longer_than_the_memory_budget_is_refused_with_the_figures(tiny_audio_model, tmp_path):
    r = run("sample", "audio", "--model", tiny_audio_model, "--seconds", "1e9", "--out", tmp_path / "o")
    assert_refused(r, contains="steps per piece would take")
    assert "MiB" in r.stderr and not (tmp_path / "o").exists()


def test_many_pieces_are_made_batch_by_batch_and_the_first_batch_is_the_unbatched_run(tiny_model, tmp_path,
                                                                                      monkeypatch):
    import musegen.pipeline

    args = ("sample", "abc", "--model", tiny_model, "--max-length", 60, "--candidates", 1, "--seed", 5,
            "--format", "abc", "--json")
    whole = json.loads(run(*args, "--num", 2, "--out", tmp_path / "whole").stdout)
    monkeypatch.setattr(musegen.pipeline, "MAX_BATCH", 2)
    r = run(*args, "--num", 7, "--out", tmp_path / "batched")
    assert r.exit_code == 0, r.output
    batched = json.loads(r.stdout)
    files = [Path(f) for f in batched["files"]]
    assert len(files) == 7 == len(set(files)) and all(f.is_file() for f in files)
    def tune(path) -> str:  # the music, without how it was made (the command lines differ)
        return "\n".join(line for line in Path(path).read_text().splitlines() if not line.startswith("N:musegen-"))

    assert [tune(f) for f in whole["files"]] == [tune(f) for f in files[:2]]
    assert len({tune(f) for f in files}) > 2  # later batches draw other tunes
    assert musegen.pipeline.sample_batches.__doc__


# -- broken caches and bundles ------------------------------------------------------------------------------


def test_a_broken_prepared_corpus_cache_is_rebuilt(tmp_path, audio_corpus, monkeypatch):
    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "cache"))
    first = run("prepare", "audio", audio_corpus, "--preset", "tiny", "--json")
    assert first.exit_code == 0, first.output
    entry = next((tmp_path / "cache" / "prepared").glob("audio-*"))
    shard = entry / "train-0000.bin"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # truncated
    r = run("prepare", "audio", audio_corpus, "--preset", "tiny", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cached"] is False
    manifest = json.loads((entry / "manifest.json").read_text())
    (entry / "manifest.json").write_text(json.dumps({**manifest, "split": {"train": "abc", "valid": 3}}))  # wrong types
    r = run("prepare", "audio", audio_corpus, "--preset", "tiny", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cached"] is False
    (entry / "pieces-0000.ends.npy").unlink()  # a file gone
    r = run("prepare", "audio", audio_corpus, "--preset", "tiny", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cached"] is False
    again = run("prepare", "audio", audio_corpus, "--preset", "tiny", "--json")
    assert json.loads(again.stdout)["cached"] is True and json.loads(again.stdout)["pieces"] == 4



def test_a_corpus_prepared_by_other_code_is_prepared_again(tmp_path, audio_corpus, monkeypatch):
    from musegen import pipeline

    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "cache"))
    first = run("prepare", "audio", audio_corpus, "--preset", "tiny", "--json")
    again = run("prepare", "audio", audio_corpus, "--preset", "tiny", "--json")
    assert json.loads(first.stdout)["cached"] is False and json.loads(again.stdout)["cached"] is True
    monkeypatch.setattr(pipeline, "code_digest", lambda: "an encoding changed since")
    other = run("prepare", "audio", audio_corpus, "--preset", "tiny", "--json")
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["cached"] is False and json.loads(other.stdout)["pieces"] == 4

@pytest.mark.parametrize("edit", ["shorter vocabulary", "wrong type", "other head"])
def test_an_edited_bundle_is_refused_in_one_line(edit, tiny_model, tiny_midi_model, tmp_path):
    source = tiny_midi_model if edit == "other head" else tiny_model
    bundle = tmp_path / "bundle"
    shutil.copytree(source, bundle)
    config = json.loads((bundle / "representation.json").read_text())
    if edit == "shorter vocabulary":
        config["vocab"] = config["vocab"][:-5]
    elif edit == "wrong type":
        config["min_count"] = "three"
    else:
        config["head"] = "linear"
    (bundle / "representation.json").write_text(json.dumps(config))
    name = "midi" if edit == "other head" else "abc"
    assert_refused(run("sample", name, "--model", bundle, "--out", tmp_path / "o"), contains=str(bundle))
    assert not (tmp_path / "o").exists()


# -- what is not a file --------------------------------------------------------------------------------------


def test_a_fifo_is_not_a_corpus(tmp_path):
    fifo = tmp_path / "tunes.abc"
    os.mkfifo(fifo)
    assert_refused(run("prepare", "abc", fifo), contains="not a regular file")


def test_temporaries_and_hidden_files_in_a_corpus_folder_are_left_out(tmp_path, audio_corpus):
    from musegen.representations.audio import AudioRepresentation

    folder = tmp_path / "wavs"
    shutil.copytree(audio_corpus, folder)
    (folder / ".tune0.wav.x1y2.part.wav").write_bytes(b"half-written")  # what a killed run leaves
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "junk.wav").write_bytes(b"not audio")
    assert len(AudioRepresentation(max_hz=0).read_corpus(folder)) == 4


# -- found in review --------------------------------------------------------------------------------------


def test_pieces_are_numbered_through_the_batches(tiny_midi_model, tmp_path, monkeypatch):
    import musegen.pipeline

    monkeypatch.setattr(musegen.pipeline, "MAX_BATCH", 2)
    r = run("sample", "midi", "--model", tiny_midi_model, "--num", 5, "--beats", 2, "--format", "mid",
            "--out", tmp_path, "--json")
    assert r.exit_code == 0, r.output
    pieces = json.loads(r.stdout)["pieces"]
    assert [p["title"] for p in pieces] == [f"midi_{i}" for i in range(1, 6)]
    assert [Path(p["files"][0]).name for p in pieces] == [f"midi_{i}.mid" for i in range(1, 6)]


@pytest.mark.parametrize(("args", "message"), [
    (["sample", "midi", "--primer-beats", "1e6"], "--primer-beats must be at most 1,024"),
    (["sample", "audio", "--primer-seconds", "1e6"], "--primer-seconds must be at most 120"),
    (["sample", "score", "--primer-measures", "100000"], "--primer-measures must be at most 256"),
    (["evaluate", "midi", "jigs", "--beats", "1e7"], "--beats must be at most 4,096"),
    (["evaluate", "abc", "x.abc", "--max-length", "1000000000"], "--max-length must be at most 100,000"),
])
def test_primers_and_evaluation_lengths_have_a_budget(args, message, tmp_path):
    extra = ["--out", tmp_path / "o"] if args[0] == "sample" else []
    assert_refused(run(*args, "--model", tmp_path / "no-model", *extra), contains=message)


def test_force_over_a_dangling_link_trains_into_it(tmp_path, small_corpus):
    link = tmp_path / "m"
    link.symlink_to(tmp_path / "gone")
    assert_refused(run("train", "abc", small_corpus, "--preset", "tiny", "--out", link), contains="already exists")
    r = run("train", "abc", small_corpus, "--preset", "tiny", "--epochs", 1, "--force", "--out", link)
    assert r.exit_code == 0, r.output
    assert (link / "model.keras").is_file() and not link.is_symlink()


def test_ctrl_c_before_the_first_epoch_of_a_forced_run_says_nothing_was_written(tmp_path, small_corpus,
                                                                                monkeypatch):
    import musegen.distribute

    out = tmp_path / "m"
    assert run("train", "abc", small_corpus, "--preset", "tiny", "--epochs", 1, "--out", out).exit_code == 0
    before = (out / "model.keras").read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(musegen.distribute, "fit", interrupted)
    r = run("train", "abc", small_corpus, "--preset", "tiny", "--force", "--out", out)
    assert r.exit_code == 130 and "nothing written" in r.output and "model written" not in r.output
    assert (out / "model.keras").read_bytes() == before
