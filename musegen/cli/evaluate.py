"""musegen evaluate REPRESENTATION FILE: score held-out music and generated samples.

One command function, registered for every representation with its own
options (:attr:`~musegen.representations.base.Representation.EvaluateOptions`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from musegen.cli.common import Json, console, emit_json
from musegen.cli.options import RegistryTyper, argument, command, param, settings_params, settings_values
from musegen.paths import model_path



def run_evaluate(rep_cls, target: str, *, model: Path | None, seed: int, json_out: bool, **values: Any) -> None:
    """Load the model, evaluate, print the result: the body of every `evaluate` command."""
    from musegen.config import check_sampling
    from musegen.evaluation import evaluate
    from musegen.models import load_bundle

    options = rep_cls.EvaluateOptions.from_dict(settings_values(rep_cls.EvaluateOptions, values))
    check_sampling(seed=seed)
    bundle = load_bundle(model_path(model, default=rep_cls.default_model), representation=rep_cls.name)
    result = evaluate(bundle, target, options, seed=seed)
    if json_out:
        emit_json(result)
        return
    out = console(stderr=False)
    width = max((len(k) for k in result), default=0)
    for k, v in result.items():
        if isinstance(v, dict):
            out.print(f"{k:>{width}}: " + ", ".join(f"{a} {b:.3f}" if isinstance(b, float) else f"{a} {b}"
                                                    for a, b in v.items()))
        else:
            out.print(f"{k:>{width}}: {v:.4f}" if isinstance(v, float) else f"{k:>{width}}: {v}")


def make(rep_cls) -> Callable[..., Any]:
    """The function of ``musegen evaluate NAME`` for the representation ``rep_cls``."""
    params = [
        argument(rep_cls.evaluate_argument, rep_cls.evaluate_help),
        param("model", Annotated[Optional[Path], typer.Option(
            help=f"Model bundle: a folder, or a shipped model's name (musegen models) [default: {rep_cls.default_model}].")]),
        *settings_params(rep_cls.EvaluateOptions, unset=False),
        param("seed", Annotated[int, typer.Option(help="Seed of the samples.")], 0),
        param("json_out", Json, False),
    ]
    return command(lambda **v: run_evaluate(rep_cls, v.pop(rep_cls.evaluate_argument), **v), params,
                                      name=f"evaluate_{rep_cls.name}", doc=rep_cls.help_of("evaluate"))


app = RegistryTyper(make, help="Score music under a model, next to a baseline; check generated samples.",
                  no_args_is_help=True)
