"""Frozen, validated configurations saved as JSON beside each model."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from musegen.errors import UsageError

OPTIMIZERS = ("rmsprop", "adam", "adagrad", "adadelta", "sgd")
CELLS = ("lstm", "gru")


MAX_SEED = 2**31 - 1
MAX_TEMPERATURE = 100.0  # softmax and noise temperatures above this are noise, and overflow the audio
MAX_WEIGHTS = 400_000_000  # recurrent weights a network may have (1.6 GB of float32): more is a typo
MAX_SIZES = {"layers": 64, "units": 16384, "embedding": 16384, "seq_len": 100_000, "batch_size": 65_536,
             "epochs": 100_000, "patience": 100_000}
MAX_SHIFT = 24  # semitones a --transpose shift may move the music (two octaves)


def _positive(name: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise UsageError(f"--{name.replace('_', '-')} must be positive, got {value}")


@dataclass(frozen=True)
class TrainConfig:
    """How a network is built and trained.

    Sizes are validated on construction; a bad value raises
    :class:`~musegen.errors.UsageError` naming the option and the value.
    """

    layers: int = 2
    units: int = 256
    cell: str = "lstm"
    dropout: float = 0.0
    embedding: int = 64  # 0: one-hot input
    seq_len: int = 50
    batch_size: int = 50
    epochs: int = 20
    optimizer: str = "rmsprop"
    lr: float = 0.001
    clipnorm: float = 5.0  # 0: no clipping
    valid_split: float = 0.1
    seed: int = 0
    transpose: tuple[int, ...] = ()  # semitone shifts added as augmentation
    patience: int = 0  # stop after this many epochs without improvement (0: never)
    lr_decay: float = 1.0  # multiply the learning rate by this after an epoch with no improvement
    extra: dict[str, Any] = field(default_factory=dict)  # representation-specific settings

    def __post_init__(self) -> None:
        for name in ("layers", "units", "seq_len", "batch_size", "epochs", "lr"):
            _positive(name, getattr(self, name))
        if self.embedding < 0:
            raise UsageError(f"--embedding must be 0 (one-hot) or positive, got {self.embedding}")
        if not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"--seed must be between 0 and {MAX_SEED}, got {self.seed}")
        if not 0 <= self.dropout < 1:
            raise UsageError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.valid_split < 1:
            raise UsageError(f"--valid-split must be between 0 and 1, got {self.valid_split}")
        if not self.clipnorm >= 0 or not math.isfinite(self.clipnorm):
            raise UsageError(f"--clipnorm must be 0 (off) or positive, got {self.clipnorm}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.cell not in CELLS:
            raise UsageError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if not 0 < self.lr_decay <= 1:
            raise UsageError(f"--lr-decay must be in (0, 1], got {self.lr_decay}")
        if self.patience < 0:
            raise UsageError(f"--patience must be 0 or positive, got {self.patience}")
        for name, most in MAX_SIZES.items():
            if getattr(self, name) > most:
                raise UsageError(f"--{name.replace('_', '-')} must be at most {most:,}, got {getattr(self, name):,}")
        weights = 4 * self.units * (self.units + max(self.embedding, self.units)) * self.layers
        if weights > MAX_WEIGHTS:
            raise UsageError(f"--units {self.units} with --layers {self.layers} makes about {weights:,} recurrent "
                             f"weights, more than the {MAX_WEIGHTS:,} allowed")
        object.__setattr__(self, "transpose", tuple(int(t) for t in self.transpose))
        if any(abs(t) > MAX_SHIFT for t in self.transpose) or len(self.transpose) > 2 * MAX_SHIFT:
            raise UsageError(f"--transpose shifts must be between -{MAX_SHIFT} and {MAX_SHIFT} semitones, "
                             f"got {min(self.transpose)}..{max(self.transpose)}")

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["transpose"] = list(self.transpose)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (tuple(v) if k == "transpose" else v) for k, v in d.items() if k in names})


def check_range(option: str, value: float, most: float) -> None:
    """Refuse ``value`` of ``option`` unless it is above 0 and at most ``most`` (a stated budget)."""
    if not 0 < value <= most:
        raise UsageError(f"{option} must be at most {most:,g} and above 0, got {value:g}")


def check_sampling(*, temperature: float | None = None, seed: int = 0, num: int = 1, max_length: int = 1,
                   candidates: int = 1) -> None:
    """Refuse sampling options out of range (negative or non-finite temperature, seed, sizes)."""
    if num < 1:
        raise UsageError(f"--num must be at least 1, got {num}")
    if max_length < 1:
        raise UsageError(f"--max-length must be positive, got {max_length}")
    if candidates < 1:
        raise UsageError(f"--candidates must be at least 1, got {candidates}")
    if temperature is not None and not (temperature >= 0 and math.isfinite(temperature)):
        raise UsageError(f"--temperature must be 0 (greedy) or positive, got {temperature}")
    if temperature is not None and temperature > MAX_TEMPERATURE:
        raise UsageError(f"--temperature must be at most {MAX_TEMPERATURE:g}, got {temperature:g}")
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED}, got {seed}")


def option(default: Any, help: str, *, choices: tuple[str, ...] = (), flag: str = "",
           show_default: str | bool = True) -> Any:
    """A field of a :class:`Settings` dataclass that is also a command-line option.

    ``help`` is the option's help text; ``choices`` the values it takes (a
    string option); ``flag`` the option's own spelling (e.g.
    ``"--drums/--no-drums"``); ``show_default`` what ``--help`` shows as its
    default (``True``: the value itself).
    """
    return field(default=default, metadata={"help": help, "choices": tuple(choices), "flag": flag,
                                             "show_default": show_default})


@dataclass(frozen=True)
class Settings:
    """A frozen, typed set of options that validates itself; subclasses add fields made with :func:`option`.

    A representation declares its own (how it reads music, how it samples,
    what ``evaluate`` measures); the command line makes one option per field.
    An unknown or misspelt name is refused, never dropped.
    """

    owner: ClassVar[str] = ""  # whose settings, in messages: "unknown midi head 'x'", "unknown midi setting 'y'"

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            kind = base_type(hints[f.name])
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                value = float(value)
            if kind is float and isinstance(value, float) and not math.isfinite(value):
                raise UsageError(f"--{f.name.replace('_', '-')} must be a finite number, got {value}")
            elif kind in (int, float, bool, str) and not isinstance(value, kind) or (
                    kind in (int, float) and isinstance(value, bool)):
                raise UsageError(f"--{f.name.replace('_', '-')} must be {kind.__name__}, got {value!r}")
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise UsageError(f"unknown {self._of(f.name.replace('_', ' '))} {value!r}; "
                                 f"choose one of {', '.join(choices)}")
        self.validate()

    def validate(self) -> None:
        """Refuse values out of range, with a message that shows the bad value (subclasses add checks)."""

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Settings:
        """Settings from a dict (a preset's, a bundle's, the command line's); ``None`` values take the default."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values or {}) - set(names))
        if unknown:
            raise UsageError(f"unknown {cls._of('setting')} {unknown[0]!r}; known: {', '.join(names) or 'none'}")
        return cls(**{k: v for k, v in (values or {}).items() if v is not None})

    @classmethod
    def _of(cls, noun: str) -> str:
        return f"{cls.owner} {noun}" if cls.owner else noun

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (``None`` values are ignored); unknown names are refused."""
        return type(self).from_dict({**self.to_dict(), **{k: v for k, v in changes.items() if v is not None}})


def base_type(hint: Any) -> Any:
    """``int`` of ``int``, ``int | None`` and ``Optional[int]``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1
    return args[0] if optional else hint


def save_json(obj: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
