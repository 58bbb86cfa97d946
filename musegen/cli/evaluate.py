"""musegen evaluate REPRESENTATION FILE: score held-out music and generated samples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Json, default_model, emit_json

app = typer.Typer(help="Score music under a model, next to a baseline; check generated samples.",
                  no_args_is_help=True)


@app.command("abc")
def evaluate_abc(
    file: Annotated[Path, typer.Argument(help="ABC file or folder to score (e.g. the bundle's validation.abc).")],
    model: Annotated[Optional[Path], typer.Option(help="Model bundle [default: models/abc-jigs].")] = None,
    samples: Annotated[int, typer.Option(help="Also generate N tunes and check validity and copying.")] = 0,
    temperature: Annotated[float, typer.Option(help="Temperature of the samples.")] = 0.8,
    candidates: Annotated[int, typer.Option(help="Draws per written tune, as in `sample abc`.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    json_out: Json = False,
) -> None:
    """Bits per character of FILE under the model and under a character 4-gram baseline."""
    from musegen.evaluation import evaluate_abc as run
    from musegen.models import load_bundle

    bundle = load_bundle(model or default_model("abc-jigs"), representation="abc")
    result = run(bundle, file, samples=samples, temperature=temperature, seed=seed, candidates=candidates)
    if json_out:
        emit_json(result)
        return
    from musegen.cli.common import console

    out = console(stderr=False)
    for k, v in result.items():
        out.print(f"{k:>24}: {v:.4f}" if isinstance(v, float) else f"{k:>24}: {v}")


@app.command("midi")
def evaluate_midi(
    corpus: Annotated[str, typer.Argument(
        help="The corpus (split as in training: its held-out part is scored), e.g. corpora/jigs or music21:bach.")],
    model: Annotated[Optional[Path], typer.Option(help="Model bundle [default: models/midi-jigs].")] = None,
    samples: Annotated[int, typer.Option(help="Pieces generated to compare with the corpus (0: none).")] = 8,
    threshold: Annotated[float, typer.Option(help="Threshold of the samples (velocity units).")] = 15.0,
    temperature: Annotated[float, typer.Option(help="Temperature of the samples.")] = 0.25,
    beats: Annotated[float, typer.Option(help="Beats per sample.")] = 64.0,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    json_out: Json = False,
) -> None:
    """Loss per column next to two baselines (repeat the last column; each pitch's average); sample statistics."""
    from musegen.evaluation import evaluate_midi as run
    from musegen.models import load_bundle

    if not beats > 0:
        from musegen.errors import UsageError

        raise UsageError(f"--beats must be positive, got {beats}")
    bundle = load_bundle(model or default_model("midi-jigs"), representation="midi")
    result = run(bundle, corpus, samples=samples, threshold=threshold, temperature=temperature, seed=seed,
                 beats=beats)
    _print(result, json_out)


@app.command("audio")
def evaluate_audio(
    corpus: Annotated[str, typer.Argument(
        help="The corpus (split as in training: its held-out part is scored), e.g. corpora/jigs.")],
    model: Annotated[Optional[Path], typer.Option(help="Model bundle [default: models/audio-jigs].")] = None,
    samples: Annotated[int, typer.Option(help="Pieces generated to measure (0: none).")] = 4,
    seconds: Annotated[float, typer.Option(help="Seconds per sample.")] = 10.0,
    temperature: Annotated[float, typer.Option(help="Temperature of the samples.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    json_out: Json = False,
) -> None:
    """Loss per value next to two baselines (repeat the last frame; the mean frame); flatness and distance of samples."""
    from musegen.evaluation import evaluate_audio as run
    from musegen.models import load_bundle

    bundle = load_bundle(model or default_model("audio-jigs"), representation="audio")
    result = run(bundle, corpus, samples=samples, seconds=seconds, temperature=temperature, seed=seed)
    _print(result, json_out)


@app.command("score")
def evaluate_score(
    corpus: Annotated[str, typer.Argument(
        help="The corpus (split as in training: its held-out part is scored), e.g. corpora/jigs or music21:bach.")],
    model: Annotated[Optional[Path], typer.Option(help="Model bundle [default: models/score-jigs].")] = None,
    samples: Annotated[int, typer.Option(help="Scores generated to measure (0: none).")] = 8,
    measures: Annotated[int, typer.Option(help="Measures per generated score.")] = 16,
    temperature: Annotated[Optional[float], typer.Option(
        help="Temperature of the samples.", show_default="the network's: 0.8 note, series; 0.5 measure")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    json_out: Json = False,
) -> None:
    """Validation loss per note (per measure vector, and the autoencoder's exact rebuilds, for the measure network);
    completeness, pitch statistics and copying of generated scores."""
    from musegen.models import load_bundle
    from musegen.scorenet import evaluate_score as run

    bundle = load_bundle(model or default_model("score-jigs"), representation="score")
    result = run(bundle, corpus, samples=samples, measures=measures, temperature=temperature, seed=seed)
    _print(result, json_out)


def _print(result: dict, json_out: bool) -> None:
    """A result as JSON, or one aligned line per entry."""
    if json_out:
        emit_json(result)
        return
    from musegen.cli.common import console

    out = console(stderr=False)
    for k, v in result.items():
        if isinstance(v, dict):
            out.print(f"{k:>28}: " + ", ".join(f"{a} {b:.3f}" if isinstance(b, float) else f"{a} {b}"
                                               for a, b in v.items()))
        else:
            out.print(f"{k:>28}: {v:.4f}" if isinstance(v, float) else f"{k:>28}: {v}")
