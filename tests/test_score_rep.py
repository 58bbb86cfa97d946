"""The score representation end to end: the three networks, complete measures, the measure autoencoder, refusals."""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_refused, run

TUNE = """X:1
T:Test jig
M:6/8
L:1/8
K:G
D|GAB c2d|e3-e2d|BGG AFD|G3 z2:|
"""


def melody(measures, *, pickup=False, key=(1, "major"), meter=(6, 8)):
    """A melody from lists of (pitch, eighths[, tie]) events."""
    from musegen.formats.melody import Event, Measure, Melody

    return Melody([Measure([Event(e[0], F(e[1], 2), len(e) > 2) for e in m], *meter, *key) for m in measures],
                  title="t", pickup=pickup)


@pytest.fixture(scope="module")
def jig():
    # a pickup, a tie over the bar line, a rest; every other measure full
    return melody([[(62, 1)], [(67, 1), (69, 1), (71, 1), (72, 2), (74, 1)], [(76, 3), (74, 2), (76, 1, True)],
                   [(76, 1), (74, 1), (None, 1), (71, 3)], [(67, 3), (None, 3)]], pickup=True)


@pytest.fixture(scope="module")
def score_models(tmp_path_factory, small_corpus, tiny_score_model):
    """Tiny note and series models on the small corpus, with the session's tiny measure model."""
    from musegen.pipeline import resolve_config, train

    models = {"measure": tiny_score_model}
    for variant in ("note", "series"):
        out = tmp_path_factory.mktemp("models") / f"score-{variant}"
        config, name = resolve_config("score", preset="tiny", overrides={})
        train("score", small_corpus, out=out, preset=name,
              config=config.replace(extra={**config.extra, "variant": variant}))
        models[variant] = out
    return models


# -- encoding -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["note", "series"])
def test_notes_round_trip_with_pickup_tie_and_rest(variant, jig):
    from musegen.representations.score import ScoreRepresentation

    rep = ScoreRepresentation(variant=variant)
    rep.fit([jig])
    array = rep.encode(jig)
    # the header, a rest before the pickup, 15 events and the mark that the last measure (2 events) begins
    assert array.shape == ((18, 2) if variant == "note" else (36,))
    assert list(array.reshape(-1, 2)[-3]) == [rep.final_id] * 2
    back = rep.decode(array)  # learnt in C major: G moved up a fourth
    moved = [[[p + 5 if p is not None else None, d, t] for p, d, t in m["events"]] for m in jig.to_dict()["measures"]]
    assert back.pickup and [m["events"] for m in back.to_dict()["measures"]] == moved
    assert {m.key for m in back.measures} == {(0, "major")} and rep.keys == [(0, "major")]
    assert rep.headers == [((1, "major"), (6, 8), 1)]  # the key drawn for sampling: as written
    assert rep.decode(rep.variant.encode(rep.relative(jig), final=False)).to_dict() == back.to_dict()


def test_a_section_end_and_the_next_pickup_are_read_as_one_measure():
    from musegen.representations.score import ScoreRepresentation

    piece = melody([[(67, 6)], [(67, 2), (69, 2), (71, 1)], [(72, 1)], [(74, 6)]])  # 5/8 then 1/8
    rep = ScoreRepresentation(variant="note", transpose_to_c=False)
    rep.fit([piece])
    back = rep.decode(rep.encode(piece))
    assert [m.length for m in back.measures] == [3, 3, 3]
    assert [e.pitch for e in back.measures[1].events] == [67, 69, 71, 72]


def test_measure_slots_keep_ties_over_bar_lines(jig):
    from musegen.representations.score import HOLD, PAD, melody_slot_rows, slots_to_melody

    rows = melody_slot_rows(jig, slots=42, lo=60, hi=80)
    assert rows.shape == (5, 42)
    assert rows[0, 6] == PAD and (rows[1:, 36:] == PAD).all()
    assert rows[3, 0] == HOLD  # the tied E goes on
    back = slots_to_melody(rows, lo=60, meters=[(6, 8)] * 5, keys=[(1, "major")] * 5, pickup=True, title="t")
    assert back.to_dict() == jig.to_dict()


