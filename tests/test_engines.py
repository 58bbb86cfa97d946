"""The two engines that step a network: NumPy (no TensorFlow, the default on a CPU) and TensorFlow.

Both must give the same next-step outputs on every shipped bundle and on a
tiny model of each representation (tolerance: 1e-4 on logits and values,
1e-5 on probabilities, float32 arithmetic in a different order), and
`musegen sample` with the NumPy engine must not import TensorFlow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musegen.representations import REPRESENTATIONS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.name for p in (ROOT / "models").iterdir() if (p / "model.keras").is_file())
ATOL = 1e-4


def _inputs(bundle) -> np.ndarray:
    """Two rows of a few steps the network reads, made from the representation's own primer."""
    rep = bundle.representation
    plan = rep.plan_sampling(bundle.path, rep.SampleOptions())
    primer = rep.encode_primer(plan.primer, num=2, seed=3)
    if rep.input_spec().kind == "tokens":
        primer = np.stack([primer, primer[::-1]])  # two different rows
    return np.asarray(getattr(primer, "arrays", primer))[:, :24]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _same_outputs(path: Path) -> None:
    from musegen.models import load_bundle

    bundle = load_bundle(path)
    x = _inputs(bundle)
    keras_out = np.asarray(bundle.model(x, training=False))
    numpy_out = bundle.network(x)
    assert numpy_out.shape == keras_out.shape
    np.testing.assert_allclose(numpy_out, keras_out, atol=ATOL, rtol=1e-4)
    head = bundle.representation.head().kind
    if head in ("softmax", "slot_softmax"):  # the next step's probabilities
        np.testing.assert_allclose(_softmax(numpy_out), _softmax(keras_out), atol=1e-5)


@pytest.mark.parametrize("name", SHIPPED)
def test_both_engines_give_the_same_outputs_on_every_shipped_model(name):
    _same_outputs(ROOT / "models" / name)


@pytest.mark.parametrize("name", sorted(REPRESENTATIONS))
def test_both_engines_give_the_same_outputs_on_a_tiny_model_of_each_representation(
        name, tiny_model, tiny_midi_model, tiny_audio_model, tiny_score_model):
    path = {"abc": tiny_model, "midi": tiny_midi_model, "audio": tiny_audio_model, "score": tiny_score_model}[name]
    _same_outputs(path)


def test_the_numpy_samplers_step_as_the_network_runs(tiny_model, tiny_midi_model):
    from musegen.models import load_bundle
    from musegen.numpy_engine import TokenSampler, VectorSampler

    abc = load_bundle(tiny_model)
    tokens = np.array([[1, 5, 7, 9, 4], [1, 6, 6, 8, 2]])
    np.testing.assert_allclose(TokenSampler(abc.network).logits(tokens), abc.network(tokens), atol=1e-6)
    midi = load_bundle(tiny_midi_model)
    cols = _inputs(midi)[:, :6]
    sampler = VectorSampler(midi.network, rule=midi.representation.column_rule)
    np.testing.assert_allclose(sampler.outputs(cols), np.asarray(midi.model(cols)), atol=ATOL)


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_each_engine_gives_the_same_music_for_the_same_seed(engine, tiny_model, tmp_path):
    from helpers import run

    texts = []
    for out in ("a", "b"):
        r = run("sample", "abc", "--model", tiny_model, "--engine", engine, "--seed", 4, "--num", 2,
                "--max-length", 120, "--format", "abc", "--out", tmp_path / out, "--json")
        assert r.exit_code == 0, r.output
        texts.append([Path(f).read_text() for f in json.loads(r.stdout)["files"]])
    assert texts[0] == texts[1]


