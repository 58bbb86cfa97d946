"""Frozen, validated configurations saved as JSON beside each model."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musegen.errors import UsageError

OPTIMIZERS = ("rmsprop", "adam", "adagrad", "adadelta", "sgd")
CELLS = ("lstm", "gru")


MAX_SEED = 2**31 - 1


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
        object.__setattr__(self, "transpose", tuple(int(t) for t in self.transpose))

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


def save_json(obj: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
