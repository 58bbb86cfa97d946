"""MIDI to audio: a built-in numpy synthesizer, or FluidSynth with a SoundFont.

The built-in synthesizer needs nothing but numpy.  Each note is rendered in one
vectorised pass: band-limited wavetables (a bright onset spectrum that fades
into a darker one), an attack/decay/sustain/release envelope and optional
vibrato and detuned second voice, all computed at a control rate of
:data:`BLOCK` samples and interpolated.  The timbre follows the General MIDI
program family of each channel (:data:`FAMILY_TIMBRES`); drums (channel 9) are
short synthetic hits (:data:`DRUM_VOICES`).  The mix gets a few early
reflections, then a look-ahead limiter and a peak level of -1 dBFS.

With ``synth="fluidsynth"`` (or a SoundFont given) the ``fluidsynth`` program
renders the song instead; it must be installed.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from musegen.errors import MusegenError, UsageError
from musegen.fileio import atomic_path, check_writable
from musegen.fileio import input_file, output_errors
from musegen.formats.midi import DEFAULT_BPM, DRUM_CHANNEL, Song, check_bpm, read_midi, song_to_midifile
from musegen.limits import MAX_AUDIO_SAMPLES, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

TARGET_PEAK = 10 ** (-1.0 / 20)  # -1 dBFS
BLOCK = 32  # samples per control-rate step (envelopes, vibrato, brightness)
TABLE_SIZE = 4096  # samples per wavetable cycle
MAX_SECONDS = 3600.0  # longest song the built-in synth renders (memory guard)
EMPTY_SECONDS = 0.25  # length of the silence rendered for a song without notes
REFLECTIONS = ((0.019, 0.16), (0.031, 0.11), (0.047, 0.07))  # (delay s, gain): a small room
LIMITER_SECONDS = 0.01  # block of the look-ahead limiter
MIN_RELEASE = 0.008  # s: shortest fade a note gets when the same key is struck again
SAMPLE_RATES = (MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
_CACHE_BYTES = 256 * 2**20  # rendered notes kept for reuse within one song


# --------------------------------------------------------------------------- timbres


@dataclass(frozen=True)
class Timbre:
    """How one instrument family sounds.

    Parameters
    ----------
    bright, dark : tuple of float
        Amplitudes of harmonics 1, 2, 3... at the onset (``bright``) and once
        the onset brightness has faded (``dark``).
    brightness_decay : float
        Time constant (s) of the cross-fade from ``bright`` to ``dark``.
    attack, decay, sustain, release : float
        Envelope: rise time (s), time constant (s) of the fall from the peak
        to ``sustain`` (a level 0..1 held while the key is down), and fade
        time (s) after the note off.
    pitch_tracking : float
        The decay shortens as ``(f / 261.6) ** -pitch_tracking`` (high piano
        or guitar notes die away faster).
    vibrato_rate, vibrato_cents, vibrato_delay : float
        Vibrato in Hz, its depth in cents, and when it has fully come in (s).
    detune_cents : float
        A second voice this many cents sharp (accordion musette, ensembles).
    gain : float
        Relative loudness.
    """

    bright: tuple[float, ...]
    dark: tuple[float, ...]
    brightness_decay: float
    attack: float
    decay: float
    sustain: float
    release: float
    pitch_tracking: float = 0.0
    vibrato_rate: float = 0.0
    vibrato_cents: float = 0.0
    vibrato_delay: float = 0.0
    detune_cents: float = 0.0
    gain: float = 1.0


def _series(count: int, tilt: float, *, odd: float = 1.0, even: float = 1.0, pluck: float = 0.0) -> tuple[float, ...]:
    """Harmonic amplitudes ``h ** -tilt``, weighted for odd/even harmonics and a pluck point."""
    amps = []
    for h in range(1, count + 1):
        a = h**-tilt * (odd if h % 2 else even)
        if pluck:
            a *= abs(math.sin(math.pi * h * pluck)) / math.sin(math.pi * pluck)
        amps.append(a)
    amps[0] = 1.0
    return tuple(amps)


def _drawbars(bars: dict[int, float]) -> tuple[float, ...]:
    return tuple(bars.get(h, 0.0) for h in range(1, max(bars) + 1))


# Add a timbre here, then point program families or programs at it below.
TIMBRES: dict[str, Timbre] = {
    "piano": Timbre(_series(14, 0.9), _series(6, 2.2), 0.18, 0.003, 0.9, 0.0, 0.09, pitch_tracking=0.5),
    "mallet": Timbre((1.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.08), (1.0,), 0.05, 0.002, 0.45, 0.0, 0.06,
                     pitch_tracking=0.5, gain=1.1),
    "organ": Timbre(_drawbars({1: 1.0, 2: 0.8, 3: 0.6, 4: 0.45, 6: 0.3, 8: 0.25, 10: 0.1, 12: 0.08}),
                    _drawbars({1: 1.0, 2: 0.8, 3: 0.6, 4: 0.45, 6: 0.3, 8: 0.25, 10: 0.1, 12: 0.08}),
                    1.0, 0.008, math.inf, 1.0, 0.05, gain=0.8),
    "accordion": Timbre(_series(16, 0.7), _series(12, 1.1), 0.25, 0.012, 0.4, 0.8, 0.05, detune_cents=7.0, gain=0.8),
    "guitar": Timbre(_series(20, 0.8, pluck=0.18), (1.0, 0.35, 0.12, 0.05), 0.1, 0.002, 1.1, 0.0, 0.08,
                     pitch_tracking=0.6),
    "bass": Timbre((1.0, 0.6, 0.35, 0.2, 0.12, 0.07), (1.0, 0.25, 0.06), 0.12, 0.004, 1.4, 0.1, 0.07,
                   pitch_tracking=0.3, gain=1.2),
    "fiddle": Timbre(_series(18, 0.9), _series(12, 1.3), 0.08, 0.035, 0.3, 0.85, 0.1,
                     vibrato_rate=5.5, vibrato_cents=10.0, vibrato_delay=0.18, gain=0.9),
    "strings": Timbre(_series(16, 1.0), _series(10, 1.4), 0.1, 0.08, 0.4, 0.85, 0.2,
                      vibrato_rate=5.0, vibrato_cents=8.0, vibrato_delay=0.25, detune_cents=9.0, gain=0.8),
    "ensemble": Timbre(_series(14, 1.1), _series(8, 1.5), 0.15, 0.12, 0.5, 0.9, 0.3,
                       vibrato_rate=4.8, vibrato_cents=6.0, vibrato_delay=0.3, detune_cents=10.0, gain=0.8),
    "brass": Timbre(_series(14, 0.6), _series(8, 1.4), 0.15, 0.04, 0.5, 0.75, 0.08,
                    vibrato_rate=4.5, vibrato_cents=5.0, vibrato_delay=0.3, gain=0.8),
    "reed": Timbre(_series(15, 0.7, odd=1.0, even=0.15), _series(9, 1.0, odd=1.0, even=0.1), 0.2, 0.03, 0.5, 0.85,
                   0.07, vibrato_rate=5.0, vibrato_cents=6.0, vibrato_delay=0.25, gain=0.9),
    "flute": Timbre((1.0, 0.3, 0.12, 0.05, 0.02), (1.0, 0.2, 0.05), 0.06, 0.05, 0.5, 0.85, 0.1,
                    vibrato_rate=5.0, vibrato_cents=9.0, vibrato_delay=0.15, gain=1.1),
    "lead": Timbre(_series(15, 1.0, odd=1.0, even=0.0), _series(9, 1.2, odd=1.0, even=0.0), 0.3, 0.005, 0.6, 0.9,
                   0.05, gain=0.7),
    "pad": Timbre((1.0, 0.4, 0.2, 0.1, 0.05), (1.0, 0.3, 0.1, 0.04), 0.5, 0.25, 1.0, 1.0, 0.35,
                  detune_cents=10.0, gain=0.8),
}

# General MIDI program family (program // 8) -> timbre.  Add an entry here.
FAMILY_TIMBRES: dict[int, str] = {
    0: "piano", 1: "mallet", 2: "organ", 3: "guitar", 4: "bass", 5: "strings", 6: "ensemble", 7: "brass",
    8: "reed", 9: "flute", 10: "lead", 11: "pad", 12: "pad", 13: "guitar", 14: "mallet", 15: "pad",
}
# Single programs that sound unlike their family.  Add an entry here.
PROGRAM_TIMBRES: dict[int, str] = {
    21: "accordion", 22: "reed", 23: "accordion", 40: "fiddle", 105: "guitar", 109: "reed", 110: "fiddle",
}
MELODY_TIMBRE = "accordion"  # channel 0 when the song names no program (folk tunes)
ACCOMPANIMENT_TIMBRE = "piano"  # other channels when the song names no program
MELODY_CHANNEL = 0
MAX_TAIL_SECONDS = max(t.release for t in TIMBRES.values()) + max(d for d, _ in REFLECTIONS) + 0.001


def timbre_for(channel: int, programs: dict[int, int]) -> tuple[str, bool]:
    """The timbre name of ``channel`` and whether it plays softly (accompaniment)."""
    program = programs.get(channel)
    if program is None:
        name = MELODY_TIMBRE if channel == MELODY_CHANNEL else ACCOMPANIMENT_TIMBRE
    else:
        program = int(program) % 128
        name = PROGRAM_TIMBRES.get(program, FAMILY_TIMBRES[program // 8])
    return name, channel != MELODY_CHANNEL


@lru_cache(maxsize=None)
def _voice(name: str, soft: bool) -> Timbre:
    """The timbre, made mellower and quieter for accompaniment."""
    timbre = TIMBRES[name]
    if not soft:
        return timbre

    def mellow(amps: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(a * h**-0.8 for h, a in enumerate(amps, start=1))

    return replace(timbre, bright=mellow(timbre.bright), dark=mellow(timbre.dark), gain=timbre.gain * 0.45)


@lru_cache(maxsize=None)
def _tables(name: str, soft: bool, harmonics: int) -> tuple[np.ndarray, np.ndarray]:
    """Wavetables ``(dark, bright - dark)`` of one cycle, limited to ``harmonics`` partials.

    Returns
    -------
    dark, diff : np.ndarray [shape=(TABLE_SIZE + 1,)] float32
        The last sample repeats the first (for interpolation).
    """
    timbre = _voice(name, soft)
    phase = np.arange(TABLE_SIZE + 1) / TABLE_SIZE

    def build(amps: tuple[float, ...], limit: int) -> np.ndarray:
        wave = np.zeros(TABLE_SIZE + 1)
        for h, a in enumerate(amps[:limit], start=1):
            if a:
                wave += a * np.sin(2 * np.pi * h * phase)
        return wave

    # scale on the full spectrum, so a high note loses partials, not loudness
    scale = 1.0 / math.sqrt(sum(a * a for a in timbre.dark))
    dark = build(timbre.dark, harmonics) * scale
    bright = build(timbre.bright, harmonics) * scale
    return dark.astype(np.float32), (bright - dark).astype(np.float32)


# --------------------------------------------------------------------------- one note


@lru_cache(maxsize=4)
def _ramp(block: int) -> np.ndarray:
    return (np.arange(block) / block).astype(np.float32)


def _upsample(control: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of control points every :data:`BLOCK` samples.

    Parameters
    ----------
    control : np.ndarray [shape=(k,)]
        Values at samples ``0, BLOCK, 2 * BLOCK...``; ``(k - 1) * BLOCK >= n``.
    """
    c = control.astype(np.float32, copy=False)
    return (c[:-1, None] + np.diff(c)[:, None] * _ramp(BLOCK)[None, :]).reshape(-1)[:n]


