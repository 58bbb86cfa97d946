"""The Representation base class: music files to arrays and back, and every hook the generic code calls.

A representation is one module (or package) plus one entry of
:data:`musegen.representations.REPRESENTATIONS`.  It declares

- its settings (:attr:`Representation.Settings`, a frozen dataclass of
  :class:`~musegen.config.Settings`: how it reads music, the options of
  ``prepare`` and ``train``), the options of ``sample``
  (:attr:`~Representation.SampleOptions`) and of ``evaluate``
  (:attr:`~Representation.EvaluateOptions`): the command line is made from
  their fields;
- its presets (training settings, with its own settings under ``extra``);
- the hooks below: read a corpus, fit, encode and decode, the network's input
  and head, the primer and length of a sampling run
  (:meth:`~Representation.plan_sampling`), the check and repair of a
  generated piece (:meth:`~Representation.postprocess`), the files written
  (:meth:`~Representation.write`), its summary, and what ``evaluate``
  measures (:meth:`~Representation.evaluate`).

The pipeline, the evaluation and the command line call only these hooks.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.config import Settings
from musegen.errors import MusegenError
from musegen.fileio import check_input
from musegen.paths import corpus_path


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


@dataclass(frozen=True)
class NoSettings(Settings):
    """A representation, or a command, with no options of its own."""


@dataclass
class SamplingPlan:
    """What one ``sample`` run generates: made by :meth:`Representation.plan_sampling` from the options.

    ``primer`` is what :meth:`Representation.encode_primer` takes;
    ``max_length`` the steps generated per piece; ``candidates`` the pieces
    drawn for each one written; ``options`` go to the generator (e.g. the
    piano roll's ``threshold``).
    """

    primer: Any
    max_length: int
    temperature: float
    candidates: int = 1
    options: dict[str, Any] = field(default_factory=dict)


class Representation(ABC):
    """Turns music files into arrays a network learns, and arrays back into files.

    Subclasses set :attr:`name`, :attr:`presets` and the option classes and
    implement the hooks; the generic pipeline (:mod:`musegen.pipeline`) and
    command line do the rest.
    """

    name: ClassVar[str]
    Settings: ClassVar[type[Settings]] = NoSettings  # options of prepare and train: how music is read
    SampleOptions: ClassVar[type[Settings]] = NoSettings  # options of `musegen sample NAME`
    EvaluateOptions: ClassVar[type[Settings]] = NoSettings  # options of `musegen evaluate NAME`
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    default_preset: ClassVar[str] = "default"
    end_id: ClassVar[int] = -1  # token representations: the id that ends a piece
    column_rule: ClassVar[str] = ""  # vector representations: a key of musegen.sampling.COLUMN_RULES
    generator: ClassVar[str] = ""  # a key of musegen.pipeline.GENERATORS; "" picks the one of the input kind

    # -- the command line: words and defaults of the generic commands ------------------------------------
    default_model: ClassVar[str] = ""  # the shipped bundle models/NAME that sample and evaluate use by default
    corpus_help: ClassVar[str] = "A file or a folder of them."
    evaluate_argument: ClassVar[str] = "corpus"  # what `musegen evaluate NAME` reads: its argument's name
    evaluate_help: ClassVar[str] = "The corpus (split as in training: its held-out part is scored)."
    embedding_option: ClassVar[tuple[str, str]] = ("embedding", "Embedding size (0: one-hot).")
    transposable: ClassVar[bool] = True  # takes --transpose (semitone shifts added as augmentation)
    loss_unit: ClassVar[str] = "per step"
    piece_noun: ClassVar[str] = "piece"
    output_formats: ClassVar[tuple[str, ...]] = ()
    default_formats: ClassVar[str] = ""
    format_help: ClassVar[str] = ""  # --format's help when the list of formats needs words
    required_formats: ClassVar[tuple[str, ...]] = ()  # always written, whatever --format says
    summary_columns: ClassVar[tuple[str, ...]] = ("piece",)
    commands_help: ClassVar[dict[str, str]] = {}  # the help of `musegen VERB NAME`, by verb

    @classmethod
    def help_of(cls, verb: str) -> str:
        """The help text of ``musegen VERB NAME``."""
        return cls.commands_help.get(verb, f"{verb.capitalize()} with the {cls.name} representation.")

    def __init__(self, settings: Settings | None = None, **values: Any) -> None:
        """A representation with ``settings`` (an instance of :attr:`Settings`), or with its fields as keywords."""
        self.settings = settings if settings is not None else self.Settings.from_dict(values)

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Representation:
        """A fresh representation with the user's settings (``TrainConfig.extra``), before fitting.

        An unknown or misspelt setting is refused.
        """
        return cls(cls.Settings.from_dict(settings))

    @classmethod
    def preset_for(cls, settings: dict[str, Any]) -> str | None:
        """The preset that these settings start from when none is named (default: the default preset)."""
        return None

    @classmethod
    def loss_unit_of(cls, settings: dict[str, Any]) -> str:
        """What the training loss is counted in, for these settings."""
        return cls.loss_unit

    @classmethod
    def resolve_corpus(cls, corpus: str | os.PathLike) -> Path:
        """The file or folder a corpus argument stands for: a path, or a shipped corpus's name (``jigs``)."""
        return check_input(corpus_path(corpus))

    @abstractmethod
    def read_corpus(self, path: str | os.PathLike) -> list[Any]:
        """Read every piece at ``path`` (a file or a folder)."""

    def iter_corpus(self, path: str | os.PathLike) -> Iterator[Any]:
        """The pieces of :meth:`read_corpus` one at a time, for ``prepare`` (default: read them all, then yield).

        A representation whose pieces are large (audio) reads them one by one
        here, so that preparing a corpus never holds all of it.
        """
        yield from self.read_corpus(path)

    def describe(self) -> dict[str, Any]:
        """What ``musegen prepare`` and ``musegen info`` print about the fitted representation."""
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

    def write(self, piece: Any, stem: Path, *, formats: tuple[str, ...], force: bool = False,
              provenance: dict[str, str] | None = None) -> list[Path]:
        """Write ``piece`` as ``stem`` + each format's suffix (by :meth:`write_format`); return the paths written.

        ``provenance`` (how the piece was made: model, seed, temperature...) goes
        into each file in the form its format allows.
        """
        from musegen.formats import ConvertOptions

        options = ConvertOptions(force=force, provenance=dict(provenance or {}))
        paths = []
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            self.write_format(piece, path, fmt, options)
            paths.append(path)
        return paths

    def write_format(self, piece: Any, path: Path, fmt: str, options: Any) -> None:
        """Write ``piece`` to ``path`` as ``fmt`` (one of :attr:`output_formats`), atomically, with ``options``
        (a :class:`musegen.formats.ConvertOptions`: ``force``, ``provenance``)."""
        raise NotImplementedError

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

    def augment(self, pieces: Sequence[Any], *, transpose: tuple[int, ...] = ()) -> Sequence[Any]:
        """Training pieces plus augmented copies (default: none added, the pieces as they are given).

        ``pieces`` may be a sequence read from disk on demand (audio): only
        what is added needs to be in memory.
        """
        return pieces

    def bundle_files(self, train: list[Any], valid: list[Any]) -> dict[str, bytes]:
        """Extra files stored in the model bundle (e.g. the held-out pieces)."""
        return {}

    # -- sampling ---------------------------------------------------------------------------------------
    @abstractmethod
    def plan_sampling(self, bundle_path: Path, options: Settings) -> SamplingPlan:
        """The primer, length and temperature of a ``sample`` run, from this representation's
        :attr:`SampleOptions` (the primer file is read here)."""

    def encode_primer(self, primer: Any, *, num: int, seed: int) -> Any:
        """The array the sampler starts from: ids (shared by every piece) or ``[shape=(num, steps, features)]``."""
        raise NotImplementedError

    def sample_steps(self, net: Any, primer: Any, *, max_length: int, temperature: float,
                     rng: np.random.Generator, progress: Any = None) -> tuple[list[Any], int]:
        """Step the network ``net`` (a :class:`musegen.sampling.NetworkStepper`) yourself: the pieces and the
        steps made.  Only for representations whose :attr:`generator` is ``"stepped"``."""
        raise NotImplementedError

    def with_primer(self, primer: Any, piece: Any) -> Any:
        """The piece as written: the generated part, or the primer then it (default: generated part only)."""
        return piece

    def banned_ids(self) -> list[int]:
        """Token ids never sampled (token representations only)."""
        return []

    def postprocess(self, piece: Any, *, index: int) -> tuple[Any, dict[str, Any]]:
        """Check and repair a generated piece; return it and a summary of what was done.

        The summary's ``valid`` says whether it passes (a candidate that does
        not is replaced by one that does, where there is one).
        """
        return piece, {}

    def rank(self, summary: dict[str, Any]) -> float:
        """How good a piece that fails its checks is, from its :meth:`postprocess` summary (higher is better):
        among candidates none of which passes, the highest ranked is written."""
        return 0.0

    def title(self, piece: Any) -> str:
        """A title for a generated piece (file names are built from it)."""
        return ""

    def summary_row(self, piece: dict[str, Any]) -> tuple[str, ...]:
        """The cells of :attr:`summary_columns` for one written piece (its :meth:`postprocess` summary)."""
        return (str(piece.get("title", "")),)

    def summary_title(self, result: Any, plan: SamplingPlan) -> str:
        """The title of the ``sample`` summary table (``result``: a :class:`musegen.pipeline.SampleResult`)."""
        return f"{len(result.pieces)} {self.piece_noun}(s): {result.tokens} steps in {result.seconds:.2f} s"

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, probe: Any, target: str, options: Settings) -> dict[str, Any]:
        """What ``musegen evaluate`` reports on ``target`` (a file or a corpus).

        ``probe`` is a :class:`musegen.evaluation.Probe`: the model's outputs on
        arrays, held-out pieces split as in training, generation and
        candidate selection, as the pipeline does them.
        """
        raise MusegenError(f"{self.name} models cannot be evaluated yet")
