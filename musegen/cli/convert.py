"""musegen convert IN OUT: convert between formats, picked from the suffixes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Force, Json, emit_json


def convert(
    src: Annotated[Path, typer.Argument(metavar="IN", help="Input file (.abc, .mid, .musicxml, ...).")],
    dst: Annotated[Path, typer.Argument(metavar="OUT", help="Output file, or a folder with --all.")],
    tune: Annotated[Optional[int], typer.Option(help="Which tune of a multi-tune ABC file (1 = the first).")] = None,
    all_tunes: Annotated[bool, typer.Option("--all", help="Convert every tune into the folder OUT.")] = False,
    to: Annotated[Optional[str], typer.Option(
        help="Output format for --all (mid, wav, musicxml, abc, npz, png, svg, pdf).")] = None,
    no_chords: Annotated[bool, typer.Option("--no-chords", help="Leave out the chord accompaniment.")] = False,
    soundfont: Annotated[Optional[Path], typer.Option(help="SoundFont (.sf2) for WAV output (uses fluidsynth).")] = None,
    synth: Annotated[str, typer.Option(help="WAV synthesizer: auto, builtin or fluidsynth.")] = "auto",
    sample_rate: Annotated[Optional[int], typer.Option(
        help="Hz: of WAV files synthesized from ABC/MIDI (default 44100), or of audio frames, spectrograms "
             "and FLAC/OGG to WAV (default 16000).", show_default=False)] = None,
    frame_seconds: Annotated[float, typer.Option(help="Audio frames: seconds per FFT frame.")] = 0.25,
    overlap: Annotated[bool, typer.Option(
        "--overlap", help="Audio frames: half-overlapping windowed frames joined by overlap-add.")] = False,
    subtype: Annotated[Optional[str], typer.Option(
        help="WAV sample format of audio written from audio frames or FLAC/OGG: PCM_16, PCM_24, PCM_32, FLOAT, "
             "DOUBLE... [default: from frames, the sample format of the audio they were made from (a float WAV "
             "stays float); from FLAC/OGG, 16-bit]",
        show_default=False)] = None,
    steps_per_beat: Annotated[int, typer.Option(
        help="Piano-roll steps per quarter-note beat (1..96; 12 keeps triplets).")] = 4,
    drums: Annotated[bool, typer.Option("--drums", help="Keep the drum channel in piano rolls.")] = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Convert IN to OUT, the formats picked from the suffixes.

    From ABC (one tune, --tune N, or --all: one file per tune):
      abc->abc, abc->mid, abc->musicxml, abc->wav, abc->npz (piano roll),
      abc->svg, abc->png, abc->pdf (sheet music).
    From MusicXML (the melody: the top voice of the melody part, other parts left out):
      musicxml->abc, musicxml->mid, musicxml->wav, and musicxml->svg, ->png, ->pdf (sheet music).
    From MIDI:
      mid->wav, mid->npz (piano roll), mid->png (piano-roll picture),
      mid->musicxml (the top voice, quantised to sixteenths and triplets).
    From WAV (or FLAC, OGG: read as audio): wav->npz (audio frames, --frame-seconds, --overlap),
      wav->png (spectrogram); flac/ogg->wav (mono, 16 kHz unless --sample-rate, 16-bit unless --subtype).
      Frames keep the sample format of their source: a 32-bit float WAV comes back float from its .npz.
    From an .npz: a piano roll ->mid, ->png, ->wav; audio frames ->png (spectrogram), ->wav.

    A .png is sheet music from ABC and MusicXML (engraved by verovio, which the
    default install brings), and a piano-roll picture from MIDI or an .npz (a
    tune's piano roll: abc->npz, then npz->png).
    """
    import math

    from musegen.errors import UsageError
    from musegen.formats import ConvertOptions
    from musegen.formats import convert as run
    from musegen.formats.audio import wav_subtype
    from musegen.formats.pianoroll import check_steps_per_beat
    from musegen.limits import MAX_FRAME_SECONDS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

    if tune is not None and all_tunes:
        raise UsageError("give either --tune or --all, not both")
    if tune is not None and tune < 1:
        raise UsageError(f"--tune counts from 1, got {tune}")
    if sample_rate is not None and not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise UsageError(f"--sample-rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE}, got {sample_rate}")
    if not (math.isfinite(frame_seconds) and 0 < frame_seconds <= MAX_FRAME_SECONDS):
        raise UsageError(f"--frame-seconds {frame_seconds:g}: the frame length must be above 0 and at most "
                         f"{MAX_FRAME_SECONDS:g} seconds")
    if synth not in ("auto", "builtin", "fluidsynth"):
        raise UsageError(f"--synth must be auto, builtin or fluidsynth, got {synth!r}")
    check_steps_per_beat(steps_per_beat)
    options = ConvertOptions(tune=tune, all_tunes=all_tunes, to=to, chords=not no_chords, soundfont=soundfont,
                             synth=synth, sample_rate=sample_rate, force=force, steps_per_beat=steps_per_beat,
                             drums=drums, frame_seconds=frame_seconds, overlap=overlap,
                             subtype=wav_subtype(None, subtype) if subtype is not None else None)
    report = run(src, dst, options=options)
    if json_out:
        emit_json({"files": [str(f) for f in report.files], "report": report.notes})
        return
    import sys

    for note in report.notes:
        sys.stderr.write(f"note: {note}\n")
    for f in report.files:
        typer.echo(str(f))