def test_sampling_with_the_numpy_engine_never_starts_tensorflow(tiny_midi_model, tmp_path):
    code = ("import sys; from musegen.cli import main; sys.argv = ['musegen', 'sample', 'midi', '--model', "
            f"{str(tiny_midi_model)!r}, '--engine', 'numpy', '--beats', '8', '--format', 'mid,npz', '--out', "
            f"{str(tmp_path)!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "midi_1.mid").is_file()


def test_an_unknown_engine_is_refused(tiny_model, tmp_path):
    from helpers import assert_refused, run

    assert_refused(run("sample", "abc", "--model", tiny_model, "--engine", "gpu", "--out", tmp_path),
                   contains="unknown engine")


def test_the_command_noted_in_a_file_names_the_engine_that_ran(tiny_model, tmp_path):
    from helpers import run

    from musegen.formats.provenance import read_provenance

    r = run("sample", "abc", "--model", tiny_model, "--seed", 2, "--max-length", 80, "--format", "abc",
            "--out", tmp_path, "--json")
    assert r.exit_code == 0, r.output
    made = read_provenance(json.loads(r.stdout)["files"][0])
    assert made["engine"] == "numpy" and made["command"].endswith("--engine numpy")


def test_a_tiny_temperature_is_the_likeliest_token_as_in_tensorflow(tiny_model):
    from musegen.models import load_bundle
    from musegen.numpy_engine import TokenSampler

    bundle = load_bundle(tiny_model)
    sampler = TokenSampler(bundle.network, banned=bundle.representation.banned_ids())
    greedy = sampler.generate(np.array([1]), num=2, max_length=30, temperature=0.0, seed=1, end_id=2)
    tiny = sampler.generate(np.array([1]), num=2, max_length=30, temperature=1e-40, seed=1, end_id=2)
    assert np.array_equal(greedy, tiny)


def test_the_numpy_engine_gives_the_same_music_with_one_blas_thread_or_several():
    from threadpoolctl import threadpool_limits

    from musegen.models import load_bundle
    from musegen.numpy_engine import TokenSampler

    bundle = load_bundle(ROOT / "models" / "abc-jigs")  # products large enough to be split among threads
    sampler = TokenSampler(bundle.network, banned=bundle.representation.banned_ids())
    runs = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            runs.append(sampler.generate(np.array([1]), num=64, max_length=60, temperature=1.0, seed=3, end_id=2))
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("num", [2, 3, 64])
def test_many_pieces_laid_out_by_feature_step_to_the_same_bits_as_a_row_a_piece(num, tiny_midi_model):
    from musegen.models import load_bundle
    from musegen.numpy_engine import State

    for path in (ROOT / "models" / "abc-jigs", tiny_midi_model):  # token ids through a table; columns
        net = load_bundle(path).network
        rng = np.random.default_rng(num)
        width = net.cells[0][2].shape[0] - net.cells[0][1]
        by_feature, by_piece = State(net, num), State(net, num, by_feature=False)
        assert not by_piece.by_feature
        for _ in range(6):
            if net.token_table is not None:
                step = {"ids": rng.integers(0, net.token_table.shape[0], num)}
            else:
                step = {"x": (rng.random((num, width)) < 0.2).astype(np.float32)}
            by_feature.advance(**step)
            by_piece.advance(**step)
            assert np.array_equal(by_feature.last, by_piece.last)


def test_both_engines_give_the_same_outputs_on_a_stack_of_gru_layers(tmp_path, small_corpus):
    from helpers import run

    out = tmp_path / "gru"
    r = run("train", "abc", small_corpus, "--out", out, "--preset", "tiny", "--cell", "gru", "--layers", 2,
            "--epochs", 1, "--json")
    assert r.exit_code == 0, r.output
    _same_outputs(out)


def _gumbel_cases(seed: int, num: int, width: int):
    """Logits of a few kinds against the noise ``rng.gumbel`` draws for ``seed``: plain; made so that each row's
    two best sums tie but for the rounding of float32; huge (a tiny temperature); rows masked out."""
    noise = np.random.default_rng(seed).gumbel(size=(4, num, width))
    rng = np.random.default_rng(seed + 1)
    cases = []
    for kind in range(4):
        logits = (rng.standard_normal((num, width)) * 3).astype(np.float32)
        if kind == 1:
            for row in range(num):
                a, b = np.argsort(noise[kind, row] + logits[row])[-2:]
                logits[row, a] = np.float32(logits[row, b] + noise[kind, row, b] - noise[kind, row, a])
        elif kind == 2:
            logits = (logits / np.float32(1e-6)).astype(np.float32)
        elif kind == 3:
            logits[:, :2] = -np.inf
            logits[0] = -np.inf
        cases.append(logits)
    return noise, cases


@pytest.mark.parametrize("seed", range(40))
def test_gumbel_noise_made_with_numpy_logarithms_chooses_as_rng_gumbel(seed):
    from musegen.numpy_engine import gumbel_argmax, gumbel_block

    num, width = (64, 89) if seed % 2 else (9, 7)
    noise, cases = _gumbel_cases(seed, num, width)
    rng = np.random.default_rng(seed)
    fast, uniform = gumbel_block(rng, noise.shape, fast=True)
    assert uniform is not None and rng.bit_generator.state == _after(seed, noise.shape)
    assert np.abs(fast - noise).max() < 1e-13  # the same draws, to the last bits
    for k, logits in enumerate(cases):
        want = np.argmax(noise[k] + logits, axis=1)
        assert np.array_equal(gumbel_argmax(fast[k], logits, uniform[k]), want)
        assert np.array_equal(gumbel_argmax(noise[k], logits, None), want)


def _after(seed: int, size) -> dict:
    rng = np.random.default_rng(seed)
    rng.gumbel(size=size)
    return rng.bit_generator.state


def test_a_uniform_draw_of_zero_sends_the_noise_block_back_to_rng_gumbel():
    from musegen.numpy_engine import gumbel_block

    class ZeroFirst(np.random.Generator):  # rng.gumbel draws again where it meets a 0
        def random(self, size=None, dtype=np.float64, out=None):
            u = super().random(size)
            u.flat[0] = 0.0
            return u

    rng = ZeroFirst(np.random.PCG64(5))
    noise, uniform = gumbel_block(rng, (3, 4, 5), fast=True)
    assert uniform is None
    assert np.array_equal(noise, np.random.default_rng(5).gumbel(size=(3, 4, 5)))
    assert rng.bit_generator.state == _after(5, (3, 4, 5))


def test_the_token_sampler_draws_the_same_tokens_whichever_way_it_makes_its_noise(monkeypatch):
    from musegen import numpy_engine
    from musegen.models import load_bundle

    bundle = load_bundle(ROOT / "models" / "abc-jigs")
    sampler = numpy_engine.TokenSampler(bundle.network, banned=bundle.representation.banned_ids())
    runs = []
    for fast_from in (numpy_engine.FAST_NOISE, 10**9):  # np.log, then rng.gumbel
        monkeypatch.setattr(numpy_engine, "FAST_NOISE", fast_from)
        for temperature in (1.0, 0.5):
            runs.append(sampler.generate(np.array([1]), num=16, max_length=70, temperature=temperature, seed=8,
                                         end_id=2))
    assert np.array_equal(runs[0], runs[2]) and np.array_equal(runs[1], runs[3])
    assert not np.array_equal(runs[0], runs[1])
