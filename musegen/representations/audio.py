"""Audio for a network: codes of a code book of sound frames (the default), or FFT frames (the study's).

The ``codes`` head reads and predicts one code per frame: the magnitudes of a
short FFT frame (64 ms, a hop of 32 ms) replaced by the nearest of a code
book of frames learnt by k-means on the training audio, like a vocabulary.
The network is a token model (an embedding, a softmax over the codes), so
sampling draws one of several futures (a note, not a blend of the notes that
may come); the waveform is rebuilt from the codes' magnitudes with phases by
Griffin-Lim.  The ``gaussian`` and ``linear`` heads read the real and
imaginary parts of longer FFT frames, normalised per coefficient.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.config import Settings, check_range, check_sampling, option
from musegen.errors import MusegenError, UsageError
from musegen.fileio import path_files
from musegen.limits import MAX_EVALUATE_SECONDS, MAX_PRIMER_SECONDS
from musegen.representations.base import InputSpec, OutputSpec, Representation, SamplingPlan

PRIMER_EXCERPTS = 16  # training excerpts stored in a bundle, to start generation from
PRIMER_SECONDS = 1.5  # seconds of each
PEAK = 0.98  # generated audio peaking above full scale is scaled to this peak
HEADS = ("codes", "gaussian", "linear")
FIT_FRAMES = 150_000  # frames drawn from the training audio to learn the code book from
MAX_CODES = 4096
GRIFFIN_LIM_ITERATIONS = 32  # rebuild the phases of codes (sample --iterations)


@dataclass(frozen=True)
class AudioSettings(Settings):
    """How audio is read: rate, frames, the band kept, the network's head."""

    owner = "audio"
    # the defaults are the FFT frames' (a representation made without settings keeps every sample); the command
    # line starts from a preset: the default preset's head is codes
    head: str = option("gaussian", "Output: codes (a softmax over a code book of frames learnt by k-means; one "
                                   "future drawn, phases rebuilt by Griffin-Lim), gaussian (mean and variance per FFT "
                                   "coefficient) or linear (the study's L2 regression).", choices=HEADS,
                       show_default="codes; gaussian with --preset frames, linear with --preset study")
    sample_rate: int = option(16000, "Hz the audio is resampled to.")
    frame_seconds: float = option(0.25, "Seconds per FFT frame.",
                                  show_default="0.064; 0.25 with --preset frames or study")
    hop_seconds: float = option(0.0, "Codes head: seconds from one frame to the next (0: half a frame).",
                                show_default="half a frame")
    codes: int = option(512, "Codes head: size of the code book (the frames of sound a step chooses from).")
    overlap: bool = option(True, "FFT-frame heads: half-overlapping windowed frames joined by overlap-add (no clicks).",
                           show_default="overlap; none with --preset study")
    max_hz: float = option(3000.0, "Keep the coefficients up to this frequency (0: all).")

    def validate(self) -> None:
        if not 4000 <= self.sample_rate <= 96000:
            raise UsageError(f"--sample-rate must be between 4000 and 96000 Hz, got {self.sample_rate}")
        if not 0.01 <= self.frame_seconds <= 2.0:
            raise UsageError(f"--frame-seconds must be between 0.01 and 2, got {self.frame_seconds}")
        if not self.max_hz >= 0:
            raise UsageError(f"--max-hz must be 0 (all) or positive, got {self.max_hz}")
        if not 0 <= self.hop_seconds <= self.frame_seconds:
            raise UsageError(f"--hop-seconds must be 0 (half a frame) or positive and at most --frame-seconds "
                             f"({self.frame_seconds:g}), got {self.hop_seconds:g}")
        if not 2 <= self.codes <= MAX_CODES:
            raise UsageError(f"--codes must be between 2 and {MAX_CODES}, got {self.codes}")


@dataclass(frozen=True)
class AudioSampleOptions(Settings):
    owner = "audio"
    seconds: float | None = option(None, "Seconds to generate [default: 10].", show_default=False)
    frames: int | None = option(None, "Frames to generate (instead of --seconds).")
    temperature: float = option(1.0, "Codes head: temperature of the softmax; FFT frames: scale of the noise drawn "
                                     "around the network's prediction (0: the most likely code, or the study's "
                                     "deterministic regression).")
    primer: str | None = option(None, "A WAV/FLAC/OGG file whose start begins every piece [default: a random "
                                      "training excerpt each].", show_default=False)
    primer_seconds: float = option(1.0, "Seconds of the primer read before generating.")
    iterations: int = option(GRIFFIN_LIM_ITERATIONS, "Codes head: Griffin-Lim iterations that rebuild the phases.")

    def validate(self) -> None:
        if self.seconds is not None and self.frames is not None:
            raise UsageError("give --seconds or --frames, not both")
        if self.seconds is not None and not self.seconds > 0:
            raise UsageError(f"--seconds must be positive, got {self.seconds}")
        if self.frames is not None and self.frames < 1:
            raise UsageError(f"--frames must be at least 1, got {self.frames}")
        check_range("--primer-seconds", self.primer_seconds, MAX_PRIMER_SECONDS)
        check_sampling(temperature=self.temperature)
        if not 1 <= self.iterations <= 1000:
            raise UsageError(f"--iterations must be between 1 and 1000, got {self.iterations}")
        if self.primer is not None and not Path(self.primer).is_file():
            raise UsageError(f"--primer {self.primer}: no such file")


