"""musegen prepare REPRESENTATION CORPUS: read, split, fit, encode and cache a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Json, RichReporter, emit_json

app = typer.Typer(help="Read a corpus, split it, fit the representation and cache the result.", no_args_is_help=True)

Corpus = Annotated[Path, typer.Argument(help="A .abc file or a folder of them (many tunes each, split at X:).")]


@app.command("abc")
def prepare_abc(
    corpus: Corpus,
    preset: Annotated[str, typer.Option(help="Take the split and augmentation settings of this preset.")] = "default",
    valid_split: Annotated[Optional[float], typer.Option(help="Share of tunes held out for validation.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the train/validation split.")] = None,
    transpose: Annotated[Optional[str], typer.Option(help="Semitone shifts added as augmentation ('-2,2').")] = None,
    json_out: Json = False,
) -> None:
    """Prepare ABC tunes: split by tune, build the character vocabulary, cache."""
    from musegen.cli.train import parse_transpose
    from musegen.pipeline import prepare, resolve_config

    config, _ = resolve_config("abc", preset=preset, overrides=dict(
        valid_split=valid_split, seed=seed, transpose=parse_transpose(transpose) if transpose is not None else None))
    data = prepare("abc", corpus, config=config, reporter=RichReporter(quiet=json_out))
    summary = {**data.summary(), "vocabulary": len(data.representation.vocab)}
    if json_out:
        emit_json(summary)
    else:
        from musegen.cli.common import console

        out = console(stderr=False)
        for k, v in summary.items():
            out.print(f"{k:>15}: {v}")
