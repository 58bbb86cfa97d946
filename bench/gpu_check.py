"""GPU check: each representation's default network, trained and sampled, with its speed and whether cuDNN ran.

Run (after ``pip install .``; installs nothing itself):
    python bench/gpu_check.py                      # on a GPU: a full epoch of corpora/jigs per representation
    python bench/gpu_check.py --steps 5            # a quick look (works on a CPU too)
    python bench/gpu_check.py --mixed-precision    # the same in float16 (GPU only)

For every representation (abc, midi, audio, score) it prints
- training speed in steps (tokens, frames, measures...) per second, timed after two warm-up batches, over one epoch
  of the default preset's windows of the corpus or ``--steps`` batches;
- whether the fused cuDNN LSTM kernel runs: the training step's graph is traced and searched for the
  ``CudnnRNNV3`` op that Keras 3 calls (``keras/src/backend/tensorflow/rnn.py``) when ``cudnn_ok`` holds (a GPU,
  tanh/sigmoid, no recurrent dropout, not unrolled); a GPU run without it falls back to a loop many times slower;
- sampling speed: ``musegen train`` for one epoch on the first tunes of the corpus (the real command, its
  ``--strategy auto``), then ``musegen sample`` with the ``tensorflow`` engine, steps generated per second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPRESENTATIONS = ("abc", "midi", "audio", "score")
SAMPLE_ARGS = {"abc": ["--max-length", "400"], "midi": ["--beats", "32"], "audio": ["--seconds", "2"],
               "score": ["--measures", "8"]}


def cudnn_in_graph(model, x) -> bool:
    """True where the traced training forward pass of ``model`` on ``x`` holds a cuDNN RNN op."""
    from musegen import backend

    tf = backend.tf()
    graph = tf.function(lambda batch: model(batch, training=True)).get_concrete_function(
        tf.TensorSpec(x.shape, tf.as_dtype(x.dtype))).graph
    ops = {op.type for op in graph.get_operations()}
    for function in graph.as_graph_def().library.function:
        ops.update(node.op for node in function.node_def)
    return any(op.startswith("CudnnRNN") for op in ops)


def training_speed(rep: str, corpus: Path, *, steps: int | None, mixed: bool) -> dict:
    """Steps per second of ``rep``'s default network over ``steps`` batches (or one epoch), and the cuDNN flag."""
    from musegen import backend
    from musegen.distribute import precision
    from musegen.models import build_model
    from musegen.pipeline import prepare, resolve_config
    from musegen.windows import token_windows

    keras = backend.keras()
    config, _ = resolve_config(rep, preset=None, overrides={"epochs": 1})
    data = prepare(rep, corpus, config=config)
    with precision(mixed):
        model = build_model(data.representation.input_spec(), data.representation.head(), config)
    x, y = token_windows(data.train_arrays, seq_len=config.seq_len)
    batch = config.batch_size
    total = steps or max(1, len(x) // batch)
    take = np.arange((total + 2) * batch) % len(x)
    x, y = x[take], y[take]
    model.fit(x[: 2 * batch], y[: 2 * batch], batch_size=batch, epochs=1, verbose=0, shuffle=False)  # warm-up
    t0 = time.perf_counter()
    model.fit(x[2 * batch:], y[2 * batch:], batch_size=batch, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - t0
    keras.config.set_dtype_policy("float32")
    return {"batches": total, "steps_per_s": total * batch * config.seq_len / seconds, "seconds": seconds,
            "cudnn": cudnn_in_graph(model, x[:batch]), "units": config.units, "layers": config.layers}


def sampling_speed(rep: str, corpus: Path, work: Path, *, tunes: int) -> dict:
    """Train ``rep`` for one epoch on ``tunes`` tunes with the CLI, sample with the tensorflow engine."""
    from musegen.formats.abc import read_tunes

    small = work / f"{rep}.abc"
    files = sorted(corpus.glob("*.abc")) if corpus.is_dir() else [corpus]
    every = [t for f in files for t in read_tunes(f, clean=False)]
    small.write_text("\n".join(every[:tunes]), encoding="utf-8")
    model = work / f"{rep}-model"
    cli = [sys.executable, "-m", "musegen"]
    trained = subprocess.run([*cli, "train", rep, str(small), "--epochs", "1", "--out", str(model), "--json"],
                             capture_output=True, text=True)
    if trained.returncode:
        return {"error": trained.stderr.strip().splitlines()[-1]}
    t0 = time.perf_counter()
    sampled = subprocess.run([*cli, "sample", rep, "--model", str(model), "--engine", "tensorflow", "--num", "4",
                              "--out", str(work / f"{rep}-out"), "--json", *SAMPLE_ARGS[rep]],
                             capture_output=True, text=True)
    if sampled.returncode:
        return {"error": sampled.stderr.strip().splitlines()[-1]}
    result = json.loads(sampled.stdout)
    devices = json.loads((model / "config.json").read_text()).get("devices", {})
    return {"sample_steps_per_s": result.get("tokens_per_second"), "sample_wall_s": time.perf_counter() - t0,
            "strategy": devices.get("strategy")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "jigs")
    parser.add_argument("--steps", type=int, default=None, help="batches to time (default: one epoch)")
    parser.add_argument("--representations", default=",".join(REPRESENTATIONS))
    parser.add_argument("--tunes", type=int, default=24, help="tunes of the corpus the sampled model trains on")
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args()

    from musegen import backend

    tf = backend.tf()
    gpus = tf.config.list_physical_devices("GPU")
    print(f"TensorFlow {tf.__version__}, Keras {backend.keras().__version__}; GPUs: {len(gpus)} "
          f"({', '.join(g.name for g in gpus) or 'none: CPU run'}); mixed precision: {args.mixed_precision}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        for rep in args.representations.split(","):
            row = {"representation": rep, **training_speed(rep, args.corpus, steps=args.steps,
                                                           mixed=args.mixed_precision)}
            row.update(sampling_speed(rep, args.corpus, Path(tmp), tunes=args.tunes))
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(f"{'rep':<6} {'network':>9} {'batches':>8} {'train steps/s':>14} {'cuDNN':>6} {'sample steps/s':>15}")
    for r in rows:
        sample = r.get("sample_steps_per_s")
        print(f"{r['representation']:<6} {r['layers']}x{r['units']:<7} {r['batches']:>8} {r['steps_per_s']:>14,.0f} "
              f"{'yes' if r['cudnn'] else 'no':>6} {sample if sample is not None else r.get('error', '-'):>15}")
    if gpus and not all(r["cudnn"] for r in rows):
        print("WARNING: a GPU is present but the cuDNN LSTM kernel did not run for every network")


if __name__ == "__main__":
    main()
