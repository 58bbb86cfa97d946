"""Sampling speed of the ABC model: both engines vs the BLAS floor vs a naive predict loop.

Run: .venv/bin/python bench/sampling_speed.py [--model models/abc-jigs] [--steps 400]

Prints characters per second for
- musegen's NumPy engine (the default on a CPU: the weights read from
  model.keras, state carried, the first layer's input products a table of
  the ids) at batch 1 and batch 64;
- musegen's TensorFlow engine (state carried, one fused matmul per layer and
  step, the whole loop in one XLA-compiled tf.function) at batch 1 and 64;
- the BLAS floor: the same model's matrix products alone, in numpy, at batch 1
  (gather the embedding, [x, h] @ kernel per layer, the output layer), with no
  nonlinearity, no sampling and no loop overhead;
- the naive loop the study used: model.predict on the last 50 characters for
  every new character.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def blas_floor(sampler, steps: int) -> float:
    """Steps per second of the bare matrix products at batch 1 (numpy, float32), with the BLAS threads that
    make them fastest (one, or all)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        one = _blas_floor(sampler, steps)
    return max(one, _blas_floor(sampler, steps))


def _blas_floor(sampler, steps: int) -> float:
    emb = np.asarray(sampler.embedding)
    kernels = [np.asarray(layer.kernel) for layer in sampler.layers]
    out_w = np.asarray(sampler.out_w)
    hs = [np.zeros((1, layer.units), np.float32) for layer in sampler.layers]
    tok = 5
    for _ in range(20):  # warm up
        x = emb[tok][None]
        for k, h in zip(kernels, hs):
            x = (np.concatenate([x, h], axis=1) @ k)[:, : h.shape[1]]
        x @ out_w
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(steps):
            x = emb[tok][None]
            for k, h in zip(kernels, hs):
                x = (np.concatenate([x, h], axis=1) @ k)[:, : h.shape[1]]
            x @ out_w
        best = max(best, steps / (time.perf_counter() - t0))
    return best


def sampler_rate(sampler, primer, *, num: int, steps: int, session) -> float:
    """Characters per second (all rows) of a sampler, generation forced to ``steps``."""
    with session(num):
        sampler.generate(primer, num=num, max_length=steps, temperature=1.0, seed=0, end_id=-1)  # trace
        best = 0.0
        for rep in range(3):
            t0 = time.perf_counter()
            ids = sampler.generate(primer, num=num, max_length=steps, temperature=1.0, seed=rep, end_id=-1)
            best = max(best, ids.size / (time.perf_counter() - t0))
    return best


def naive_rate(model, primer, *, steps: int, window: int = 50) -> float:
    """Characters per second of model.predict on a sliding 50-character window."""
    seq = list(primer)
    rng = np.random.default_rng(0)
    model.predict(np.asarray([seq[-window:]]), verbose=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        logits = model.predict(np.asarray([seq[-window:]]), verbose=0)[0, -1]
        p = np.exp(logits - logits.max())
        seq.append(int(rng.choice(len(p), p=p / p.sum())))
    return steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/abc-jigs")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--naive-steps", type=int, default=40)
    args = parser.parse_args()

    from musegen import numpy_engine, sampling
    from musegen.models import load_bundle

    bundle = load_bundle(args.model)
    rep = bundle.representation
    sampler = sampling.TokenSampler(bundle.model, banned=rep.banned_ids())
    light = numpy_engine.TokenSampler(bundle.network, banned=rep.banned_ids())
    primer = rep.encode_primer("X:1\nT:Bench\nM:6/8\nL:1/8\nK:D\n|:A|dfa afd|gfe dcB|AFA dFA|Bcd e2A:|\n")
    c = bundle.config
    print(f"model: {args.model}  ({c.layers} x {c.cell.upper()} {c.units}, vocabulary {sampler.vocab_size}, "
          f"{bundle.model.count_params():,} parameters)")
    floor = blas_floor(sampler, args.steps)
    n1 = sampler_rate(light, primer, num=1, steps=args.steps, session=numpy_engine.session)
    n64 = sampler_rate(light, primer, num=64, steps=args.steps, session=numpy_engine.session)
    b1 = sampler_rate(sampler, primer, num=1, steps=args.steps, session=sampling.session)
    b64 = sampler_rate(sampler, primer, num=64, steps=args.steps, session=sampling.session)
    naive = naive_rate(bundle.model, primer, steps=args.naive_steps)
    rows = [
        ("BLAS floor, batch 1 (numpy matmuls only)", floor, ""),
        ("numpy engine, batch 1", n1, f"{floor / n1:.2f}x floor time"),
        ("numpy engine, batch 64", n64, f"{n64 / n1:.1f}x batch-1 throughput"),
        ("tensorflow engine, batch 1", b1, f"{floor / b1:.2f}x floor time"),
        ("tensorflow engine, batch 64", b64, f"{b64 / b1:.1f}x batch-1 throughput"),
        ("naive predict on a 50-char window, batch 1", naive, f"numpy engine is {n1 / naive:.0f}x faster"),
    ]
    print(f"{'method':<46} {'chars/s':>10}  note")
    for name, rate, note in rows:
        print(f"{name:<46} {rate:>10.0f}  {note}")
    verdict = {True: "PASS", False: "FAIL"}
    print(f"target: numpy batch 1 within 1.3x of the BLAS floor: {verdict[n1 * 1.3 >= floor]} ({floor / n1:.2f}x);  "
          f"batch 64 at least 29,000 chars/s: {verdict[max(n64, b64) >= 29000]} "
          f"(numpy {n64:,.0f}, tensorflow {b64:,.0f});  at least 50x the naive loop: {verdict[n1 >= 50 * naive]}")


if __name__ == "__main__":
    main()
