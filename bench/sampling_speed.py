"""Sampling speed of the ABC model: both engines vs the BLAS floor vs a naive predict loop.

Run: .venv/bin/python bench/sampling_speed.py [--model models/abc-jigs] [--steps 400] [--rounds 7]

Prints characters per second for
- musegen's NumPy engine (the default on a CPU: the weights read from
  model.keras, state carried, the first layer's input products a table of
  the ids) at batch 1 and batch 64;
- musegen's TensorFlow engine (state carried, one fused matmul per layer and
  step, the whole loop in one XLA-compiled tf.function) at batch 1 and 64;
- the BLAS floor: the same model's matrix products alone, in numpy, at batch 1
  and 64 (gather the embedding, [x, h] @ kernel per layer, the output layer),
  with no nonlinearity, no sampling and no loop overhead, with one BLAS thread
  or all (the faster counts);
- the naive loop the study used: model.predict on the last 50 characters for
  every new character.

All but the naive loop take turns, round after round: other work on the
machine weighs alike on all of them.  Rates are each run's best round; an
engine's time against the floor's is the median over rounds of the ratio of
the two runs of the same round, which holds better on a busy machine.  A run's steps
are all drawn characters (a primer of one token); batch 64 runs a quarter of
--steps, the floor as many steps as the engines.

Measured (models/abc-jigs, the 2-core machine, issue 17; the engine before
and after run in turn, four runs of this bench, all BLAS threads chosen):
batch 64 at 1.46x and 1.57x the floor's time before (28,549 to 31,932
chars/s against a floor of 47,000 to 49,000), 1.42x and 1.43x after (31,304
to 32,918 against 44,700 to 46,000); batch 1 at 1.26x and 1.30x before,
1.15x and 1.20x after (medians of rounds).  Side by side in one process
(21 rounds taking turns, 100 steps at batch 64, 400 at batch 1) the engine
is 10 to 13% faster at batch 64 and 3 to 7% at batch 1, to the same bits.
The floor itself ran from 38,900 to 49,000 chars/s on this machine over a
day: 29,000 chars/s at batch 64 is met where the floor is above about
41,000, not on the slowest days (1.42x of 38,941 is 27,400).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def floor_step(sampler, num: int):
    """One step of the model's bare matrix products for ``num`` pieces (numpy, float32): gather the embedding,
    ``[x, h] @ kernel`` per layer, the output layer; no nonlinearity, no sampling, no loop overhead."""
    emb = np.asarray(sampler.embedding)
    kernels = [np.asarray(layer.kernel) for layer in sampler.layers]
    out_w = np.asarray(sampler.out_w)
    hs = [np.zeros((num, layer.units), np.float32) for layer in sampler.layers]
    tok = np.full(num, 5)

    def step():
        x = emb[tok]
        for k, h in zip(kernels, hs):
            x = (np.concatenate([x, h], axis=1) @ k)[:, : h.shape[1]]
        x @ out_w
    return step


def floor_rate(step, *, num: int, steps: int, threads: int | None) -> float:
    """Characters per second (all rows) of ``steps`` bare steps with ``threads`` BLAS threads (None: all)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        for _ in range(10):  # warm up
            step()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        return num * steps / (time.perf_counter() - t0)


def sampler_rate(sampler, primer, *, num: int, steps: int, session, seed: int = 0) -> float:
    """Characters per second (all rows) of a sampler, generation forced to ``steps``."""
    with session(num):
        t0 = time.perf_counter()
        ids = sampler.generate(primer, num=num, max_length=steps, temperature=1.0, seed=seed, end_id=-1)
        return ids.size / (time.perf_counter() - t0)


def interleaved(runs: dict, rounds: int) -> dict:
    """The rates of each run in ``rounds`` rounds, the runs taking turns within each round, so that what other
    work the machine does weighs alike on all of them."""
    rates = {name: [] for name in runs}
    for round_ in range(rounds):
        for name, run in runs.items():
            rates[name].append(run(round_))
    return rates


