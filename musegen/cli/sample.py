"""musegen sample REPRESENTATION: generate new pieces from a model bundle."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Force, Json, RichReporter, default_model, emit_json, parse_formats

app = typer.Typer(help="Generate new pieces from a trained model.", no_args_is_help=True)


def read_primer(text: str) -> str:
    """A primer given as a file path, or as text with ``\\n`` escapes.

    Text that looks like a file name (a path separator or a file suffix, no
    line break) but names no file is refused rather than used as music.
    """
    from musegen.errors import UsageError
    from musegen.formats.abc import read_abc_text

    path = Path(text)
    if text and len(text) < 1024 and path.is_file():
        return read_abc_text(path)
    looks_like_path = "\n" not in text and "\\n" not in text and (
        "/" in text or path.suffix.lower() in (".abc", ".txt", ".mid"))
    if path.is_dir() or (looks_like_path and not path.exists()):
        raise UsageError(f"--primer {text}: no such file (give a file, or ABC text such as 'M:6/8\\nK:D\\n')")
    return text.replace("\\n", "\n").replace("\\t", "\t")


def show_result(result, *, json_out: bool, title: str, columns: tuple[str, ...], row) -> None:
    """The summary of ``sample``: JSON, or a table with ``row(piece)``'s cells then the files written."""
    if json_out:
        emit_json(result.to_json())
        return
    from rich.table import Table

    from musegen.cli.common import console

    table = Table(title=title)
    for col in (*columns, "files"):
        table.add_column(col)
    for p in result.pieces:
        files = ", ".join(Path(f).name for f in p["files"])
        if p["skipped"]:
            files += " (not written: " + "; ".join(f"{k}: {v}" for k, v in p["skipped"].items()) + ")"
        table.add_row(*row(p), files)
    console(stderr=False).print(table)


