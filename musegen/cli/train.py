"""musegen train REPRESENTATION CORPUS: train a network and write a model bundle."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

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


# options shared by every `train` command
Out = Annotated[Optional[Path], typer.Option(help="Bundle folder to write [default: models/REPRESENTATION-CORPUS].")]
Preset = Annotated[Optional[str], typer.Option(help="Starting settings: default, study (the 2017 study) or tiny.",
                                               show_default="default")]
Layers = Annotated[Optional[int], typer.Option(help="Stacked recurrent layers.")]
Units = Annotated[Optional[int], typer.Option(help="Units per layer.")]
CellOpt = Annotated[Optional[Cell], typer.Option(help="Recurrent cell.")]
Dropout = Annotated[Optional[float], typer.Option(help="Dropout between layers.")]
SeqLen = Annotated[Optional[int], typer.Option(help="Steps per training window (BPTT length).")]
BatchSize = Annotated[Optional[int], typer.Option(help="Windows per batch.")]
Epochs = Annotated[Optional[int], typer.Option(help="Training epochs.")]
OptimizerOpt = Annotated[Optional[Optimizer], typer.Option(help="Optimizer.")]
Lr = Annotated[Optional[float], typer.Option(help="Learning rate.")]
Clipnorm = Annotated[Optional[float], typer.Option(help="Clip gradients to this norm (0: off).")]
ValidSplit = Annotated[Optional[float], typer.Option(help="Share of pieces held out.")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Seed of the split, weights and batches.")]
Transpose = Annotated[Optional[str], typer.Option(help="Semitone shifts added as augmentation ('-2,2').")]
Patience = Annotated[Optional[int], typer.Option(help="Stop after this many epochs with no improvement (0: never).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue training the bundle at --out.")]


def run_train(rep_name: str, corpus: str, *, out: Path | None, preset: str | None, overrides: dict[str, Any],
              extra: dict[str, Any], transpose: str | None, resume: bool, force: bool, json_out: bool,
              unit: str) -> None:
    """Resolve the settings, train, report: the body of every `train` command."""
    from musegen.pipeline import resolve_config, train

    overrides = {**overrides, "transpose": parse_transpose(transpose) if transpose is not None else None}
    config, preset_name = resolve_config(rep_name, preset=preset, overrides=overrides)
    extra = {k: v for k, v in extra.items() if v is not None}
    if extra:
        config = config.replace(extra={**config.extra, **extra})
    stem = corpus.split(":", 1)[1] if corpus.startswith("music21:") else Path(corpus).stem
    out = out or Path("models") / f"{rep_name}-{stem}"
    reporter = RichReporter(quiet=json_out)
    # on --resume the bundle's own settings hold; only what was given here changes
    resume_changes = {k: v for k, v in overrides.items() if v is not None}
    if resume and (set(resume_changes) - {"epochs", "patience"} or preset or extra):
        raise UsageError("with --resume only --epochs and --patience may change; the rest comes from the bundle")
    result = train(rep_name, corpus, out=out, config=config, preset=preset_name, resume=resume, force=force,
                   resume_changes=resume_changes, reporter=reporter)
    h = result.history
    summary = {"model": str(result.out), "epochs": len(h["loss"]), "best_epoch": h["best_epoch"],
               "best_val_loss": h["best_val_loss"], "interrupted": result.interrupted, **result.summary}
    if json_out:
        emit_json(summary)
    else:
        msg = "interrupted; " if result.interrupted else ""
        reporter.log(f"{msg}model written to {result.out} (best validation loss {h['best_val_loss']:.4f} "
                     f"{unit} at epoch {h['best_epoch']})" if h["best_val_loss"] is not None
                     else f"{msg}model written to {result.out}")
    if result.interrupted:
        raise typer.Exit(130)


@app.command("abc")
def train_abc(
    corpus: Annotated[Path, typer.Argument(help="A .abc file or a folder of them.")],
    out: Out = None,
    preset: Preset = None,
    layers: Layers = None,
    units: Units = None,
    cell: CellOpt = None,
    embedding: Annotated[Optional[int], typer.Option(help="Embedding size (0: one-hot).")] = None,
    dropout: Dropout = None,
    seq_len: SeqLen = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    optimizer: OptimizerOpt = None,
    lr: Lr = None,
    clipnorm: Clipnorm = None,
    valid_split: ValidSplit = None,
    seed: SeedOpt = None,
    transpose: Transpose = None,
    patience: Patience = None,
    resume: Resume = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Train the character-level ABC model (e.g. `musegen train abc corpora/jigs`)."""
    overrides = dict(
        layers=layers, units=units, cell=cell.value if cell else None, embedding=embedding, dropout=dropout,
        seq_len=seq_len, batch_size=batch_size, epochs=epochs, optimizer=optimizer.value if optimizer else None,
        lr=lr, clipnorm=clipnorm, valid_split=valid_split, seed=seed, patience=patience)
    run_train("abc", str(corpus), out=out, preset=preset, overrides=overrides, extra={}, transpose=transpose,
              resume=resume, force=force, json_out=json_out, unit="nats/char")




