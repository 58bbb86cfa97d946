"""File formats and converters.  No network code here.

:data:`CONVERTERS` maps a (source, destination) format pair to a function
``f(src, dst, *, options) -> report``; add an entry to support a new pair.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from musegen.errors import MusegenError, UsageError
from musegen.fileio import input_file, output_errors

# file suffix -> format name; add an entry for a new suffix
SUFFIXES: dict[str, str] = {
    ".abc": "abc",
    ".mid": "mid",
    ".midi": "mid",
    ".musicxml": "musicxml",
    ".xml": "musicxml",
    ".mxl": "musicxml",
    ".wav": "wav",
    ".flac": "audio",  # read only (soundfile): converted to frames, a spectrogram or WAV
    ".ogg": "audio",
    ".npz": "npz",  # arrays: a piano roll (kind "pianoroll") or audio frames (kind "frames")
    ".png": "png",  # sheet music from ABC or MusicXML; a piano-roll picture from MIDI or an .npz; a spectrogram
    ".svg": "svg",  # sheet music
    ".pdf": "pdf",  # sheet music
}


# the temporaries musegen.fileio writes beside a file: ".NAME.XXXX.part.abc" (or a ".NAME.XXXX.part" folder)
def format_of(path: str | os.PathLike) -> str:
    """The format name of ``path`` from its suffix, or a one-line refusal."""
    suffix = Path(path).suffix.lower()
    try:
        return SUFFIXES[suffix]
    except KeyError:
        known = ", ".join(sorted(SUFFIXES))
        raise UsageError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; known suffixes: {known}") from None


@dataclass
class ConvertOptions:
    """Options shared by every converter (each reads the ones it needs)."""

    tune: int | None = None  # 1-based tune number in a multi-tune ABC file
    all_tunes: bool = False
    to: str | None = None  # output format when the destination is a folder (--all)
    chords: bool = True
    soundfont: Path | None = None
    synth: str = "auto"
    sample_rate: int | None = None  # Hz: WAV written by the synthesizer (default 44100), or audio frames (16000)
    force: bool = False
    frame_seconds: float = 0.25  # audio frames
    overlap: bool = False  # audio frames: half-overlapping windowed frames (overlap-add)
    subtype: str | None = None  # WAV sample format of audio written from audio or frames (None: the source's)
    steps_per_beat: int = 4  # piano-roll grid (12 keeps triplets)
    drums: bool = False  # keep the drum channel in piano rolls
    provenance: dict[str, str] = field(default_factory=dict)  # how the piece was made: written into each file
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConvertReport:
    files: list[Path]
    notes: list[str]


def _tidy_musicxml(data: bytes) -> bytes:
    from musegen.formats.melody import tidy_musicxml

    return tidy_musicxml(data)


# output suffix -> what is done to every file written there before it is published; add an entry here
FINISHERS: dict[str, Callable[[bytes], bytes]] = {".musicxml": _tidy_musicxml, ".xml": _tidy_musicxml}


def write_stamped(dst: Path, options: ConvertOptions, write: Callable[[Path, ConvertOptions], Any]) -> Any:
    """``write(dst, options)`` with ``options.provenance`` added to the file (:mod:`musegen.formats.provenance`)
    and the file finished by :data:`FINISHERS` (MusicXML: steady part ids, an instrument per part).

    With a provenance, the writer writes a temporary beside ``dst``, the
    provenance goes into it, and only then is it published at ``dst``
    (never over an existing file without ``options.force``): nothing
    half-written or unstamped is ever seen there.
    """
    finish = FINISHERS.get(Path(dst).suffix.lower())
    if not options.provenance and finish is None:
        return write(dst, options)
    from musegen.fileio import atomic_path
    from musegen.formats.provenance import embed

    tmp = None
    try:
        with output_errors(dst), atomic_path(dst, force=options.force) as tmp:
            result = write(tmp, replace(options, force=True, provenance={}))  # stamped once, here
            if finish is not None:
                tmp.write_bytes(finish(tmp.read_bytes()))
            embed(tmp, options.provenance)
    except MusegenError as exc:  # name the output, not its temporary
        raise type(exc)(str(exc).replace(str(tmp), str(dst)) if tmp else str(exc)) from None
    return result


def stamped(writer: Callable[[Any, Path, ConvertOptions], Any]) -> Callable[[Any, Path, ConvertOptions], Any]:
    """A writer ``(piece, dst, options)`` that also writes ``options.provenance`` into the file (see
    :func:`write_stamped`)."""
    def write(piece: Any, dst: Path, options: ConvertOptions) -> Any:
        return write_stamped(dst, options, lambda path, opts: writer(piece, path, opts))

    write.__doc__ = writer.__doc__
    return write


# -- piano rolls ------------------------------------------------------------------------------------------


def _write_roll_npz(roll, dst: Path, options: ConvertOptions) -> None:
    from musegen.formats.pianoroll import write_roll

    write_roll(roll, dst, force=options.force)


def _write_roll_mid(roll, dst: Path, options: ConvertOptions) -> None:
    from musegen.formats.pianoroll import roll_to_midi

    roll_to_midi(roll, dst, force=options.force)


def _write_roll_png(roll, dst: Path, options: ConvertOptions) -> None:
    from musegen.formats.pictures import draw_roll

    draw_roll(roll, dst, force=options.force)


def _write_roll_wav(roll, dst: Path, options: ConvertOptions) -> None:
    from musegen.formats.pianoroll import roll_to_song
    from musegen.formats.synth import song_to_wav

    song_to_wav(roll_to_song(roll), dst, soundfont=options.soundfont, synth=options.synth,
                sample_rate=options.sample_rate or SYNTH_RATE, force=options.force)


# piano-roll writer per output format (each writes options.provenance too); add an entry for a new format
ROLL_WRITERS: dict[str, Callable[[Any, Path, ConvertOptions], None]] = {
    fmt: stamped(writer) for fmt, writer in {
        "npz": _write_roll_npz,
        "mid": _write_roll_mid,
        "png": _write_roll_png,
        "wav": _write_roll_wav,
    }.items()
}


def _read_mid_roll(src: Path, options: ConvertOptions):
    from musegen.formats.pianoroll import midi_to_roll

    return midi_to_roll(src, steps_per_beat=options.steps_per_beat, drums=options.drums)


def _read_npz_roll(src: Path, options: ConvertOptions):
    from musegen.formats.pianoroll import read_roll

    return read_roll(src)


def _via_roll(read: Callable[[Path, ConvertOptions], Any], fmt: str
              ) -> Callable[[Path, Path, ConvertOptions], ConvertReport]:
    """A converter that reads a piano roll with ``read`` and writes it with ``ROLL_WRITERS[fmt]``."""
    def convert_roll(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
        ROLL_WRITERS[fmt](read(src, options), dst, options)
        return ConvertReport([dst], [])

    return convert_roll


SYNTH_RATE = 44100  # Hz of WAV files the synthesizer writes unless --sample-rate says otherwise


def _frames_rate(options: ConvertOptions) -> int:
    from musegen.formats.audio import SAMPLE_RATE

    return options.sample_rate or SAMPLE_RATE


def _wav_to_frames(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
    from musegen.formats.audio import wav_to_frames_npz

    wav_to_frames_npz(src, dst, sample_rate=_frames_rate(options), frame_seconds=options.frame_seconds,
                      overlap=options.overlap, force=options.force)
    return ConvertReport([dst], [])


def _audio_to_png(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
    from musegen.fileio import check_writable
    from musegen.formats.audio import draw_spectrogram, read_audio

    check_writable(dst, force=options.force)
    rate = _frames_rate(options)
    draw_spectrogram(read_audio(src, sample_rate=rate), dst, sample_rate=rate, force=options.force, title=src.name)
    return ConvertReport([dst], [])


def _audio_to_wav(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
    """FLAC or OGG (or WAV) to a mono WAV at ``--sample-rate`` (default: 16 kHz), 16-bit unless ``--subtype``."""
    from musegen.fileio import check_writable
    from musegen.formats.audio import read_audio, write_audio

    check_writable(dst, force=options.force)
    rate = _frames_rate(options)
    write_audio(read_audio(src, sample_rate=rate), dst, sample_rate=rate, force=options.force,
                subtype=options.subtype or "PCM_16")
    return ConvertReport([dst], [f"mixed to mono at {rate} Hz"])


def _frames_to_png(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
    from musegen.formats.audio import draw_spectrogram_npz

    draw_spectrogram_npz(src, dst, force=options.force)
    return ConvertReport([dst], [])


def _frames_to_wav(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
    from musegen.formats.audio import frames_npz_to_wav

    frames_npz_to_wav(src, dst, force=options.force, subtype=options.subtype)
    return ConvertReport([dst], [])


# .npz kind -> {destination format: converter}; add an entry here for a new kind of .npz or a new output
NPZ_CONVERTERS: dict[str, dict[str, Callable[[Path, Path, ConvertOptions], ConvertReport]]] = {
    "pianoroll": {fmt: _via_roll(_read_npz_roll, fmt) for fmt in ("mid", "png", "wav")},
    "frames": {"png": _frames_to_png, "wav": _frames_to_wav},
}


def _from_npz(fmt: str) -> Callable[[Path, Path, ConvertOptions], ConvertReport]:
    def convert_npz(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
        from musegen.formats.pianoroll import npz_kind

        kind = npz_kind(src)
        converters = NPZ_CONVERTERS.get(kind, {})
        if fmt not in converters:
            can = ", ".join(f"{k}->{f}" for k, fs in NPZ_CONVERTERS.items() for f in fs)
            raise UsageError(f"{src}: cannot convert an .npz of kind {kind!r} to {fmt}; supported: {can}")
        return converters[fmt](src, dst, options)

    return convert_npz


# -- ABC sources ------------------------------------------------------------------------------------------


def _select_tunes(src: Path, options: ConvertOptions) -> list[str]:
    from musegen.formats.abc import read_tunes

    tunes = read_tunes(src, clean=True)
    if options.all_tunes:
        return tunes
    n = options.tune or 1
    if not 1 <= n <= len(tunes):
        raise UsageError(f"{src}: --tune {n} is out of range (the file holds {len(tunes)} tune(s))")
    return [tunes[n - 1]]


def _abc_to_mid(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    from musegen.formats.abc.player import abc_to_midi

    return abc_to_midi(tune, dst, chords=options.chords, force=options.force)


def _abc_to_musicxml(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    import contextlib
    import io

    from musegen.formats.score import abc_to_musicxml

    with contextlib.redirect_stderr(io.StringIO()):  # music21 prints its parser warnings there
        return abc_to_musicxml(tune, dst, force=options.force)


def _abc_to_abc(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    from musegen.fileio import write_text

    with output_errors(dst):
        write_text(dst, tune, force=options.force)
    return []


def _abc_to_wav(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    from musegen.formats.abc.player import abc_to_song
    from musegen.formats.synth import song_to_wav

    song, report = abc_to_song(tune, chords=options.chords)
    song_to_wav(song, dst, soundfont=options.soundfont, synth=options.synth,
                sample_rate=options.sample_rate or SYNTH_RATE,
                force=options.force)
    return report


def _abc_via_roll(fmt: str) -> Callable[[str, Path, ConvertOptions], list[str]]:
    """A tune writer that plays the tune into a piano roll and writes it with ``ROLL_WRITERS[fmt]``."""
    def write(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
        from musegen.formats.abc.player import abc_to_song
        from musegen.formats.pianoroll import song_to_roll

        song, report = abc_to_song(tune, chords=options.chords)
        roll = song_to_roll(song, steps_per_beat=options.steps_per_beat, drums=options.drums)
        ROLL_WRITERS[fmt](roll, dst, options)
        return report

    return write


def abc_sheet_melody(tune: str) -> tuple[Any, list[str]]:
    """The melody of an ABC tune to engrave, with what had to be repaired.

    A tune music21 cannot read as it is (generated ABC the checker repaired
    but music21 still trips on) is read again with the repairs of
    :func:`musegen.formats.score.parse_abc_score` (unreadable chord symbols
    and bars dropped), so that it still engraves.
    """
    import contextlib
    import io

    from musegen.formats.melody import abc_to_melody, score_to_melody
    from musegen.formats.score import parse_abc_score

    with contextlib.redirect_stderr(io.StringIO()):  # music21 prints its parser warnings there
        try:
            return abc_to_melody(tune), []
        except MusegenError as exc:
            first = str(exc)
        try:
            score, report = parse_abc_score(tune)
            melody = score_to_melody(score, title=score.metadata.title if score.metadata else "")
        except MusegenError:
            raise MusegenError(first) from None
    return melody, [f"engraved after repairs: {'; '.join(report) or first}"]


def _abc_to_sheet(tune: str, dst: Path, options: ConvertOptions) -> list[str]:
    _check_renderer(dst)
    melody, notes = abc_sheet_melody(tune)
    _write_sheet(melody, dst, options)
    return notes


# tune writer per output format (ABC text in; each writes options.provenance too); add an entry for a new format
TUNE_WRITERS: dict[str, Callable[[str, Path, ConvertOptions], list[str]]] = {
    fmt: stamped(writer) for fmt, writer in {
        "abc": _abc_to_abc,
        "mid": _abc_to_mid,
        "musicxml": _abc_to_musicxml,
        "wav": _abc_to_wav,
        "npz": _abc_via_roll("npz"),  # piano roll
        "png": _abc_to_sheet,  # sheet music of the melody (the piano-roll picture: abc->npz->png)
        "svg": _abc_to_sheet,
        "pdf": _abc_to_sheet,
    }.items()
}


def write_tune(tune: str, stem: Path, *, formats: tuple[str, ...], force: bool = False,
               options: ConvertOptions | None = None, provenance: dict[str, str] | None = None) -> list[Path]:
    """Write one ABC tune as ``stem.abc``, ``stem.mid``... for each format (``provenance`` in each file)."""
    options = options or ConvertOptions(force=force)
    options.force = force
    options.provenance = dict(provenance or {})
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        TUNE_WRITERS[fmt](tune, path, options)
        paths.append(path)
    return paths


def _from_abc(fmt: str) -> Callable[[Path, Path, ConvertOptions], ConvertReport]:
    def convert_abc(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
        from musegen.formats.abc import sanitize_filename, tune_title, unique_stem

        tunes = _select_tunes(src, options)
        if not options.all_tunes:
            notes = TUNE_WRITERS[fmt](tunes[0], dst, options)
            return ConvertReport([dst], notes)
        # --all: dst is a folder, one file per tune named from its title
        taken: set[str] = set()
        plans = []
        for i, tune in enumerate(tunes, 1):
            stem = unique_stem(sanitize_filename(tune_title(tune), default=f"tune_{i}"), taken)
            plans.append((tune, dst / f"{stem}.{fmt}"))
        for _, path in plans:
            if path.exists() and not options.force:
                raise MusegenError(f"{path} already exists (use --force to overwrite)")
        files, notes = [], []
        for tune, path in plans:
            notes.extend(f"{path.name}: {n}" for n in TUNE_WRITERS[fmt](tune, path, options))
            files.append(path)
        return ConvertReport(files, notes)

    return convert_abc


def _mid_to_wav(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
    from musegen.formats.synth import midi_to_wav

    midi_to_wav(src, dst, soundfont=options.soundfont, synth=options.synth,
                sample_rate=options.sample_rate or SYNTH_RATE,
                force=options.force)
    return ConvertReport([dst], [])


# -- melodies: MusicXML, quantised MIDI, sheet music ------------------------------------------------------


def _read_musicxml(src: Path, options: ConvertOptions) -> tuple[Any, list[str]]:
    """The melody of a MusicXML file (the top voice of its melody part), with a note when it has several parts."""
    import warnings

    from music21 import converter, stream

    from musegen.formats.melody import melody_part, reason, score_title, score_to_melody

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(str(src), format="musicxml", forceSource=True, storePickle=False)
            if isinstance(score, stream.Opus):
                score = score.scores[0] if score.scores else score
            melody = score_to_melody(score, title=score_title(score) or src.stem)
            parts = list(score.parts) if isinstance(score, stream.Score) else []
            part = melody_part(score)
    except MusegenError:
        raise
    except Exception as exc:  # noqa: BLE001 - music21 raises many kinds on bad files
        raise MusegenError(f"{src}: not a readable MusicXML file ({reason(exc)})") from None
    if len(parts) < 2:
        return melody, []
    name = str(part.partName or part.id or "").strip() or "1"
    return melody, [f"{src.name} has {len(parts)} parts: converted the melody only, the top voice of part {name!r}"]


def _read_midi(src: Path, options: ConvertOptions) -> tuple[Any, list[str]]:
    from musegen.formats.melody import read_midi_melody

    return read_midi_melody(src), []


def _write_melody(fmt: str) -> Callable[[Any, Path, ConvertOptions], None]:
    def write(melody, dst: Path, options: ConvertOptions) -> None:
        from musegen.formats.melody import write_melody

        write_melody(melody, dst, fmt=fmt, force=options.force)

    return write


def _check_renderer(dst: Path) -> None:
    """Refuse in one line, before any reading, when no engraver (or, for PNG and PDF, converter) is installed."""
    from musegen.formats.render import render_unavailable

    reason = render_unavailable(dst)
    if reason is not None:
        raise MusegenError(f"{dst}: cannot draw sheet music: {reason} "
                           "(they come with musegen: pip install 'musegen[render]' puts verovio, resvg-py and svglib back)")


def _write_sheet(melody, dst: Path, options: ConvertOptions) -> None:
    from musegen.formats.render import render_melody

    render_melody(melody, dst, force=options.force)


def _melody_to_wav(melody, dst: Path, options: ConvertOptions) -> None:
    from musegen.formats.melody import melody_to_song
    from musegen.formats.synth import song_to_wav

    song_to_wav(melody_to_song(melody)[0], dst, soundfont=options.soundfont, synth=options.synth,
                sample_rate=options.sample_rate or SYNTH_RATE, force=options.force)


# melody writer per output format (each writes options.provenance too); add an entry for a new format
MELODY_WRITERS: dict[str, Callable[[Any, Path, ConvertOptions], None]] = {
    fmt: stamped(writer) for fmt, writer in {
        "abc": _write_melody("abc"),  # melody_to_abc
        "mid": _write_melody("mid"),
        "musicxml": _write_melody("musicxml"),
        "wav": _melody_to_wav,  # played by the synthesizer
        "png": _write_sheet,  # sheet music
        "svg": _write_sheet,
        "pdf": _write_sheet,
    }.items()
}
# check run on the destination before a melody is read (refuse early); add an entry for a format that needs one
MELODY_CHECKS: dict[str, Callable[[Path], None]] = {fmt: _check_renderer for fmt in ("png", "svg", "pdf")}


def _via_melody(read: Callable[[Path, ConvertOptions], tuple[Any, list[str]]], fmt: str
                ) -> Callable[[Path, Path, ConvertOptions], ConvertReport]:
    """A converter that reads a melody with ``read`` and writes it with ``MELODY_WRITERS[fmt]``."""
    def convert_melody(src: Path, dst: Path, options: ConvertOptions) -> ConvertReport:
        MELODY_CHECKS.get(fmt, lambda path: None)(dst)
        melody, notes = read(src, options)
        MELODY_WRITERS[fmt](melody, dst, options)
        return ConvertReport([dst], notes)

    return convert_melody


# (source format, destination format) -> converter; add an entry to support a new pair
CONVERTERS: dict[tuple[str, str], Callable[[Path, Path, ConvertOptions], ConvertReport]] = {
    ("abc", "abc"): _from_abc("abc"),  # one tune of a tune book, or --all: one file per tune
    ("abc", "mid"): _from_abc("mid"),
    ("abc", "musicxml"): _from_abc("musicxml"),
    ("abc", "wav"): _from_abc("wav"),
    ("abc", "npz"): _from_abc("npz"),  # piano roll
    ("abc", "png"): _from_abc("png"),  # sheet music (the piano-roll picture: abc->npz->png)
    ("abc", "svg"): _from_abc("svg"),  # sheet music
    ("abc", "pdf"): _from_abc("pdf"),  # sheet music
    ("musicxml", "abc"): _via_melody(_read_musicxml, "abc"),  # the melody: top voice of the melody part
    ("musicxml", "mid"): _via_melody(_read_musicxml, "mid"),
    ("musicxml", "png"): _via_melody(_read_musicxml, "png"),  # sheet music
    ("musicxml", "svg"): _via_melody(_read_musicxml, "svg"),
    ("musicxml", "pdf"): _via_melody(_read_musicxml, "pdf"),
    ("musicxml", "wav"): _via_melody(_read_musicxml, "wav"),  # the melody, played
    ("mid", "musicxml"): _via_melody(_read_midi, "musicxml"),  # top voice, quantised
    ("mid", "wav"): _mid_to_wav,
    ("wav", "npz"): _wav_to_frames,  # audio frames (kind "frames")
    ("wav", "png"): _audio_to_png,  # spectrogram
    ("audio", "npz"): _wav_to_frames,  # FLAC, OGG
    ("audio", "png"): _audio_to_png,
    ("audio", "wav"): _audio_to_wav,
    ("mid", "npz"): _via_roll(_read_mid_roll, "npz"),
    ("mid", "png"): _via_roll(_read_mid_roll, "png"),
    ("npz", "mid"): _from_npz("mid"),  # the .npz kind picks the converter: see NPZ_CONVERTERS
    ("npz", "png"): _from_npz("png"),
    ("npz", "wav"): _from_npz("wav"),
}


def convert(src: str | os.PathLike, dst: str | os.PathLike, *, options: ConvertOptions | None = None) -> ConvertReport:
    """Convert ``src`` to ``dst``, the conversion picked from the two suffixes.

    With ``options.all_tunes`` and an ABC source, ``dst`` is a folder and
    ``options.to`` names the output format (default ``mid``); one file per tune
    is written there, named from its title.
    """
    options = options or ConvertOptions()
    src, dst = Path(src), Path(dst)
    if src.is_dir():
        raise MusegenError(f"{src} is a folder; give one file to convert")
    input_file(src)
    if options.all_tunes:
        if dst.exists() and not dst.is_dir():
            raise MusegenError(f"{dst} is a file; with --all the destination is a folder")
        to = (options.to or "mid").lower().lstrip(".")
        dst_fmt = SUFFIXES.get("." + to, to)
    else:
        if options.to:
            raise UsageError("--to names the output format of --all; for one tune the suffix of OUT does")
        dst_fmt = format_of(dst)
    pair = (format_of(src), dst_fmt)
    if pair not in CONVERTERS:
        supported = ", ".join(f"{a}->{b}" for a, b in CONVERTERS)
        raise UsageError(f"cannot convert {pair[0]} to {pair[1]}; supported: {supported}")
    if not options.all_tunes and dst.exists() and not options.force:
        raise MusegenError(f"{dst} already exists (use --force to overwrite)")
    return CONVERTERS[pair](src, dst, options)