@app.command("abc")
def sample_abc(
    model: Annotated[Optional[Path], typer.Option(help="Model bundle [default: the shipped models/abc-jigs].")] = None,
    num: Annotated[int, typer.Option(help="Number of tunes.")] = 1,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0: always the likeliest character).")] = 0.8,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same tunes.")] = 0,
    max_length: Annotated[int, typer.Option(help="Most characters generated per tune.")] = 2000,
    primer: Annotated[str, typer.Option(help="Start of the tune: text (e.g. 'X:1\\nM:6/8\\nK:D\\n') or a file.")] = "X:",
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out"),
    format: Annotated[str, typer.Option(help="Comma-separated: abc, mid, wav, musicxml.")] = "abc,mid",
    candidates: Annotated[int, typer.Option(
        help="Tunes drawn for each one written; the first whose every bar fits is kept (1: no choice).")] = 4,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Sample ABC tunes, check every bar, write .abc/.mid/.wav files named from the titles."""
    from musegen.models import load_bundle
    from musegen.pipeline import check_sampling, sample
    from musegen.representations.abc import AbcRepresentation

    formats = parse_formats(format, AbcRepresentation.output_formats)
    # refuse bad options before the model (and TensorFlow) is loaded
    check_sampling(temperature=temperature, seed=seed, num=num, max_length=max_length, candidates=candidates)
    bundle = load_bundle(model or default_model("abc-jigs"), representation="abc")
    reporter = RichReporter(quiet=json_out)
    result = sample(bundle, num=num, temperature=temperature, seed=seed, max_length=max_length,
                    primer=read_primer(primer), out=out, formats=formats, force=force, candidates=candidates,
                    reporter=reporter)
    drawn = len(result.pieces) * candidates
    show_result(result, json_out=json_out,
                title=f"{len(result.pieces)} tune(s) kept of {drawn} drawn: {result.tokens} characters "
                      f"in {result.seconds:.2f} s",
                columns=("title", "bars fitting", "repairs"),
                row=lambda p: (p["title"], f"{p['bars_fitting']}/{p['bars']}", str(len(p["repairs"]))))


def length_in_beats(*, steps: int | None, beats: float | None, seconds: float | None, bpm: float,
                    steps_per_beat: int) -> int:
    """The number of columns asked for by exactly one of ``--steps``, ``--beats`` or ``--seconds``."""
    from musegen.errors import UsageError

    given = [(n, v) for n, v in (("--steps", steps), ("--beats", beats), ("--seconds", seconds)) if v is not None]
    if len(given) > 1:
        raise UsageError(f"give one of --steps, --beats and --seconds, not {' and '.join(n for n, _ in given)}")
    name, value = given[0] if given else ("--beats", 64.0)
    if not value > 0:
        raise UsageError(f"{name} must be positive, got {value}")
    if name == "--steps":
        return int(value)
    if name == "--seconds":
        value = value * bpm / 60.0
    return max(1, round(value * steps_per_beat))


@app.command("midi")
def sample_midi(
    model: Annotated[Optional[Path], typer.Option(help="Model bundle [default: the shipped models/midi-jigs].")] = None,
    threshold: Annotated[float, typer.Option(
        help="A note sounds where its predicted velocity is at least this (velocity units, 0-127).")] = 15.0,
    steps: Annotated[Optional[int], typer.Option(help="Columns to generate.")] = None,
    beats: Annotated[Optional[float], typer.Option(help="Beats to generate [default: 64].")] = None,
    seconds: Annotated[Optional[float], typer.Option(help="Seconds to generate (at --bpm).")] = None,
    num: Annotated[int, typer.Option(help="Number of pieces.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same music.")] = 0,
    temperature: Annotated[float, typer.Option(
        help="Logistic noise added to the network's decisions (0: the study's deterministic rule).")] = 0.25,
    primer: Annotated[Optional[Path], typer.Option(
        help="A MIDI (or ABC) file whose first beats start every piece [default: a random training excerpt each].")] = None,
    primer_beats: Annotated[float, typer.Option(help="Beats of the primer read before generating.")] = 4.0,
    bpm: Annotated[Optional[float], typer.Option(
        help="Tempo of the pieces written [default: the primer's, else the corpus's usual tempo].")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out"),
    format: Annotated[str, typer.Option(help="Comma-separated: mid, png, wav, npz.")] = "mid,png",
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Sample piano-roll pieces: each column thresholded and fed back in; write .mid with a .png picture."""
    from musegen.errors import UsageError
    from musegen.evaluation import check_threshold
    from musegen.models import load_bundle
    from musegen.pipeline import check_sampling, sample
    from musegen.representations.midi import MidiRepresentation

    formats = parse_formats(format, MidiRepresentation.output_formats)
    check_threshold(threshold)
    if not primer_beats > 0:
        raise UsageError(f"--primer-beats must be positive, got {primer_beats}")
    if bpm is not None and not 10 <= bpm <= 400:
        raise UsageError(f"--bpm must be between 10 and 400, got {bpm}")
    check_sampling(temperature=temperature, seed=seed, num=num)
    if primer is not None and not primer.is_file():
        raise UsageError(f"--primer {primer}: no such file")
    length_in_beats(steps=steps, beats=beats, seconds=seconds, bpm=bpm or 120.0, steps_per_beat=1)  # refuse early
    bundle = load_bundle(model or default_model("midi-jigs"), representation="midi")
    rep = bundle.representation
    primer_spec = rep.primer(bundle.path, primer, beats=primer_beats)
    if bpm is not None:
        rep.bpm = bpm
    max_length = length_in_beats(steps=steps, beats=beats, seconds=seconds, bpm=rep.bpm,
                                 steps_per_beat=rep.steps_per_beat)
    reporter = RichReporter(quiet=json_out)
    result = sample(bundle, num=num, temperature=temperature, seed=seed, max_length=max_length, primer=primer_spec,
                    out=out, formats=formats, force=force, options={"threshold": threshold}, reporter=reporter)
    show_result(result, json_out=json_out,
                title=f"{len(result.pieces)} piece(s): {result.tokens} columns in {result.seconds:.2f} s "
                      f"(threshold {threshold:g}, temperature {temperature:g})",
                columns=("piece", "notes", "notes/s", "polyphony"),
                row=lambda p: (p["title"], str(p["notes"]), f"{p['notes_per_second']:.2f}", f"{p['polyphony']:.2f}"))


