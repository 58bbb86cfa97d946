"""A tune in a second: whole `musegen sample` processes, and steady-state rates, for both engines.

Run: .venv/bin/python bench/sample_latency.py [--runs 3] [--steps 256]

Prints, for `sample abc --num 1`, `sample midi`, `sample score` and
`sample audio --seconds 4` with the shipped models, the median wall-clock
time of whole processes (Python start, imports, loading the bundle,
generating, writing: the time to the first piece) and their peak memory,
with `--engine numpy` (the default on a CPU) and `--engine tensorflow`, side
by side in one run; then each representation's steady-state rate (steps per
second at batch 1 and batch 64) of both engines, generation forced to
`--steps` steps.  Targets (issue 17): abc under 2.5 s, the others under 3.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMANDS = {  # representation -> extra arguments of `musegen sample`, and its target in seconds
    "abc": (["--num", "1"], 2.5),
    "midi": ([], 3.5),
    "score": ([], 3.5),
    "audio": (["--seconds", "4"], 3.5),
}


# runs `python -m musegen ARGS`, then reports the process's peak memory on stderr, however it ends
PEAK = ("import resource, runpy, sys\n"
        "sys.argv = ['musegen', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('musegen', run_name='__main__')\n"
        "finally:\n    sys.stderr.write(f'\\nPEAK {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')\n")


def whole_process(rep: str, extra: list[str], engine: str, runs: int) -> tuple[float, float]:
    """Median seconds and the largest peak memory (MB) of `musegen sample REP` run ``runs`` times."""
    times, peaks = [], []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-c", PEAK, "sample", rep, *extra, "--seed", str(i), "--engine", engine,
                   "--out", out]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if done.returncode:
                raise SystemExit(f"sample {rep} failed: {done.stderr[-300:]}")
            peaks.append(int(done.stderr.rsplit("PEAK ", 1)[1]) / 1024)
    return statistics.median(times), max(peaks)


def steady_rates(rep_name: str, *, steps: int) -> dict[str, dict[int, float]]:
    """Steps per second (all rows) of each engine's sampler at batch 1 and 64: a sampler made once, a first
    call (compiling, for TensorFlow) left out, generation forced to ``steps`` steps (score: measures)."""
    import numpy as np

    from musegen.models import load_bundle
    from musegen.paths import shipped_dir
    from musegen.pipeline import engine_of
    from musegen.representations import REPRESENTATIONS

    rates: dict[str, dict[int, float]] = {}
    for engine in ("numpy", "tensorflow"):
        bundle = load_bundle(shipped_dir() / "models" / REPRESENTATIONS[rep_name].default_model, engine=engine)
        rep = bundle.representation
        module, network = engine_of(bundle)
        plan = rep.plan_sampling(bundle.path, rep.SampleOptions())
        kind = rep.generator or rep.input_spec().kind
        rates[engine] = {}
        for num in (1, 64):
            primer = rep.encode_primer(plan.primer, num=num, seed=0)
            if kind == "tokens":
                sampler = module.TokenSampler(network, banned=rep.banned_ids())

                def run(n, sampler=sampler, primer=primer, num=num):
                    return sampler.generate(primer, num=num, max_length=n, temperature=1.0, seed=1, end_id=-1).size
            elif kind == "vectors":
                sampler = module.VectorSampler(network, rule=rep.column_rule)

                def run(n, sampler=sampler, primer=primer):
                    columns = sampler.generate(primer, max_length=n, temperature=plan.temperature, seed=1,
                                               **plan.options)
                    return columns.shape[0] * columns.shape[1]
            else:  # the representation steps the network itself

                def run(n, primer=primer, num=num):
                    stepper = module.NetworkStepper(network, num)
                    return rep.sample_steps(stepper, primer, max_length=n, temperature=plan.temperature,
                                            rng=np.random.default_rng(1))[1]
            length = steps if kind != "stepped" else max(1, steps // 16)
            with module.session(num):
                run(max(1, length // 4))  # warm up (XLA compiles its loop here)
                t0 = time.perf_counter()
                made = run(length)
                rates[engine][num] = made / (time.perf_counter() - t0)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=256)
    args = parser.parse_args()

    print(f"whole processes, median of {args.runs} (seconds to the first piece; peak MB)")
    print(f"{'command':<32} {'numpy':>12} {'tensorflow':>12}  target")
    verdicts = []
    for rep, (extra, target) in COMMANDS.items():
        light, light_mb = whole_process(rep, extra, "numpy", args.runs)
        heavy, heavy_mb = whole_process(rep, extra, "tensorflow", args.runs)
        ok = light < target
        verdicts.append(ok)
        name = " ".join(["sample", rep, *extra])
        print(f"{name:<32} {light:>6.2f} s {light_mb:>4.0f} {heavy:>6.2f} s {heavy_mb:>4.0f}  "
              f"< {target} s: {'PASS' if ok else 'FAIL'} ({heavy / light:.1f}x faster than tensorflow)")
    print(f"\nsteady state, {args.steps} steps (score: {max(1, args.steps // 16)} measures), steps/s of all rows")
    print(f"{'representation':<16} {'numpy b1':>10} {'numpy b64':>10} {'tf b1':>10} {'tf b64':>10}")
    for rep in COMMANDS:
        r = steady_rates(rep, steps=args.steps)
        print(f"{rep:<16} {r['numpy'][1]:>10,.0f} {r['numpy'][64]:>10,.0f} {r['tensorflow'][1]:>10,.0f} "
              f"{r['tensorflow'][64]:>10,.0f}")
    print(f"\ntargets met: {sum(verdicts)}/{len(verdicts)}")


if __name__ == "__main__":
    main()
