"""Audio as FFT frames: read, resample, frame, transform, and back.

The audio representation of the study: sound resampled to 16 kHz mono, cut
into frames of 0.25 s (4,000 samples), each frame replaced by its FFT with the
real parts and then the imaginary parts of the coefficients side by side in one
vector.  Plain frames (``window="none"``) are lossless: the inverse FFT gives
the samples back to float32 precision (a round trip SNR well above 90 dB).
With ``overlap=True`` frames overlap by half and are weighted by a square-root
periodic Hann window on the way in and again on the way out; the overlap-add
then rebuilds the signal exactly, and generated frames join without clicks.

Frames are stored as an ``.npz`` file (:func:`write_frames`, key
``kind="frames"``); :func:`wav_to_frames_npz` and :func:`frames_npz_to_wav` are
the converters of ``musegen convert song.wav song.npz`` and back.  Measures for
generated sound: :func:`spectral_flatness` (near 0 for tones, 0.56 for white
noise) and :func:`log_spectral_distance`.  :class:`FrameNormalizer` holds the
per-coefficient statistics a model bundle keeps.

Heavy libraries (soundfile, soxr or scipy, matplotlib) are imported inside the
functions that need them.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from musegen.errors import MusegenError, UsageError
from musegen.fileio import atomic_path, check_writable
from musegen.fileio import input_file, output_errors, path_files
from musegen.fileio import one_line as _one_line
from musegen.formats.midi import Song
from musegen.formats.pianoroll import npz_array, npz_header
from musegen.formats.synth import check_rate, render_song, write_wav
from musegen.limits import MAX_AUDIO_SAMPLES, MAX_FILE_RATE, MAX_FRAME_SECONDS, MIN_FILE_RATE

SAMPLE_RATE = 16000  # Hz: the rate of the study
FRAME_SECONDS = 0.25  # s per frame: 4,000 samples at 16 kHz
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
SCORE_SUFFIXES = (".abc", ".mid", ".midi")  # what midi_or_abc_to_audio renders
WINDOWS = ("none", "hann")
FRAMES_KIND = "frames"
FRAMES_VERSION = 1
SILENCE_DB = -60.0  # analysis frames this far below the loudest are skipped by the measures
TOP_DB = 80.0  # log_spectral_distance floors each spectrum this far below its strongest bin
AMIN = 1e-10  # power floor of the measures (-100 dB), as librosa's
SPECTROGRAM_COLUMNS = 4000  # at most this many time columns in a spectrogram picture
_CHUNK = 1024  # frames transformed at a time (bounds the float64 scratch memory)


# --------------------------------------------------------------------------- reading


def audio_files(path: str | os.PathLike) -> list[Path]:
    """The audio files at ``path``: the file itself, or every WAV/FLAC/OGG in a folder.

    Parameters
    ----------
    path : path-like
        A file (taken whatever its suffix), or a folder searched recursively
        for :data:`AUDIO_SUFFIXES` (hidden files and ``*.part`` temporaries
        left out).

    Returns
    -------
    list of Path
        Sorted.  Raises :class:`MusegenError` when there is none.
    """
    return _files(path, AUDIO_SUFFIXES, "audio")


def _files(path: str | os.PathLike, suffixes: tuple[str, ...], what: str) -> list[Path]:
    """``[path]`` for a file; the files of a folder (recursive, sorted) whose suffix is in ``suffixes``."""
    return path_files(path, suffixes, what=f"{what} files ({', '.join(suffixes)})")


def _existing_file(path: str | os.PathLike) -> Path:
    """``Path(path)``, or a one-line refusal when it is missing, a folder or not a regular file."""
    return input_file(path)


def check_samples_budget(samples: int, source: str) -> int:
    """``samples`` when that much mono audio fits :data:`~musegen.limits.MAX_AUDIO_SAMPLES`, else one line."""
    if samples > MAX_AUDIO_SAMPLES:
        raise MusegenError(f"{source} {samples:,} samples, more than the {MAX_AUDIO_SAMPLES:,} allowed")
    return int(samples)


def _check_samples(audio: np.ndarray, source: str) -> np.ndarray:
    """Refuse empty audio and NaN or infinite samples."""
    if audio.size == 0:
        raise MusegenError(f"{source}: the audio holds no samples")
    if not np.all(np.isfinite(audio)):
        raise MusegenError(f"{source}: the audio contains NaN or infinite samples")
    return audio


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample mono audio (soxr when installed, else scipy's polyphase filter).

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
    rate_in, rate_out : int
        Hz.

    Returns
    -------
    np.ndarray [shape=(about n * rate_out / rate_in,)] float32
    """
    audio = np.asarray(audio, dtype=np.float32)
    if rate_in == rate_out:
        return audio
    try:
        import soxr
    except ImportError:  # pragma: no cover - soxr comes with librosa
        from scipy.signal import resample_poly

        g = math.gcd(rate_in, rate_out)
        return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)
    return soxr.resample(audio, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def read_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a WAV, FLAC or OGG file as mono audio at ``sample_rate``.

    Any rate, channel count and sample format soundfile reads is accepted:
    channels are averaged, integer samples scaled to [-1, 1), and the result
    resampled.

    Parameters
    ----------
    path : path-like
    sample_rate : int
        Hz (``--sample-rate``).

    Returns
    -------
    audio : np.ndarray [shape=(n,)] float32

    Raises
    ------
    MusegenError
        One line for a missing or unreadable file, audio without samples, or
        NaN or infinite samples; and, from the header before anything is
        read, for a sample rate outside :data:`~musegen.limits.MIN_FILE_RATE`
        to ``MAX_FILE_RATE`` or more samples (as read, or once resampled)
        than :data:`~musegen.limits.MAX_AUDIO_SAMPLES`.
    """
    import soundfile as sf

    sr = check_rate(sample_rate)
    path = _existing_file(path)
    errors = (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError, EOFError)
    try:
        info = sf.info(str(path))
    except errors as exc:
        reason = getattr(exc, "error_string", None) or _one_line(exc)  # libsndfile's reason, without the path
        raise MusegenError(f"{path}: not a readable audio file (WAV, FLAC or OGG): {reason}") from None
    if not MIN_FILE_RATE <= info.samplerate <= MAX_FILE_RATE:
        raise MusegenError(f"{path}: a sample rate of {info.samplerate:,} Hz: audio files of {MIN_FILE_RATE:,} "
                           f"to {MAX_FILE_RATE:,} Hz are read")
    frames = max(int(info.frames), 0)
    check_samples_budget(frames * max(int(info.channels), 1), f"{path}: {info.channels} channel(s) of {frames:,} "
                         "frames hold")
    check_samples_budget(-(-frames * sr // info.samplerate),
                         f"{path}: {frames:,} samples at {info.samplerate:,} Hz make, at {sr:,} Hz,")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True, frames=frames)
    except errors as exc:
        reason = getattr(exc, "error_string", None) or _one_line(exc)  # libsndfile's reason, without the path
        raise MusegenError(f"{path}: not a readable audio file (WAV, FLAC or OGG): {reason}") from None
    _check_samples(data, str(path))
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return _check_samples(resample(mono, int(rate), sr), str(path))


def song_to_audio(song: Song, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render a :class:`~musegen.formats.midi.Song` with the built-in synthesizer.

    Returns
    -------
    audio : np.ndarray [shape=(n,)] float32
        Mono, peak at -1 dBFS.
    """
    return render_song(song, sample_rate=sample_rate)


def midi_or_abc_to_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
    """Render the tunes of ABC and MIDI files (a file or a folder) as audio: :func:`iter_midi_or_abc_audio`
    as a list."""
    return list(iter_midi_or_abc_audio(path, sample_rate=sample_rate))


def iter_midi_or_abc_audio(path: str | os.PathLike, *, sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Render the tunes of ABC and MIDI files (a file or a folder) as audio, one tune at a time.

    Every tune of an ABC file is played with
    :func:`musegen.formats.abc.player.abc_to_song`; a MIDI file is read with
    :func:`musegen.formats.midi.read_midi`; both are rendered by
    :func:`song_to_audio`.  Every file is checked before the first is rendered.

    Yields
    ------
    np.ndarray [shape=(n,)] float32
        One mono signal per tune, in file order.
    """
    from musegen.formats.abc import read_tunes
    from musegen.formats.abc.player import abc_to_song
    from musegen.formats.midi import read_midi

    sr = check_rate(sample_rate)
    files = _files(path, SCORE_SUFFIXES, "ABC or MIDI")
    for f in files:
        if f.suffix.lower() not in SCORE_SUFFIXES:
            raise UsageError(f"{f}: not an ABC or MIDI file (use one of {', '.join(SCORE_SUFFIXES)})")
    for f in files:
        if f.suffix.lower() == ".abc":
            for tune in read_tunes(f):
                yield song_to_audio(abc_to_song(tune)[0], sample_rate=sr)
        else:
            yield song_to_audio(read_midi(f), sample_rate=sr)


# --------------------------------------------------------------------------- frames


@dataclass
class Frames:
    """Audio as FFT frames.

    Attributes
    ----------
    data : np.ndarray [shape=(frames, 2 * bins)] float32
        Per frame, the real parts then the imaginary parts of
        ``np.fft.rfft(frame)``; ``bins = frame_length // 2 + 1``.
    sample_rate : int
        Hz.
    frame_length : int
        Samples per frame (4,000 at 16 kHz and 0.25 s).
    hop : int
        Samples from one frame to the next: ``frame_length`` for plain
        frames, ``frame_length // 2`` with overlap-add.
    window : {"none", "hann"}
        ``"none"``: plain frames, lossless.  ``"hann"``: a square-root
        periodic Hann window before the FFT and again after the inverse, 50 %
        overlap, perfect reconstruction.
    length : int
        Samples of the original audio; :func:`frames_to_audio` trims to it.
        At most :attr:`capacity`.
    subtype : str
        The sample format of the audio the frames were made from (a
        soundfile subtype: ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``...): the
        WAV written back from them keeps it (:func:`wav_subtype`).
    """

    data: np.ndarray
    sample_rate: int
    frame_length: int
    hop: int
    window: str
    length: int
    subtype: str = "PCM_16"

    @property
    def bins(self) -> int:
        """FFT coefficients per frame."""
        return self.frame_length // 2 + 1

    @property
    def capacity(self) -> int:
        """The most samples these frames rebuild (the ``length`` of generated frames)."""
        return frames_capacity(len(self.data), self.frame_length, self.hop, self.window)

    @property
    def seconds(self) -> float:
        return self.length / self.sample_rate


def frames_capacity(frames: int, frame_length: int, hop: int, window: str) -> int:
    """Samples that ``frames`` frames rebuild.

    Overlap-added frames lose one hop at the start, where only the fading-in
    half of the first window covers the signal (the analysis pads it there).
    """
    if window == "none":
        return frames * frame_length
    return max(0, (frames - 1) * hop + frame_length - 2 * hop)


def frame_length_of(sample_rate: int, frame_seconds: float) -> int:
    """Samples per frame: ``round(frame_seconds * sample_rate)``, at least 2.

    ``frame_seconds`` must be finite and at most :data:`~musegen.limits.MAX_FRAME_SECONDS`.
    """
    ok = isinstance(frame_seconds, (int, float, np.floating, np.integer)) and not isinstance(frame_seconds, bool) \
        and math.isfinite(frame_seconds) and frame_seconds <= MAX_FRAME_SECONDS
    length = round(float(frame_seconds) * sample_rate) if ok else 0
    if length < 2:
        raise UsageError(f"frame length {frame_seconds!r} s: use a positive number of seconds up to "
                         f"{MAX_FRAME_SECONDS:g} (at least 2 samples at {sample_rate} Hz)")
    return int(length)


def _check_frames(frames: Frames, source: str = "frames") -> Frames:
    """Refuse frames whose fields disagree; return them with ``data`` as float32."""
    L, hop = frames.frame_length, frames.hop
    if not isinstance(L, (int, np.integer)) or L < 2:
        raise MusegenError(f"{source}: frame length {L!r} is not a whole number of at least 2 samples")
    if frames.window not in WINDOWS:
        raise MusegenError(f"{source}: window {frames.window!r} is not one of {', '.join(WINDOWS)}")
    expected_hop = L if frames.window == "none" else L // 2
    if hop != expected_hop:
        raise MusegenError(f"{source}: hop {hop!r} does not suit window {frames.window!r} "
                           f"(expected {expected_hop} for frames of {L})")
    try:
        check_rate(frames.sample_rate)
    except UsageError as exc:
        raise MusegenError(f"{source}: {exc}") from None
    data = np.asarray(frames.data)
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] != 2 * (L // 2 + 1):
        raise MusegenError(f"{source}: frame data of shape {data.shape}: expected (frames >= 1, {2 * (L // 2 + 1)}) "
                           f"for frames of {L} samples")
    if not np.issubdtype(data.dtype, np.floating):
        raise MusegenError(f"{source}: frame data of dtype {data.dtype}: expected floating point")
    if not np.all(np.isfinite(data)):
        raise MusegenError(f"{source}: frame data contains NaN or infinite values")
    most = frames_capacity(data.shape[0], L, hop, frames.window)
    if not isinstance(frames.length, (int, np.integer)) or not 0 < frames.length <= most:
        raise MusegenError(f"{source}: length {frames.length!r} does not fit {data.shape[0]} frames "
                           f"(1 to {most} samples)")
    return replace(frames, data=data.astype(np.float32, copy=False), sample_rate=int(frames.sample_rate),
                   frame_length=int(L), hop=int(hop), length=int(frames.length))


def _sqrt_hann(n: int) -> np.ndarray:
    """Square root of the periodic Hann window: its square overlap-adds to 1 at hop ``n / 2``."""
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n))


def audio_to_frames(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    frame_seconds: float = FRAME_SECONDS,
    overlap: bool = False,
) -> Frames:
    """Cut audio into frames and take the FFT of each.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        Mono samples, finite.
    sample_rate : int
        Hz of ``audio``.
    frame_seconds : float
        Seconds per frame (``--frame-seconds``).
    overlap : bool
        Half-overlapping square-root Hann frames (windowed overlap-add) instead
        of plain back-to-back frames.

    Returns
    -------
    Frames
        ``data`` of shape ``(frames, 2 * bins)``; plain frames number
        ``ceil(n / frame_length)`` (the last is padded with zeros), overlapped
        ones ``ceil(n / hop) + 1``.
    """
    sr = check_rate(sample_rate)
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise MusegenError(f"audio of shape {audio.shape}: expected mono samples, shape (n,)")
    if not np.issubdtype(audio.dtype, np.number) or np.iscomplexobj(audio):
        raise MusegenError(f"audio of dtype {audio.dtype}: expected real samples")
    _check_samples(audio, "audio")
    L = frame_length_of(sr, frame_seconds)
    n = len(audio)
    if overlap:
        hop, window = L // 2, "hann"
        count = -(-n // hop) + 1
        padded = np.zeros((count - 1) * hop + L, dtype=np.float64)
        padded[hop : hop + n] = audio  # the first hop is covered by the fading-in half only
        weights = _sqrt_hann(L)
    else:
        hop, window = L, "none"
        count = -(-n // L)
        padded = np.zeros(count * L, dtype=np.float64)
        padded[:n] = audio
        weights = None
    view = np.lib.stride_tricks.sliding_window_view(padded, L)[::hop]
    bins = L // 2 + 1
    data = np.empty((count, 2 * bins), dtype=np.float32)
    for i in range(0, count, _CHUNK):
        chunk = view[i : i + _CHUNK]
        spectrum = np.fft.rfft(chunk * weights if weights is not None else chunk, axis=1)
        data[i : i + _CHUNK, :bins] = spectrum.real
        data[i : i + _CHUNK, bins:] = spectrum.imag
    return Frames(data=data, sample_rate=sr, frame_length=L, hop=hop, window=window, length=n)


def frames_to_audio(frames: Frames) -> np.ndarray:
    """Rebuild audio from FFT frames: inverse FFT, then concatenation or overlap-add.

    Parameters
    ----------
    frames : Frames

    Returns
    -------
    audio : np.ndarray [shape=(frames.length,)] float32
    """
    frames = _check_frames(frames)
    data, L, hop = frames.data, frames.frame_length, frames.hop
    count, bins = data.shape[0], frames.bins
    if frames.window == "none":
        out = np.empty(count * L, dtype=np.float32)
        for i in range(0, count, _CHUNK):
            spectrum = data[i : i + _CHUNK, :bins].astype(np.float64) + 1j * data[i : i + _CHUNK, bins:]
            out[i * L : (i + len(spectrum)) * L] = np.fft.irfft(spectrum, n=L, axis=1).reshape(-1)
        return out[: frames.length]
    # windowed overlap-add: frame k covers samples k * hop .. k * hop + L of the padded signal
    weights = _sqrt_hann(L)
    parts = -(-L // hop)  # hop-long slices per frame
    blocks = np.zeros((count + parts - 1, hop), dtype=np.float64)
    for i in range(0, count, _CHUNK):
        spectrum = data[i : i + _CHUNK, :bins].astype(np.float64) + 1j * data[i : i + _CHUNK, bins:]
        _overlap_add(blocks[i:], np.fft.irfft(spectrum, n=L, axis=1) * weights)
    envelope = np.zeros_like(blocks)  # the summed squared window, to divide by
    _overlap_add(envelope, np.broadcast_to(weights**2, (count, L)))
    out = blocks.reshape(-1)[hop : hop + frames.length]
    env = envelope.reshape(-1)[hop : hop + frames.length]
    return (out / np.maximum(env, 1e-6)).astype(np.float32)


def _overlap_add(blocks: np.ndarray, frames: np.ndarray) -> None:
    """Add frames spaced one hop apart into ``blocks``, in place.

    Parameters
    ----------
    blocks : np.ndarray [shape=(>= frames + parts - 1, hop)]
        The output signal cut into hop-long rows; frame ``k`` starts at row ``k``.
    frames : np.ndarray [shape=(frames, frame_length)]
        ``parts = ceil(frame_length / hop)``.
    """
    count, length = frames.shape
    hop = blocks.shape[1]
    parts = -(-length // hop)
    sliced = np.pad(frames, ((0, 0), (0, parts * hop - length))).reshape(count, parts, hop)
    for j in range(parts):
        blocks[j : j + count] += sliced[:, j]


# --------------------------------------------------------------------------- .npz files


def write_frames(frames: Frames, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write frames as an ``.npz`` file (``kind="frames"`` and every field), atomically.

    Returns
    -------
    Path
    """
    frames = _check_frames(frames)
    # a file object: numpy appends no ".npz" to the temporary name
    with output_errors(path), atomic_path(path, force=force) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            kind=np.array(FRAMES_KIND),
            version=np.array(FRAMES_VERSION),
            data=frames.data,
            sample_rate=np.array(frames.sample_rate),
            frame_length=np.array(frames.frame_length),
            hop=np.array(frames.hop),
            window=np.array(frames.window),
            length=np.array(frames.length),
            subtype=np.array(frames.subtype),
        )
    return Path(path)


_FRAME_KEYS = ("kind", "data", "sample_rate", "frame_length", "hop", "window", "length")  # all required
_OPTIONAL_KEYS = ("subtype",)
_FIELD_BYTES = 4096  # the most a scalar field of a frames .npz file may hold


def _frames_member(npz: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """One member of a frames ``.npz`` file, its size checked from its header before it is decompressed."""
    if key != "data":
        return npz_array(npz, key, path, most_bytes=_FIELD_BYTES)
    shape, _ = npz_header(npz, key, path)
    if len(shape) == 2:  # (frames, 2 * bins): about frames * (2 * bins - 2) samples once rebuilt
        check_samples_budget(shape[0] * max(shape[1] - 2, 2), f"{path}: {shape[0]:,} frames of {shape[1]:,} "
                             "coefficients make")
    rows = shape[0] if shape else 1
    return npz_array(npz, key, path, most_bytes=8 * (MAX_AUDIO_SAMPLES + 2 * rows))  # float64 at most


def read_frames(path: str | os.PathLike) -> Frames:
    """Read frames written by :func:`write_frames`.

    Raises
    ------
    MusegenError
        One line for a missing file, a file that is not an ``.npz`` archive,
        one of another kind, missing keys or fields that disagree.
    """
    path = _existing_file(path)
    if not zipfile.is_zipfile(path):
        raise MusegenError(f"{path}: not an .npz file of audio frames")
    try:
        with np.load(path, allow_pickle=False) as npz:
            fields = {k: _frames_member(npz, k, path) for k in _FRAME_KEYS + _OPTIONAL_KEYS if k in npz.files}
    except MusegenError:
        raise
    except Exception as exc:  # zipfile, zlib and numpy raise many kinds on corrupt archives
        raise MusegenError(f"{path}: a corrupt .npz file ({_one_line(exc)})") from None
    if not all(isinstance(v, np.ndarray) for v in fields.values()):  # numpy hands back members it cannot parse
        raise MusegenError(f"{path}: a corrupt .npz file (a member is not a numpy array)")
    kind = fields.get("kind")
    if kind is not None and (kind.shape != () or kind.dtype.kind != "U" or str(kind) != FRAMES_KIND):
        raise MusegenError(f"{path}: an .npz of kind {str(kind)[:40]!r}, not audio frames")
    missing = [k for k in _FRAME_KEYS if k not in fields]
    if missing:
        raise MusegenError(f"{path}: not an .npz of audio frames (missing {', '.join(missing)})")
    scalars = {}
    for key in ("sample_rate", "frame_length", "hop", "length"):
        value = fields[key]
        if value.shape != () or not np.issubdtype(value.dtype, np.integer):
            raise MusegenError(f"{path}: field {key} is not a whole number")
        scalars[key] = int(value)
    names = {}
    for key in ("window", "subtype"):
        value = fields.get(key, np.array("PCM_16"))  # files written before the subtype was kept: 16-bit
        if value.shape != () or value.dtype.kind != "U" or not str(value).replace("_", "").isalnum():
            raise MusegenError(f"{path}: field {key} is not a name")
        names[key] = str(value)
    frames = Frames(data=fields["data"], **names, **scalars)
    return _check_frames(frames, str(path))


# --------------------------------------------------------------------------- converters and output


def write_audio(
    audio: np.ndarray, path: str | os.PathLike, *, sample_rate: int, force: bool = False, subtype: str = "PCM_16"
) -> Path:
    """Write mono audio ``[shape=(n,)]`` as a WAV file, atomically: :func:`musegen.formats.synth.write_wav`.

    NaN or infinite samples are refused; integer subtypes (``"PCM_16"``, the
    default, ``"PCM_24"``) clip to [-1, 1] with ``np.clip``, never wrap;
    ``"FLOAT"`` keeps the samples as they are.
    """
    return write_wav(audio, path, sample_rate=sample_rate, force=force, subtype=subtype)


def audio_subtype(path: str | os.PathLike) -> str:
    """The sample format of an audio file as soundfile names it (``"PCM_16"``, ``"FLOAT"``, ``"VORBIS"``...)."""
    import soundfile as sf

    path = _existing_file(path)
    try:
        return str(sf.info(str(path)).subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, OSError, EOFError) as exc:
        reason = getattr(exc, "error_string", None) or _one_line(exc)
        raise MusegenError(f"{path}: not a readable audio file (WAV, FLAC or OGG): {reason}") from None


def wav_subtype(source: str | None, requested: str | None = None) -> str:
    """The WAV sample format to write: ``requested`` (``--subtype``) when given, else the source's own where a WAV
    file can hold it (a float WAV gives a float WAV back, a 24-bit FLAC a 24-bit WAV), else 16-bit.

    Raises
    ------
    UsageError
        ``requested`` is not a WAV subtype (the line lists those that are).
    """
    import soundfile as sf

    if requested is not None:
        name = str(requested).upper()
        if not sf.check_format("WAV", name):
            raise UsageError(f"--subtype {requested}: use one of {', '.join(sorted(sf.available_subtypes('WAV')))}")
        return name
    name = str(source or "").upper()
    return name if name and name not in ("VORBIS", "OPUS") and sf.check_format("WAV", name) else "PCM_16"


def wav_to_frames_npz(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    sample_rate: int = SAMPLE_RATE,
    frame_seconds: float = FRAME_SECONDS,
    overlap: bool = False,
    force: bool = False,
) -> Path:
    """Read an audio file (WAV, FLAC, OGG), resample it to mono ``sample_rate`` and write its frames.

    The frames keep the file's sample format (:attr:`Frames.subtype`), so that
    :func:`frames_npz_to_wav` writes the WAV back in it: a 32-bit float file
    comes back float, not rounded to 16 bits.
    """
    check_writable(dst, force=force)  # fail before the work
    frame_length_of(sample_rate, frame_seconds)
    audio = read_audio(src, sample_rate=sample_rate)
    frames = audio_to_frames(audio, sample_rate=sample_rate, frame_seconds=frame_seconds, overlap=overlap)
    frames.subtype = audio_subtype(src)
    return write_frames(frames, dst, force=force)


def frames_npz_to_wav(
    src: str | os.PathLike, dst: str | os.PathLike, *, force: bool = False, subtype: str | None = None
) -> Path:
    """Rebuild the audio of a frames ``.npz`` file and write it as a WAV file at the frames' rate.

    ``subtype`` (``--subtype``): the WAV sample format; by default the one the
    frames were made from, where a WAV file holds it (:func:`wav_subtype`).
    """
    check_writable(dst, force=force)
    frames = read_frames(src)
    return write_audio(frames_to_audio(frames), dst, sample_rate=frames.sample_rate, force=force,
                       subtype=wav_subtype(frames.subtype, subtype))


# --------------------------------------------------------------------------- analysis


def _n_fft(sample_rate: int) -> int:
    """Analysis window of the measures: the power of two nearest 128 ms (2048 at 16 kHz)."""
    return 2 ** round(math.log2(0.128 * sample_rate))


def stft_power(audio: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """Power spectrogram ``|STFT|**2`` with a periodic Hann window, centred frames (zero padded).

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
    n_fft, hop : int
        Samples.

    Returns
    -------
    np.ndarray [shape=(frames, n_fft // 2 + 1)] float64
    """
    return np.concatenate(list(_power_blocks(audio, n_fft=n_fft, hop=hop)))


def _power_blocks(audio: np.ndarray, *, n_fft: int, hop: int) -> Iterator[np.ndarray]:
    """The rows of :func:`stft_power`, :data:`_CHUNK` frames at a time (a long recording's spectrogram is never
    held whole)."""
    view = _centred_frames(np.asarray(audio, dtype=np.float64), n_fft=n_fft, hop=hop)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    for i in range(0, len(view), _CHUNK):
        yield np.abs(np.fft.rfft(view[i : i + _CHUNK] * window, axis=1)) ** 2


def _centred_frames(audio: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """The frames of ``n_fft`` samples every ``hop`` of ``audio`` centred (``n_fft // 2`` zeros before and after,
    more after where it is shorter than a frame), as a view ``[shape=(frames, n_fft)]``."""
    padded = np.pad(audio, (n_fft // 2, n_fft // 2))
    if len(padded) < n_fft:
        padded = np.pad(padded, (0, n_fft - len(padded)))
    return np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]


def _loud(energy: np.ndarray, what: str) -> np.ndarray:
    """Which analysis frames of ``energy`` (of all the signals measured together) are within
    :data:`SILENCE_DB` of the loudest."""
    peak = energy.max()
    if peak <= 0:
        raise MusegenError(f"{what}: the audio is silent")
    return energy >= peak * 10 ** (SILENCE_DB / 10)


def _signal(signal: np.ndarray, what: str) -> np.ndarray:
    """``signal`` checked to be mono, finite samples."""
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise MusegenError(f"{what}: audio of shape {signal.shape}: expected mono samples, shape (n,)")
    return _check_samples(signal, what)


def _loud_power(audio, sample_rate: int, what: str, n_fft: int | None = None) -> np.ndarray:
    """Power spectra of the analysis frames of one signal or several, silent frames left out.

    Returns
    -------
    np.ndarray [shape=(frames, bins)] float64
        Frames whose energy is within :data:`SILENCE_DB` of the loudest frame
        (of all the signals together).
    """
    sr = check_rate(sample_rate)
    signals = [audio] if isinstance(audio, np.ndarray) else list(audio)
    if not signals:
        raise MusegenError(f"{what}: no audio")
    n_fft = n_fft or _n_fft(sr)
    power = np.concatenate([stft_power(_signal(signal, what), n_fft=n_fft, hop=n_fft // 4) for signal in signals])
    return power[_loud(power.sum(axis=1), what)]


def _band(power: np.ndarray, sample_rate: int, max_hz: float | None) -> np.ndarray:
    """The bins of ``power`` up to ``max_hz`` (all when None or 0)."""
    if not max_hz:
        return power
    n_fft = 2 * (power.shape[1] - 1)
    return power[:, : max(2, int(max_hz * n_fft / sample_rate) + 1)]


def spectral_flatness(audio: np.ndarray | Sequence[np.ndarray], *, sample_rate: int = SAMPLE_RATE,
                      max_hz: float | None = None, n_fft: int | None = None, statistic: str = "mean") -> float:
    """Mean (or median) spectral flatness: geometric over arithmetic mean of the power spectrum.

    As ``librosa.feature.spectral_flatness(power=2)`` (power floored at 1e-10,
    Hann window of about 128 ms unless ``n_fft``, hop of a quarter of it),
    averaged over the analysis frames that are not silent (within 60 dB of the
    loudest).  Tones score near 0, white noise about 0.56
    (``exp(-euler_gamma)``).  The mean is led by the few frames of note onsets
    and gaps; the median (``statistic="median"``) is the flatness of the
    sound most of the time (see :func:`band_flatness`).

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)], or a sequence of them
        Mono samples; the frames of several signals are pooled.
    sample_rate : int
        Hz.
    max_hz : float, optional
        Measure the band from 0 to this frequency only: a fair measure of
        audio band-limited to it (white noise still scores about 0.56), where
        the empty band above would make any sound look tonal.
    n_fft : int, optional
        Samples per analysis frame (default: the power of two nearest 128 ms).
    statistic : {"mean", "median"}
        How the frames' flatness is summed up.

    Returns
    -------
    float
        In [0, 1].
    """
    if statistic not in ("mean", "median"):
        raise UsageError(f"flatness statistic {statistic!r}: use mean or median")
    sr = check_rate(sample_rate)
    n_fft = n_fft or _n_fft(sr)
    energies, values = [], []  # each frame's energy and flatness: a piece, and a block of its frames, at a time
    for signal in [audio] if isinstance(audio, np.ndarray) else audio:
        for power in _power_blocks(_signal(signal, "spectral flatness"), n_fft=n_fft, hop=n_fft // 4):
            energies.append(power.sum(axis=1))
            power = np.maximum(_band(power, sr, max_hz), AMIN)
            values.append(np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1))
    if not energies:
        raise MusegenError("spectral flatness: no audio")
    flatness = np.concatenate(values)[_loud(np.concatenate(energies), "spectral flatness")]
    return float(np.mean(flatness) if statistic == "mean" else np.median(flatness))


def band_flatness(audio: np.ndarray | Sequence[np.ndarray], *, sample_rate: int = SAMPLE_RATE,
                  max_hz: float = 3000.0) -> float:
    """The melody measure of spectral flatness: the median over non-silent 64 ms frames (1,024 samples at
    16 kHz, as the pitch tracker's) of the flatness of the band 0 to ``max_hz``.

    The jigs rendered by the synthesizer score about 0.0001, white noise
    0.56; the mean over frames (:func:`spectral_flatness`) of the same jigs is
    about 0.004, led by the frames of note onsets.
    """
    return spectral_flatness(audio, sample_rate=sample_rate, max_hz=max_hz, n_fft=_pitch_frame(sample_rate),
                             statistic="median")


def log_spectral_distance(
    a: np.ndarray | Sequence[np.ndarray], b: np.ndarray | Sequence[np.ndarray], *, sample_rate: int = SAMPLE_RATE,
    max_hz: float | None = None,
) -> float:
    """Distance (dB) between the mean log power spectra of two signals.

    Each side's spectrum is the mean over its non-silent analysis frames of
    the power in dB, floored :data:`TOP_DB` below that side's strongest bin
    (as ``librosa.power_to_db(top_db=80)``); the distance is the RMS over
    frequency bins of the difference.  A level difference counts: a copy 6 dB
    quieter is 6 dB away.

    Parameters
    ----------
    a, b : np.ndarray [shape=(n,)], or sequences of them
        Mono samples at ``sample_rate`` (a generated sample against a corpus:
        pass the corpus as a list).
    sample_rate : int
        Hz.
    max_hz : float, optional
        Compare the band from 0 to this frequency only.

    Returns
    -------
    float
        dB, 0 for the same sound.
    """
    spectra = []
    for side, what in ((a, "first signal"), (b, "second signal")):
        power = _band(_loud_power(side, sample_rate, f"log spectral distance, {what}"), sample_rate, max_hz)
        floor = max(float(power.max()) * 10 ** (-TOP_DB / 10), AMIN)
        spectra.append(np.mean(10 * np.log10(np.maximum(power, floor)), axis=0))
    return float(np.sqrt(np.mean((spectra[0] - spectra[1]) ** 2)))


# --------------------------------------------------------------------------- pictures


def draw_spectrogram(
    audio: np.ndarray, path: str | os.PathLike, *, sample_rate: int, force: bool = False, title: str | None = None
) -> Path:
    """Draw a spectrogram as a PNG: log magnitude (dB) against time (s) and frequency (Hz).

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        Mono samples.
    path : path-like
    sample_rate : int
        Hz.
    force : bool
        Replace an existing file.
    title : str, optional

    Returns
    -------
    Path
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sr = check_rate(sample_rate)
    check_writable(path, force=force)
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise MusegenError(f"audio of shape {audio.shape}: expected mono samples, shape (n,)")
    _check_samples(audio, "audio")
    n_fft = 2 ** round(math.log2(0.064 * sr))  # 1024 at 16 kHz
    hop = max(n_fft // 4, -(-len(audio) // SPECTROGRAM_COLUMNS))  # a long piece gets coarser columns
    db = 10 * np.log10(np.maximum(stft_power(audio, n_fft=n_fft, hop=hop), AMIN))
    top = float(db.max())
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(db.T, origin="lower", aspect="auto", cmap="magma", vmin=top - 80, vmax=top,
                      extent=(0.0, len(audio) / sr, 0.0, sr / 2), interpolation="nearest")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, label="power (dB)")
    fig.tight_layout()
    with output_errors(path), atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def draw_spectrogram_npz(src: str | os.PathLike, dst: str | os.PathLike, *, force: bool = False) -> Path:
    """Draw the spectrogram of the audio of a frames ``.npz`` file as a PNG."""
    check_writable(dst, force=force)
    frames = read_frames(src)
    return draw_spectrogram(frames_to_audio(frames), dst, sample_rate=frames.sample_rate, force=force,
                            title=Path(src).name)


# --------------------------------------------------------------------------- normalisation


@dataclass
class FrameNormalizer:
    """Per-coefficient mean and standard deviation, to give a model inputs near unit scale.

    Attributes
    ----------
    mean, std : np.ndarray [shape=(features,)] float32
        ``std`` is at least the ``eps`` of :meth:`fit` (coefficients that never
        change, such as the imaginary part of the DC bin, encode to 0).
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float32)
        self.std = np.asarray(self.std, dtype=np.float32)
        if self.mean.ndim != 1 or self.mean.shape != self.std.shape or self.mean.size == 0:
            raise MusegenError(f"frame normaliser: mean of shape {self.mean.shape} and std of shape "
                               f"{self.std.shape}: expected two equal (features,) vectors")
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise MusegenError("frame normaliser: the statistics hold NaN, infinite or non-positive deviations")

    @property
    def features(self) -> int:
        return int(self.mean.size)

    @classmethod
    def fit(cls, arrays: Sequence[np.ndarray], *, eps: float = 1e-6) -> FrameNormalizer:
        """Statistics of every row of ``arrays``.

        Parameters
        ----------
        arrays : sequence of np.ndarray [shape=(frames, features)]
            E.g. the ``data`` of the :class:`Frames` of a corpus.
        eps : float
            Floor of the standard deviation.
        """
        total = total_sq = None
        count = 0
        for data in arrays:
            data = np.asarray(data, dtype=np.float64)
            if data.ndim != 2 or data.shape[0] == 0:
                raise MusegenError(f"frame normaliser: data of shape {data.shape}: expected (frames >= 1, features)")
            if total is not None and data.shape[1] != total.size:
                raise MusegenError(f"frame normaliser: {data.shape[1]} features where earlier data had {total.size}")
            if not np.all(np.isfinite(data)):
                raise MusegenError("frame normaliser: the data contains NaN or infinite values")
            sums, sq = data.sum(axis=0), np.square(data).sum(axis=0)
            total = sums if total is None else total + sums
            total_sq = sq if total_sq is None else total_sq + sq
            count += data.shape[0]
        if total is None:
            raise MusegenError("frame normaliser: no data to fit")
        mean = total / count
        var = np.maximum(total_sq / count - mean**2, 0.0)
        return cls(mean=mean, std=np.maximum(np.sqrt(var), eps))

    def _check(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=np.float32)
        if data.shape[-1:] != (self.features,):
            raise MusegenError(f"frame normaliser: data of shape {data.shape}: expected {self.features} features")
        return data

    def encode(self, data: np.ndarray) -> np.ndarray:
        """``(data - mean) / std``: [shape=(..., features)] float32."""
        return (self._check(data) - self.mean) / self.std

    def decode(self, data: np.ndarray) -> np.ndarray:
        """``data * std + mean``: [shape=(..., features)] float32."""
        return self._check(data) * self.std + self.mean

    def to_dict(self) -> dict:
        """JSON-able: ``{"mean": [...], "std": [...]}``."""
        return {"mean": self.mean.astype(float).tolist(), "std": self.std.astype(float).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> FrameNormalizer:
        """The inverse of :meth:`to_dict`; one-line :class:`MusegenError` on bad data."""
        if not isinstance(d, dict) or "mean" not in d or "std" not in d:
            raise MusegenError("frame normaliser: expected a mapping with 'mean' and 'std' lists")
        try:
            mean = np.asarray(d["mean"], dtype=np.float32)
            std = np.asarray(d["std"], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise MusegenError(f"frame normaliser: {_one_line(exc)}") from None
        return cls(mean=mean, std=std)


# --------------------------------------------------------------------------- magnitudes and code books

def _hann(n: int) -> np.ndarray:
    """The periodic Hann window of ``n`` samples to the bit of ``scipy.signal.get_window("hann", n)`` (float64),
    the window of librosa's transforms."""
    angles = np.linspace(-np.pi, np.pi, n + 1)
    return (0.5 + 0.5 * np.cos(angles))[:-1]


def stft(audio: np.ndarray, *, n_fft: int, hop: int) -> np.ndarray:
    """``librosa.stft(audio, n_fft=n_fft, hop_length=hop, window="hann", center=True)`` of float32 ``audio``, to the
    bit, in NumPy alone (librosa's import costs seconds; a sampled piece should not).

    As librosa: frames centred (``n_fft // 2`` zeros each side), each float64
    window times float32 samples transformed in float64, stored as complex64.
    Frames are transformed :data:`_CHUNK` at a time (each transform is its
    own, so the bits do not depend on the chunks).

    Returns
    -------
    np.ndarray [shape=(n_fft // 2 + 1, 1 + len(audio) // hop)] complex64
    """
    view = _centred_frames(np.asarray(audio, np.float32), n_fft=n_fft, hop=hop)
    window = _hann(n_fft)
    out = np.empty((n_fft // 2 + 1, len(view)), np.complex64, order="F")
    for i in range(0, len(view), _CHUNK):
        out[:, i : i + _CHUNK] = np.fft.rfft(window * view[i : i + _CHUNK], axis=1).T
    return out


def istft(spectrum: np.ndarray, *, n_fft: int, hop: int, length: int) -> np.ndarray:
    """``librosa.istft(spectrum, n_fft=n_fft, hop_length=hop, window="hann", center=True, length=length)`` of a
    complex64 ``spectrum`` ``[shape=(n_fft // 2 + 1, frames)]``, to the bit, in NumPy alone.

    As librosa: each frame's inverse transform (float32) times the float64
    window, added frame after frame into float32 samples, then divided by the
    windows' summed squares where those are above the smallest float32.

    Returns
    -------
    np.ndarray [shape=(length,)] float32
    """
    window, half = _hann(n_fft), n_fft // 2
    frames = min(spectrum.shape[1], math.ceil((length + 2 * half) / hop))
    padded = np.zeros(n_fft + hop * max(frames - 1, 0), np.float32)  # the centred signal, the pads included
    for i in range(0, frames, _CHUNK):
        block = window * np.fft.irfft(spectrum[:, i : min(i + _CHUNK, frames)], n=n_fft, axis=0).T
        for j, frame in enumerate(block, start=i):
            padded[j * hop : j * hop + n_fft] += frame
    squares = np.zeros(len(padded), np.float32)
    square = window**2
    for j in range(frames):
        squares[j * hop : j * hop + n_fft] += square
    kept = max(0, min(length, len(padded) - half))
    y, sums = np.zeros(length, np.float32), np.zeros(length, np.float32)
    y[:kept], sums[:kept] = padded[half : half + kept], squares[half : half + kept]
    heard = sums > np.finfo(np.float32).tiny
    y[heard] /= sums[heard]
    return y


MOMENTUM = 0.99  # of Griffin-Lim's phase updates, as librosa's
LOG_FLOOR = 1e-3  # magnitudes are compared and averaged as log(LOG_FLOOR + |X|): -60 dB below a full-scale bin


def magnitude_frames(audio: np.ndarray, *, sample_rate: int, frame_length: int, hop: int,
                     bins: int | None = None) -> np.ndarray:
    """Magnitudes of the short-time Fourier transform: ``|librosa.stft|`` with a Hann window, centred frames
    (:func:`stft`, the same bits).

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        Mono samples, finite (shorter than a frame: padded with zeros).
    sample_rate : int
        Hz (checked only).
    frame_length, hop : int
        Samples per FFT frame and from one frame to the next.
    bins : int, optional
        Keep the first ``bins`` coefficients (the band up to some frequency).

    Returns
    -------
    np.ndarray [shape=(1 + n // hop, bins)] float32
    """
    check_rate(sample_rate)
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise MusegenError(f"audio of shape {audio.shape}: expected mono samples, shape (n,)")
    _check_samples(audio, "audio")
    if not 1 <= hop <= frame_length:
        raise UsageError(f"hop of {hop} samples: use 1 to the frame length ({frame_length})")
    n = len(audio)
    audio = np.pad(audio.astype(np.float32), (0, max(0, frame_length - n)))
    spectrum = stft(audio, n_fft=frame_length, hop=hop)
    return np.abs(spectrum[:bins, : 1 + n // hop]).T.astype(np.float32)


def griffin_lim(magnitudes: np.ndarray, *, frame_length: int, hop: int, iterations: int = 32, seed: int = 0,
                length: int | None = None) -> np.ndarray:
    """Audio whose short-time magnitudes are ``magnitudes``: phases rebuilt as ``librosa.griffinlim`` rebuilds
    them (random phases drawn with ``seed``, momentum 0.99), to the bit, in NumPy alone.

    Parameters
    ----------
    magnitudes : np.ndarray [shape=(frames, bins)]
        As :func:`magnitude_frames` gives them; coefficients past ``bins`` are
        taken as 0.
    frame_length, hop : int
    iterations : int
        Griffin-Lim iterations (with librosa's momentum of 0.99), at least 1.
    seed : int
        Of the random phases it starts from (the same seed, the same audio).
    length : int, optional
        Samples to return (default: ``(frames - 1) * hop``).

    Returns
    -------
    np.ndarray [shape=(length,)] float32
    """
    magnitudes = np.asarray(magnitudes, np.float32)
    full = frame_length // 2 + 1
    if magnitudes.ndim != 2 or not 0 < magnitudes.shape[1] <= full:
        raise MusegenError(f"magnitudes of shape {magnitudes.shape}: expected (frames, 1 to {full} bins)")
    if iterations < 1:
        raise UsageError(f"Griffin-Lim needs at least 1 iteration, got {iterations}")
    length = (len(magnitudes) - 1) * hop if length is None else length
    if len(magnitudes) < 2 or length < 1:
        return np.zeros(max(0, length), np.float32)
    spectrum = np.zeros((full, len(magnitudes)), np.float32)
    spectrum[: magnitudes.shape[1]] = magnitudes.T
    rng = np.random.default_rng(seed)
    phases = 2 * np.pi * rng.random(size=spectrum.shape)
    angles = np.empty(spectrum.shape, np.complex64)
    angles[:] = np.cos(phases) + 1j * np.sin(phases)
    angles *= spectrum
    eps, previous = np.finfo(np.float32).tiny, None
    for _ in range(iterations):
        rebuilt = stft(istft(angles, n_fft=frame_length, hop=hop, length=length), n_fft=frame_length, hop=hop)
        angles[:] = rebuilt
        if previous is not None:
            angles -= (MOMENTUM / (1 + MOMENTUM)) * previous
        angles /= np.abs(angles) + eps
        angles *= spectrum
        previous = rebuilt
    return istft(angles, n_fft=frame_length, hop=hop, length=length)


def _squared_distances(x: np.ndarray, centroids: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """``|x - c|^2`` for every row of ``x`` and every centroid, by one matrix product."""
    return np.einsum("ij,ij->i", x, x)[:, None] - 2 * (x @ centroids.T) + norms[None]


def nearest(x: np.ndarray, centroids: np.ndarray, *, chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """The nearest centroid of each row of ``x`` (Euclidean) and the squared distance to it.

    Returns
    -------
    ids : np.ndarray [shape=(n,)] int64
    distances : np.ndarray [shape=(n,)] float32
    """
    x = np.asarray(x, np.float32)
    centroids = np.asarray(centroids, np.float32)
    norms = np.einsum("ij,ij->i", centroids, centroids)
    ids = np.empty(len(x), np.int64)
    dist = np.empty(len(x), np.float32)
    for i in range(0, len(x), chunk):
        d = _squared_distances(x[i : i + chunk], centroids, norms)
        ids[i : i + chunk] = d.argmin(axis=1)
        dist[i : i + chunk] = np.maximum(d[np.arange(len(d)), ids[i : i + chunk]], 0)
    return ids, dist


def kmeans(x: np.ndarray, k: int, *, iterations: int = 20, seed: int = 0) -> np.ndarray:
    """Centroids of ``k`` clusters of the rows of ``x``: greedy k-means++ seeding, then Lloyd's iterations.

    The distances are matrix products (BLAS), so that hundreds of thousands of
    frames and hundreds of codes take seconds.  A cluster left empty is given
    the row farthest from its centroid.

    Parameters
    ----------
    x : np.ndarray [shape=(n, d)]
        ``n >= k`` finite rows.
    k : int
    iterations : int
    seed : int

    Returns
    -------
    np.ndarray [shape=(k, d)] float32
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or not 1 <= k <= len(x):
        raise MusegenError(f"{len(x) if x.ndim == 2 else 0:,} frames cannot make {k:,} codes: give more audio "
                           "or fewer --codes")
    rng = np.random.default_rng(seed)
    pool = x[rng.choice(len(x), min(len(x), max(20 * k, 4096)), replace=False)]  # seeding on a sample
    pool_norms = np.einsum("ij,ij->i", pool, pool)
    trials = 2 + int(math.log(k))  # greedy k-means++ (as scikit-learn's): the best of a few draws each time
    centroids = np.empty((k, x.shape[1]), np.float32)
    centroids[0] = pool[rng.integers(len(pool))]
    best = np.maximum(np.square(pool - centroids[0]).sum(axis=1), 0)
    for j in range(1, k):
        total = float(best.sum())
        if total > 0:
            picks = np.minimum(np.searchsorted(np.cumsum(best), rng.random(trials) * total), len(pool) - 1)
        else:
            picks = rng.integers(len(pool), size=trials)
        d = np.maximum(_squared_distances(pool[picks], pool, pool_norms), 0)  # [trials, pool]
        d = np.minimum(d, best[None])
        choice = int(np.argmin(d.sum(axis=1)))
        centroids[j] = pool[picks[choice]]
        best = d[choice]
    for _ in range(iterations):
        ids, dist = nearest(x, centroids)
        counts = np.bincount(ids, minlength=k)
        order = np.argsort(ids, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        full = counts > 0
        centroids[full] = np.add.reduceat(x[order], starts[full], axis=0) / counts[full, None]
        if not full.all():
            centroids[~full] = x[np.argsort(dist)[::-1][: int((~full).sum())]]
    return centroids


@dataclass
class CodeBook:
    """Frames of sound as ids: the centroids of the log magnitudes of training frames (k-means).

    A frame is encoded as the id of its nearest centroid; an id decodes to the
    centroid's magnitudes, ``exp(centroid) - LOG_FLOOR`` (the geometric mean
    of its frames: sharp partials, no smear), which :func:`griffin_lim` turns
    back into sound.

    Attributes
    ----------
    centroids : np.ndarray [shape=(codes, bins)] float32
        ``log(LOG_FLOOR + |X|)`` of each code.
    """

    centroids: np.ndarray

    def __post_init__(self) -> None:
        self.centroids = np.asarray(self.centroids, np.float32)
        if self.centroids.ndim != 2 or 0 in self.centroids.shape:
            raise MusegenError(f"code book of shape {self.centroids.shape}: expected (codes, bins)")
        if not np.all(np.isfinite(self.centroids)) or self.centroids.min() < math.log(LOG_FLOOR) - 1e-3:
            raise MusegenError("code book: the centroids hold NaN, infinite or sub-floor values")

    @property
    def size(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def bins(self) -> int:
        return int(self.centroids.shape[1])

    @staticmethod
    def features(magnitudes: np.ndarray) -> np.ndarray:
        """What the code book compares: ``log(LOG_FLOOR + magnitudes)``."""
        return np.log(LOG_FLOOR + np.asarray(magnitudes, np.float32))

    @classmethod
    def fit(cls, magnitudes: Sequence[np.ndarray], *, size: int, seed: int = 0, max_frames: int = 150_000,
            iterations: int = 20) -> CodeBook:
        """k-means on the log magnitudes of the frames of ``magnitudes`` (at most ``max_frames`` of them, drawn
        at random with ``seed``)."""
        frames = [np.asarray(m, np.float32) for m in magnitudes if len(m)]
        if not frames:
            raise MusegenError("code book: no frames to learn from")
        x = np.concatenate(frames)
        if len(x) > max_frames:
            x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_frames, replace=False))]
        return cls(kmeans(cls.features(x), size, iterations=iterations, seed=seed))

    def encode(self, magnitudes: np.ndarray) -> np.ndarray:
        """The nearest code of each frame ``[shape=(frames,)]`` int64."""
        magnitudes = np.asarray(magnitudes, np.float32)
        if magnitudes.ndim != 2 or magnitudes.shape[1] != self.bins:
            raise MusegenError(f"code book: frames of shape {magnitudes.shape}: expected {self.bins} bins")
        return nearest(self.features(magnitudes), self.centroids)[0]

    def magnitudes(self, ids: np.ndarray) -> np.ndarray:
        """The magnitudes of codes ``ids`` ``[shape=(frames, bins)]`` float32."""
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.size):
            raise MusegenError(f"code ids out of range: the code book holds {self.size}")
        return np.maximum(np.exp(self.centroids[ids]) - LOG_FLOOR, 0).astype(np.float32)

    def to_dict(self) -> dict:
        """JSON-able: ``{"centroids": [[...], ...]}`` to 4 decimals (a 10th of a per mille of magnitude)."""
        return {"centroids": np.round(self.centroids.astype(np.float64), 4).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> CodeBook:
        """The inverse of :meth:`to_dict`; one-line :class:`MusegenError` on bad data."""
        if not isinstance(d, dict) or "centroids" not in d:
            raise MusegenError("code book: expected a mapping with a 'centroids' list")
        try:
            centroids = np.asarray(d["centroids"], dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise MusegenError(f"code book: {_one_line(exc)}") from None
        return cls(centroids)


def shared_run(sample: Sequence[int], references: Sequence[Sequence[int]]) -> int:
    """The length of the longest run of consecutive items of ``sample`` found, in order, in one of
    ``references`` (codes of frames, notes of a melody): 0 when nothing is shared.

    Runs are compared by hashes of their items (a binary search on the length),
    so a few seconds of codes are checked against hours of training audio in
    well under a second.
    """
    sample = np.asarray(sample, np.int64).ravel()
    refs = [np.asarray(r, np.int64).ravel() for r in references if len(r)]
    if not len(sample) or not refs:
        return 0
    salt = np.random.default_rng(12345).integers(1, 2**61, size=len(sample), dtype=np.int64)

    def grams(seq: np.ndarray, n: int) -> np.ndarray:
        view = np.lib.stride_tricks.sliding_window_view(seq, n)
        return (view * salt[:n]).sum(axis=1)  # wraps around modulo 2**64: a hash of the run

    def shares(n: int) -> bool:
        mine = grams(sample, n)
        return any(np.isin(grams(r, n), mine).any() for r in refs if len(r) >= n)

    lo, hi = 0, len(sample)  # shares(lo) holds; find the largest n that does
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if shares(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


# --------------------------------------------------------------------------- melody measures

PITCH_FMIN, PITCH_FMAX = 150.0, 1400.0  # Hz: the pitch tracker's range (jigs' melodies and their octaves)
NOTE_FRAMES = 2  # a tracked note lasts at least this many tracker frames (32 ms at 16 kHz)
SCALE_SIZE = 7  # notes of a key: a melody keeps most of its notes on its 7 most used pitch classes


def _pitch_frame(sample_rate: int) -> int:
    """The pitch tracker's frame: the power of two nearest 64 ms (1,024 samples at 16 kHz)."""
    return 2 ** round(math.log2(0.064 * sample_rate))


@dataclass
class Melody:
    """What a pitch tracker hears in a clip.

    Attributes
    ----------
    seconds : float
    voiced : float
        Share of the tracker's frames with a pitch.
    notes : list of int
        MIDI numbers of the notes heard, in order: runs of one rounded pitch
        lasting :data:`NOTE_FRAMES` frames or more, a repeat of the same
        pitch merged into one.
    """

    seconds: float
    voiced: float
    notes: list[int]

    @property
    def changes_per_second(self) -> float:
        """Pitch changes per second: one fewer than the notes."""
        return max(0, len(self.notes) - 1) / self.seconds if self.seconds else 0.0

    @property
    def in_scale(self) -> float:
        """Share of the notes on the :data:`SCALE_SIZE` pitch classes used most (NaN without notes)."""
        if not self.notes:
            return math.nan
        counts = np.sort(np.bincount(np.asarray(self.notes) % 12, minlength=12))[::-1]
        return float(counts[:SCALE_SIZE].sum() / counts.sum())

    def summary(self) -> dict[str, float]:
        return {"voiced": round(self.voiced, 4), "pitch_changes_per_second": round(self.changes_per_second, 3),
                "notes": len(self.notes), "in_scale": round(self.in_scale, 4)}


def melody_of(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> Melody:
    """Track the pitch of ``audio`` with ``librosa.pyin`` (:data:`PITCH_FMIN` to :data:`PITCH_FMAX` Hz, frames of
    64 ms: 1,024 samples at 16 kHz) and read the notes it holds (:class:`Melody`)."""
    import librosa

    sr = check_rate(sample_rate)
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise MusegenError(f"audio of shape {audio.shape}: expected mono samples, shape (n,)")
    _check_samples(audio, "audio")
    frame = _pitch_frame(sr)
    audio = np.pad(audio, (0, max(0, frame - len(audio))))
    f0, voiced, _ = librosa.pyin(audio, fmin=PITCH_FMIN, fmax=PITCH_FMAX, sr=sr, frame_length=frame)
    pitch = np.where(voiced, np.round(librosa.hz_to_midi(np.where(voiced, f0, PITCH_FMIN))), -1).astype(int)
    notes: list[int] = []
    start = 0
    for i in range(1, len(pitch) + 1):
        if i == len(pitch) or pitch[i] != pitch[start]:
            if pitch[start] >= 0 and i - start >= NOTE_FRAMES and (not notes or notes[-1] != pitch[start]):
                notes.append(int(pitch[start]))
            start = i
    return Melody(seconds=len(audio) / sr, voiced=float(np.mean(voiced)) if len(voiced) else 0.0, notes=notes)
