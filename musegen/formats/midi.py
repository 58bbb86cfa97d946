"""MIDI files as lists of notes (read and written with mido).

Times are in quarter-note beats; the tempo map turns them into seconds.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from musegen.errors import MusegenError
from musegen.fileio import atomic_path
from musegen.fileio import input_file, output_errors
from musegen.limits import MAX_BPM, MIN_BPM

DEFAULT_BPM = 120.0
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9
TEXT_CHARSET = "utf-8"  # meta-message text (titles) is written as UTF-8; old files' Latin-1 is still read
MAX_DELTA_TICKS = 0x0FFFFFFF  # the longest time between two events a MIDI file can hold (4 bytes of 7 bits)
MAX_METER_NUMERATOR = 255  # a MIDI time signature holds the numerator in one byte
MAX_METER_DENOMINATOR = 128  # 4/128 is the shortest beat a score writes
_TEXT_ATTRIBUTES = ("name", "text")  # the string fields of mido's meta messages


@dataclass(frozen=True, order=True)
class Note:
    """One sounding note.

    Parameters
    ----------
    start, end : float
        Onset and release in quarter-note beats from the start of the song.
    pitch : int
        MIDI pitch, 0..127 (60 is middle C).
    velocity : int
        1..127.
    channel : int
        MIDI channel 0..15 (9 is drums).
    """

    start: float
    end: float
    pitch: int
    velocity: int = 80
    channel: int = 0


@dataclass
class Song:
    """Notes with the tempo and meter maps needed to write them back.

    ``tempos`` holds ``(beat, bpm)`` pairs and ``meters`` ``(beat, numerator,
    denominator)`` triples, both sorted by beat; ``programs`` maps a channel to
    its General MIDI program (0..127).
    """

    notes: list[Note] = field(default_factory=list)
    tempos: list[tuple[float, float]] = field(default_factory=lambda: [(0.0, DEFAULT_BPM)])
    meters: list[tuple[float, int, int]] = field(default_factory=lambda: [(0.0, 4, 4)])
    programs: dict[int, int] = field(default_factory=dict)
    title: str = ""

    @property
    def end_beat(self) -> float:
        return max((n.end for n in self.notes), default=0.0)

    def seconds(self, beat: float) -> float:
        """Convert a time in beats to seconds with the tempo map."""
        tempos = self.tempos or [(0.0, DEFAULT_BPM)]
        t = 0.0
        prev_beat, prev_bpm = 0.0, tempos[0][1]
        for b, bpm in tempos:
            if b >= beat:
                break
            t += (b - prev_beat) * 60.0 / prev_bpm
            prev_beat, prev_bpm = b, bpm
        return t + (beat - prev_beat) * 60.0 / prev_bpm

    @property
    def duration_seconds(self) -> float:
        return self.seconds(self.end_beat)


def read_midi(path: str | os.PathLike, *, drums: bool = True) -> Song:
    """Read a MIDI file (format 0 or 1) into a :class:`Song`.

    A ``note_on`` with velocity 0 is a note off.  Overlapping notes of the same
    pitch and channel are closed in first-in, first-out order.
    """
    import mido

    path = Path(path)
    mid = open_midifile(path)
    if mid.type == 2:
        raise MusegenError(f"{path}: MIDI format 2 (independent sequences) is not supported")
    tpb = mid.ticks_per_beat or TICKS_PER_BEAT
    if tpb < 0:
        raise MusegenError(f"{path}: SMPTE time (frames per second, not ticks per beat) is not supported")
    song = Song(tempos=[], meters=[], title=path.stem)
    active: dict[tuple[int, int], list[tuple[int, int]]] = {}
    raw: list[tuple[int, int, int, int, int]] = []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                if msg.tempo == 0:
                    raise MusegenError(f"{path}: a tempo of 0 microseconds a beat at tick {tick:,}")
                song.tempos.append((tick / tpb, round(mido.tempo2bpm(msg.tempo), 6)))
            elif msg.type == "time_signature":
                try:
                    check_meter(msg.numerator, msg.denominator)
                except MusegenError as exc:
                    raise MusegenError(f"{path}: {exc} at tick {tick:,}") from None
                song.meters.append((tick / tpb, msg.numerator, msg.denominator))
            elif msg.type == "program_change":
                song.programs.setdefault(msg.channel, msg.program)
            elif msg.type == "note_on" and msg.velocity > 0:
                active.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                queue = active.get((msg.channel, msg.note))
                if queue:
                    start, vel = queue.pop(0)
                    raw.append((start, tick, msg.note, vel, msg.channel))
    # notes never released end at the last event of the file
    last = max((s for s, *_ in raw), default=0)
    for (channel, pitch), queue in active.items():
        for start, vel in queue:
            raw.append((start, max(last, start + tpb // 4), pitch, vel, channel))
    song.notes = sorted(
        Note(s / tpb, max(e, s + 1) / tpb, p, v, c) for s, e, p, v, c in raw if drums or c != DRUM_CHANNEL
    )
    song.tempos = _dedupe_sorted(song.tempos) or [(0.0, DEFAULT_BPM)]
    song.meters = _dedupe_sorted(song.meters) or [(0.0, 4, 4)]
    return song


def meta_text(text: str) -> str:
    """Meta-message text read as Latin-1 (mido's default), decoded as UTF-8 where it is valid UTF-8.

    musegen writes titles as UTF-8 (:data:`TEXT_CHARSET`); older files and
    other programs wrote Latin-1, which stays as it was read.
    """
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def open_midifile(path: str | os.PathLike):
    """Read a MIDI file with mido (``clip=True``), its meta-message text decoded by :func:`meta_text`.

    Returns
    -------
    mido.MidiFile

    Raises
    ------
    MusegenError
        One line for a missing, non-regular or unreadable file.
    """
    import mido

    path = input_file(path)
    try:
        mid = mido.MidiFile(path, clip=True, charset="latin-1")
    except Exception as exc:  # noqa: BLE001 - mido raises many kinds on corrupt data
        raise MusegenError(f"{path}: not a readable MIDI file ({' '.join(str(exc).split())})") from None
    for track in mid.tracks:
        for msg in track:
            if msg.is_meta:
                for attribute in _TEXT_ATTRIBUTES:
                    value = getattr(msg, attribute, None)
                    if isinstance(value, str):
                        setattr(msg, attribute, meta_text(value))
    return mid


def check_meter(numerator: int, denominator: int) -> tuple[int, int]:
    """``(numerator, denominator)`` when a MIDI file can hold the time signature, else a one-line refusal."""
    if not (1 <= numerator <= MAX_METER_NUMERATOR and 1 <= denominator <= MAX_METER_DENOMINATOR
            and denominator & (denominator - 1) == 0):
        raise MusegenError(f"time signature {numerator}/{denominator}: the numerator must be 1 to "
                           f"{MAX_METER_NUMERATOR} and the denominator a power-of-two up to {MAX_METER_DENOMINATOR}")
    return int(numerator), int(denominator)


def check_bpm(bpm: float, beat: float = 0.0) -> float:
    """``bpm`` when it is a tempo a MIDI file can hold (:data:`~musegen.limits.MIN_BPM` to ``MAX_BPM``)."""
    if not MIN_BPM <= bpm <= MAX_BPM:  # also refuses NaN
        raise MusegenError(f"tempo {bpm:g} bpm at beat {beat:g}: use a positive bpm from {MIN_BPM:.4g} to "
                           f"{MAX_BPM:,.0f} (what a MIDI file can hold)")
    return float(bpm)


def _dedupe_sorted(items: list) -> list:
    """Sort by beat; keep the last event given at each beat."""
    out: dict[float, tuple] = {}
    for item in sorted(items, key=lambda x: x[0]):
        out[item[0]] = item
    return list(out.values())


def song_to_midifile(song: Song, *, ticks_per_beat: int = TICKS_PER_BEAT):
    """Build a type-1 ``mido.MidiFile``: a conductor track, then one track per channel."""
    import mido

    def tick(beat: float) -> int:
        if not math.isfinite(beat):
            raise MusegenError(f"an event at beat {beat}: times must be finite")
        return max(round(beat * ticks_per_beat), 0)

    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat, charset=TEXT_CHARSET)
    conductor: list[tuple[int, int, mido.MetaMessage]] = []
    if song.title:
        title = song.title[:120].encode(TEXT_CHARSET, "replace").decode(TEXT_CHARSET)  # any title survives
        conductor.append((0, 0, mido.MetaMessage("track_name", name=title)))
    for beat, num, den in song.meters or [(0.0, 4, 4)]:
        num, den = check_meter(num, den)
        conductor.append((tick(beat), 1, mido.MetaMessage("time_signature", numerator=num, denominator=den)))
    for beat, bpm in song.tempos or [(0.0, DEFAULT_BPM)]:
        tempo = mido.bpm2tempo(check_bpm(bpm, beat))
        conductor.append((tick(beat), 2, mido.MetaMessage("set_tempo", tempo=tempo)))
    mid.tracks.append(_to_track(conductor))
    channels = sorted({n.channel for n in song.notes} | set(song.programs))
    for channel in channels:
        events: list[tuple[int, int, object]] = []
        if channel in song.programs:
            events.append((0, 0, mido.Message("program_change", channel=channel, program=song.programs[channel])))
        for n in song.notes:
            if n.channel != channel:
                continue
            on, off = tick(n.start), max(tick(n.end), tick(n.start) + 1)
            # offs sort before ons at the same tick so repeated notes stay apart
            events.append((off, 1, mido.Message("note_off", channel=channel, note=n.pitch, velocity=0)))
            events.append((on, 2, mido.Message("note_on", channel=channel, note=n.pitch, velocity=n.velocity)))
        mid.tracks.append(_to_track(events))
    return mid


def _to_track(events):
    import mido

    track = mido.MidiTrack()
    now = 0
    for t, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        if t - now > MAX_DELTA_TICKS:
            raise MusegenError(f"{t - now:,} ticks between two events at tick {now:,}: a MIDI file holds at most "
                               f"{MAX_DELTA_TICKS:,}")
        track.append(msg.copy(time=t - now))
        now = t
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def write_midi(song: Song, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``song`` as a type-1 MIDI file, atomically (titles in UTF-8).

    Raises
    ------
    MusegenError
        One line naming ``path`` when the song does not fit a MIDI file (a
        tempo or time signature out of range, too long a gap) or the write
        fails (disk full, permission denied).
    """
    try:
        mid = song_to_midifile(song)
    except MusegenError as exc:
        raise MusegenError(f"{path}: {exc}") from None
    save_midifile(mid, path, force=force)
    return Path(path)


def save_midifile(mid, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Save a ``mido.MidiFile`` atomically; a failed write is one line naming ``path``."""
    with output_errors(path, ValueError), atomic_path(path, force=force) as tmp:
        mid.save(tmp)
    return Path(path)
