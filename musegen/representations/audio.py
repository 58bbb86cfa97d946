"""Audio as FFT frames: real and imaginary parts of each frame's spectrum, normalised per coefficient."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.errors import MusegenError, UsageError
from musegen.representations.base import InputSpec, OutputSpec, Representation

PRIMER_EXCERPTS = 16  # training excerpts stored in a bundle, to start generation from
PRIMER_SECONDS = 1.5  # seconds of each
PEAK = 0.98  # generated audio peaking above full scale is scaled to this peak


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
    heads: ClassVar[tuple[str, ...]] = ("gaussian", "linear")

    def __init__(self, *, head: str = "gaussian", sample_rate: int = 16000, frame_seconds: float = 0.25,
                 overlap: bool = True, max_hz: float = 3000.0) -> None:
        from musegen.formats.audio import frame_length_of

        if head not in self.heads:
            raise UsageError(f"unknown audio head {head!r}; choose one of {', '.join(self.heads)}")
        if not 4000 <= int(sample_rate) <= 96000:
            raise UsageError(f"--sample-rate must be between 4000 and 96000 Hz, got {sample_rate}")
        if not 0.01 <= float(frame_seconds) <= 2.0:
            raise UsageError(f"--frame-seconds must be between 0.01 and 2, got {frame_seconds}")
        if not max_hz >= 0:
            raise UsageError(f"--max-hz must be 0 (all) or positive, got {max_hz}")
        self.head_kind = head
        self.sample_rate = int(sample_rate)
        self.frame_seconds = float(frame_seconds)
        self.overlap = bool(overlap)
        self.max_hz = float(max_hz)
        self.frame_length = frame_length_of(self.sample_rate, self.frame_seconds)
        bins = self.frame_length // 2 + 1
        kept = bins if not self.max_hz else int(self.max_hz * self.frame_length / self.sample_rate) + 1
        self.kept_bins = max(1, min(bins, kept))
        self.normalizer = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> AudioRepresentation:
        known = {"head", "sample_rate", "frame_seconds", "overlap", "max_hz"}
        return cls(**{k: v for k, v in settings.items() if k in known})

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
        files = [path] if path.is_file() else sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise MusegenError(f"{path}: no audio (.wav, .flac, .ogg), ABC or MIDI files here")
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

    def write(self, piece: np.ndarray, stem: Path, *, formats: tuple[str, ...], force: bool = False) -> list[Path]:
        paths = []
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            AUDIO_WRITERS[fmt](self, piece, path, force)
            paths.append(path)
        return paths

    # -- bundle -----------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "head": self.head_kind, "sample_rate": self.sample_rate,
                "frame_seconds": self.frame_seconds, "overlap": self.overlap, "max_hz": self.max_hz,
                "normalizer": self.normalizer.to_dict() if self.normalizer is not None else None}

    def set_config(self, config: dict[str, Any]) -> None:
        from musegen.formats.audio import FrameNormalizer

        try:
            self.__init__(head=config["head"], sample_rate=int(config["sample_rate"]),
                          frame_seconds=float(config["frame_seconds"]), overlap=bool(config["overlap"]),
                          max_hz=float(config["max_hz"]))
            norm = config.get("normalizer")
            self.normalizer = FrameNormalizer.from_dict(norm) if norm is not None else None
        except (KeyError, TypeError, ValueError, UsageError) as exc:
            raise MusegenError(f"representation.json: not an audio representation ({exc})") from None
        if self.normalizer is not None and self.normalizer.features != 2 * self.kept_bins:
            raise MusegenError("representation.json: the normaliser does not match the frame settings")


def _write_wav(rep: AudioRepresentation, audio: np.ndarray, path: Path, force: bool) -> None:
    from musegen.formats.audio import write_audio

    write_audio(audio, path, sample_rate=rep.sample_rate, force=force)  # 16-bit, clipped (never wrapped)


def _write_png(rep: AudioRepresentation, audio: np.ndarray, path: Path, force: bool) -> None:
    from musegen.formats.audio import draw_spectrogram

    draw_spectrogram(audio, path, sample_rate=rep.sample_rate, force=force)


def _write_npz(rep: AudioRepresentation, audio: np.ndarray, path: Path, force: bool) -> None:
    from musegen.formats.audio import audio_to_frames, write_frames

    write_frames(audio_to_frames(audio, sample_rate=rep.sample_rate, frame_seconds=rep.frame_seconds,
                                 overlap=rep.overlap), path, force=force)


# output format -> writer(representation, audio, path, force); add an entry for a new format
AUDIO_WRITERS = {"wav": _write_wav, "png": _write_png, "npz": _write_npz}
