"""Tests of musegen.metrics: the Kneser-Ney n-gram baseline and copy detection."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from musegen.errors import UsageError
from musegen.formats.abc import read_tunes
from musegen.metrics import CharNgram, RunIndex, copy_rate, longest_shared_run, shared_runs, tune_body

JIGS = Path(__file__).resolve().parents[1] / "corpora" / "jigs" / "jigs.abc"  # the Nottingham jigs, shipped

TEXTS = [
    'X:1\nT:One\nM:6/8\nK:G\n"G"GAB c2d|"D7"edc BAG|\n',
    'X:2\nT:Two\nM:6/8\nK:D\n"D"dfa agf|"A7"efg e2c|\n',
    "X:3\nT:Three\nM:6/8\nK:Am\nABc BAG|E3 E2:|\n",
]


# ---------------------------------------------------------------------------
# n-gram model
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("discount", [None, 0.75])
def test_distribution_sums_to_one(order, discount):
    lm = CharNgram(order, discount=discount).fit(TEXTS)
    for context in ["", "X", "X:1\n", "K:G\n", '"G"GAB', "zzq\u00e9", "c2d|"]:
        p = lm.distribution(context)
        assert p.shape == (lm.vocab_size,)
        assert np.all(p > 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_distribution_matches_bits():
    lm = CharNgram(3).fit(TEXTS)
    text = "K:G\nGAB|"
    bits = lm.bits(text)
    for i, ch in enumerate(text + "\x01"):
        p = lm.distribution(text[:i])
        sym = lm.symbols.index("" if i == len(text) else ch)
        assert bits[i] == pytest.approx(-math.log2(p[sym]))


def test_vocabulary_has_unknown_and_end():
    lm = CharNgram(2).fit(["ab", "cb"])
    assert lm.symbols == ["a", "b", "c", "\x00", ""]


def test_unigram_values_by_hand():
    # order 1, D = 0.5: counts a:2 b:1 end:1 over 4 symbols (a, b, unk, end)
    lm = CharNgram(1, discount=0.5).fit(["aab"])
    gamma = 3 * 0.5 / 4
    p_a = (2 - 0.5) / 4 + gamma / 4
    p_end = (1 - 0.5) / 4 + gamma / 4
    p_unk = gamma / 4
    assert lm.bits("a") == pytest.approx([-math.log2(p_a), -math.log2(p_end)])
    assert lm.bits("?")[0] == pytest.approx(-math.log2(p_unk))


def test_bigram_kneser_ney_by_hand():
    # "ab", "cb": b follows two different letters, so its continuation count is 2
    lm = CharNgram(2, discount=0.5).fit(["ab", "cb"])
    v = 5  # a b c unk end
    uni_total, uni_gamma = 5, 4 * 0.5  # continuation counts a1 b2 c1 end1
    p1 = {s: (max(c - 0.5, 0) + uni_gamma / v) / uni_total for s, c in {"a": 1, "b": 2, "c": 1, "end": 1}.items()}
    p_a_start = (1 - 0.5 + 1.0 * p1["a"]) / 2  # after the start: a once, c once
    p_b_after_a = (1 - 0.5 + 0.5 * p1["b"]) / 1
    p_end_after_b = (2 - 0.5 + 0.5 * p1["end"]) / 2
    expected = [-math.log2(p) for p in (p_a_start, p_b_after_a, p_end_after_b)]
    assert lm.bits("ab") == pytest.approx(expected)


def test_bits_length_and_unseen_characters():
    lm = CharNgram(4).fit(TEXTS)
    for text in ["", "G", "K:G\nGAB|", "\u00e9\u00fc\u4e2d"]:
        bits = lm.bits(text)
        assert len(bits) == len(text) + 1
        assert np.all(np.isfinite(bits)) and np.all(bits > 0)
    # unseen characters all fall in the unknown class
    assert lm.bits("G\u00e9")[1] == pytest.approx(lm.bits("G\u00fc")[1])


def test_fixed_vocabulary_maps_the_rest_to_unknown():
    lm = CharNgram(2, vocab="ab").fit(["abz"])
    assert lm.symbols == ["a", "b", "\x00", ""]
    assert lm.bits("abz")[2] == pytest.approx(lm.bits("abq")[2])


def test_seen_text_scores_lower_than_random():
    rng = random.Random(1)
    alphabet = sorted(set("".join(TEXTS)))
    lm = CharNgram(4).fit(TEXTS * 3)
    noise = "".join(rng.choice(alphabet) for _ in range(len(TEXTS[0])))
    assert lm.bits_per_char([TEXTS[0]]) < 1.0
    assert lm.bits_per_char([noise]) > 4.0


def test_bits_per_char_is_total_over_symbols():
    lm = CharNgram(3).fit(TEXTS[:2])
    total = lm.bits(TEXTS[2]).sum() + lm.bits("abc").sum()
    assert lm.bits_per_char([TEXTS[2], "abc"]) == pytest.approx(total / (len(TEXTS[2]) + 1 + 4))


def test_bad_use():
    with pytest.raises(UsageError):
        CharNgram(0)
    with pytest.raises(UsageError):
        CharNgram(3, discount=1.5)
    with pytest.raises(UsageError):
        CharNgram(3).bits("abc")
    with pytest.raises(UsageError):
        CharNgram(3).fit([])


def test_jigs_baseline():
    assert JIGS.is_file(), f"{JIGS}: the repository's copy of the Nottingham jigs is missing"
    tunes = read_tunes(JIGS)
    order = list(range(len(tunes)))
    random.Random(0).shuffle(order)
    n_val = round(0.1 * len(tunes))
    valid = [tunes[i] for i in order[:n_val]]
    train = [tunes[i] for i in order[n_val:]]
    bpc = CharNgram(4).fit(train).bits_per_char(valid)
    assert 1.9 < bpc < 2.2
    assert CharNgram(3).fit(train).bits_per_char(valid) > bpc


# ---------------------------------------------------------------------------
# copy detection
# ---------------------------------------------------------------------------
def test_tune_body():
    tune = "X:1\nT:Tune\nK:G\nGAB c2d|\nP:B\nK:D\ndef|\n"
    assert tune_body(tune) == "GAB c2d|\ndef|\n"
    assert tune_body("GAB|\n") == "GAB|\n"


def _tune(body: str) -> str:
    return f"X:1\nT:t\nK:C\n{body}\n"


def test_copy_detection_threshold():
    rng = random.Random(7)
    body = "".join(rng.choice("abcdefg") for _ in range(300))
    training = [_tune(body), _tune("".join(rng.choice("abcdefg") for _ in range(300)))]
    filler = "".join(rng.choice("HIJKLMN") for _ in range(40))
    with_48 = _tune(filler + body[100:148] + filler)
    with_47 = _tune(filler + body[100:147] + filler)
    assert shared_runs([with_48, with_47], training, n=48) == [True, False]
    assert copy_rate([with_48, with_47], training, n=48) == 0.5
    assert longest_shared_run(with_48, training) == 48
    assert longest_shared_run(with_47, training) == 47
    index = RunIndex(training)
    assert [index.longest(with_48), index.longest(with_47)] == [48, 47]
    assert index.shares(with_48, n=48) and not index.shares(with_47, n=48)


def _brute_longest(a: str, bodies: list[str]) -> int:
    best = 0
    for b in bodies:
        for i in range(len(a)):
            for j in range(i + 1, len(a) + 1):
                if j - i > best and a[i:j] in b:
                    best = j - i
    return best


def test_longest_run_matches_brute_force():
    rng = random.Random(3)
    for _ in range(100):
        sample = "".join(rng.choice("ab|") for _ in range(rng.randint(0, 15)))
        bodies = ["".join(rng.choice("abc|") for _ in range(rng.randint(0, 15))) for _ in range(3)]
        training = [_tune(b) for b in bodies]
        expected = _brute_longest(tune_body(_tune(sample)), [tune_body(t) for t in training])
        assert longest_shared_run(_tune(sample), training) == expected
        assert RunIndex(training).longest(_tune(sample)) == expected
        for n in (1, 3, 5):
            assert shared_runs([_tune(sample)], training, n=n) == [expected >= n]