@dataclass(frozen=True)
class AudioEvaluateOptions(Settings):
    owner = "audio"
    samples: int = option(4, "Pieces generated to measure (0: none).")
    seconds: float = option(10.0, "Seconds per sample.")
    temperature: float = option(1.0, "Temperature of the samples.")
    pitch: bool = option(True, "Track the pitch of the samples and of as many held-out clips (librosa.pyin): "
                               "voiced frames, pitch changes, notes in the scale.", flag="--pitch/--no-pitch")

    def validate(self) -> None:
        if self.samples < 0:
            raise UsageError(f"--samples must be 0 or positive, got {self.samples}")
        check_range("--seconds", self.seconds, MAX_EVALUATE_SECONDS)
        check_sampling(temperature=self.temperature)


class AudioRepresentation(Representation):
    """Each piece is mono audio at ``sample_rate``; the network reads one frame per step.

    Settings (``extra``): ``head``, ``sample_rate`` (16 kHz), ``frame_seconds``,
    ``hop_seconds`` and ``codes`` (codes head), ``overlap`` and ``max_hz``.

    - ``codes`` (the default preset): frames of 64 ms (1,024 samples) every
      32 ms, their magnitudes up to ``max_hz`` encoded as the nearest of
      ``codes`` centroids of the log magnitudes (k-means, fitted on the
      training audio like a vocabulary); the network is a token model, its
      softmax sampled one code per step by the token sampler (either
      engine); the codes' magnitudes are turned back into sound by
      Griffin-Lim (the same codes, the same sound).
    - ``gaussian`` (``--preset frames``): the real and imaginary parts of FFT
      frames of 0.25 s, half-overlapping square-root Hann windows joined by
      overlap-add, normalised per coefficient; a mean and a variance per
      coefficient, sampling draws around the mean.
    - ``linear`` (``--preset study``): the 2017 study's L2 regression of
      every coefficient of plain frames.
    """

    name: ClassVar[str] = "audio"
    Settings = AudioSettings
    SampleOptions = AudioSampleOptions
    EvaluateOptions = AudioEvaluateOptions
    default_model: ClassVar[str] = "audio-jigs"
    corpus_help: ClassVar[str] = ("An audio file or folder (.wav, .flac, .ogg), or ABC/MIDI files rendered by "
                                  "musegen's synth.")
    evaluate_help: ClassVar[str] = "The corpus (split as in training: its held-out part is scored), e.g. corpora/jigs."
    embedding_option: ClassVar[tuple[str, str]] = ("projection", "Codes head: embedding of each code; FFT frames: "
                                                                 "dense projection of each frame (0: none).")
    transposable: ClassVar[bool] = False
    loss_unit: ClassVar[str] = "per frame"
    default_formats: ClassVar[str] = "wav,png"
    format_help: ClassVar[str] = "Comma-separated: wav, png (spectrogram), npz (FFT frames of the sound)."
    summary_columns: ClassVar[tuple[str, ...]] = ("piece", "seconds", "peak", "gain", "flatness", "median flatness")
    commands_help: ClassVar[dict[str, str]] = {
        "prepare": "Prepare an audio corpus: mono, resampled, cut into frames (codes of a code book, or normalised "
                   "FFT frames), cached.",
        "train": "Train the audio model (e.g. `musegen train audio corpora/jigs`: the jigs rendered as audio).",
        "sample": "Generate audio frame by frame; write a 16 kHz WAV (16-bit) and its spectrogram.",
        "evaluate": "Loss per frame next to baselines (codes: repeat the last code, unigram, bigram; FFT frames: "
                    "repeat the last frame, the mean frame); flatness, melody and novelty of samples.",
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The 2017 study: 2 x LSTM 512, RMSprop, L2 loss on the normalised vectors of every coefficient.
        "study": dict(layers=2, units=512, embedding=0, seq_len=40, batch_size=16, epochs=10, optimizer="rmsprop",
                      lr=0.001, clipnorm=5.0, dropout=0.0,
                      extra={"head": "linear", "frame_seconds": 0.25, "max_hz": 0, "overlap": False}),
        # Codes of a code book of 64 ms frames every 32 ms: trains on the 2-core CPU, ships under 20 MB (README).
        "default": dict(layers=2, units=256, embedding=128, seq_len=128, batch_size=32, epochs=12, optimizer="adam",
                        lr=0.002, clipnorm=1.0, dropout=0.1, patience=2, lr_decay=0.5,
                        extra={"head": "codes", "frame_seconds": 0.064, "hop_seconds": 0.032, "codes": 512,
                               "max_hz": 3000}),
        # FFT frames of 0.25 s with a Gaussian head (the default before the code book).
        "frames": dict(layers=2, units=160, embedding=192, seq_len=32, batch_size=32, epochs=20, optimizer="adam",
                       lr=0.001, clipnorm=1.0, dropout=0.25, patience=3, lr_decay=0.5,
                       extra={"head": "gaussian", "frame_seconds": 0.25, "max_hz": 3000, "overlap": True}),
        # For tests and quick checks: trains in seconds.
        "tiny": dict(layers=1, units=16, embedding=8, seq_len=8, batch_size=4, epochs=2, optimizer="adam",
                     lr=0.003, clipnorm=1.0, extra={"head": "codes", "frame_seconds": 0.064, "codes": 16,
                                                    "max_hz": 1000}),
    }
    output_formats: ClassVar[tuple[str, ...]] = ("wav", "png", "npz")

    def __init__(self, settings: AudioSettings | None = None, **values: Any) -> None:
        from musegen.formats.audio import frame_length_of

        super().__init__(settings, **values)
        s = self.settings
        if s.hop_seconds and s.head != "codes":  # here, not in validate: the command line checks its own options
            raise UsageError("--hop-seconds is for the codes head: FFT frames hop half a frame with --overlap, "
                             "a whole frame without")  # alone first, the head of the preset unknown
        self.head_kind = s.head
        self.sample_rate = s.sample_rate
        self.frame_seconds = s.frame_seconds
        self.hop_seconds = s.hop_seconds
        self.codes = s.codes
        self.overlap = s.overlap
        self.max_hz = s.max_hz
        self.frame_length = frame_length_of(self.sample_rate, self.frame_seconds)
        bins = self.frame_length // 2 + 1
        kept = bins if not self.max_hz else int(self.max_hz * self.frame_length / self.sample_rate) + 1
        self.kept_bins = max(1, min(bins, kept))
        self.normalizer = None  # FFT-frame heads: per-coefficient statistics
        self.codebook = None  # codes head: the code book
        self.iterations = GRIFFIN_LIM_ITERATIONS  # of decode: sample's --iterations

    @classmethod
    def preset_for(cls, settings: dict[str, Any]) -> str | None:
        """`musegen train audio --head gaussian` (or linear) starts from the FFT-frame preset."""
        return "frames" if settings.get("head") in ("gaussian", "linear") else None

    @classmethod
    def loss_unit_of(cls, settings: dict[str, Any]) -> str:
        return "nats/frame" if settings.get("head", "codes") == "codes" else "per value of a frame"

    @property
    def is_coded(self) -> bool:
        return self.head_kind == "codes"

    @property
    def column_rule(self) -> str:  # type: ignore[override]
        return "gaussian" if self.head_kind == "gaussian" else "noise"

    @property
    def band_hz(self) -> float | None:
        """The band the model generates (for fair measures), None for the whole spectrum."""
        return self.max_hz or None

    @property
    def hop(self) -> int:
        if self.is_coded:
            return max(1, round(self.hop_seconds * self.sample_rate)) if self.hop_seconds else self.frame_length // 2
        return self.frame_length // 2 if self.overlap else self.frame_length

    # -- corpus -----------------------------------------------------------------------------------------
    def read_corpus(self, path: str | os.PathLike) -> list[np.ndarray]:
        """Audio files (WAV, FLAC, OGG: mixed to mono, resampled), or ABC and MIDI files rendered by musegen's synth."""
        return list(self.iter_corpus(path))

    def iter_corpus(self, path: str | os.PathLike) -> Iterator[np.ndarray]:
        """The pieces of :meth:`read_corpus`, read (or rendered) one at a time.

        Silent pieces and pieces shorter than a frame are left out; a corpus of
        one recording is cut into 30-second pieces, so that some can be held out.
        """
        from musegen.formats.audio import AUDIO_SUFFIXES, SCORE_SUFFIXES, iter_midi_or_abc_audio, read_audio

        path = Path(path)
        suffixes = (*AUDIO_SUFFIXES, *SCORE_SUFFIXES)
        files = path_files(path, suffixes, what="audio (.wav, .flac, .ogg), ABC or MIDI files")
        for f in files:
            if f.suffix.lower() not in suffixes:
                raise MusegenError(f"{f}: not an audio, ABC or MIDI file")

        def every_piece() -> Iterator[np.ndarray]:
            for f in files:
                if f.suffix.lower() in AUDIO_SUFFIXES:
                    yield read_audio(f, sample_rate=self.sample_rate)
                else:
                    yield from iter_midi_or_abc_audio(f, sample_rate=self.sample_rate)

        first = None  # held back until a second piece shows the corpus is not one recording
        count = 0
        for piece in every_piece():
            if len(piece) < self.frame_length or np.abs(piece).max() <= 1e-4:
                continue
            count += 1
            if first is None:
                first = piece
                continue
            if count == 2:
                yield first
            yield piece
        if count == 0:
            raise MusegenError(f"{path}: no sound to learn from (silent or shorter than a frame)")
        if count == 1:  # one recording: cut it into 30-second pieces so that some can be held out
            seg = 30 * self.sample_rate
            yield from (p for p in (first[s:s + seg] for s in range(0, len(first), seg)) if len(p) >= self.frame_length)

    def dump_piece(self, piece: np.ndarray) -> np.ndarray:
        return np.asarray(piece, dtype=np.float32)

    def load_piece(self, data: Any) -> np.ndarray:
        return np.asarray(data, dtype=np.float32)

    def bundle_files(self, train: list[np.ndarray], valid: list[np.ndarray]) -> dict[str, bytes]:
        """``primers.npz``: short training excerpts (16-bit) to start generation from."""
        rng = np.random.default_rng(0)
        n = int(PRIMER_SECONDS * self.sample_rate)
        excerpts = []
        for _ in range(PRIMER_EXCERPTS):
            piece = train[int(rng.integers(len(train)))]
            start = int(rng.integers(0, max(1, len(piece) - n)))
            excerpt = np.zeros(n, np.int16)
            cut = np.clip(piece[start:start + n], -1, 1)
            excerpt[: len(cut)] = np.round(cut * 32767).astype(np.int16)
            excerpts.append(excerpt)
        buf = io.BytesIO()
        np.savez_compressed(buf, excerpts=np.stack(excerpts))
        return {"primers.npz": buf.getvalue()}

    def describe(self) -> dict[str, Any]:
        if self.is_coded:
            return {"head": "codes", "sample_rate": self.sample_rate, "frame": f"{self.frame_length} samples",
                    "hop": f"{self.hop} samples", "codes": self.codes, "band": f"0-{self.band_hz or self.sample_rate / 2:g} Hz"}
        return {"head": self.head_kind, "sample_rate": self.sample_rate, "frame": f"{self.frame_length} samples",
                "overlap": self.overlap, "coefficients": 2 * self.kept_bins}

    # -- arrays -----------------------------------------------------------------------------------------
    def _frames(self, audio: np.ndarray) -> np.ndarray:
        from musegen.formats.audio import audio_to_frames

        frames = audio_to_frames(audio, sample_rate=self.sample_rate, frame_seconds=self.frame_seconds,
                                 overlap=self.overlap)
        bins, k = frames.bins, self.kept_bins
        return np.concatenate([frames.data[:, :k], frames.data[:, bins:bins + k]], axis=1)

    def magnitudes(self, audio: np.ndarray) -> np.ndarray:
        """Codes head: the magnitudes of the frames of ``audio`` up to ``max_hz`` ``[shape=(frames, kept_bins)]``."""
        from musegen.formats.audio import magnitude_frames

        return magnitude_frames(audio, sample_rate=self.sample_rate, frame_length=self.frame_length, hop=self.hop,
                                bins=self.kept_bins)

    def fit(self, pieces: list[np.ndarray]) -> None:
        """Codes head: the code book, k-means on the log magnitudes of (at most 150,000) training frames.
        FFT frames: per-coefficient mean and deviation of the training frames."""
        from musegen.formats.audio import CodeBook, FrameNormalizer

        if not self.is_coded:
            self.normalizer = FrameNormalizer.fit((self._frames(p) for p in pieces), eps=1e-3)  # a piece at a time
            return
        # lengths from the prepared corpus's index where it has one (pieces read from disk), else from the pieces
        lengths = pieces.lengths() if hasattr(pieces, "lengths") else [len(p) for p in pieces]
        total = sum(1 + int(n) // self.hop for n in lengths)
        share = min(1.0, FIT_FRAMES / max(total, 1))
        rng = np.random.default_rng(0)
        drawn = []  # a share of each piece's frames: all the frames of hours of audio would not fit in memory
        for p in pieces:
            mags = self.magnitudes(p)
            drawn.append(mags[rng.random(len(mags)) < share] if share < 1 else mags)
        self.codebook = CodeBook.fit(drawn, size=self.codes, seed=0, max_frames=FIT_FRAMES)

    def encode(self, piece: np.ndarray) -> np.ndarray:
        """Codes head: ``[shape=(frames,)]`` the code of each frame.  FFT frames: ``[shape=(frames, 2 *
        kept_bins)]`` normalised real then imaginary parts."""
        if self.is_coded:
            if self.codebook is None:
                raise MusegenError("the audio representation is not fitted")
            return self.codebook.encode(self.magnitudes(piece)).astype(np.int32)
        if self.normalizer is None:
            raise MusegenError("the audio representation is not fitted")
        return self.normalizer.encode(self._frames(piece))

    def decode(self, array: np.ndarray, *, seed: int = 0) -> np.ndarray:
        """Audio from codes (their magnitudes, phases rebuilt by :attr:`iterations` of Griffin-Lim started from
        random phases drawn with ``seed``), or from normalised FFT frames (coefficients left out come back as
        zeros; inverse FFT, frames joined)."""
        from musegen.formats.audio import Frames, frames_capacity, frames_to_audio, griffin_lim

        if self.is_coded:
            ids = np.asarray(array, np.int64).ravel()
            return griffin_lim(self.codebook.magnitudes(ids), frame_length=self.frame_length, hop=self.hop,
                               iterations=self.iterations, seed=seed)
        data = self.normalizer.decode(np.asarray(array, dtype=np.float32))
        bins, k = self.frame_length // 2 + 1, self.kept_bins
        full = np.zeros((len(data), 2 * bins), np.float32)
        full[:, :k], full[:, bins:bins + k] = data[:, :k], data[:, k:]
        if not len(full):
            return np.zeros(0, np.float32)
        window = "hann" if self.overlap else "none"
        length = frames_capacity(len(full), self.frame_length, self.hop, window)
        frames = Frames(data=full, sample_rate=self.sample_rate, frame_length=self.frame_length, hop=self.hop,
                        window=window, length=length)
        return frames_to_audio(frames)

    def input_spec(self) -> InputSpec:
        if self.is_coded:
            return InputSpec("tokens", self.codes)
        return InputSpec("vectors", 2 * self.kept_bins)

    def head(self) -> OutputSpec:
        if self.is_coded:
            return OutputSpec("softmax", self.codes)
        return OutputSpec(self.head_kind, 2 * self.kept_bins)

    # -- sampling ---------------------------------------------------------------------------------------
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop

    def primer(self, bundle_path: Path, path: str | os.PathLike | None = None, *,
               seconds: float = 1.0) -> tuple[list[np.ndarray], int]:
        """What :meth:`encode_primer` takes: the start of an audio file, or the bundle's training excerpts."""
        from musegen.formats.audio import read_audio

        frames = max(1, round(seconds * self.frames_per_second()))
        if path is None:
            f = Path(bundle_path) / "primers.npz"
            try:
                with np.load(f, allow_pickle=False) as z:
                    excerpts = [e.astype(np.float32) / 32767 for e in z["excerpts"]]
            except (OSError, KeyError, ValueError) as exc:
                raise MusegenError(f"{f}: cannot read the model's primers ({exc})") from None
            return excerpts, frames
        path = Path(path)
        if not path.is_file():
            raise MusegenError(f"--primer {path}: no such file")
        audio = read_audio(path, sample_rate=self.sample_rate)
        return [audio[: frames * self.hop + self.frame_length]], frames

    def encode_primer(self, primer: Any, *, num: int, seed: int) -> np.ndarray:
        """Codes head: the codes of a file's start, or of one training excerpt drawn with ``seed``, shared by every
        piece ``[shape=(frames,)]`` (the token sampler's primer).  FFT frames: one primer per piece, a file's
        start or a random excerpt each ``[shape=(num, frames, features)]`` (a primer shorter than asked is led by
        zeros)."""
        excerpts, frames = primer
        rng = np.random.default_rng(seed)
        if self.is_coded:
            audio = excerpts[0] if len(excerpts) == 1 else excerpts[int(rng.integers(len(excerpts)))]
            return self.encode(audio)[:frames]
        out = np.zeros((num, frames, self.input_spec().size), np.float32)
        for i in range(num):
            audio = excerpts[0] if len(excerpts) == 1 else excerpts[int(rng.integers(len(excerpts)))]
            cols = self.encode(audio)[:frames]
            out[i, frames - len(cols):] = cols
        return out

    def plan_sampling(self, bundle_path: Path, options: AudioSampleOptions) -> SamplingPlan:
        """The primer file's start or training excerpts; the frames asked for (10 s by default); the Griffin-Lim
        iterations of the codes head."""
        self.iterations = options.iterations
        primer = self.primer(bundle_path, options.primer, seconds=options.primer_seconds)
        frames = options.frames or max(1, round((options.seconds or 10.0) * self.frames_per_second()))
        return SamplingPlan(primer, frames, options.temperature)

    def summary_row(self, piece: dict[str, Any]) -> tuple[str, ...]:
        db = round(20 * math.log10(piece["gain"]), 1)  # turned down, never clipped
        gain = f"{db:.1f} dB" if db < 0 else "0 dB"
        return (piece["title"], f"{piece['seconds']:.2f}", f"{piece['peak']:.3f}", gain,
                f"{piece['spectral_flatness']:.4f}", f"{piece['median_flatness']:.5f}")

    def summary_title(self, result: Any, plan: SamplingPlan) -> str:
        return (f"{len(result.pieces)} piece(s): {result.tokens} frames in {result.seconds:.2f} s "
                f"(temperature {plan.temperature:g})")

    def postprocess(self, piece: np.ndarray, *, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Summary: length, peak, spectral flatness of the band generated (mean over frames, and the median of
        64 ms frames: the melody measure); audio louder than full scale is turned down, not clipped."""
        from musegen.formats.audio import band_flatness, spectral_flatness

        peak = float(np.abs(piece).max()) if len(piece) else 0.0
        gain = 1.0
        if peak > PEAK:  # turned down to just under full scale rather than clipped at 16 bits
            gain = PEAK / peak
            piece = (piece * gain).astype(np.float32)
        try:
            flatness = spectral_flatness(piece, sample_rate=self.sample_rate, max_hz=self.band_hz)
            median = band_flatness(piece, sample_rate=self.sample_rate, max_hz=self.band_hz or self.sample_rate / 2)
        except MusegenError:
            flatness = median = float("nan")  # silent
        return piece, {"title": f"audio_{index}", "seconds": round(len(piece) / self.sample_rate, 3),
                       "peak": round(peak, 4), "gain": round(gain, 4), "spectral_flatness": flatness,
                       "median_flatness": median, "valid": peak > 1e-4}

    def write_format(self, piece: np.ndarray, path: Path, fmt: str, options: Any) -> None:
        AUDIO_WRITERS[fmt](self, piece, path, options)

    # -- bundle -----------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config = {"name": self.name, "head": self.head_kind, "sample_rate": self.sample_rate,
                  "frame_seconds": self.frame_seconds, "overlap": self.overlap, "max_hz": self.max_hz,
                  "normalizer": self.normalizer.to_dict() if self.normalizer is not None else None}
        if self.is_coded:
            config.update(hop_seconds=self.hop_seconds, codes=self.codes,
                          codebook=self.codebook.to_dict() if self.codebook is not None else None)
        return config

    def set_config(self, config: dict[str, Any]) -> None:
        from musegen.formats.audio import CodeBook, FrameNormalizer

        try:
            self.__init__(AudioSettings(head=config["head"], sample_rate=int(config["sample_rate"]),
                                        frame_seconds=float(config["frame_seconds"]), overlap=bool(config["overlap"]),
                                        max_hz=float(config["max_hz"]),
                                        hop_seconds=float(config.get("hop_seconds", 0.0)),
                                        codes=int(config.get("codes", AudioSettings.codes))))
            norm = config.get("normalizer")
            self.normalizer = FrameNormalizer.from_dict(norm) if norm is not None else None
            book = config.get("codebook")
            self.codebook = CodeBook.from_dict(book) if book is not None else None
        except (KeyError, TypeError, ValueError, UsageError) as exc:
            raise MusegenError(f"representation.json: not an audio representation ({exc})") from None
        if self.normalizer is not None and self.normalizer.features != 2 * self.kept_bins:
            raise MusegenError("representation.json: the normaliser does not match the frame settings")
        if self.codebook is not None and (self.codebook.size, self.codebook.bins) != (self.codes, self.kept_bins):
            raise MusegenError("representation.json: the code book does not match the frame settings")

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, probe: Any, target: str, options: AudioEvaluateOptions) -> dict[str, Any]:
        """Validation loss next to baselines, and the sound of samples against the corpus.

        ``target`` (a corpus) is read with the model's settings and split as
        in training, so the model's own corpus gives back its held-out pieces.

        Codes head: nats per frame of the held-out pieces (each run whole)
        beside three baselines fitted on the training codes: ``unigram`` (the
        codes' frequencies), ``repeat`` (the last code again with the
        training share of repeats, else the unigram) and ``bigram`` (the
        code after the last, smoothed by the unigram).  FFT frames: losses per
        value of the normalised frames (Gaussian nats, or the study's L2) and
        the squared error of the predicted mean, beside ``repeat`` (the last
        frame again, with the training variance of a frame's change) and
        ``mean`` (the training mean frame, unit variance).

        Samples (see :meth:`sample_measures`): flatness, melody, novelty.
        """
        from musegen.formats.audio import band_flatness, spectral_flatness

        pieces, train, valid = probe.held_out(target)
        t0 = time.perf_counter()
        train_ids = [self.encode(p) for p in train] if self.is_coded else None  # encoded once, for both uses
        if self.is_coded:
            result = self._code_losses(probe, train_ids, valid)
        else:
            result = self._frame_losses(probe, train, valid)
        result = {"corpus": str(target), "model": str(probe.bundle.path), "head": self.head_kind,
                  "pieces": len(pieces), "valid_pieces": len(valid), **result}
        band, rate = self.band_hz, self.sample_rate
        noise = np.random.default_rng(0).normal(0, 0.1, rate * 10).astype(np.float32)
        result["band_hz"] = band or rate / 2
        result["corpus_flatness"] = spectral_flatness(valid, sample_rate=rate, max_hz=band)
        result["corpus_median_flatness"] = band_flatness(valid, sample_rate=rate, max_hz=band or rate / 2)
        result["white_noise_flatness"] = spectral_flatness(noise, sample_rate=rate, max_hz=band)
        result["seconds"] = round(time.perf_counter() - t0, 3)
        if options.samples:
            result.update(self.sample_measures(probe, train_ids, valid, options))
        return result

    def _code_losses(self, probe: Any, train_ids: list[np.ndarray], valid: list[np.ndarray]) -> dict[str, Any]:
        """Nats per frame of the held-out codes under the model and the unigram, repeat and bigram baselines
        (``train_ids``: the training pieces' codes)."""
        valid_ids = [c for c in (self.encode(p) for p in valid) if len(c) > 1]
        if not valid_ids:
            raise UsageError("no held-out piece is long enough to score (two frames at least)")
        k = self.codes
        counts = np.bincount(np.concatenate(train_ids), minlength=k).astype(np.float64) + 0.5
        unigram = counts / counts.sum()
        pairs = np.zeros((k, k))
        repeats = steps = 0
        for c in train_ids:
            np.add.at(pairs, (c[:-1], c[1:]), 1)
            repeats += int(np.sum(c[1:] == c[:-1]))
            steps += len(c) - 1
        p_repeat = min(max(repeats / max(steps, 1), 1e-6), 1 - 1e-6)
        prior = 10.0  # the bigram's counts are smoothed by 10 frames' worth of the unigram
        bigram = (pairs + prior * unigram[None]) / (pairs.sum(axis=1, keepdims=True) + prior)
        prev = np.concatenate([c[:-1] for c in valid_ids])
        nxt = np.concatenate([c[1:] for c in valid_ids])
        same = prev == nxt
        other = unigram[nxt] / np.maximum(1 - unigram[prev], 1e-12)
        model = probe.token_bits(valid_ids) * math.log(2)
        result: dict[str, Any] = {
            "valid_frames": int(len(nxt)), "loss_unit": "nats/frame", "loss": float(model.mean()),
            "unigram_loss": float(-np.log(unigram[nxt]).mean()),
            "repeat_loss": float(-np.where(same, np.log(p_repeat), np.log(1 - p_repeat) + np.log(other)).mean()),
            "bigram_loss": float(-np.log(bigram[prev, nxt]).mean()),
            "repeat_share": round(p_repeat, 4),
        }
        for name in ("repeat", "unigram", "bigram"):
            result[f"beats_{name}_baseline"] = bool(result["loss"] < result[f"{name}_loss"])
        return result

    def _frame_losses(self, probe: Any, train: list[np.ndarray], valid: list[np.ndarray]) -> dict[str, Any]:
        """Per value of the normalised FFT frames: the head's loss and the mean's squared error, and baselines."""
        total, changes = 0.0, 0  # the mean squared change of each value from a frame to the next, a piece at a time
        for piece in train:
            cols = self.encode(piece)
            if len(cols) > 1:
                total = total + np.square(np.diff(cols, axis=0)).sum(axis=0, dtype=np.float64)
                changes += len(cols) - 1
        if not changes:
            raise UsageError("no training piece is long enough to measure a frame's change (two frames at least)")
        change_var = (total / changes).astype(np.float32)
        n = self.input_spec().size
        baselines = {  # outputs shaped like the model's: [mean] or [mean, log-variance]
            "repeat": lambda prev: np.concatenate([prev, np.broadcast_to(np.log(np.maximum(change_var, 1e-6)),
                                                                         prev.shape)], axis=1),
            "mean": lambda prev: np.zeros((len(prev), 2 * n), np.float32),  # normalised: mean 0, variance 1
        }
        nll = probe.head_loss("gaussian")

        def scores(pred: np.ndarray, target: np.ndarray, prev: np.ndarray) -> dict[str, float]:
            mse = float(np.mean(np.square(pred[:, :n] - target)))
            return {"loss": float(np.mean(nll(np, target, pred))) if self.head_kind == "gaussian" else mse,
                    "mse": mse}

        steps, means = probe.held_out_scores(valid, baselines, scores)
        result: dict[str, Any] = {"valid_frames": steps, "loss_unit": "per value", **means}
        result["beats_repeat_baseline"] = bool(result["loss"] < result["repeat_loss"])
        result["beats_mean_baseline"] = bool(result["loss"] < result["mean_loss"])
        return result

    def clips(self, pieces: list[np.ndarray], seconds: float, count: int) -> list[np.ndarray]:
        """``count`` clips of ``seconds`` from the middle of ``pieces`` (the first pieces, or all of them),
        as long as each piece allows; each starts on a frame of its piece (a whole number of hops in), so that
        its frames are the piece's own."""
        n = int(seconds * self.sample_rate)
        out = []
        for p in pieces[:count]:
            start = max(0, (len(p) - n) // 2) // self.hop * self.hop
            out.append(p[start:start + n])
        return out

    def sample_measures(self, probe: Any, train_ids: list[np.ndarray] | None, valid: list[np.ndarray],
                        options: AudioEvaluateOptions) -> dict[str, Any]:
        """Generate ``options.samples`` pieces (as ``musegen sample`` does; audio is never repaired: what is
        drawn is written) and measure them beside held-out clips of the same length.

        - spectral flatness of the band generated: the mean over 128 ms frames
          and the median over 64 ms frames (:func:`~musegen.formats.audio.band_flatness`);
          log-spectral distance to the held-out audio; white noise for scale;
        - with ``options.pitch``, the melody heard by ``librosa.pyin``
          (:func:`~musegen.formats.audio.melody_of`): voiced frames, pitch
          changes per second, share of the notes on the 7 most used pitch
          classes, per sample and per held-out clip;
        - codes head: novelty, the longest run of frames whose codes (the
          sample's sound encoded again) follow each other the same way in a
          training piece (``train_ids``: the training pieces' codes), in seconds, beside the same for the
          held-out clips.
        """
        from musegen.formats.audio import (
            band_flatness,
            log_spectral_distance,
            melody_of,
            shared_run,
            spectral_flatness,
        )

        band, rate = self.band_hz, self.sample_rate
        noise = np.random.default_rng(0).normal(0, 0.1, rate * 10).astype(np.float32)
        frames = max(1, round(options.seconds * self.frames_per_second()))
        primer = self.primer(probe.bundle.path, None)
        gen = probe.generate(num=options.samples, temperature=options.temperature, max_length=frames,
                             primer=self.encode_primer(primer, num=options.samples, seed=probe.seed))
        audio = [p for p in gen.pieces if len(p) and np.abs(p).max() > 1e-4]
        held = [c for c in self.clips(valid, options.seconds, options.samples) if np.abs(c).max() > 1e-4]
        result: dict[str, Any] = {
            "samples": options.samples, "temperature": options.temperature,
            "silent_samples": options.samples - len(audio),
            "frames_per_second_generated": round(gen.tokens / gen.seconds, 1) if gen.seconds else None,
        }
        if not audio:
            return result
        white = spectral_flatness(noise, sample_rate=rate, max_hz=band)
        result["sample_flatness"] = spectral_flatness(audio, sample_rate=rate, max_hz=band)
        result["sample_flatness_per_piece"] = [round(spectral_flatness(a, sample_rate=rate, max_hz=band), 5)
                                               for a in audio]
        result["sample_median_flatness_per_piece"] = [
            round(band_flatness(a, sample_rate=rate, max_hz=band or rate / 2), 6) for a in audio]
        result["flatness_below_tenth_of_noise"] = bool(result["sample_flatness"] < 0.1 * white)
        result["log_spectral_distance"] = log_spectral_distance(audio, valid, sample_rate=rate, max_hz=band)
        result["noise_log_spectral_distance"] = log_spectral_distance(noise, valid, sample_rate=rate, max_hz=band)
        result["clipped_share"] = float(np.mean(np.concatenate([np.abs(a) > 1 for a in audio])))
        if options.pitch:
            for key, clips in (("sample_melody", audio), ("corpus_melody", held)):
                result[key] = [melody_of(a, sample_rate=rate).summary() for a in clips]
        if self.is_coded:
            result["sample_copied_seconds"] = [round(shared_run(self.encode(a), train_ids) / self.frames_per_second(),
                                                     3) for a in audio]
            result["corpus_copied_seconds"] = [round(shared_run(self.encode(c), train_ids) / self.frames_per_second(),
                                                     3) for c in held]
        return result


def _write_wav(rep: AudioRepresentation, audio: np.ndarray, path: Path, options: Any) -> None:
    from musegen.formats import write_stamped
    from musegen.formats.audio import write_audio

    write_stamped(path, options, lambda out, opts: write_audio(  # 16-bit, clipped (never wrapped); provenance
        audio, out, sample_rate=rep.sample_rate, force=opts.force))


def _write_png(rep: AudioRepresentation, audio: np.ndarray, path: Path, options: Any) -> None:
    from musegen.formats import write_stamped
    from musegen.formats.audio import draw_spectrogram

    write_stamped(path, options, lambda out, opts: draw_spectrogram(
        audio, out, sample_rate=rep.sample_rate, force=opts.force))


def _write_npz(rep: AudioRepresentation, audio: np.ndarray, path: Path, options: Any) -> None:
    from musegen.formats import write_stamped
    from musegen.formats.audio import audio_to_frames, write_frames

    frames = audio_to_frames(audio, sample_rate=rep.sample_rate, frame_seconds=rep.frame_seconds, overlap=rep.overlap)
    write_stamped(path, options, lambda out, opts: write_frames(frames, out, force=opts.force))


# output format -> writer(representation, audio, path, options); add an entry for a new format
AUDIO_WRITERS = {"wav": _write_wav, "png": _write_png, "npz": _write_npz}
