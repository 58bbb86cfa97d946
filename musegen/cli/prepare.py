"""musegen prepare REPRESENTATION CORPUS: read, split, fit, encode and cache a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Json, RichReporter, emit_json
from musegen.cli.train import TransposeToC, VariantOpt

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
    _prepare("abc", str(corpus), preset=preset, extra={}, json_out=json_out, overrides=dict(
        valid_split=valid_split, seed=seed, transpose=transpose))


def _prepare(rep_name: str, corpus: str, *, preset: str, extra: dict, overrides: dict, json_out: bool) -> None:
    """Resolve the settings, prepare, print the summary: the body of every `prepare` command."""
    from musegen.cli.train import parse_transpose
    from musegen.pipeline import prepare, resolve_config

    transpose = overrides.pop("transpose")
    config, _ = resolve_config(rep_name, preset=preset, overrides=dict(
        **overrides, transpose=parse_transpose(transpose) if transpose is not None else None))
    if extra:
        config = config.replace(extra={**config.extra, **extra})
    data = prepare(rep_name, corpus, config=config, reporter=RichReporter(quiet=json_out))
    rep = data.representation
    summary = {**data.summary(), **rep.describe()}
    if json_out:
        emit_json(summary)
    else:
        from musegen.cli.common import console

        out = console(stderr=False)
        for k, v in summary.items():
            out.print(f"{k:>15}: {v}")

@app.command("midi")
def prepare_midi(
    corpus: Annotated[str, typer.Argument(
        help="A MIDI file, a folder of .mid/.midi/.abc files, or music21:bach.")],
    preset: Annotated[str, typer.Option(help="Take the split, head and augmentation settings of this preset.")] = "default",
    steps_per_beat: Annotated[Optional[int], typer.Option(help="Columns per quarter-note beat.", show_default="4")] = None,
    drums: Annotated[Optional[bool], typer.Option("--drums/--no-drums", help="Keep channel 10 (drums).",
                                                  show_default="no drums")] = None,
    valid_split: Annotated[Optional[float], typer.Option(help="Share of pieces held out for validation.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the train/validation split.")] = None,
    transpose: Annotated[Optional[str], typer.Option(help="Semitone shifts added as augmentation ('-2,2').")] = None,
    json_out: Json = False,
) -> None:
    """Prepare a MIDI corpus: piano rolls on a grid in beats, split by piece, cached."""
    extra = {k: v for k, v in {"steps_per_beat": steps_per_beat, "drums": drums}.items() if v is not None}
    _prepare("midi", corpus, preset=preset, extra=extra, json_out=json_out, overrides=dict(
        valid_split=valid_split, seed=seed, transpose=transpose))


@app.command("audio")
def prepare_audio(
    corpus: Annotated[str, typer.Argument(help="An audio file or folder (.wav, .flac, .ogg), or ABC/MIDI files.")],
    preset: Annotated[str, typer.Option(help="Take the split and frame settings of this preset.")] = "default",
    sample_rate: Annotated[Optional[int], typer.Option(help="Hz the audio is resampled to.", show_default="16000")] = None,
    frame_seconds: Annotated[Optional[float], typer.Option(help="Seconds per FFT frame.", show_default="0.25")] = None,
    valid_split: Annotated[Optional[float], typer.Option(help="Share of pieces held out for validation.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the train/validation split.")] = None,
    json_out: Json = False,
) -> None:
    """Prepare an audio corpus: mono, resampled, cut into FFT frames, normalised, cached."""
    extra = {k: v for k, v in {"sample_rate": sample_rate, "frame_seconds": frame_seconds}.items() if v is not None}
    _prepare("audio", corpus, preset=preset, extra=extra, json_out=json_out, overrides=dict(
        valid_split=valid_split, seed=seed, transpose=None))


@app.command("score")
def prepare_score(
    corpus: Annotated[str, typer.Argument(
        help="ABC (tune by tune), MusicXML or quantised MIDI: a file or a folder; or music21:bach, "
             "music21:oneills1850.")],
    preset: Annotated[Optional[str], typer.Option(help="Take the settings of this preset.",
                                                  show_default="the variant's")] = None,
    variant: VariantOpt = None,
    transpose_to_c: TransposeToC = False,
    valid_split: Annotated[Optional[float], typer.Option(help="Share of pieces held out for validation.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the train/validation split.")] = None,
    transpose: Annotated[Optional[str], typer.Option(help="Semitone shifts added as augmentation ('-2,2').")] = None,
    json_out: Json = False,
) -> None:
    """Prepare melodies for a score network: keys, meters, pitches and durations; the measure autoencoder; cached."""
    from musegen.representations.score import ScoreRepresentation

    name = variant.value if variant else None
    extra = {k: v for k, v in {"variant": name, "transpose_to_c": transpose_to_c or None}.items() if v is not None}
    _prepare("score", corpus, preset=preset or (ScoreRepresentation.preset_for(name) if name else None), extra=extra,
             json_out=json_out, overrides=dict(valid_split=valid_split, seed=seed, transpose=transpose))
