"""MIDI files as lists of notes (read and written with mido).

Times are in quarter-note beats; the tempo map turns them into seconds.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from pathlib import Path

from musegen.errors import MusegenError
from musegen.fileio import atomic_path

DEFAULT_BPM = 120.0
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9


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
    if not path.is_file():
        raise MusegenError(f"{path}: no such file")
    try:
        mid = mido.MidiFile(path, clip=True)
    except Exception as exc:  # mido raises many kinds on corrupt data
        raise MusegenError(f"{path}: not a readable MIDI file ({exc})") from None
    if mid.type == 2:
        raise MusegenError(f"{path}: MIDI format 2 (independent sequences) is not supported")
    tpb = mid.ticks_per_beat or TICKS_PER_BEAT
    song = Song(tempos=[], meters=[], title=path.stem)
    active: dict[tuple[int, int], list[tuple[int, int]]] = {}
    raw: list[tuple[int, int, int, int, int]] = []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                song.tempos.append((tick / tpb, round(mido.tempo2bpm(msg.tempo), 6)))
            elif msg.type == "time_signature":
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
        return int(round(beat * ticks_per_beat))

    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    conductor: list[tuple[int, int, mido.MetaMessage]] = []
    if song.title:
        conductor.append((0, 0, mido.MetaMessage("track_name", name=song.title[:120])))
    for beat, num, den in song.meters or [(0.0, 4, 4)]:
        conductor.append((tick(beat), 1, mido.MetaMessage("time_signature", numerator=num, denominator=den)))
    for beat, bpm in song.tempos or [(0.0, DEFAULT_BPM)]:
        conductor.append((tick(beat), 2, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
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
        track.append(msg.copy(time=t - now))
        now = t
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def write_midi(song: Song, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``song`` as a type-1 MIDI file, atomically."""
    mid = song_to_midifile(song)
    with atomic_path(path, force=force) as tmp:
        mid.save(tmp)
    return Path(path)