def test_measure_code_book_codes_a_handful_of_measures_apart_and_survives_json(jig):
    from musegen.representations.score import melody_slot_rows
    from musegen.representations.score.measure import MeasureCodes, fit_codes

    rows = melody_slot_rows(jig, slots=36, lo=60, hi=80)
    codes = fit_codes(rows, classes=3 + 21, codes=len(rows), steps=10)
    assert codes.exact_rate(rows) == 1.0 == codes.train_exact
    assert len(set(codes.encode(rows).tolist())) == len(rows)  # a code of its own for each measure
    again = MeasureCodes.from_config(codes.to_config())
    np.testing.assert_array_equal(again.encode(rows), codes.encode(rows))
    full = codes.decode(codes.encode(rows), lengths=np.full(len(rows), 36))
    assert (full[0, :36] != 0).all()  # asked for full measures: no padding inside the measure...
    np.testing.assert_array_equal(full[1:], rows[1:])  # ... in one of the rhythms of the training measures
    assert sorted(again.rhythms) == [6, 36] and again.rhythms[36][0].shape == (4, 36)
    # each code is a distribution over every slot; each measure is likeliest under its own code
    np.testing.assert_allclose(np.exp(codes.log_slots.astype(np.float64)).sum(axis=-1), 1.0, atol=0.01)
    lik = codes.likelihoods(rows)
    assert (lik.argmax(axis=1) == codes.encode(rows)).all() and (lik < 0).all()


@pytest.mark.parametrize(("text", "key"), [
    ("G", (1, "major")), ("Em", (1, "minor")), ("F# minor", (3, "minor")), ("Bb", (-2, "major")),
    ("D dorian", (0, "dorian")), ("Amix", (2, "mixolydian"))])
def test_keys_are_read_by_tonic_and_mode(text, key):
    from musegen.representations.score import parse_key

    assert parse_key(text) == key


# -- the networks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["note", "series", "measure"])
def test_stepped_network_matches_the_keras_model(variant, score_models):
    from musegen.models import load_bundle
    from musegen.representations.score import ScorePrimer
    from musegen.sampling import NetworkStepper

    bundle = load_bundle(score_models[variant])
    rep = bundle.representation
    rows = rep.encode_primer(ScorePrimer(), num=2, seed=0).arrays
    net = NetworkStepper(bundle.model, 2)
    out = net.feed(rows)
    model = np.asarray(bundle.model(rows))[:, -1]
    if variant == "measure":  # the stepped network gives the code logits; the model gives them as one slot
        model = model[:, 0]
    np.testing.assert_allclose(out, model, atol=1e-3)


@pytest.mark.parametrize("variant", ["note", "series", "measure"])
def test_every_variant_samples_complete_measures_in_the_key_asked(variant, score_models):
    from musegen.models import load_bundle
    from musegen.pipeline import generate

    bundle = load_bundle(score_models[variant])
    rep = bundle.representation
    assert rep.variant.name == variant
    for key, meter in (("G", None), ("C#m", "3/4")):  # C# minor: a key no jig is in, generated and transposed
        primer = rep.primer(None, key=key, meter=meter)
        gen = generate(bundle, num=3, temperature=1.5, seed=1, max_length=6,
                       primer=rep.encode_primer(primer, num=3, seed=1))
        for piece in gen.pieces:  # a first measure that begins with a rest is a pickup
            assert len(piece.measures) == 6
            assert all(m.is_full() for m in piece.measures[int(piece.pickup):])
            assert piece.measures[0].key == ((1, "major") if key == "G" else (4, "minor"))
            assert piece.measures[0].meter == ((3, 4) if meter else piece.measures[0].meter)


@pytest.mark.parametrize("variant", ["note", "measure"])
def test_sample_writes_the_score_files_and_the_seed_decides(variant, score_models, tmp_path):
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        result = run("sample", "score", "--model", score_models[variant], "--out", tmp_path / name, "--seed", seed,
                     "--measures", 8, "--num", 2, "--format", "abc,mid,svg")
        assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"score_1.musicxml", "score_1.abc", "score_1.mid", "score_2.abc"} <= set(files)  # musicxml always
    a, b, c = ((tmp_path / n / "score_1.abc").read_text() for n in "abc")
    assert a == b != c
    assert "not written" in result.output or (tmp_path / "c" / "score_1.svg").is_file()
    # a notation program finds a named part with an instrument, and a title and composer line naming the model
    xml = (tmp_path / "a" / "score_1.musicxml").read_text()
    model = Path(score_models[variant]).name
    assert "<part-name>Melody</part-name>" in xml and "<instrument-name>Piano</instrument-name>" in xml
    assert "<midi-program>1</midi-program>" in xml and xml.count("<score-instrument ") == 1
    assert f"<work-title>Score 1 ({model})</work-title>" in xml
    assert f'<creator type="composer">musegen 0.1.0, model {model} ({variant} network)</creator>' in xml
    assert f"C:musegen 0.1.0, model {model} ({variant} network)" in a
    def steady(text):  # the command line names its output folder
        return [line for line in text.splitlines() if "musegen-command" not in line]

    assert steady(xml) == steady((tmp_path / "b" / "score_1.musicxml").read_text())  # no random ids