def _lookup(table_next: tuple[np.ndarray, np.ndarray], index: np.ndarray, frac: np.ndarray) -> np.ndarray:
    table, following = table_next
    a = table.take(index)
    return a + frac * (following.take(index) - a)


def _phase_index(phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table index and interpolation fraction of phases in cycles."""
    phase -= np.floor(phase)
    phase *= TABLE_SIZE
    index = phase.astype(np.int32)
    np.minimum(index, TABLE_SIZE - 1, out=index)
    frac = (phase - index).astype(np.float32)
    return index, frac


def render_tone(
    pitch: int, *, timbre: str, soft: bool = False, velocity: int = 80, hold: float, release: float | None = None,
    sample_rate: int = 44100,
) -> np.ndarray:
    """Render one pitched note.

    Parameters
    ----------
    pitch : int
        MIDI pitch (69 is A4 = 440 Hz).
    timbre : str
        A key of :data:`TIMBRES`.
    soft : bool
        The mellower, quieter accompaniment variant.
    velocity : int
        1..127: loudness and brightness.
    hold : float
        Seconds from the onset to the note off.
    release : float, optional
        Fade after the note off (s); the timbre's release by default.

    Returns
    -------
    np.ndarray [shape=(round((hold + release) * sample_rate),)] float32
        Starts and ends at zero.
    """
    t = _voice(timbre, soft)
    release = t.release if release is None else release
    n_on = max(1, int(round(hold * sample_rate)))
    n_rel = max(1, int(round(release * sample_rate)))
    return _render_tone(timbre, soft, pitch, velocity, n_on, n_rel, sample_rate)


def _render_tone(name: str, soft: bool, pitch: int, velocity: int, n_on: int, n_rel: int, sr: int) -> np.ndarray:
    timbre = _voice(name, soft)
    freq = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    n = n_on + n_rel
    k = n // BLOCK + 2
    tc = np.arange(k) * (BLOCK / sr)  # control times, s

    # envelope: attack (smoothstep), decay to sustain, then a release to zero
    hold, rel = n_on / sr, n_rel / sr
    decay = timbre.decay * (freq / 261.63) ** -timbre.pitch_tracking

    def held(x):
        a = np.clip(x / timbre.attack, 0.0, 1.0)
        return a * a * (3 - 2 * a) * (timbre.sustain + (1 - timbre.sustain) * np.exp(-x / decay))

    at_off = float(held(np.float64(hold)))
    r = np.clip((tc - hold) / rel, 0.0, 1.0)
    env = np.where(tc < hold, held(tc), at_off * (1 - r) ** 2)
    vel = min(max(velocity, 1), 127) / 127.0
    env *= timbre.gain * vel**1.5

    # brightness fades from the onset spectrum to the sustained one; harder is brighter
    bright = (0.35 + 0.65 * vel) * np.exp(-tc / timbre.brightness_decay)
    harmonics = max(1, int(0.45 * sr / freq))

    phase = np.arange(n) * (freq / sr)
    if timbre.vibrato_cents:
        depth = 2 ** (timbre.vibrato_cents / 1200) - 1
        w = 2 * np.pi * timbre.vibrato_rate
        come_in = np.clip(tc / timbre.vibrato_delay, 0.0, 1.0) if timbre.vibrato_delay else 1.0
        phase += _upsample(come_in * freq * depth * (1 - np.cos(w * tc)) / w, n)
    dark, diff = _tables(name, soft, harmonics)
    index, frac = _phase_index(phase)
    wave = _lookup((dark, dark[1:]), index, frac)
    wave += _upsample(bright, n) * _lookup((diff, diff[1:]), index, frac)
    if timbre.detune_cents:
        ratio = 2 ** (timbre.detune_cents / 1200)
        second = np.arange(n) * (freq * ratio / sr) + 0.25
        index, frac = _phase_index(second)
        wave += _lookup((dark, dark[1:]), index, frac)
        wave *= np.float32(0.6)
    wave *= _upsample(env, n)
    return wave


# --------------------------------------------------------------------------- drums


def _noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def _kick(sr: int) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    freq_phase = 45 * t + (120 - 45) * 0.03 * (1 - np.exp(-t / 0.03))  # pitch falls from 120 Hz to 45 Hz
    return (np.sin(2 * np.pi * freq_phase) * np.exp(-t / 0.08) * np.minimum(t / 0.002, 1)).astype(np.float32)


def _snare(sr: int) -> np.ndarray:
    t = np.arange(int(0.2 * sr)) / sr
    body = 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.04)
    return (body + 0.45 * _noise(len(t), 38) * np.exp(-t / 0.055)).astype(np.float32) * np.minimum(t / 0.001, 1)


def _hat(seconds: float, seed: int) -> Callable[[int], np.ndarray]:
    def hit(sr: int) -> np.ndarray:
        t = np.arange(int(seconds * 5 * sr)) / sr
        noise = np.diff(_noise(len(t) + 1, seed))  # first difference: a crude high-pass
        return (0.35 * noise * np.exp(-t / seconds) * np.minimum(t / 0.001, 1)).astype(np.float32)

    return hit


def _tom(sr: int, pitch: int) -> np.ndarray:
    t = np.arange(int(0.35 * sr)) / sr
    f = 80 * 2 ** ((pitch - 41) / 12)
    return (np.sin(2 * np.pi * f * t) * np.exp(-t / 0.12) * np.minimum(t / 0.002, 1)).astype(np.float32)


# drum voice name -> function(sample_rate, pitch) -> float32 hit.  Add an entry here.
DRUM_VOICES: dict[str, Callable[[int, int], np.ndarray]] = {
    "kick": lambda sr, p: _kick(sr),
    "snare": lambda sr, p: _snare(sr),
    "closed_hat": lambda sr, p: _hat(0.025, 42)(sr),
    "open_hat": lambda sr, p: _hat(0.12, 46)(sr),
    "cymbal": lambda sr, p: _hat(0.4, 49)(sr),
    "tom": _tom,
    "click": lambda sr, p: _hat(0.012, p)(sr),
}
# General MIDI drum key -> drum voice; keys not listed play "click".
DRUM_KEYS: dict[int, str] = {
    35: "kick", 36: "kick", 37: "click", 38: "snare", 39: "snare", 40: "snare", 41: "tom", 42: "closed_hat",
    43: "tom", 44: "closed_hat", 45: "tom", 46: "open_hat", 47: "tom", 48: "tom", 49: "cymbal", 50: "tom",
    51: "cymbal", 52: "cymbal", 53: "cymbal", 55: "cymbal", 57: "cymbal", 59: "cymbal",
}


@lru_cache(maxsize=256)
def _drum(pitch: int, sr: int) -> np.ndarray:
    return DRUM_VOICES[DRUM_KEYS.get(pitch, "click")](sr, pitch)


# --------------------------------------------------------------------------- the song


def beats_to_seconds(song: Song, beats: np.ndarray) -> np.ndarray:
    """Vectorised :meth:`Song.seconds`: times in beats to seconds with the tempo map.

    Parameters
    ----------
    beats : np.ndarray [shape=(n,)]

    Returns
    -------
    np.ndarray [shape=(n,)] float64
    """
    tempos = sorted(song.tempos or [(0.0, DEFAULT_BPM)], key=lambda x: x[0])
    for beat, bpm in tempos:
        if not (math.isfinite(bpm) and bpm > 0):
            raise MusegenError(f"tempo {bpm!r} bpm at beat {beat:g} is not a positive number")
        check_bpm(bpm, beat)
    knots = np.array([0.0] + [max(b, 0.0) for b, _ in tempos])
    spb = np.array([60.0 / tempos[0][1]] + [60.0 / bpm for _, bpm in tempos])
    starts = np.concatenate([[0.0], np.cumsum(np.diff(knots) * spb[:-1])])
    beats = np.asarray(beats, dtype=np.float64)
    j = np.maximum(np.searchsorted(knots, beats, side="right") - 1, 0)
    return starts[j] + (beats - knots[j]) * spb[j]


def check_rate(sample_rate: int) -> int:
    if not isinstance(sample_rate, (int, np.integer)) or not SAMPLE_RATES[0] <= sample_rate <= SAMPLE_RATES[1]:
        low, high = SAMPLE_RATES
        raise UsageError(f"sample rate {sample_rate!r}: use a whole number of Hz from {low} to {high}")
    return int(sample_rate)


def _schedule(song: Song, sr: int) -> list[tuple[int, int, int, int, int, int]]:
    """``(onset sample, pitch, velocity, channel, held samples, release samples)`` per note.

    Exact duplicates (same channel, pitch and onset) merge.  A note struck again
    on the same channel is faded out before the new onset, so repeated notes
    stay separate attacks instead of piling up.
    """
    notes = sorted(song.notes, key=lambda n: (n.channel, n.pitch, n.start, -n.end))
    if not notes:
        return []
    start = beats_to_seconds(song, np.array([n.start for n in notes]))
    end = beats_to_seconds(song, np.array([max(n.end, n.start) for n in notes]))
    if not (np.all(np.isfinite(start)) and np.all(np.isfinite(end))):
        raise MusegenError("a note at an infinite or undefined time: times must be finite")
    out = []
    for i, note in enumerate(notes):
        same_next = i + 1 < len(notes) and notes[i + 1].channel == note.channel and notes[i + 1].pitch == note.pitch
        if same_next and start[i + 1] - start[i] < 1e-6:
            continue  # a duplicate: the next one (longer or equal) plays
        s, off = max(start[i], 0.0), max(end[i], start[i], 0.0)
        if note.channel == DRUM_CHANNEL:
            out.append((int(round(s * sr)), note.pitch, note.velocity, note.channel, 0, 0))
            continue
        name, soft = timbre_for(note.channel, song.programs)
        release = _voice(name, soft).release
        limit = start[i + 1] if same_next else math.inf
        if off + release > limit:  # fade out before the same key sounds again
            release = max(min(release, limit - off), MIN_RELEASE)
            off = limit - release
            if off < s + 0.5 * (limit - s):  # too little room: sound for half the time to the next onset
                off = s + 0.5 * (limit - s)
                release = limit - off
        i0 = int(round(s * sr))
        n_on = max(1, int(round(off * sr)) - i0)
        out.append((i0, note.pitch, note.velocity, note.channel, n_on, max(1, int(round(release * sr)))))
    return out


def render_song(song: Song, *, sample_rate: int = 44100) -> np.ndarray:
    """Render a song with the built-in synthesizer (pure numpy).

    Times come from the song's tempo map; each channel's timbre from its
    General MIDI program (:func:`timbre_for`); channel 9 plays drums.

    Parameters
    ----------
    song : Song
    sample_rate : int
        Hz.

    Returns
    -------
    audio : np.ndarray [shape=(n,)] float32
        Mono, peak at -1 dBFS (about 0.891) or below.  ``n`` covers the last
        note off plus at most :data:`MAX_TAIL_SECONDS` of release and room;
        a song without notes gives :data:`EMPTY_SECONDS` of silence.
    """
    sr = check_rate(sample_rate)
    events = _schedule(song, sr)
    if not events:
        return np.zeros(int(EMPTY_SECONDS * sr), dtype=np.float32)
    ends = []
    for i0, pitch, _, channel, n_on, n_rel in events:
        ends.append(i0 + (len(_drum(pitch, sr)) if channel == DRUM_CHANNEL else n_on + n_rel))
    length = max(ends) + int(max(d for d, _ in REFLECTIONS) * sr) + 1
    if length > MAX_SECONDS * sr:
        raise MusegenError(f"the song lasts {length / sr / 60:,.0f} minutes; the built-in synth renders at most "
                           f"{MAX_SECONDS / 60:.0f}")
    if length > MAX_AUDIO_SAMPLES:
        raise MusegenError(f"the song lasts {length / sr / 60:,.1f} minutes: {length:,} samples at {sr:,} Hz, "
                           f"more than the {MAX_AUDIO_SAMPLES:,} allowed (a lower --sample-rate renders more)")
    mix = np.zeros(length, dtype=np.float32)
    cache: dict[tuple, np.ndarray] = {}
    cached_bytes = 0
    for i0, pitch, velocity, channel, n_on, n_rel in events:
        if channel == DRUM_CHANNEL:
            hit = _drum(pitch, sr)
            mix[i0 : i0 + len(hit)] += hit * np.float32(0.8 * (velocity / 127) ** 1.5)
            continue
        name, soft = timbre_for(channel, song.programs)
        key = (name, soft, pitch, velocity, n_on, n_rel)
        wave = cache.get(key)
        if wave is None:
            wave = _render_tone(name, soft, pitch, velocity, n_on, n_rel, sr)
            if cached_bytes + wave.nbytes <= _CACHE_BYTES:
                cache[key] = wave
                cached_bytes += wave.nbytes
        mix[i0 : i0 + len(wave)] += wave
    dry = mix.copy()
    for delay, gain in REFLECTIONS:
        d = int(delay * sr)
        mix[d:] += np.float32(gain) * dry[:-d]
    del dry
    return _master(mix, sr)


def _master(mix: np.ndarray, sr: int) -> np.ndarray:
    """Level the mix to -1 dBFS: a gain, then a look-ahead limiter for the rare peaks.

    The gain puts the loud passages (98th percentile of 10 ms block peaks) at
    the target, boosting by at most 6 dB past plain peak normalisation; the
    limiter's gain, taken per block as the minimum over the block and its
    neighbours and interpolated between block starts, keeps every sample at or
    under the target without clicks.
    """
    peak = float(np.max(np.abs(mix)))
    if peak == 0.0:
        return mix
    block = max(1, int(LIMITER_SECONDS * sr))
    nb = -(-len(mix) // block)
    padded = np.zeros(nb * block, dtype=np.float32)
    padded[: len(mix)] = mix
    block_peaks = np.abs(padded).reshape(nb, block).max(axis=1)
    loud = block_peaks[block_peaks > peak * 1e-3]
    reference = max(float(np.quantile(loud, 0.98)), peak / 2)
    gain = TARGET_PEAK / reference
    need = np.minimum(1.0, TARGET_PEAK / np.maximum(block_peaks * gain, 1e-12))
    need = np.minimum(need, np.minimum(np.r_[need[1:], 1.0], np.r_[1.0, need[:-1]]))
    control = (np.r_[need, need[-1]] * gain).astype(np.float32)
    gains = control[:-1, None] + np.diff(control)[:, None] * (np.arange(block, dtype=np.float32) / block)[None, :]
    out = padded * gains.reshape(-1)
    out = out[: len(mix)]
    return np.clip(out, -TARGET_PEAK, TARGET_PEAK).astype(np.float32)


# --------------------------------------------------------------------------- WAV files


def write_wav(
    audio: np.ndarray, path: str | os.PathLike, *, sample_rate: int, force: bool = False, subtype: str = "PCM_16"
) -> Path:
    """Write audio as a WAV file, atomically.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,) or (n, channels)]
        Samples in [-1, 1]; integer subtypes clip anything beyond (never wrap).
    path : path-like
    sample_rate : int
        Hz.
    force : bool
        Replace an existing file.
    subtype : str
        A soundfile WAV subtype: ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``...

    Returns
    -------
    Path
    """
    import soundfile as sf

    sr = check_rate(sample_rate)
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2) or audio.shape[0] == 0:
        raise MusegenError(f"audio of shape {audio.shape}: expected (samples,) or (samples, channels)")
    if not np.issubdtype(audio.dtype, np.floating):
        raise MusegenError(f"audio of dtype {audio.dtype}: expected floating-point samples in [-1, 1]")
    if not np.all(np.isfinite(audio)):
        raise MusegenError("audio contains NaN or infinite samples")
    if not sf.check_format("WAV", subtype):
        raise UsageError(f"WAV subtype {subtype!r}: use one of {', '.join(sorted(sf.available_subtypes('WAV')))}")
    if subtype.upper() not in ("FLOAT", "DOUBLE"):
        audio = np.clip(audio, -1.0, 1.0)
    # encoded in memory first: libsndfile reports a full disk as "System error.", Python as ENOSPC
    buffer = io.BytesIO()
    with output_errors(path, sf.LibsndfileError):
        sf.write(buffer, audio, sr, subtype=subtype, format="WAV")
        del audio
        with atomic_path(path, force=force) as tmp:
            tmp.write_bytes(buffer.getbuffer())
    return Path(path)


# --------------------------------------------------------------------------- SoundFonts


SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/FluidR3_GS.sf2",
)


def _is_soundfont(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:4] == b"RIFF" and head[8:12] == b"sfbk"


def find_soundfont(soundfont: str | os.PathLike | None = None) -> Path | None:
    """The SoundFont to use: ``soundfont`` if given, else a system General MIDI one, else None.

    Raises :class:`MusegenError` when the given file is missing, unreadable or
    not a SoundFont (.sf2/.sf3).
    """
    if soundfont is not None:
        path = input_file(Path(soundfont).expanduser(), what="SoundFont file")
        try:
            ok = _is_soundfont(path)
        except OSError as exc:
            raise MusegenError(f"{path}: cannot read the SoundFont ({exc.strerror})") from None
        if not ok:
            raise MusegenError(f"{path}: not a SoundFont (.sf2/.sf3) file")
        return path
    for candidate in SOUNDFONT_PATHS:
        path = Path(candidate)
        try:
            if path.is_file() and _is_soundfont(path):
                return path.resolve()
        except OSError:
            continue
    return None


def fluidsynth_available() -> bool:
    """True when the ``fluidsynth`` program is on the PATH."""
    return shutil.which("fluidsynth") is not None


def render_fluidsynth(
    song: Song, *, soundfont: str | os.PathLike | None = None, sample_rate: int = 44100
) -> np.ndarray:
    """Render a song with the ``fluidsynth`` program and a SoundFont.

    ``soundfont`` defaults to a system General MIDI SoundFont (:func:`find_soundfont`).

    Returns
    -------
    audio : np.ndarray [shape=(n, 2)] float32
        Stereo, peak at -1 dBFS, trailing silence trimmed.
    """
    import soundfile as sf

    sr = check_rate(sample_rate)
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise MusegenError("fluidsynth is needed for --soundfont / --synth fluidsynth: install it "
                           "(e.g. apt install fluidsynth) or use the built-in synth (--synth builtin)")
    sf2 = find_soundfont(soundfont)
    if sf2 is None:
        raise MusegenError("no SoundFont found on this system: pass --soundfont FILE.sf2 "
                           "(e.g. apt install fluid-soundfont-gm) or use --synth builtin")
    midi = song_to_midifile(song)
    # let the player run on past the last note so releases and reverb are kept
    conductor = midi.tracks[0]
    conductor[-1] = conductor[-1].copy(time=conductor[-1].time + midi.ticks_per_beat * 4)
    timeout = 60 + 4 * song.duration_seconds
    with tempfile.TemporaryDirectory(prefix="musegen-fluidsynth-") as tmp:
        mid_path, wav_path = Path(tmp) / "song.mid", Path(tmp) / "song.wav"
        midi.save(mid_path)
        cmd = [exe, "-n", "-i", "-q", "-F", str(wav_path), "-T", "wav", "-O", "float", "-r", str(sr),
               str(sf2), str(mid_path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise MusegenError(f"fluidsynth took longer than {timeout:.0f} s and was stopped") from None
        if proc.returncode != 0 or not wav_path.is_file():
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            raise MusegenError(f"fluidsynth failed (exit {proc.returncode}): {lines[-1] if lines else 'no message'}")
        audio, _ = sf.read(wav_path, dtype="float32", always_2d=True)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return np.zeros((int(EMPTY_SECONDS * sr), audio.shape[1] if audio.ndim == 2 else 2), dtype=np.float32)
    audio *= TARGET_PEAK / peak
    loud = np.nonzero(np.max(np.abs(audio), axis=1) > 10 ** (-70 / 20))[0]  # trim the silence fluidsynth adds
    return audio[: min(len(audio), loud[-1] + int(0.05 * sr))]


# --------------------------------------------------------------------------- conversions


def _builtin(song: Song, *, soundfont, sample_rate: int) -> np.ndarray:
    if soundfont is not None:
        raise UsageError("the built-in synth plays no SoundFont: drop --soundfont or use --synth fluidsynth")
    return render_song(song, sample_rate=sample_rate)


def _fluidsynth(song: Song, *, soundfont, sample_rate: int) -> np.ndarray:
    return render_fluidsynth(song, soundfont=soundfont, sample_rate=sample_rate)


# synth name -> renderer(song, soundfont=, sample_rate=) -> audio.  Add an entry here.
SYNTHS: dict[str, Callable[..., np.ndarray]] = {"builtin": _builtin, "fluidsynth": _fluidsynth}


def song_to_wav(
    song: Song,
    path: str | os.PathLike,
    *,
    soundfont: str | os.PathLike | None = None,
    synth: str = "auto",
    sample_rate: int = 44100,
    force: bool = False,
) -> Path:
    """Render a song and write it as a 16-bit WAV file, atomically.

    Parameters
    ----------
    song : Song
    path : path-like
    soundfont : path-like, optional
        A .sf2/.sf3 file; implies the FluidSynth renderer.
    synth : {"auto", "builtin", "fluidsynth"}
        ``"auto"`` is FluidSynth when a SoundFont is given, else the built-in
        synthesizer (which needs no external program).
    sample_rate : int
        Hz.
    force : bool
        Replace an existing file.
    """
    if synth == "auto":
        synth = "fluidsynth" if soundfont is not None else "builtin"
    if synth not in SYNTHS:
        raise UsageError(f"synth {synth!r}: use one of auto, {', '.join(SYNTHS)}")
    check_rate(sample_rate)
    check_writable(path, force=force)  # fail before rendering
    audio = SYNTHS[synth](song, soundfont=soundfont, sample_rate=sample_rate)
    return write_wav(audio, path, sample_rate=sample_rate, force=force)


def midi_to_wav(
    midi_path: str | os.PathLike,
    wav_path: str | os.PathLike,
    *,
    soundfont: str | os.PathLike | None = None,
    synth: str = "auto",
    sample_rate: int = 44100,
    force: bool = False,
) -> Path:
    """Read a MIDI file and write it as audio with :func:`song_to_wav`."""
    check_writable(wav_path, force=force)
    song = read_midi(midi_path)
    return song_to_wav(song, wav_path, soundfont=soundfont, synth=synth, sample_rate=sample_rate, force=force)
