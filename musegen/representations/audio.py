"""Audio as FFT frames: real and imaginary parts of each frame's spectrum, normalised per coefficient."""

from __future__ import annotations

import io
import math
import os
import time
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


@dataclass(frozen=True)
class AudioSettings(Settings):
    """How audio is read: rate, frames, the band kept, the network's head."""

    owner = "audio"
    head: str = option("gaussian", "Output: gaussian (mean and variance per coefficient) or linear (the study's "
                                   "L2 regression).", choices=("gaussian", "linear"),
                       show_default="gaussian; linear with --preset study")
    sample_rate: int = option(16000, "Hz the audio is resampled to.")
    frame_seconds: float = option(0.25, "Seconds per FFT frame.")
    overlap: bool = option(True, "Half-overlapping windowed frames joined by overlap-add (no clicks).",
                           show_default="overlap; none with --preset study")
    max_hz: float = option(3000.0, "Keep the coefficients up to this frequency (0: all).")

    def validate(self) -> None:
        if not 4000 <= self.sample_rate <= 96000:
            raise UsageError(f"--sample-rate must be between 4000 and 96000 Hz, got {self.sample_rate}")
        if not 0.01 <= self.frame_seconds <= 2.0:
            raise UsageError(f"--frame-seconds must be between 0.01 and 2, got {self.frame_seconds}")
        if not self.max_hz >= 0:
            raise UsageError(f"--max-hz must be 0 (all) or positive, got {self.max_hz}")


@dataclass(frozen=True)
class AudioSampleOptions(Settings):
    owner = "audio"
    seconds: float | None = option(None, "Seconds to generate [default: 10].", show_default=False)
    frames: int | None = option(None, "Frames to generate (instead of --seconds).")
    temperature: float = option(1.0, "Scale of the noise drawn around the network's prediction (0: the study's "
                                     "deterministic regression).")
    primer: str | None = option(None, "A WAV/FLAC/OGG file whose start begins every piece [default: a random "
                                      "training excerpt each].", show_default=False)
    primer_seconds: float = option(1.0, "Seconds of the primer read before generating.")

    def validate(self) -> None:
        if self.seconds is not None and self.frames is not None:
            raise UsageError("give --seconds or --frames, not both")
        if self.seconds is not None and not self.seconds > 0:
            raise UsageError(f"--seconds must be positive, got {self.seconds}")
        if self.frames is not None and self.frames < 1:
            raise UsageError(f"--frames must be at least 1, got {self.frames}")
        check_range("--primer-seconds", self.primer_seconds, MAX_PRIMER_SECONDS)
        check_sampling(temperature=self.temperature)
        if self.primer is not None and not Path(self.primer).is_file():
            raise UsageError(f"--primer {self.primer}: no such file")


@dataclass(frozen=True)
class AudioEvaluateOptions(Settings):
    owner = "audio"
    samples: int = option(4, "Pieces generated to measure (0: none).")
    seconds: float = option(10.0, "Seconds per sample.")
    temperature: float = option(1.0, "Temperature of the samples.")

    def validate(self) -> None:
        if self.samples < 0:
            raise UsageError(f"--samples must be 0 or positive, got {self.samples}")
        check_range("--seconds", self.seconds, MAX_EVALUATE_SECONDS)
        check_sampling(temperature=self.temperature)


