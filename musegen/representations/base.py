"""The Representation base class: music files to arrays and back."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class InputSpec:
    """What the network reads at each step: ``tokens`` (ids < size) or ``vectors`` of ``size`` floats.

    ``sizes`` holds further sizes an input kind needs (e.g. ``leading_vectors``:
    rows of ``size`` values of which the network reads the first ``sizes[0]``).
    """

    kind: str
    size: int
    sizes: tuple[int, ...] = ()


@dataclass(frozen=True)
class OutputSpec:
    """What the network predicts at each step and how it is trained.

    ``kind`` names an entry of :data:`musegen.models.HEADS` (e.g. ``softmax``:
    a distribution over ``size`` classes, sparse cross-entropy).
    """

    kind: str
    size: int


class Representation(ABC):
    """Turns music files into arrays a network learns, and arrays back into files.

    Subclasses set :attr:`name` and :attr:`presets` and implement the hooks;
    the generic pipeline (:mod:`musegen.pipeline`) does the rest.
    """

    name: ClassVar[str]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    default_preset: ClassVar[str] = "default"
    end_id: ClassVar[int] = -1  # token representations: the id that ends a piece

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Representation:
        """A fresh representation with the user's settings (``TrainConfig.extra``), before fitting."""
        return cls()

    @classmethod
    def resolve_corpus(cls, corpus: str | os.PathLike) -> Path:
        """The file or folder a corpus name stands for (e.g. a bundled corpus written to a cache)."""
        from musegen.errors import MusegenError

        path = Path(corpus)
        if not path.exists():
            raise MusegenError(f"{corpus}: no such file or folder")
        return path

    @abstractmethod
    def read_corpus(self, path: str | os.PathLike) -> list[Any]:
        """Read every piece at ``path`` (a file or a folder)."""

    def describe(self) -> dict[str, Any]:
        """What ``musegen prepare`` prints about the fitted representation."""
        return {}

    def dump_piece(self, piece: Any) -> Any:
        """A piece as JSON-able data, for the prepared-corpus cache (default: the piece itself)."""
        return piece

    def load_piece(self, data: Any) -> Any:
        """The inverse of :meth:`dump_piece`."""
        return data

    @abstractmethod
    def fit(self, pieces: list[Any]) -> None:
        """Learn what encoding needs (vocabulary, statistics) from training pieces."""

    @abstractmethod
    def encode(self, piece: Any) -> np.ndarray:
        """One piece as an array: ids ``[shape=(t,)]`` or vectors ``[shape=(t, features)]``."""

    @abstractmethod
    def decode(self, array: np.ndarray) -> Any:
        """The inverse of :meth:`encode`."""

    @abstractmethod
    def input_spec(self) -> InputSpec: ...

    @abstractmethod
    def head(self) -> OutputSpec: ...

    @abstractmethod
    def write(self, piece: Any, stem: Path, *, formats: tuple[str, ...], force: bool = False) -> list[Path]:
        """Write ``piece`` as ``stem`` + each format's suffix; return the paths written."""

    @abstractmethod
    def get_config(self) -> dict[str, Any]:
        """Everything :meth:`from_config` needs, saved as ``representation.json``."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Representation:
        rep = cls()
        rep.set_config(config)
        return rep

    def set_config(self, config: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Restore the state saved by :meth:`get_config`."""

    def augment(self, pieces: list[Any], *, transpose: tuple[int, ...] = ()) -> list[Any]:
        """Training pieces plus augmented copies (default: none added)."""
        return list(pieces)

    def bundle_files(self, train: list[Any], valid: list[Any]) -> dict[str, bytes]:
        """Extra files stored in the model bundle (e.g. the held-out pieces)."""
        return {}

    def postprocess(self, piece: Any, *, index: int) -> tuple[Any, dict[str, Any]]:
        """Check and repair a generated piece; return it and a summary of what was done."""
        return piece, {}

    def title(self, piece: Any) -> str:
        """A title for a generated piece (file names are built from it)."""
        return ""

    def banned_ids(self) -> list[int]:
        """Token ids never sampled (token representations only)."""
        return []

    column_rule: ClassVar[str] = ""  # vector representations: a key of musegen.sampling.COLUMN_RULES

    def encode_primer(self, primer: Any, *, num: int, seed: int) -> np.ndarray:
        """The array the sampler starts from: ids (shared by every piece) or ``[shape=(num, steps, features)]``."""
        raise NotImplementedError

    def with_primer(self, primer: Any, piece: Any) -> Any:
        """The piece as written: the generated part, or the primer then it (default: generated part only)."""
        return piece
