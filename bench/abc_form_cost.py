"""What the ABC form and checker cost: the form's share of sampling, and check_tune per tune.

Run: .venv/bin/python bench/abc_form_cost.py [--model models/abc-jigs] [--num 64] [--seed 0]

Prints
- form sampling as `musegen sample abc --num N --seed S` draws one batch of N
  tunes (the default form: two or three 8-bar parts, the keys of the model's
  training tunes): characters per second, and the CPU time the form takes a
  step (``_allowed_choice``: which character may come, taking it), measured
  with the thread's CPU clock so that other processes on a busy machine do
  not count;
- check_tune (repair on) over the shipped jigs, as written and with short bars
  made in each (so that bar repairs happen): CPU milliseconds a tune.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def form_sampling(model: str, num: int, seed: int) -> None:
    from musegen.models import load_bundle
    from musegen.pipeline import generate
    from musegen.representations.abc import AbcSampleOptions

    bundle = load_bundle(model, representation="abc")
    rep = bundle.representation
    plan = rep.plan_sampling(bundle.path, AbcSampleOptions())
    spent = [0.0, 0]
    choose = type(rep)._allowed_choice

    def timed(self, *args):
        t = time.thread_time()
        out = choose(self, *args)
        spent[0] += time.thread_time() - t
        spent[1] += 1
        return out

    type(rep)._allowed_choice = timed
    try:
        primer = rep.encode_primer(plan.primer, num=num, seed=seed)
        t0 = time.perf_counter()
        gen = generate(bundle, num=num, temperature=plan.temperature, seed=seed, max_length=plan.max_length,
                       primer=primer, **plan.options)
        total = time.perf_counter() - t0
    finally:
        type(rep)._allowed_choice = choose
    print(f"form sampling, {num} tunes: {gen.tokens:,} characters in {total:.2f} s = {gen.tokens / total:,.0f} chars/s; "
          f"the form {spent[0]:.2f} s CPU in {spent[1]:,} steps = {spent[0] / max(1, spent[1]) * 1e6:.1f} us a step")


def checking() -> None:
    from musegen.formats.abc import read_tunes
    from musegen.formats.abc.check import check_tune

    tunes = read_tunes(ROOT / "corpora" / "jigs" / "jigs.abc", clean=False)
    short = [t.replace("|", "z|", 3).replace("2|", "|", 4) for t in tunes]  # bars made long, then short
    for name, group in (("as written", tunes), ("with short bars", short)):
        t0 = time.process_time()
        results = [check_tune(t) for t in group]
        cpu = time.process_time() - t0
        print(f"check_tune, {len(group)} jigs {name}: {sum(len(r.repairs) for r in results)} repairs, "
              f"{cpu / len(group) * 1000:.1f} ms CPU a tune")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "abc-jigs"))
    parser.add_argument("--num", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    form_sampling(args.model, args.num, args.seed)
    checking()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