class AudioRepresentation(Representation):
    """Each piece is mono audio at ``sample_rate``; the network reads one FFT frame per step.

    Settings (``extra``): ``sample_rate`` (16 kHz), ``frame_seconds`` (0.25 s:
    4,000 samples), ``overlap`` (half-overlapping square-root Hann frames,
    joined by overlap-add, so generated frames do not click at their edges),
    ``max_hz`` (coefficients above it are left out and come back as zeros;
    0 keeps them all) and ``head``: ``gaussian`` (a mean and a variance per
    coefficient: sampling draws the partials' energy even where their phase
    cannot be predicted) or ``linear`` (the study's L2 regression).
    """

    name: ClassVar[str] = "audio"
    Settings = AudioSettings
    SampleOptions = AudioSampleOptions
    EvaluateOptions = AudioEvaluateOptions
    default_model: ClassVar[str] = "audio-jigs"
    corpus_help: ClassVar[str] = ("An audio file or folder (.wav, .flac, .ogg), or ABC/MIDI files rendered by "
                                  "musegen's synth.")
    evaluate_help: ClassVar[str] = "The corpus (split as in training: its held-out part is scored), e.g. corpora/jigs."
    embedding_option: ClassVar[tuple[str, str]] = ("projection", "Dense projection of each frame before the "
                                                                 "LSTMs (0: none).")
    transposable: ClassVar[bool] = False
    loss_unit: ClassVar[str] = "per frame"
    default_formats: ClassVar[str] = "wav,png"
    format_help: ClassVar[str] = "Comma-separated: wav, png (spectrogram), npz (frames)."
    summary_columns: ClassVar[tuple[str, ...]] = ("piece", "seconds", "peak", "gain", "flatness")
    commands_help: ClassVar[dict[str, str]] = {
        "prepare": "Prepare an audio corpus: mono, resampled, cut into FFT frames, normalised, cached.",
        "train": "Train the FFT-frame model (e.g. `musegen train audio corpora/jigs`: the jigs rendered as audio).",
        "sample": "Generate audio frame by frame; write a 16 kHz WAV (16-bit, clipped) and its spectrogram.",
        "evaluate": "Loss per value next to two baselines (repeat the last frame; the mean frame); flatness and "
                    "distance of samples.",
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The 2017 study: 2 x LSTM 512, RMSprop, L2 loss on the normalised vectors of every coefficient.
        "study": dict(layers=2, units=512, embedding=0, seq_len=40, batch_size=16, epochs=10, optimizer="rmsprop",
                      lr=0.001, clipnorm=5.0, dropout=0.0,
                      extra={"head": "linear", "max_hz": 0, "overlap": False}),
        # Trains on the 2-core CPU and ships under 20 MB (see README).
        "default": dict(layers=2, units=160, embedding=192, seq_len=32, batch_size=32, epochs=20, optimizer="adam",
                        lr=0.001, clipnorm=1.0, dropout=0.25, patience=3, lr_decay=0.5,
                        extra={"head": "gaussian", "max_hz": 3000, "overlap": True}),
        # For tests and quick checks: trains in seconds.
        "tiny": dict(layers=1, units=16, embedding=16, seq_len=8, batch_size=4, epochs=2, optimizer="adam",
                     lr=0.003, clipnorm=1.0, extra={"head": "gaussian", "max_hz": 1000, "overlap": True}),
    }
    output_formats: ClassVar[tuple[str, ...]] = ("wav", "png", "npz")
    def __init__(self, settings: AudioSettings | None = None, **values: Any) -> None:
        from musegen.formats.audio import frame_length_of

        super().__init__(settings, **values)
        self.head_kind = self.settings.head
        self.sample_rate = self.settings.sample_rate
        self.frame_seconds = self.settings.frame_seconds
        self.overlap = self.settings.overlap
        self.max_hz = self.settings.max_hz
        self.frame_length = frame_length_of(self.sample_rate, self.frame_seconds)
        bins = self.frame_length // 2 + 1
        kept = bins if not self.max_hz else int(self.max_hz * self.frame_length / self.sample_rate) + 1
        self.kept_bins = max(1, min(bins, kept))
        self.normalizer = None

    @property
    def column_rule(self) -> str:  # type: ignore[override]
        return "gaussian" if self.head_kind == "gaussian" else "noise"

    @property
    def band_hz(self) -> float | None:
        """The band the model generates (for fair measures), None for the whole spectrum."""
        return self.max_hz or None

    @property
    def hop(self) -> int:
        return self.frame_length // 2 if self.overlap else self.frame_length

    # -- corpus -----------------------------------------------------------------------------------------
    def read_corpus(self, path: str | os.PathLike) -> list[np.ndarray]:
        """Audio files (WAV, FLAC, OGG: mixed to mono, resampled), or ABC and MIDI files rendered by musegen's synth."""
        from musegen.formats.audio import AUDIO_SUFFIXES, SCORE_SUFFIXES, midi_or_abc_to_audio, read_audio

        path = Path(path)
        suffixes = (*AUDIO_SUFFIXES, *SCORE_SUFFIXES)
        files = path_files(path, suffixes, what="audio (.wav, .flac, .ogg), ABC or MIDI files")
        pieces = []
        for f in files:
            if f.suffix.lower() in AUDIO_SUFFIXES:
                pieces.append(read_audio(f, sample_rate=self.sample_rate))
            elif f.suffix.lower() in SCORE_SUFFIXES:
                pieces.extend(midi_or_abc_to_audio(f, sample_rate=self.sample_rate))
            else:
                raise MusegenError(f"{f}: not an audio, ABC or MIDI file")
        pieces = [p for p in pieces if len(p) >= self.frame_length and np.abs(p).max() > 1e-4]
        if not pieces:
            raise MusegenError(f"{path}: no sound to learn from (silent or shorter than a frame)")
        if len(pieces) == 1:  # one recording: cut it into 30-second pieces so that some can be held out
            seg = 30 * self.sample_rate
            pieces = [pieces[0][s:s + seg] for s in range(0, len(pieces[0]), seg)]
            pieces = [p for p in pieces if len(p) >= self.frame_length]
        return pieces

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
        return {"head": self.head_kind, "sample_rate": self.sample_rate, "frame": f"{self.frame_length} samples",
                "overlap": self.overlap, "coefficients": 2 * self.kept_bins}

    # -- arrays -----------------------------------------------------------------------------------------
    def _frames(self, audio: np.ndarray) -> np.ndarray:
        from musegen.formats.audio import audio_to_frames

        frames = audio_to_frames(audio, sample_rate=self.sample_rate, frame_seconds=self.frame_seconds,
                                 overlap=self.overlap)
        bins, k = frames.bins, self.kept_bins
        return np.concatenate([frames.data[:, :k], frames.data[:, bins:bins + k]], axis=1)

    def fit(self, pieces: list[np.ndarray]) -> None:
        """Per-coefficient mean and deviation of the training frames."""
        from musegen.formats.audio import FrameNormalizer

        self.normalizer = FrameNormalizer.fit([self._frames(p) for p in pieces], eps=1e-3)

    def encode(self, piece: np.ndarray) -> np.ndarray:
        """``[shape=(frames, 2 * kept_bins)]`` normalised real then imaginary parts."""
        if self.normalizer is None:
            raise MusegenError("the audio representation is not fitted")
        return self.normalizer.encode(self._frames(piece))

    def decode(self, array: np.ndarray) -> np.ndarray:
        """Audio from normalised frames: coefficients left out come back as zeros; inverse FFT, frames joined."""
        from musegen.formats.audio import Frames, frames_capacity, frames_to_audio

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
        return InputSpec("vectors", 2 * self.kept_bins)

    def head(self) -> OutputSpec:
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
        """One primer per piece ``[shape=(num, frames, features)]``: a file's start, or a random excerpt each."""
        excerpts, frames = primer
        rng = np.random.default_rng(seed)
        out = np.zeros((num, frames, self.input_spec().size), np.float32)
        for i in range(num):
            audio = excerpts[0] if len(excerpts) == 1 else excerpts[int(rng.integers(len(excerpts)))]
            cols = self.encode(audio)[:frames]
            out[i, frames - len(cols):] = cols
        return out

    def plan_sampling(self, bundle_path: Path, options: AudioSampleOptions) -> SamplingPlan:
        """The primer file's start or training excerpts; the frames asked for (10 s by default)."""
        primer = self.primer(bundle_path, options.primer, seconds=options.primer_seconds)
        frames = options.frames or max(1, round((options.seconds or 10.0) * self.frames_per_second()))
        return SamplingPlan(primer, frames, options.temperature)

    def summary_row(self, piece: dict[str, Any]) -> tuple[str, ...]:
        gain = f"{20 * math.log10(piece['gain']):.1f} dB" if piece["gain"] < 1 else "0 dB"  # turned down, never clipped
        return (piece["title"], f"{piece['seconds']:.2f}", f"{piece['peak']:.3f}", gain,
                f"{piece['spectral_flatness']:.4f}")

    def summary_title(self, result: Any, plan: SamplingPlan) -> str:
        return (f"{len(result.pieces)} piece(s): {result.tokens} frames in {result.seconds:.2f} s "
                f"(temperature {plan.temperature:g})")

    def postprocess(self, piece: np.ndarray, *, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Summary: length, peak, spectral flatness; audio louder than full scale is turned down, not clipped."""
        from musegen.formats.audio import spectral_flatness

        peak = float(np.abs(piece).max()) if len(piece) else 0.0
        gain = 1.0
        if peak > PEAK:  # turned down to just under full scale rather than clipped at 16 bits
            gain = PEAK / peak
            piece = (piece * gain).astype(np.float32)
        try:
            flatness = spectral_flatness(piece, sample_rate=self.sample_rate, max_hz=self.band_hz)
        except MusegenError:
            flatness = float("nan")  # silent
        return piece, {"title": f"audio_{index}", "seconds": round(len(piece) / self.sample_rate, 3),
                       "peak": round(peak, 4), "gain": round(gain, 4), "spectral_flatness": flatness,
                       "valid": peak > 1e-4}

    def write_format(self, piece: np.ndarray, path: Path, fmt: str, options: Any) -> None:
        AUDIO_WRITERS[fmt](self, piece, path, options)

    # -- bundle -----------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "head": self.head_kind, "sample_rate": self.sample_rate,
                "frame_seconds": self.frame_seconds, "overlap": self.overlap, "max_hz": self.max_hz,
                "normalizer": self.normalizer.to_dict() if self.normalizer is not None else None}

    def set_config(self, config: dict[str, Any]) -> None:
        from musegen.formats.audio import FrameNormalizer

        try:
            self.__init__(AudioSettings(head=config["head"], sample_rate=int(config["sample_rate"]),
                                        frame_seconds=float(config["frame_seconds"]), overlap=bool(config["overlap"]),
                                        max_hz=float(config["max_hz"])))
            norm = config.get("normalizer")
            self.normalizer = FrameNormalizer.from_dict(norm) if norm is not None else None
        except (KeyError, TypeError, ValueError, UsageError) as exc:
            raise MusegenError(f"representation.json: not an audio representation ({exc})") from None
        if self.normalizer is not None and self.normalizer.features != 2 * self.kept_bins:
            raise MusegenError("representation.json: the normaliser does not match the frame settings")


    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, probe: Any, target: str, options: AudioEvaluateOptions) -> dict[str, Any]:
        """Validation loss next to two baselines, and the sound of samples against the corpus.

        ``target`` (a corpus) is read with the model's settings and split as
        in training, so the model's own corpus gives back its held-out pieces.
        Losses are per value of the normalised frames: the head's loss
        (Gaussian nats, or the study's L2) and the mean squared error of the
        predicted mean.  Baselines: ``repeat`` (the last frame again, with the
        training variance of a frame's change) and ``mean`` (the training mean
        frame, unit variance).  Samples: spectral flatness and log-spectral
        distance to the held-out audio, both measured on the band the model
        generates, beside white noise in that band.
        """
        from musegen.formats.audio import log_spectral_distance, spectral_flatness

        pieces, train, valid = probe.held_out(target)
        t0 = time.perf_counter()
        train_cols = [self.encode(p) for p in train]
        change_var = np.mean(np.concatenate([np.square(np.diff(c, axis=0)) for c in train_cols if len(c) > 1]),
                             axis=0)
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
        result: dict[str, Any] = {"corpus": str(target), "model": str(probe.bundle.path), "head": self.head_kind,
                                  "pieces": len(pieces), "valid_pieces": len(valid), "valid_frames": steps, **means}
        result["beats_repeat_baseline"] = bool(result["loss"] < result["repeat_loss"])
        result["beats_mean_baseline"] = bool(result["loss"] < result["mean_loss"])
        band, rate = self.band_hz, self.sample_rate
        noise = np.random.default_rng(0).normal(0, 0.1, rate * 10).astype(np.float32)
        result["band_hz"] = band or rate / 2
        result["corpus_flatness"] = spectral_flatness(valid, sample_rate=rate, max_hz=band)
        result["white_noise_flatness"] = spectral_flatness(noise, sample_rate=rate, max_hz=band)
        result["seconds"] = round(time.perf_counter() - t0, 3)
        if options.samples:
            frames = max(1, round(options.seconds * self.frames_per_second()))
            primer = self.primer(probe.bundle.path, None)
            gen = probe.generate(num=options.samples, temperature=options.temperature, max_length=frames,
                                 primer=self.encode_primer(primer, num=options.samples, seed=probe.seed))
            audio = [p for p in gen.pieces if np.abs(p).max() > 1e-4]
            result["samples"] = options.samples
            result["temperature"] = options.temperature
            result["silent_samples"] = options.samples - len(audio)
            result["frames_per_second_generated"] = round(gen.tokens / gen.seconds, 1) if gen.seconds else None
            if audio:
                result["sample_flatness"] = spectral_flatness(audio, sample_rate=rate, max_hz=band)
                result["sample_flatness_per_piece"] = [
                    round(spectral_flatness(a, sample_rate=rate, max_hz=band), 5) for a in audio]
                result["flatness_below_tenth_of_noise"] = bool(
                    result["sample_flatness"] < 0.1 * result["white_noise_flatness"])
                result["log_spectral_distance"] = log_spectral_distance(audio, valid, sample_rate=rate, max_hz=band)
                result["noise_log_spectral_distance"] = log_spectral_distance(noise, valid, sample_rate=rate,
                                                                              max_hz=band)
                result["clipped_share"] = float(np.mean(np.concatenate([np.abs(a) > 1 for a in audio])))
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