@app.command("midi")
def train_midi(
    corpus: Annotated[str, typer.Argument(
        help="A MIDI file, a folder of .mid/.midi/.abc files, or music21:bach (the chorales bundled with music21).")],
    out: Out = None,
    preset: Preset = None,
    head: Annotated[Optional[str], typer.Option(
        help="Output: roll (sounding, onset and velocity per pitch) or linear (the study's 128 velocities, MSE).",
        show_default="roll; linear with --preset study")] = None,
    steps_per_beat: Annotated[Optional[int], typer.Option(
        help="Columns per quarter-note beat (12 or 24 for triplets).", show_default="4")] = None,
    drums: Annotated[Optional[bool], typer.Option("--drums/--no-drums", help="Keep channel 10 (drums).",
                                                  show_default="no drums")] = None,
    layers: Layers = None,
    units: Units = None,
    cell: CellOpt = None,
    projection: Annotated[Optional[int], typer.Option(help="Dense projection of each column before the LSTMs (0: none).")] = None,
    dropout: Dropout = None,
    seq_len: SeqLen = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    optimizer: OptimizerOpt = None,
    lr: Lr = None,
    clipnorm: Clipnorm = None,
    valid_split: ValidSplit = None,
    seed: SeedOpt = None,
    transpose: Transpose = None,
    patience: Patience = None,
    resume: Resume = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Train the piano-roll model (e.g. `musegen train midi corpora/jigs`, `musegen train midi music21:bach`)."""
    overrides = dict(
        layers=layers, units=units, cell=cell.value if cell else None, embedding=projection, dropout=dropout,
        seq_len=seq_len, batch_size=batch_size, epochs=epochs, optimizer=optimizer.value if optimizer else None,
        lr=lr, clipnorm=clipnorm, valid_split=valid_split, seed=seed, patience=patience)
    extra = {"head": head, "steps_per_beat": steps_per_beat, "drums": drums}
    run_train("midi", corpus, out=out, preset=preset, overrides=overrides, extra=extra, transpose=transpose,
              resume=resume, force=force, json_out=json_out, unit="per column")


@app.command("audio")
def train_audio(
    corpus: Annotated[str, typer.Argument(
        help="An audio file or folder (.wav, .flac, .ogg), or ABC/MIDI files rendered by musegen's synth.")],
    out: Out = None,
    preset: Preset = None,
    head: Annotated[Optional[str], typer.Option(
        help="Output: gaussian (mean and variance per coefficient) or linear (the study's L2 regression).",
        show_default="gaussian; linear with --preset study")] = None,
    sample_rate: Annotated[Optional[int], typer.Option(help="Hz the audio is resampled to.", show_default="16000")] = None,
    frame_seconds: Annotated[Optional[float], typer.Option(help="Seconds per FFT frame.", show_default="0.25")] = None,
    overlap: Annotated[Optional[bool], typer.Option(
        "--overlap/--no-overlap", help="Half-overlapping windowed frames joined by overlap-add (no clicks).",
        show_default="overlap; none with --preset study")] = None,
    max_hz: Annotated[Optional[float], typer.Option(
        help="Keep the coefficients up to this frequency (0: all).", show_default="3000")] = None,
    layers: Layers = None,
    units: Units = None,
    cell: CellOpt = None,
    projection: Annotated[Optional[int], typer.Option(help="Dense projection of each frame before the LSTMs (0: none).")] = None,
    dropout: Dropout = None,
    seq_len: SeqLen = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    optimizer: OptimizerOpt = None,
    lr: Lr = None,
    clipnorm: Clipnorm = None,
    valid_split: ValidSplit = None,
    seed: SeedOpt = None,
    patience: Patience = None,
    resume: Resume = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Train the FFT-frame model (e.g. `musegen train audio corpora/jigs`: the jigs rendered as audio)."""
    overrides = dict(
        layers=layers, units=units, cell=cell.value if cell else None, embedding=projection, dropout=dropout,
        seq_len=seq_len, batch_size=batch_size, epochs=epochs, optimizer=optimizer.value if optimizer else None,
        lr=lr, clipnorm=clipnorm, valid_split=valid_split, seed=seed, patience=patience)
    extra = {"head": head, "sample_rate": sample_rate, "frame_seconds": frame_seconds, "overlap": overlap,
             "max_hz": max_hz}
    run_train("audio", corpus, out=out, preset=preset, overrides=overrides, extra=extra, transpose=None,
              resume=resume, force=force, json_out=json_out, unit="per frame")


class ScoreVariant(str, Enum):
    note = "note"
    series = "series"
    measure = "measure"


VariantOpt = Annotated[Optional[ScoreVariant], typer.Option(
    help="Network: note (pitch and duration per step, two softmaxes), series (pitch, duration, pitch... tokens) "
         "or measure (a measure autoencoder, an LSTM over measure vectors).", show_default="measure")]
TransposeToC = Annotated[bool, typer.Option(
    "--transpose-to-c", help="Move every piece to C major / A minor first (default: keep each key and learn it).")]


@app.command("score")
def train_score(
    corpus: Annotated[str, typer.Argument(
        help="ABC (tune by tune), MusicXML or quantised MIDI: a file or a folder; or music21:bach, "
             "music21:oneills1850.")],
    out: Out = None,
    preset: Annotated[Optional[str], typer.Option(
        help="Starting settings: default (measure), note, series, study or tiny.",
        show_default="the variant's: default, note or series")] = None,
    variant: VariantOpt = None,
    transpose_to_c: TransposeToC = False,
    latent: Annotated[Optional[int], typer.Option(help="Size of a measure's vector (measure).",
                                                  show_default="32")] = None,
    codec_epochs: Annotated[Optional[int], typer.Option(
        help="Epochs of the measure autoencoder (measure).", show_default="30")] = None,
    layers: Layers = None,
    units: Units = None,
    cell: CellOpt = None,
    embedding: Annotated[Optional[int], typer.Option(
        help="Embedding size (note, series; 0: one-hot) or dense projection of each measure vector (measure; 0: none)."
    )] = None,
    dropout: Dropout = None,
    seq_len: SeqLen = None,
    batch_size: BatchSize = None,
    epochs: Epochs = None,
    optimizer: OptimizerOpt = None,
    lr: Lr = None,
    clipnorm: Clipnorm = None,
    valid_split: ValidSplit = None,
    seed: SeedOpt = None,
    transpose: Transpose = None,
    patience: Patience = None,
    resume: Resume = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Train a score model (e.g. `musegen train score corpora/jigs`, `musegen train score music21:bach --variant note`).
    """
    from musegen.representations.score import ScoreRepresentation

    name = variant.value if variant else None
    unit = ScoreRepresentation.variant_of(preset, name).loss_unit
    overrides = dict(
        layers=layers, units=units, cell=cell.value if cell else None, embedding=embedding, dropout=dropout,
        seq_len=seq_len, batch_size=batch_size, epochs=epochs, optimizer=optimizer.value if optimizer else None,
        lr=lr, clipnorm=clipnorm, valid_split=valid_split, seed=seed, patience=patience)
    extra = {"variant": name, "transpose_to_c": transpose_to_c or None, "latent": latent,
             "codec_epochs": codec_epochs}
    run_train("score", corpus, out=out, preset=preset or (ScoreRepresentation.preset_for(name) if name else None),
              overrides=overrides, extra=extra, transpose=transpose, resume=resume, force=force, json_out=json_out,
              unit=unit)
