"""CPU training speed of the default ABC model: musegen's training, a plain Keras fit, and the BLAS roofline.

Run: .venv/bin/python bench/training_speed.py [--tunes 120] [--steps 30]

Prints training characters per second (one character = one time step of one
window) for
- `musegen train abc` (its own fit: windows cut each epoch, validation,
  progress), on the first `--tunes` shipped jigs, from the seconds of its
  second epoch (the first also traces the graph), validation included;
- the same network (``models.build_model`` with the default preset) in a
  plain ``keras`` ``fit`` on random windows held in memory, `--steps` steps
  after one to trace;
- the BLAS roofline: the floating-point work of the network's matrix products
  per character (forward ``[x, h] @ kernel`` of every LSTM layer and the
  output layer, backward twice that) at the rate NumPy's BLAS reaches on the
  same shapes (a batch of rows times each kernel, best of one or all threads);
and the ratio of each to the roofline (issue 15: measured at 32%).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def gemm_rate(rows: int, inner: int, cols: int, *, repeats: int = 50) -> float:
    """Best floating-point operations per second of ``(rows, inner) @ (inner, cols)`` in float32."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, inner), dtype=np.float32)
    b = rng.standard_normal((inner, cols), dtype=np.float32)
    best = 0.0
    for threads in (1, None):
        with threadpool_limits(limits=threads, user_api="blas"):
            a @ b
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(repeats):
                    a @ b
                best = max(best, 2.0 * rows * inner * cols * repeats / (time.perf_counter() - t0))
    return best


def roofline(config, vocab: int) -> tuple[float, float]:
    """(characters per second the matrix products allow, their operations per character)."""
    shapes, inner = [], config.embedding
    for _ in range(config.layers):
        shapes.append((inner + config.units, 4 * config.units))
        inner = config.units
    shapes.append((config.units, vocab))
    seconds = flops = 0.0
    for k, n in shapes:
        work = 3 * 2.0 * k * n  # forward, and a backward pass of twice its work
        flops += work
        seconds += work / gemm_rate(config.batch_size, k, n)
    return 1.0 / seconds, flops


def keras_rate(rep, config, steps: int) -> float:
    """Characters per second of a plain Keras fit of the network on random windows (tracing excluded)."""
    from musegen.models import build_model

    model = build_model(rep.input_spec(), rep.head(), config)
    vocab = rep.input_spec().size
    rng = np.random.default_rng(0)
    x = rng.integers(1, vocab, (config.batch_size * steps, config.seq_len))
    y = rng.integers(1, vocab, x.shape)
    model.fit(x[:config.batch_size], y[:config.batch_size], batch_size=config.batch_size, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=config.batch_size, epochs=1, verbose=0, shuffle=False)
    return x.size / (time.perf_counter() - t0)


def musegen_rate(corpus: Path, data, config, tmp: Path) -> float:
    """Characters per second of `musegen train abc` (its second epoch, validation included)."""
    from musegen.windows import token_windows

    out = tmp / "model"
    env = {**os.environ, "MUSEGEN_CACHE": str(tmp / "cache")}
    subprocess.run([sys.executable, "-m", "musegen", "train", "abc", str(corpus), "--out", str(out),
                    "--epochs", "2", "--json"], check=True, env=env, capture_output=True)
    history = json.loads((out / "history.json").read_text())
    windows = token_windows(data.train_arrays, seq_len=config.seq_len, offset=config.seq_len - 1)[0].shape[0]
    steps = -(-windows // config.batch_size)
    return steps * config.batch_size * config.seq_len / history["seconds"][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tunes", type=int, default=120, help="shipped jigs musegen trains on")
    parser.add_argument("--steps", type=int, default=30, help="batches of the plain Keras fit")
    args = parser.parse_args()

    from musegen.formats.abc import read_tunes
    from musegen.pipeline import prepare, resolve_config

    config, preset = resolve_config("abc", preset=None, overrides={})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "jigs.abc"
        tunes = read_tunes(ROOT / "corpora" / "jigs", clean=False)[:args.tunes]
        corpus.write_text("\n".join(tunes), encoding="utf-8")
        os.environ["MUSEGEN_CACHE"] = str(tmp / "cache")
        data = prepare("abc", corpus, config=config)
        rep = data.representation
        print(f"model: abc preset {preset!r} ({config.layers} x {config.cell.upper()} {config.units}, embedding "
              f"{config.embedding}, vocabulary {rep.input_spec().size}, batch {config.batch_size} x "
              f"{config.seq_len} characters); {len(tunes)} jigs")
        limit, flops = roofline(config, rep.input_spec().size)
        plain = keras_rate(rep, config, args.steps)
        ours = musegen_rate(corpus, data, config, tmp)
    print(f"{'method':<58} {'chars/s':>9}  of the roofline")
    for name, rate in [("BLAS roofline of the matrix products (%.1f MFLOP/char)" % (flops / 1e6), limit),
                       ("musegen train abc (2nd epoch, validation included)", ours),
                       ("plain keras fit, same network, random windows", plain)]:
        print(f"{name:<58} {rate:>9,.0f}  {rate / limit:>6.0%}")


if __name__ == "__main__":
    main()
