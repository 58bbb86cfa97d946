"""ABC notation as text: a character-level representation."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.errors import MusegenError
from musegen.formats import abc as abcfmt
from musegen.representations.base import InputSpec, OutputSpec, Representation

PAD, START, END, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
START_ID, END_ID, UNK_ID = 1, 2, 3


class AbcRepresentation(Representation):
    """Each tune is one sequence of character ids between a start and an end marker.

    Characters seen fewer than ``min_count`` times in the training tunes map to
    an unknown class, so any text can be scored.
    """

    name: ClassVar[str] = "abc"
    end_id: ClassVar[int] = END_ID
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The 2017 study: one LSTM, sequences of 50 characters, batches of 50, RMSprop.
        "study": dict(layers=1, units=256, embedding=0, seq_len=50, batch_size=50, epochs=30,
                      optimizer="rmsprop", lr=0.002, clipnorm=5.0, dropout=0.0),
        # Best measured on the 340 Nottingham jigs on a 2-core CPU (see README).
        "default": dict(layers=2, units=384, embedding=48, seq_len=128, batch_size=32, epochs=20,
                        optimizer="adam", lr=0.003, clipnorm=1.0, dropout=0.25, patience=4, lr_decay=0.5,
                        transpose=(-1, 1)),
        # For tests and quick checks: trains in seconds.
        "tiny": dict(layers=1, units=16, embedding=8, seq_len=20, batch_size=8, epochs=2,
                     optimizer="adam", lr=0.01, clipnorm=1.0),
    }

    def __init__(self, *, min_count: int = 3) -> None:
        self.min_count = min_count
        self.vocab: list[str] = list(SPECIALS)
        self._index: dict[str, int] = {}

    # -- corpus -------------------------------------------------------------
    def read_corpus(self, path: str | os.PathLike) -> list[str]:
        """Tunes of an ABC file or folder, split at ``X:``, kept verbatim."""
        return abcfmt.read_tunes(path, clean=False)

    @staticmethod
    def clean(piece: str) -> str:
        """The text the network sees: comments dropped."""
        return abcfmt.strip_comments(piece)

    def bundle_files(self, train: list[str], valid: list[str]) -> dict[str, bytes]:
        """``validation.abc`` (held-out tunes verbatim) and ``training.abc`` (for baselines and copy checks)."""
        return {
            "validation.abc": "\n".join(valid).encode("utf-8"),
            "training.abc": "\n".join(train).encode("utf-8"),
        }

    def augment(self, pieces: list[str], *, transpose: tuple[int, ...] = ()) -> list[str]:
        """The pieces plus each transposed by every shift in ``transpose``."""
        if not transpose:
            return list(pieces)
        from musegen.formats.abctranspose import transpose_tune

        out = list(pieces)
        for shift in transpose:
            if shift:
                # Nottingham writes a sharp bass note of a chord as "D/f+": keep that style
                out.extend(transpose_tune(p, shift, bass_sharp="+") for p in pieces)
        return out

    # -- vocabulary -----------------------------------------------------------
    def fit(self, pieces: list[str]) -> None:
        counts = Counter("".join(self.clean(p) for p in pieces))
        chars = sorted(c for c, n in counts.items() if n >= self.min_count)
        self.vocab = list(SPECIALS) + chars
        self._index = {c: i for i, c in enumerate(self.vocab)}

    @property
    def index(self) -> dict[str, int]:
        if not self._index:
            self._index = {c: i for i, c in enumerate(self.vocab)}
        return self._index

    def describe(self) -> dict[str, Any]:
        return {"vocabulary": len(self.vocab)}

    def encode(self, piece: str) -> np.ndarray:
        """``[shape=(len(piece) + 2,)]`` ids: start marker, characters, end marker."""
        index = self.index
        ids = [START_ID] + [index.get(c, UNK_ID) for c in self.clean(piece)] + [END_ID]
        return np.asarray(ids, dtype=np.int32)

    def decode(self, array: np.ndarray) -> str:
        """Characters of ``array`` up to the first end marker; markers and unknowns dropped."""
        chars = []
        for i in np.asarray(array).ravel():
            i = int(i)
            if i == END_ID:
                break
            if i >= len(SPECIALS):
                chars.append(self.vocab[i])
        return "".join(chars)

    def encode_primer(self, text: str, **_: Any) -> np.ndarray:
        """Ids of a primer: the start marker and the primer's characters (no end marker)."""
        index = self.index
        return np.asarray([START_ID] + [index.get(c, UNK_ID) for c in text], dtype=np.int32)

    def input_spec(self) -> InputSpec:
        return InputSpec("tokens", len(self.vocab))

    def head(self) -> OutputSpec:
        return OutputSpec("softmax", len(self.vocab))

    def banned_ids(self) -> list[int]:
        """Ids never sampled: padding, start and unknown."""
        return [0, START_ID, UNK_ID]

    # -- output ---------------------------------------------------------------
    output_formats: ClassVar[tuple[str, ...]] = ("abc", "mid", "wav", "musicxml")

    def postprocess(self, piece: str, *, index: int) -> tuple[str, dict[str, Any]]:
        """Check every bar against the meter, repair what can be repaired."""
        from musegen.formats.abccheck import check_tune

        text = piece if piece.lstrip().startswith("X:") else f"X:{index}\n{piece}"
        result = check_tune(text, repair=True)
        return result.text, {
            "title": abcfmt.tune_title(result.text),
            "characters": len(piece),
            "valid": result.valid,
            "bars": result.bars,
            "bars_fitting": result.bars_fitting,
            "repairs": result.repairs,
            "problems": result.problems,
        }

    def title(self, piece: str) -> str:
        return abcfmt.tune_title(piece)

    def with_primer(self, primer: str, piece: str) -> str:
        """A tune is its primer (e.g. ``X:``) then what was generated."""
        return primer + piece

    def write(self, piece: str, stem: Path, *, formats: tuple[str, ...], force: bool = False) -> list[Path]:
        from musegen.formats import write_tune

        return write_tune(piece, stem, formats=formats, force=force)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "min_count": self.min_count, "vocab": self.vocab}

    def set_config(self, config: dict[str, Any]) -> None:
        vocab = config.get("vocab")
        if not isinstance(vocab, list) or vocab[: len(SPECIALS)] != list(SPECIALS):
            raise MusegenError("representation.json: not an abc vocabulary")
        self.min_count = int(config.get("min_count", 3))
        self.vocab = vocab
        self._index = {c: i for i, c in enumerate(vocab)}