@app.command("audio")
def sample_audio(
    model: Annotated[Optional[Path], typer.Option(help="Model bundle [default: the shipped models/audio-jigs].")] = None,
    seconds: Annotated[Optional[float], typer.Option(help="Seconds to generate [default: 10].")] = None,
    frames: Annotated[Optional[int], typer.Option(help="Frames to generate (instead of --seconds).")] = None,
    num: Annotated[int, typer.Option(help="Number of pieces.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same audio.")] = 0,
    temperature: Annotated[float, typer.Option(
        help="Scale of the noise drawn around the network's prediction (0: the study's deterministic regression).")] = 1.0,
    primer: Annotated[Optional[Path], typer.Option(
        help="A WAV/FLAC/OGG file whose start begins every piece [default: a random training excerpt each].")] = None,
    primer_seconds: Annotated[float, typer.Option(help="Seconds of the primer read before generating.")] = 1.0,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out"),
    format: Annotated[str, typer.Option(help="Comma-separated: wav, png (spectrogram), npz (frames).")] = "wav,png",
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Generate audio frame by frame; write a 16 kHz WAV (16-bit, clipped) and its spectrogram."""
    from musegen.errors import UsageError
    from musegen.models import load_bundle
    from musegen.pipeline import check_sampling, sample
    from musegen.representations.audio import AudioRepresentation

    formats = parse_formats(format, AudioRepresentation.output_formats)
    if seconds is not None and frames is not None:
        raise UsageError("give --seconds or --frames, not both")
    if seconds is not None and not seconds > 0:
        raise UsageError(f"--seconds must be positive, got {seconds}")
    if frames is not None and frames < 1:
        raise UsageError(f"--frames must be at least 1, got {frames}")
    if not primer_seconds > 0:
        raise UsageError(f"--primer-seconds must be positive, got {primer_seconds}")
    check_sampling(temperature=temperature, seed=seed, num=num)
    if primer is not None and not primer.is_file():
        raise UsageError(f"--primer {primer}: no such file")
    bundle = load_bundle(model or default_model("audio-jigs"), representation="audio")
    rep = bundle.representation
    primer_spec = rep.primer(bundle.path, primer, seconds=primer_seconds)
    max_length = frames or max(1, round((seconds or 10.0) * rep.frames_per_second()))
    reporter = RichReporter(quiet=json_out)
    result = sample(bundle, num=num, temperature=temperature, seed=seed, max_length=max_length, primer=primer_spec,
                    out=out, formats=formats, force=force, reporter=reporter)

    def row(p):
        gain = f"{20 * math.log10(p['gain']):.1f} dB" if p["gain"] < 1 else "0 dB"  # turned down, never clipped
        return (p["title"], f"{p['seconds']:.2f}", f"{p['peak']:.3f}", gain, f"{p['spectral_flatness']:.4f}")

    show_result(result, json_out=json_out,
                title=f"{len(result.pieces)} piece(s): {result.tokens} frames in {result.seconds:.2f} s "
                      f"(temperature {temperature:g})",
                columns=("piece", "seconds", "peak", "gain", "flatness"), row=row)


@app.command("score")
def sample_score(
    model: Annotated[Optional[Path], typer.Option(
        help="Model bundle (its variant is stored in it) [default: the shipped models/score-jigs].")] = None,
    measures: Annotated[int, typer.Option(help="Measures generated per score (after the primer's).")] = 16,
    num: Annotated[int, typer.Option(help="Number of scores.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same score.")] = 0,
    temperature: Annotated[Optional[float], typer.Option(
        help="Softmax temperature of the notes (note, series) or of each decoded measure's rhythm and pitches "
             "(measure); 0: always the likeliest.", show_default="0.8 note, series; 0.5 measure")] = None,
    primer: Annotated[Optional[Path], typer.Option(
        help="A score whose first measures begin every piece (.abc, .musicxml, .mid); it sets key and meter.")] = None,
    primer_measures: Annotated[int, typer.Option(help="Measures of the primer read (a pickup besides).")] = 2,
    key: Annotated[Optional[str], typer.Option(
        help="Key: G, Em, F#m, 'D dorian'... [default: drawn as the training pieces begin].")] = None,
    meter: Annotated[Optional[str], typer.Option(
        help="Time signature, e.g. 6/8 [default: drawn as the training pieces begin].")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out"),
    format: Annotated[str, typer.Option(
        help="Comma-separated: musicxml (always written), mid, abc, png, svg (sheet music, when a renderer is "
             "installed).")] = "musicxml,mid,abc,png",
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Generate scores measure by measure, every measure complete; write MusicXML, MIDI, ABC and sheet music."""
    from musegen.errors import UsageError
    from musegen.models import load_bundle
    from musegen.pipeline import check_sampling, sample
    from musegen.representations.score import ScoreRepresentation, parse_key, parse_meter

    formats = parse_formats(format, ScoreRepresentation.output_formats)
    formats = formats if "musicxml" in formats else ("musicxml", *formats)
    if measures < 1:
        raise UsageError(f"--measures must be at least 1, got {measures}")
    check_sampling(temperature=0.0 if temperature is None else temperature, seed=seed, num=num)
    if key is not None:
        parse_key(key)
    if meter is not None:
        parse_meter(meter)
    if primer is not None and not primer.is_file():
        raise UsageError(f"--primer {primer}: no such file")
    bundle = load_bundle(model or default_model("score-jigs"), representation="score")
    spec = bundle.representation.primer(primer, measures=primer_measures, key=key, meter=meter)
    temperature = bundle.representation.variant.temperature if temperature is None else temperature
    reporter = RichReporter(quiet=json_out)
    result = sample(bundle, num=num, temperature=temperature, seed=seed, max_length=measures, primer=spec,
                    out=out, formats=formats, force=force, reporter=reporter)
    show_result(result, json_out=json_out,
                title=f"{len(result.pieces)} score(s), {bundle.representation.variant.name} network: "
                      f"{measures} measures each in {result.seconds:.2f} s (temperature {temperature:g})",
                columns=("score", "key", "meter", "measures full", "notes"),
                row=lambda p: (p["title"], p["key"], p["meter"], f"{p['measures_full']}/{p['measures']}",
                               str(p["notes"])))
