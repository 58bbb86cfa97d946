"""musegen train REPRESENTATION CORPUS: train a network and write a model bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Cell, Force, Json, Optimizer, RichReporter, emit_json
from musegen.errors import UsageError

app = typer.Typer(help="Train a network on a corpus and write a model bundle folder.", no_args_is_help=True)


def parse_transpose(text: str) -> tuple[int, ...]:
    """``"-2,2"`` or ``"-3..3"`` -> semitone shifts."""
    text = text.strip()
    if not text:
        return ()
    try:
        if ".." in text:
            lo, hi = (int(v) for v in text.split(".."))
            return tuple(s for s in range(lo, hi + 1) if s)
        return tuple(int(v) for v in text.split(",") if v.strip() and int(v))
    except ValueError:
        raise UsageError(f"--transpose takes semitone shifts like '-2,2' or '-3..3', got {text!r}") from None


@app.command("abc")
def train_abc(
    corpus: Annotated[Path, typer.Argument(help="A .abc file or a folder of them.")],
    out: Annotated[Optional[Path], typer.Option(help="Bundle folder to write [default: models/abc-CORPUS].")] = None,
    preset: Annotated[Optional[str], typer.Option(
        help="Starting settings: default, study (the 2017 study) or tiny.", show_default="default")] = None,
    layers: Annotated[Optional[int], typer.Option(help="Stacked recurrent layers.")] = None,
    units: Annotated[Optional[int], typer.Option(help="Units per layer.")] = None,
    cell: Annotated[Optional[Cell], typer.Option(help="Recurrent cell.")] = None,
    embedding: Annotated[Optional[int], typer.Option(help="Embedding size (0: one-hot).")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="Dropout between layers.")] = None,
    seq_len: Annotated[Optional[int], typer.Option(help="Characters per training window (BPTT length).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Windows per batch.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Training epochs.")] = None,
    optimizer: Annotated[Optional[Optimizer], typer.Option(help="Optimizer.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate.")] = None,
    clipnorm: Annotated[Optional[float], typer.Option(help="Clip gradients to this norm (0: off).")] = None,
    valid_split: Annotated[Optional[float], typer.Option(help="Share of tunes held out.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the split, weights and batches.")] = None,
    transpose: Annotated[Optional[str], typer.Option(help="Semitone shifts added as augmentation ('-2,2').")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Stop after this many epochs with no improvement (0: never).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue training the bundle at --out.")] = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Train the character-level ABC model (e.g. `musegen train abc corpora/jigs`)."""
    from musegen.pipeline import resolve_config, train

    overrides = dict(
        layers=layers, units=units, cell=cell.value if cell else None, embedding=embedding, dropout=dropout,
        seq_len=seq_len, batch_size=batch_size, epochs=epochs, optimizer=optimizer.value if optimizer else None,
        lr=lr, clipnorm=clipnorm, valid_split=valid_split, seed=seed, patience=patience,
        transpose=parse_transpose(transpose) if transpose is not None else None,
    )
    config, preset_name = resolve_config("abc", preset=preset, overrides=overrides)
    out = out or Path("models") / f"abc-{corpus.stem}"
    reporter = RichReporter(quiet=json_out)
    # on --resume the bundle's own settings hold; only what was given here changes
    resume_changes = {k: v for k, v in overrides.items() if v is not None}
    if resume and (set(resume_changes) - {"epochs", "patience"} or preset):
        raise UsageError("with --resume only --epochs and --patience may change; the rest comes from the bundle")
    result = train("abc", corpus, out=out, config=config, preset=preset_name, resume=resume, force=force,
                   resume_changes=resume_changes, reporter=reporter)
    h = result.history
    summary = {"model": str(result.out), "epochs": len(h["loss"]), "best_epoch": h["best_epoch"],
               "best_val_loss": h["best_val_loss"], "interrupted": result.interrupted, **result.summary}
    if json_out:
        emit_json(summary)
    else:
        msg = "interrupted; " if result.interrupted else ""
        reporter.log(f"{msg}model written to {result.out} (best validation loss {h['best_val_loss']:.4f} "
                     f"nats/char at epoch {h['best_epoch']})" if h["best_val_loss"] is not None
                     else f"{msg}model written to {result.out}")
    if result.interrupted:
        raise typer.Exit(130)