def test_a_primer_begins_every_score_and_sets_key_and_meter(score_models, tmp_path):
    from musegen.formats.melody import read_melodies
    from musegen.models import load_bundle

    (tmp_path / "primer.abc").write_text(TUNE.replace("M:", "C:Trad.\nM:"))
    result = run("sample", "score", "--model", score_models["series"], "--out", tmp_path / "out",
                 "--primer", tmp_path / "primer.abc", "--measures", 4, "--format", "abc")
    assert result.exit_code == 0, result.output
    out = read_melodies(tmp_path / "out" / "score_1.abc")[0]
    primer = read_melodies(tmp_path / "primer.abc")[0]
    assert out.pickup and [m.events for m in out.measures[:3]] == [m.events for m in primer.measures[:3]]
    assert len(out.measures) == 3 + 4 and all(m.is_full() for m in out.measures[1:])
    assert out.measures[-1].key == (1, "major") and out.measures[-1].meter == (6, 8)
    # the primer's composer is credited first, then musegen; a primer musegen wrote is not credited twice
    made = f"musegen 0.1.0, model {Path(score_models['series']).name} (series network)"
    assert out.composer == f"Trad.; {made}"
    rep = load_bundle(score_models["series"], representation="score").representation
    assert rep.credits(out, {"model": str(score_models["series"])})["composer"] == out.composer


def test_evaluate_reports_loss_rebuilds_and_sample_statistics(score_models, small_corpus):
    import json

    result = run("evaluate", "score", str(small_corpus), "--model", score_models["measure"], "--samples", 2,
                 "--measures", 4, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["variant"] == "measure" and report["loss_per_measure"] > report["loss_per_note"] > 0
    assert 0 <= report["codec_exact_rebuild"] <= 1
    assert report["codec_loss_per_measure"] > 0
    assert report["samples"]["measure_complete_rate"] == 1.0
    assert 0 <= report["samples"]["copied_measure_rate"] <= 1
    assert 0 < report["samples"]["scale_consistency"] <= 1
    note = json.loads(run("evaluate", "score", str(small_corpus), "--model", score_models["note"], "--samples", 0,
                          "--json").stdout)
    assert note["loss_per_note"] > 0


# -- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "message"), [
    ("broken.musicxml", "<score-partwise><part id='P1'><measure", "MusicXML"),
    ("rests.abc", "X:1\nT:Silence\nM:6/8\nL:1/8\nK:G\nz6|z6|z6|\n", "no"),
])
def test_bad_corpora_are_refused_with_nothing_written(name, text, message, tmp_path):
    (tmp_path / name).write_text(text)
    out = tmp_path / "model"
    result = run("train", "score", tmp_path / name, "--out", out, "--preset", "tiny")
    assert_refused(result, contains=message)
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--variant", "chord"], "chord"),
    (["--codes", "0"], "--codes"),
])
def test_bad_training_settings_are_refused(args, message, tmp_path, small_corpus):
    result = run("train", "score", small_corpus, "--out", tmp_path / "m", "--preset", "tiny", *args)
    assert_refused(result, contains=message)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--key", "H minor"], "--key"),
    (["--meter", "6/7"], "--meter"),
    (["--measures", "0"], "--measures"),
    (["--meter", "12/4"], "longer than any measure"),
    (["--primer", "notes.txt"], "--primer"),
    (["--primer", "notes.abc"], "--primer"),
    (["--primer", "primer.abc", "--key", "G"], "--key"),
])
def test_bad_sampling_options_and_primers_are_refused(args, message, score_models, tmp_path):
    (tmp_path / "notes.txt").write_text("not a score")
    (tmp_path / "notes.abc").write_text("just some words\n")
    (tmp_path / "primer.abc").write_text(TUNE)
    args = [str(tmp_path / a) if a.startswith(("notes", "primer")) else a for a in args]
    result = run("sample", "score", "--model", score_models["measure"], "--out", tmp_path / "out", *args)
    assert_refused(result, contains=message)
    assert not (tmp_path / "out").exists()


