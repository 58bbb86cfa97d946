"""musegen interpolate score: scores from melody A to melody B through a measure model's code book; refusals."""

from __future__ import annotations

import json

import pytest
from helpers import assert_refused, run

A = """X:1
T:First
M:6/8
L:1/8
K:G
GAB c2d|e3 d2B|AGA B2G|A3 D3|GAB c2d|e3 d2B|AGF G3|G6|]
"""
B = """X:1
T:Second
M:6/8
L:1/8
K:D
f3 e2d|c2A A2c|d2f a2f|e3 e3|f3 e2d|c2A A2c|d2e c2A|d6|]
"""


@pytest.fixture
def melodies(tmp_path):
    (tmp_path / "a.abc").write_text(A)
    (tmp_path / "b.abc").write_text(B)
    return tmp_path / "a.abc", tmp_path / "b.abc"


def test_interpolation_writes_the_steps_from_a_to_b(melodies, tiny_score_model, tmp_path):
    from musegen.formats.melody import read_melodies, read_midi_melody, read_musicxml_melody
    from musegen.models import load_bundle
    from musegen.representations.score.interpolate import interpolate, read_endpoint

    a, b = melodies
    result = run("interpolate", "score", a, b, "--steps", 4, "--model", tiny_score_model, "--out", tmp_path / "out",
                 "--format", "abc,mid", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [p["title"] for p in report["pieces"]] == [f"score_{i}" for i in range(1, 5)]
    scores = [read_musicxml_melody(tmp_path / "out" / f"score_{i}.musicxml") for i in range(1, 5)]
    assert all(len(s.measures) == 8 and all(m.is_full() for m in s.measures) for s in scores)
    assert [s.measures[0].key for s in scores] == [(1, "major")] * 2 + [(2, "major")] * 2  # A's key, then B's
    assert read_melodies(tmp_path / "out" / "score_3.abc")[0].measures == scores[2].measures
    assert read_midi_melody(tmp_path / "out" / "score_4.mid").measures[0].events == scores[3].measures[0].events
    assert "musegen-interpolation: 2 of 4" in (tmp_path / "out" / "score_2.abc").read_text()
    # step 1 is A as the code book rebuilds it, the last is B: the same as coding and decoding each alone
    rep = load_bundle(tiny_score_model, representation="score").representation
    ends = read_endpoint(rep, a, label="A"), read_endpoint(rep, b, label="B")
    alone = [interpolate(rep, e, e, steps=2)[0] for e in ends]
    assert [m.events for m in scores[0].measures] == [m.events for m in alone[0].measures]
    assert [m.events for m in scores[-1].measures] == [m.events for m in alone[1].measures]
    # the same command writes the same files; again without --force is refused, nothing touched
    before = (tmp_path / "out" / "score_1.abc").read_text()
    again = run("interpolate", "score", a, b, "--steps", 4, "--model", tiny_score_model, "--out", tmp_path / "out")
    assert_refused(again, contains="already exists")
    assert (tmp_path / "out" / "score_1.abc").read_text() == before


@pytest.mark.parametrize(("args", "message"), [
    (["a.abc", "missing.abc"], "B: "),
    (["a.abc", "b.abc", "--steps", "1"], "--steps"),
    (["a.abc", "b.abc", "--key", "H"], "H"),
    (["a.abc", "b.abc", "--format", "doc"], "doc"),
    (["a.abc", "march.abc"], "one meter"),
    (["a.abc", "rests.abc"], "rests.abc"),
    (["a.abc", "junk.musicxml"], "B: "),
])
def test_bad_interpolations_are_refused_with_nothing_written(args, message, melodies, tiny_score_model, tmp_path):
    (tmp_path / "march.abc").write_text("X:1\nT:M\nM:2/4\nL:1/8\nK:G\nG2A2|B4|]\n")
    (tmp_path / "rests.abc").write_text("X:1\nT:R\nM:6/8\nL:1/8\nK:G\nz6|z6|]\n")
    (tmp_path / "junk.musicxml").write_text("<score-partwise><part")
    args = [str(tmp_path / a) if a.endswith((".abc", ".musicxml")) else a for a in args]
    result = run("interpolate", "score", *args, "--model", tiny_score_model, "--out", tmp_path / "out")
    assert_refused(result, contains=message)
    assert not (tmp_path / "out").exists()


def test_a_note_network_has_nothing_to_interpolate(melodies, tmp_path, small_corpus):
    from musegen.pipeline import resolve_config, train

    config, name = resolve_config("score", preset="tiny", overrides={"epochs": 1})
    train("score", small_corpus, out=tmp_path / "note", preset=name,
          config=config.replace(extra={**config.extra, "variant": "note"}))
    result = run("interpolate", "score", *melodies, "--model", tmp_path / "note", "--out", tmp_path / "out")
    assert_refused(result, contains="measure-network model")
    assert not (tmp_path / "out").exists()
