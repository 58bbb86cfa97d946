"""The ABC path end to end through the real CLI: train, resume, sample, evaluate, info, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_refused, run


# -- sampling -------------------------------------------------------------------------------------------


def test_sample_writes_abc_and_midi_named_from_titles(tiny_model, tmp_path):
    out = tmp_path / "out"
    result = run("sample", "abc", "--model", tiny_model, "--num", 3, "--seed", 1, "--out", out,
                 "--max-length", 300, "--primer", "X:1\\nT:Jig: one/two\\nM:6/8\\nK:G\\n|GAB ", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["tokens"] > 0 and summary["seconds"] > 0
    files = [Path(f) for f in summary["files"]]
    assert len(files) == 6 and all(f.is_file() for f in files)
    assert sorted(f.suffix for f in files) == [".abc"] * 3 + [".mid"] * 3
    assert sorted({f.stem for f in files}) == ["Jig_onetwo", "Jig_onetwo_2", "Jig_onetwo_3"]
    for f in files:
        assert f.parent == out and "/" not in f.stem and not f.name.startswith(".")
    for f in (f for f in files if f.suffix == ".abc"):
        assert f.read_text().startswith("X:")
    assert not list(out.glob(".*")), "no temporary files left behind"


def test_same_seed_same_tunes(tiny_model, tmp_path):
    texts = []
    for name in ("a", "b"):
        r = run("sample", "abc", "--model", tiny_model, "--num", 2, "--seed", 7, "--out", tmp_path / name,
                "--format", "abc", "--max-length", 200, "--json")
        assert r.exit_code == 0, r.output
        texts.append([Path(f).read_text() for f in json.loads(r.stdout)["files"]])
    assert texts[0] == texts[1]
    r = run("sample", "abc", "--model", tiny_model, "--num", 2, "--seed", 8, "--out", tmp_path / "c",
            "--format", "abc", "--max-length", 200, "--json")
    assert [Path(f).read_text() for f in json.loads(r.stdout)["files"]] != texts[0]


def test_primer_starts_the_tune(tiny_model, tmp_path):
    r = run("sample", "abc", "--model", tiny_model, "--primer", "X:5\\nT:Primed\\nM:6/8\\nK:D\\n", "--out",
            tmp_path, "--format", "abc", "--max-length", 100, "--json")
    assert r.exit_code == 0, r.output
    (f,) = json.loads(r.stdout)["files"]
    lines = Path(f).read_text().splitlines()
    made = [line for line in lines if line.startswith("N:musegen-")]  # how the tune was made, in its header
    assert "\n".join(line for line in lines if line not in made).startswith("X:5\nT:Primed\nM:6/8\nK:D\n")
    from musegen.formats.provenance import read_provenance

    assert made and read_provenance(Path(f))["primer"] == "X:5\\nT:Primed\\nM:6/8\\nK:D\\n"  # as typed
    assert Path(f).name.startswith("Primed")


def test_existing_output_refused_without_force(tiny_model, tmp_path):
    args = ("sample", "abc", "--model", tiny_model, "--out", tmp_path, "--format", "abc", "--max-length", 100,
            "--primer", "X:1\\nT:Same\\n")
    assert run(*args).exit_code == 0
    before = (tmp_path / "Same.abc").read_bytes()
    assert_refused(run(*args, "--seed", 5), contains="already exists")
    assert (tmp_path / "Same.abc").read_bytes() == before
    assert run(*args, "--seed", 5, "--force").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (("--temperature", "-1"), "temperature"),
    (("--num", "0"), "--num"),
    (("--format", "abc,xyz"), "xyz"),
    (("--max-length", "0"), "max-length"),
    (("--meter", "7/5"), "--meter 7/5"),
    (("--key", "H#"), "--key H#"),
    (("--parts", "9"), "--parts"),
    (("--rhythm", "tango"), "tango"),
])
def test_sample_refuses_bad_options(tiny_model, tmp_path, args, message):
    out = tmp_path / "o"
    assert_refused(run("sample", "abc", "--model", tiny_model, "--out", out, *args), contains=message)
    assert not out.exists()


def test_missing_and_corrupt_models_refused(tmp_path):
    assert_refused(run("sample", "abc", "--model", tmp_path / "nope"), contains="no such model")
    broken = tmp_path / "broken"
    broken.mkdir()
    assert_refused(run("sample", "abc", "--model", broken), contains="not a musegen model")
    for name in ("model.keras", "representation.json", "config.json"):
        (broken / name).write_bytes(b"\x00garbage" * 10)
    assert_refused(run("sample", "abc", "--model", broken), contains="corrupt")
    assert_refused(run("info", broken))


def test_corrupt_keras_file_refused(tiny_model, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(tiny_model, copy)
    (copy / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    assert_refused(run("sample", "abc", "--model", copy, "--out", tmp_path / "o"), contains="cannot load model")


# -- training -------------------------------------------------------------------------------------------


def test_train_refusals(tmp_path, small_corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    binary = tmp_path / "bin.abc"
    binary.write_bytes(bytes(range(256)) * 8)
    notune = tmp_path / "notune.abc"
    notune.write_text("% just a comment\nno tunes here\n")
    out = tmp_path / "m"
    assert_refused(run("train", "abc", tmp_path / "missing", "--out", out), contains="no such file")
    assert_refused(run("train", "abc", empty, "--out", out), contains="no .abc files")
    assert_refused(run("train", "abc", binary, "--out", out), contains="binary")
    assert_refused(run("train", "abc", notune, "--out", out), contains="no ABC tunes")
    for option, value in [("--units", "0"), ("--layers", "-1"), ("--seq-len", "0"), ("--batch-size", "-5"),
                          ("--epochs", "0"), ("--dropout", "1.5"), ("--lr", "0")]:
        assert_refused(run("train", "abc", small_corpus, "--out", out, option, value), contains=option)
    assert_refused(run("train", "abc", small_corpus, "--out", out, "--optimizer", "adamw"), contains="adamw")
    assert_refused(run("train", "abc", small_corpus, "--out", out, "--preset", "huge"), contains="huge")
    assert not out.exists()


def test_train_refuses_existing_bundle_and_resume_of_nothing(tiny_model, tmp_path, small_corpus):
    assert_refused(run("train", "abc", small_corpus, "--out", tiny_model, "--preset", "tiny"), contains="--resume")
    assert_refused(run("train", "abc", small_corpus, "--out", tmp_path / "none", "--resume"), contains="nothing to resume")


def test_interrupted_training_leaves_a_bundle_and_resumes(tmp_path, small_corpus):
    from musegen.models import load_bundle
    from musegen.pipeline import Reporter, resolve_config, train

    class Interrupt(Reporter):
        """Presses Ctrl-C in the middle of the second epoch."""

        def __init__(self):
            self.epoch = 0

        def start(self, task, total, **info):
            self.epoch = info.get("epoch", self.epoch)

        def update(self, advance=1, **info):
            if self.epoch == 2:
                raise KeyboardInterrupt

    out = tmp_path / "m"
    config, name = resolve_config("abc", preset="tiny", overrides={"epochs": 3})
    result = train("abc", small_corpus, out=out, config=config, preset=name, reporter=Interrupt())
    assert result.interrupted
    bundle = load_bundle(out)
    assert len(bundle.history["loss"]) == 1 and bundle.history["best_epoch"] == 1
    r = run("train", "abc", small_corpus, "--out", out, "--epochs", 3, "--resume", "--json")
    assert r.exit_code == 0, r.output
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 3
    assert history["val_loss"][2] < history["val_loss"][0]
    assert (out / "validation.abc").read_text().count("X:") == 2  # 10% of 24 tunes, verbatim


def test_bundle_files_and_info(tiny_model):
    names = {p.name for p in tiny_model.iterdir()}
    assert {"model.keras", "representation.json", "config.json", "history.json", "validation.abc",
            "training.abc"} <= names
    r = run("info", tiny_model, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["representation"] == "abc" and info["epochs"] == 2 and info["parameters"] > 0


# -- evaluation -----------------------------------------------------------------------------------------


def test_evaluate_reports_bits_per_char_and_baseline(tiny_model):
    r = run("evaluate", "abc", tiny_model / "validation.abc", "--model", tiny_model, "--json", "--samples", 4)
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert 0.5 < result["bits_per_char"] < 8
    assert 0.5 < result["baseline_bits_per_char"] < 8
    assert result["characters"] == sum(len(t) + 1 for t in _tunes(tiny_model / "validation.abc"))
    assert 0 <= result["copy_rate"] <= 1 and 0 <= result["meter_valid_rate"] <= 1
    # the samples are drawn in the form of a jig (6/8, two or three 8-bar parts, repeated), raw ones too
    assert result["form"] and result["dance_form_rate_raw"] == result["repeats_rate_raw"] == 1
    assert result["meter_valid_rate_raw"] == 1


def _tunes(path):
    from musegen.formats.abc import read_tunes

    return read_tunes(path, clean=True)


def test_evaluate_scores_unknown_characters(tiny_model, tmp_path):
    odd = tmp_path / "odd.abc"
    odd.write_text("X:1\nT:Odd \u00e9\u00e8\u00a7\nM:6/8\nK:G\n|:GAB c2d:|\n", encoding="utf-8")
    r = run("evaluate", "abc", odd, "--model", tiny_model, "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["unknown_chars"] >= 3 and np.isfinite(result["bits_per_char"])


# -- the sampler ----------------------------------------------------------------------------------------


def test_stepped_sampler_matches_the_keras_model(tiny_model):
    from musegen.models import load_bundle
    from musegen.sampling import TokenSampler

    bundle = load_bundle(tiny_model)
    ids = bundle.representation.encode((tiny_model / "validation.abc").read_text())[None, :60]
    stepped = TokenSampler(bundle.model).logits(ids)
    whole = np.asarray(bundle.model(ids))
    np.testing.assert_allclose(stepped, whole, atol=1e-4)


def test_gru_model_trains_and_samples(tmp_path, small_corpus):
    out = tmp_path / "gru"
    r = run("train", "abc", small_corpus, "--out", out, "--preset", "tiny", "--cell", "gru", "--epochs", 1,
            "--json")
    assert r.exit_code == 0, r.output
    from musegen.models import load_bundle
    from musegen.sampling import TokenSampler

    bundle = load_bundle(out)
    ids = bundle.representation.encode("X:1\nK:G\nGAB|\n")[None]
    np.testing.assert_allclose(TokenSampler(bundle.model).logits(ids), np.asarray(bundle.model(ids)), atol=1e-4)


def test_help_is_quick_and_lazy():
    import subprocess
    import sys

    code = ("import sys, musegen.cli; "
            "assert not any(m in sys.modules for m in ('tensorflow', 'keras', 'music21', 'librosa')), "
            "[m for m in ('tensorflow', 'keras', 'music21', 'librosa') if m in sys.modules]")
    subprocess.run([sys.executable, "-c", code], check=True)
    r = run("--help")
    assert r.exit_code == 0 and "sample" in r.stdout


# -- found in review ------------------------------------------------------------------------------------


def test_force_never_replaces_a_folder_that_is_not_a_model(tmp_path, small_corpus):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    assert_refused(run("train", "abc", small_corpus, "--out", precious, "--preset", "tiny", "--force"),
                   contains="not a musegen model")
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_resume_keeps_the_bundle_settings(tmp_path, small_corpus):
    out = tmp_path / "m"
    assert run("train", "abc", small_corpus, "--out", out, "--preset", "tiny", "--epochs", 1).exit_code == 0
    assert_refused(run("train", "abc", small_corpus, "--out", out, "--resume", "--units", 64), contains="--resume")
    r = run("train", "abc", small_corpus, "--out", out, "--resume", "--epochs", 2, "--json")
    assert r.exit_code == 0, r.output
    saved = json.loads((out / "config.json").read_text())
    assert saved["preset"] == "tiny" and saved["epochs"] == 2 and saved["units"] == 16


@pytest.mark.parametrize("args, message", [
    (("--seed", "-1"), "--seed"),
    (("--lr", "nan"), "--lr"),
    (("--seq-len", "100000"), "--seq-len"),
])
def test_train_refuses_out_of_range_values(tmp_path, small_corpus, args, message):
    out = tmp_path / "m"
    assert_refused(run("train", "abc", small_corpus, "--out", out, "--preset", "tiny", *args), contains=message)
    assert not out.exists()


def test_sample_refuses_bad_seed_nan_temperature_and_missing_primer_file(tiny_model, tmp_path):
    out = tmp_path / "o"
    base = ("sample", "abc", "--model", tiny_model, "--out", out)
    assert_refused(run(*base, "--seed", str(2**32)), contains="--seed")
    assert_refused(run(*base, "--temperature", "nan"), contains="temperature")
    assert_refused(run(*base, "--primer", "mytune.abc"), contains="no such file")
    assert_refused(run(*base, "--primer", str(tmp_path)), contains="no such file")
    assert not out.exists()


def test_output_that_is_a_file_or_unwritable_is_refused(tiny_model, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert_refused(run("sample", "abc", "--model", tiny_model, "--out", afile, "--max-length", 50))
    assert afile.read_text() == "x"


def test_a_tune_without_notes_is_written_as_abc_and_its_midi_reported(tiny_model, tmp_path):
    r = run("sample", "abc", "--model", tiny_model, "--out", tmp_path, "--max-length", 1, "--primer",
            "X:1\\nT:Empty\\nT:", "--json")
    assert r.exit_code == 0, r.output
    (piece,) = json.loads(r.stdout)["pieces"]
    assert [Path(f).suffix for f in piece["files"]] == [".abc"]
    assert "mid" in piece["skipped"]


def test_debug_is_accepted_anywhere_and_no_args_shows_help():
    r = run("info", "/nonexistent/model", "--debug")
    assert r.exit_code == 2 and "Traceback" in r.output
    r = run()
    assert "Usage" in r.output and "musegen: error" not in r.output


def test_every_bundle_has_its_training_curves_and_tensorboard_logs_when_asked(tiny_model, tmp_path, small_corpus):
    import importlib.util

    from PIL import Image

    with Image.open(tiny_model / "history.png") as picture:
        assert picture.format == "PNG" and picture.size == (600, 350)
    out, logs = tmp_path / "m", tmp_path / "logs"
    r = run("train", "abc", small_corpus, "--preset", "tiny", "--epochs", 1, "--out", out, "--tensorboard", logs)
    if importlib.util.find_spec("tensorboard") is None:  # an optional extra: refused before anything is done
        assert_refused(r, contains="pip install 'musegen[tensorboard]'")
        assert not out.exists() and not logs.exists()
    else:
        assert r.exit_code == 0, r.output
        assert list((logs / "train").glob("events.out.tfevents.*")) and (out / "history.png").is_file()


# -- the form asked -------------------------------------------------------------------------------------


def test_the_meter_key_and_parts_asked_are_what_comes(tiny_model, tmp_path):
    from musegen.formats.abc.check import check_tune, tune_shape

    r = run("sample", "abc", "--model", tiny_model, "--meter", "3/4", "--key", "Dm", "--parts", "3", "--num", 2,
            "--candidates", 1, "--seed", 4, "--out", tmp_path, "--format", "abc", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    for f, piece in zip(summary["files"], summary["pieces"], strict=True):
        text = Path(f).read_text()
        shape = tune_shape(text)
        assert (shape.meter, shape.key, shape.parts, shape.repeats) == ("3/4", "Dm", 3, True), text
        assert 24 <= shape.bars <= 27 and check_tune(text, repair=False).valid, text
        assert (piece["meter"], piece["key"], piece["parts"]) == ("3/4", "Dm", 3)
        assert piece["repairs"] == [] and piece["bars_fitting"] == piece["bars"] == shape.bars
    r = run("sample", "abc", "--model", tiny_model, "--meter", "3/4", "--key", "Dm", "--parts", "3",
            "--out", tmp_path / "t", "--format", "abc")
    assert "asked: M:3/4, K:Dm, 3 parts" in " ".join(r.output.split()), r.output


def test_rhythm_gives_the_meter_and_no_form_samples_freely(tiny_model, tmp_path):
    from musegen.formats.abc.check import tune_shape

    from musegen.formats.abc import header_field

    r = run("sample", "abc", "--model", tiny_model, "--rhythm", "hornpipe", "--num", 1, "--candidates", 1,
            "--out", tmp_path / "hornpipe", "--format", "abc", "--json")
    assert r.exit_code == 0, r.output
    (f,) = json.loads(r.stdout)["files"]
    text = Path(f).read_text()
    assert tune_shape(text).meter == "4/4" and header_field(text, "R") == "Hornpipe"  # abc2midi swings it
    r = run("sample", "abc", "--model", tiny_model, "--rhythm", "reel", "--num", 1, "--candidates", 1,
            "--out", tmp_path / "reel", "--format", "abc", "--json")
    text = Path(json.loads(r.stdout)["files"][0]).read_text()
    assert tune_shape(text).meter == "4/4" and header_field(text, "L") == "1/4"  # as the Nottingham reels
    free = []
    for name in ("a", "b"):
        r = run("sample", "abc", "--model", tiny_model, "--no-form", "--seed", 2, "--num", 1, "--candidates", 1,
                "--max-length", 150, "--out", tmp_path / name, "--format", "abc", "--json")
        assert r.exit_code == 0, r.output
        free.append(Path(json.loads(r.stdout)["files"][0]).read_text())
    assert free[0] == free[1]  # the same seed, the same tune, without the form too


def test_also_trains_on_more_tunes_and_never_holds_them_out(tmp_path, small_corpus):
    from musegen.formats.abc import read_tunes

    more = tmp_path / "more.abc"
    reels = ["X:1\nT:Reel one\nM:4/4\nK:D\n|:DFAd fdAF|GBdB AFD2:|\n", "X:2\nT:Reel two\nM:4/4\nK:G\nGABc dBGB|]\n"]
    more.write_text("\n".join(reels), encoding="utf-8")
    runs = {}
    for name, extra in (("plain", ()), ("also", ("--also", more))):
        out = tmp_path / name
        r = run("train", "abc", small_corpus, "--preset", "tiny", "--epochs", 1, "--out", out, *extra)
        assert r.exit_code == 0, r.output
        runs[name] = json.loads((out / "config.json").read_text())["summary"]
    also = tmp_path / "also"
    assert (also / "validation.abc").read_text() == (tmp_path / "plain" / "validation.abc").read_text()
    assert [t.split("\n")[1] for t in read_tunes(also / "training-also.abc")] == ["T:Reel one", "T:Reel two"]
    assert not (tmp_path / "plain" / "training-also.abc").exists()
    assert runs["also"]["train_steps"] == runs["plain"]["train_steps"] + sum(len(t) + 2 for t in reels)
    assert json.loads((also / "representation.json").read_text())["also"] == str(more)
    assert_refused(run("train", "abc", small_corpus, "--preset", "tiny", "--out", tmp_path / "x", "--also",
                       tmp_path / "none.abc"), contains="none.abc")


def test_a_generated_tune_credits_musegen_not_the_people_of_the_corpus(tiny_model, tmp_path):
    from musegen.representations.abc import AbcRepresentation, credited

    tune = "X:1\nT:Willy\nS:Andrew Rankine, via Phil Rowe\nZ:Phil Rowe\nM:6/8\nK:G\nGAB c3|\nS:not a field here|\n"
    assert credited(tune) == "X:1\nT:Willy\nC:musegen\nM:6/8\nK:G\nGAB c3|\nS:not a field here|\n"
    assert credited("X:1\nT:t\nM:6/8\nK:G\nGAB c3|\n") == "X:1\nT:t\nM:6/8\nK:G\nGAB c3|\n"
    written, _ = AbcRepresentation().postprocess("T:Willy\nC:Trad\nS:Phil Rowe\nM:6/8\nL:1/8\nK:G\nGAB c3|\n", index=2)
    assert "Phil Rowe" not in written and "Trad" not in written and written.count("C:musegen") == 1
    r = run("sample", "abc", "--model", tiny_model, "--num", 3, "--seed", 5, "--out", tmp_path, "--format", "abc",
            "--json")
    assert r.exit_code == 0, r.output
    for name in json.loads(r.stdout)["files"]:
        header = Path(name).read_text().split("\nK:")[0]
        assert not any(line[:2] in ("S:", "Z:", "B:", "O:") for line in header.splitlines())


def test_with_no_key_asked_the_tunes_are_in_keys_of_the_training_tunes(tiny_model, tmp_path):
    import re

    from musegen.formats.abc.grammar import FormRequest, TuneForm
    from musegen.representations.abc import training_keys

    keys = training_keys(tiny_model)
    written = set(re.findall(r"^K:(\S+)", (tiny_model / "training.abc").read_text(), flags=re.M))
    assert keys and keys <= written
    form = TuneForm(FormRequest(meter="6/8", keys=frozenset({"G", "Em"})))
    for ch in "X:1\nT:t\nM:6/8\nK:":
        assert form.allows(ch), ch
        form.feed(ch)
    assert form.allows("G") and form.allows("E") and not form.allows("D")
    form.feed("E")
    assert form.allows("m") and not form.allows("\n")  # E alone is not a key asked
    r = run("sample", "abc", "--model", tiny_model, "--num", 6, "--seed", 2, "--out", tmp_path, "--format", "abc",
            "--json")
    assert r.exit_code == 0, r.output
    for name in json.loads(r.stdout)["files"]:
        assert re.search(r"^K:(\S+)", Path(name).read_text(), flags=re.M).group(1) in keys


def test_token_bits_are_the_same_in_small_batches(tiny_model, monkeypatch):
    """evaluate runs long pieces a few at a time (at most TOKEN_BATCH tokens a batch): the bits of each token
    do not depend on the batch it was run in, up to float32 rounding."""
    from musegen import pipeline
    from musegen.models import load_bundle

    bundle = load_bundle(tiny_model)
    rep = bundle.representation
    arrays = [rep.encode(t) for t in _tunes(tiny_model / "validation.abc")][:12]
    whole = pipeline.token_bits(bundle.model, arrays)
    monkeypatch.setattr(pipeline, "TOKEN_BATCH", max(len(a) for a in arrays))  # one piece a batch for the longest
    calls = []
    model = bundle.model
    small = pipeline.token_bits(lambda x, **k: calls.append(len(x)) or model(x, **k), arrays)
    assert len(small) == len(whole) == sum(len(a) - 1 for a in arrays)
    np.testing.assert_allclose(small, whole, rtol=1e-4, atol=1e-4)
    assert max(calls) < len(arrays) and calls[-1] == 1 and sum(calls) == len(arrays)