def test_a_score_model_is_not_another_representation(score_models, tmp_path):
    assert_refused(run("sample", "midi", "--model", score_models["note"], "--out", tmp_path), contains="'score'")
    assert_refused(run("sample", "score", "--model", Path(tmp_path) / "nothing"), contains="no such model")


def test_prepare_caches_and_every_piece_is_learnt_without_sharps_or_flats_but_keys_are_drawn_as_written(
        small_corpus):
    import json
    from collections import Counter

    from musegen.pipeline import prepare, resolve_config

    args = ("prepare", "score", small_corpus, "--preset", "tiny", "--variant", "note", "--codes", "7", "--json")
    first = json.loads(run(*args).stdout)  # settings of no other test: a corpus not prepared yet
    again = json.loads(run(*args).stdout)
    assert again["cached"] and not first["cached"] and first["variant"] == "note" and first["transpose_to_c"]
    config, _ = resolve_config("score", preset="tiny", overrides={})
    data = prepare("score", small_corpus, config=config.replace(extra={**config.extra, "variant": "note"}))
    rep = data.representation
    assert {rep.keys[a[0, 0]][0] for a in data.train_arrays} == {0}  # C major, A minor: as the network learns
    written = Counter(p.measures[0].key for p in data.train)
    assert {k: n for k, _, n in rep.headers} == dict(written) and written[(1, "major")] > 0  # as drawn
    assert rep.nearest_key((1, "major")) == ((0, "major"), -5) and rep.nearest_key((0, "minor")) == ((0, "minor"), 0)
    kept = json.loads(run(*args, "--keep-keys").stdout)
    assert "G major" in kept["keys"] and kept["vocabulary"] > 20 and not kept["transpose_to_c"]


# -- keys, endings ---------------------------------------------------------------------------------------------


def test_the_key_heard_the_scale_and_the_tonic_of_a_melody():
    from musegen.representations.score.keys import (heard_key, in_scale_share, key_report, scale_classes,
                                                     tonic_class)

    assert [tonic_class(k) for k in ((1, "major"), (0, "minor"), (-2, "dorian"), (2, "mixolydian"))] == [7, 9, 0, 9]
    assert scale_classes(1) == {0, 2, 4, 6, 7, 9, 11}
    g = [[(67, 2), (71, 2), (74, 2)], [(72, 2), (69, 2), (66, 2)], [(67, 6)]]  # G B D | C A F# | G
    report = key_report(melody(g))
    assert report == {"key": "G major", "key_heard": "G major", "key_agrees": True, "in_scale": 1.0,
                      "ends_on_tonic": True}
    odd = melody([[(67, 2), (70, 2), (74, 2)], [(72, 2), (68, 2), (66, 2)], [(66, 6)]])  # Bb and Ab: out of G
    assert in_scale_share(odd) == pytest.approx(7 / 9) and not key_report(odd)["ends_on_tonic"]
    assert heard_key(melody([[(None, 6)]])) is None


def test_endings_a_short_last_measure_is_completed_and_marked_and_a_tonic_ending_is_chosen():
    from musegen.pipeline import select_candidates
    from musegen.representations.score import FINAL_PITCH, ScoreRepresentation, full_ending
    from musegen.representations.score.notes import bar_aligned_notes, mark_last_measure

    piece = melody([[(62, 1)], [(67, 3), (None, 3)], [(None, 2), (67, 3)]], pickup=True)  # the last is 5/8
    done = full_ending(piece)
    assert [(e.pitch, e.duration) for e in done.measures[-1].events] == [(None, 1), (67, F(2))]
    notes = mark_last_measure(bar_aligned_notes(done), done.measures[-1].length)
    # the rests merged over the last bar line are split there, the mark between them
    assert notes[-4:] == [(None, F(3, 2)), (FINAL_PITCH, 0), (None, F(1)), (67, F(2))]
    rep = ScoreRepresentation(variant="note", transpose_to_c=False)
    rep.fit([done])
    g = [[(67, 2), (71, 2), (74, 2)], [(72, 2), (69, 2), (66, 2)]]
    drawn = [melody(g + [[(74, 6)]]), melody(g + [[(67, 6)]]), melody(g + [[(71, 6)]])]
    (chosen, notes), = select_candidates(rep, drawn, candidates=3)
    assert notes["valid"] and notes["ends_on_tonic"] and chosen.measures[-1].events[0].pitch == 67
    (first, notes), = select_candidates(rep, [drawn[0], drawn[2]], candidates=2)  # none: the first drawn
    assert not notes["valid"] and first.measures[-1].events[0].pitch == 74 and notes["ends_on"] == "D"
