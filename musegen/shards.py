"""Arrays kept on disk in shards: the prepared corpus, read a piece or a shard at a time.

A prepared corpus can be larger than memory (hours of audio, a tune book
repeated many times), so ``prepare`` writes every encoded piece, and every
piece that is an array (an audio signal), to shards on disk as it goes, and
training reads them back one shard at a time (:mod:`musegen.windows`).

A shard is a raw binary file of one dtype: the pieces' rows one after the
other (``NAME-0000.bin``), and where each piece ends (``NAME-0000.ends.npy``).
Pieces are read with :func:`numpy.fromfile` at their offset, never memory
mapped, so a process holds only what it reads.

This module is at the bottom: it imports nothing of musegen.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SHARD_BYTES = 16 * 2**20  # a shard is closed once it holds this much (a piece is never split)


@dataclass(frozen=True)
class Shard:
    """One shard file: its name and the end of each piece, in rows."""

    file: str
    ends: tuple[int, ...]

    @property
    def rows(self) -> int:
        return self.ends[-1] if self.ends else 0


class ShardWriter:
    """Write arrays of one dtype and trailing shape, one after another, into shards of at most ``shard_bytes``.

    ``add`` writes a piece at once (the writer keeps nothing but the ends);
    ``close`` writes the last shard's index and returns the :class:`ShardedArrays`
    that reads them back.
    """

    def __init__(self, folder: str | os.PathLike, name: str, *, shard_bytes: int | None = None) -> None:
        self.folder = Path(folder)
        self.name = name
        self.shard_bytes = shard_bytes or SHARD_BYTES
        self.shards: list[Shard] = []
        self.dtype: np.dtype | None = None
        self.shape: tuple[int, ...] = ()
        self._file: Any = None
        self._ends: list[int] = []
        self._bytes = 0

    def add(self, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array)
        if array.ndim < 1:
            raise ValueError("a piece is an array of at least one dimension")
        if self.dtype is None:
            self.dtype, self.shape = array.dtype, tuple(array.shape[1:])
        elif array.dtype != self.dtype or tuple(array.shape[1:]) != self.shape:
            raise ValueError(f"a piece of {array.dtype} {array.shape[1:]} among pieces of {self.dtype} {self.shape}")
        if self._file is None:
            self._open()
        self._file.write(array.tobytes())
        self._ends.append((self._ends[-1] if self._ends else 0) + len(array))
        self._bytes += array.nbytes
        if self._bytes >= self.shard_bytes:
            self._close_shard()

    def _open(self) -> None:
        file = f"{self.name}-{len(self.shards):04d}.bin"
        self._file = open(self.folder / file, "wb")  # noqa: SIM115 - closed in _close_shard
        self._current = file

    def _close_shard(self) -> None:
        self._file.close()
        np.save(self.folder / f"{self._current[:-4]}.ends.npy", np.asarray(self._ends, np.int64))
        self.shards.append(Shard(self._current, tuple(self._ends)))
        self._file, self._ends, self._bytes = None, [], 0

    def close(self, *, dtype: Any = np.float32, shape: tuple[int, ...] = ()) -> ShardedArrays:
        """The arrays written (``dtype`` and ``shape`` describe them where none was)."""
        if self._file is not None:
            self._close_shard()
        return ShardedArrays(self.folder, self.shards, self.dtype if self.dtype is not None else np.dtype(dtype),
                             self.shape if self.dtype is not None else tuple(shape))


class ShardedArrays(Sequence):
    """The pieces of a :class:`ShardWriter`, read back from disk on demand: a sequence of arrays.

    ``steps`` (rows of every piece) and the length of each piece come from the
    index, with nothing read; ``arrays[i]`` reads piece ``i``;
    :meth:`read_shard` reads a whole shard with the ends of its pieces.
    """

    def __init__(self, folder: str | os.PathLike, shards: list[Shard], dtype: Any, shape: tuple[int, ...]) -> None:
        self.folder = Path(folder)
        self.shards = list(shards)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(shape)
        self._row_bytes = self.dtype.itemsize * int(np.prod(self.shape, dtype=np.int64))
        self._where = [(s, j) for s, shard in enumerate(self.shards) for j in range(len(shard.ends))]

    def __len__(self) -> int:
        return len(self._where)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        s, j = self._where[i]
        shard = self.shards[s]
        start = shard.ends[j - 1] if j else 0
        return self._read(shard, start, shard.ends[j])

    def _read(self, shard: Shard, start: int, stop: int) -> np.ndarray:
        data = np.fromfile(self.folder / shard.file, dtype=self.dtype, count=(stop - start) * self._row_bytes
                           // self.dtype.itemsize, offset=start * self._row_bytes)
        return data.reshape(stop - start, *self.shape)

    def lengths(self) -> np.ndarray:
        """The rows of each piece, in order (nothing read)."""
        out = [np.diff(np.asarray(shard.ends), prepend=0) for shard in self.shards]
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    @property
    def steps(self) -> int:
        return int(sum(shard.rows for shard in self.shards))

    @property
    def nbytes(self) -> int:
        return self.steps * self._row_bytes

    def read_shard(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """Shard ``s`` whole: its rows ``[shape=(rows, *shape)]`` and where each of its pieces ends."""
        shard = self.shards[s]
        return self._read(shard, 0, shard.rows), np.asarray(shard.ends, np.int64)

    def shard_pieces(self, s: int) -> list[np.ndarray]:
        """The pieces of shard ``s``, read in one go (views of its rows)."""
        rows, ends = self.read_shard(s)
        return np.split(rows, ends[:-1])

    def __iter__(self) -> Iterator[np.ndarray]:
        for s in range(len(self.shards)):
            yield from self.shard_pieces(s)

    # -- the index, kept in the prepared corpus's manifest ----------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"dtype": self.dtype.str, "shape": list(self.shape),
                "shards": [{"file": s.file, "pieces": len(s.ends)} for s in self.shards]}

    @classmethod
    def from_json(cls, folder: str | os.PathLike, data: dict[str, Any]) -> ShardedArrays:
        """The arrays an index describes; each shard's ends are read from its ``.ends.npy`` and checked against
        its file's size (a truncated or foreign shard raises ``ValueError``)."""
        folder = Path(folder)
        dtype, shape = np.dtype(data["dtype"]), tuple(int(n) for n in data["shape"])
        row_bytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        shards = []
        for entry in data["shards"]:
            file = str(entry["file"])
            if Path(file).name != file or not file.endswith(".bin"):
                raise ValueError(f"not a shard file name: {file!r}")
            ends = np.load(folder / f"{file[:-4]}.ends.npy", allow_pickle=False)
            if ends.ndim != 1 or len(ends) != int(entry["pieces"]) or np.any(np.diff(ends, prepend=0) < 0):
                raise ValueError(f"{file}: its index does not match")
            if (folder / file).stat().st_size != int(ends[-1] if len(ends) else 0) * row_bytes:
                raise ValueError(f"{file}: not the size its index says")
            shards.append(Shard(file, tuple(int(e) for e in ends)))
        return cls(folder, shards, dtype, shape)