def ratio(floor: list, engine: list) -> float:
    """The median over rounds of the engine's time against the floor's in the same round (runs next to each
    other meet the same load)."""
    return float(np.median(np.divide(floor, engine)))


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
    parser.add_argument("--rounds", type=int, default=7, help="rounds of runs taking turns (the best is kept)")
    args = parser.parse_args()

    from musegen import numpy_engine, sampling
    from musegen.models import load_bundle

    bundle = load_bundle(args.model)
    rep = bundle.representation
    sampler = sampling.TokenSampler(bundle.model, banned=rep.banned_ids())
    light = numpy_engine.TokenSampler(bundle.network, banned=rep.banned_ids())
    # one token: every step of a run is a character drawn (a longer primer's steps would be made but not counted)
    tune = rep.encode_primer("X:1\nT:Bench\nM:6/8\nL:1/8\nK:D\n|:A|dfa afd|gfe dcB|AFA dFA|Bcd e2A:|\n")
    primer = tune[-1:]
    c = bundle.config
    print(f"model: {args.model}  ({c.layers} x {c.cell.upper()} {c.units}, vocabulary {sampler.vocab_size}, "
          f"{bundle.model.count_params():,} parameters)")
    load = os.getloadavg()
    steps = args.steps
    floors = {num: floor_step(sampler, num) for num in (1, 64)}
    short = steps // 4  # at batch 64: as many characters as 16 times the batch-1 run's, in a shorter run
    for num, length in ((1, steps), (64, short)):  # trace the TensorFlow loops
        sampler.generate(primer, num=num, max_length=length, temperature=1.0, seed=0, end_id=-1)
    rates = interleaved({
        "floor 1, 1 thread": lambda r: floor_rate(floors[1], num=1, steps=steps, threads=1),
        "floor 1, all threads": lambda r: floor_rate(floors[1], num=1, steps=steps, threads=None),
        "numpy 1": lambda r: sampler_rate(light, primer, num=1, steps=steps, session=numpy_engine.session, seed=r),
        "floor 64, 1 thread": lambda r: floor_rate(floors[64], num=64, steps=short, threads=1),
        "floor 64, all threads": lambda r: floor_rate(floors[64], num=64, steps=short, threads=None),
        "numpy 64": lambda r: sampler_rate(light, primer, num=64, steps=short, session=numpy_engine.session, seed=r),
        "tensorflow 1": lambda r: sampler_rate(sampler, primer, num=1, steps=steps, session=sampling.session, seed=r),
        "tensorflow 64": lambda r: sampler_rate(sampler, primer, num=64, steps=short, session=sampling.session,
                                                seed=r),
    }, args.rounds)
    best = {name: max(values) for name, values in rates.items()}
    floors1 = np.maximum(rates["floor 1, 1 thread"], rates["floor 1, all threads"])  # a round's floor
    floors64 = np.maximum(rates["floor 64, 1 thread"], rates["floor 64, all threads"])
    floor, floor64 = float(floors1.max()), float(floors64.max())
    n1, n64, b1, b64 = best["numpy 1"], best["numpy 64"], best["tensorflow 1"], best["tensorflow 64"]
    r1, r64 = ratio(floors1, rates["numpy 1"]), ratio(floors64, rates["numpy 64"])
    t1, t64 = ratio(floors1, rates["tensorflow 1"]), ratio(floors64, rates["tensorflow 64"])
    naive = naive_rate(bundle.model, tune, steps=args.naive_steps)  # a full window
    threads = {True: "1 BLAS thread", False: "all BLAS threads"}[numpy_engine.busy()]
    rows = [
        ("BLAS floor, batch 1 (numpy matmuls only)", floor,
         f"best of 1 thread ({best['floor 1, 1 thread']:,.0f}) and all ({best['floor 1, all threads']:,.0f})"),
        ("numpy engine, batch 1", n1, f"{floor / n1:.2f}x floor time (median of rounds {r1:.2f}x)"),
        ("BLAS floor, batch 64 (numpy matmuls only)", floor64,
         f"best of 1 thread ({best['floor 64, 1 thread']:,.0f}) and all ({best['floor 64, all threads']:,.0f})"),
        ("numpy engine, batch 64", n64, f"{floor64 / n64:.2f}x floor time (median of rounds {r64:.2f}x)"),
        ("tensorflow engine, batch 1", b1, f"{floor / b1:.2f}x floor time (median of rounds {t1:.2f}x)"),
        ("tensorflow engine, batch 64", b64, f"{floor64 / b64:.2f}x floor time (median of rounds {t64:.2f}x)"),
        ("naive predict on a 50-char window, batch 1", naive, f"numpy engine is {n1 / naive:.0f}x faster"),
    ]
    print(f"best of {args.rounds} rounds, the runs taking turns; load average {load[0]:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end on {os.cpu_count()} cores; the numpy engine chose {threads}")
    print(f"{'method':<46} {'chars/s':>10}  note")
    for name, rate, note in rows:
        print(f"{name:<46} {rate:>10.0f}  {note}")
    verdict = {True: "PASS", False: "FAIL"}
    print(f"target: numpy batch 1 within 1.3x of the BLAS floor: {verdict[r1 <= 1.3]} (median of rounds {r1:.2f}x, "
          f"best against best {floor / n1:.2f}x);  "
          f"numpy batch 64 at least 29,000 chars/s: {verdict[n64 >= 29000]} "
          f"(numpy {n64:,.0f}, tensorflow {b64:,.0f}; the bare products {floor64:,.0f});  "
          f"at least 50x the naive loop: {verdict[n1 >= 50 * naive]}")


if __name__ == "__main__":
    main()
