"""Training windows: a stream of ids or vectors cut into inputs and next-step targets.

:func:`token_windows` cuts arrays held in memory (validation, benchmarks);
:func:`stream_dataset` streams them from a prepared corpus on disk
(:class:`musegen.shards.ShardedArrays`) through ``tf.data``: a shard at a
time, its pieces in a fresh order, cut at a fresh random offset, its windows
shuffled, then mixed with the next shard's in a shuffle buffer of bounded size,
batched and prefetched.  Memory holds one shard, the shuffle buffer and the
prefetched batches, however large the corpus.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from musegen.errors import MusegenError
from musegen.shards import ShardedArrays

# The shuffle buffer mixes the windows of neighbouring shards (those of one shard come shuffled already): at most
# this many windows, or this much of them, and at least a batch.  tf.data keeps each window as tensors of its own,
# a few hundred bytes each beyond the data, so the count is bounded too.
SHUFFLE_WINDOWS = 8192
SHUFFLE_BYTES = 16 * 2**20


def token_windows(arrays: list[np.ndarray], *, seq_len: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cut the concatenated stream (ids or vectors) into inputs and next-step targets.

    Returns
    -------
    x, y : np.ndarray [shape=(windows, seq_len) or (windows, seq_len, features)]
    """
    stream = np.concatenate(list(arrays))[offset:]
    n = (len(stream) - 1) // seq_len
    if n < 1:
        # a short corpus: one window, as long as the corpus allows
        seq_len = len(stream) - 1
        n = 1
    return _cut(stream, n, seq_len)


def _cut(stream: np.ndarray, n: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` windows of ``seq_len`` steps of ``stream`` and their next-step targets (views)."""
    return (stream[: n * seq_len].reshape(n, seq_len, *stream.shape[1:]),
            stream[1 : n * seq_len + 1].reshape(n, seq_len, *stream.shape[1:]))


def windows_per_pass(arrays: ShardedArrays, *, seq_len: int) -> int:
    """The windows one pass over ``arrays`` gives at least, whatever its random offsets (each shard is cut on its
    own, and gives one more where its offset leaves room)."""
    return int(sum(max(0, (shard.rows - seq_len) // seq_len) for shard in arrays.shards))


def pass_windows(arrays: ShardedArrays, *, seq_len: int,
                 rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One pass over the corpus: the shards in a random order, each read whole, its pieces put in a random
    order, joined and cut into windows from a random offset below ``seq_len``, the windows shuffled.

    Yields
    ------
    x, y : np.ndarray [shape=(windows, seq_len, ...)]: a shard's windows and their next-step targets
    """
    for s in rng.permutation(len(arrays.shards)):
        pieces = arrays.shard_pieces(int(s))
        stream = np.concatenate([pieces[j] for j in rng.permutation(len(pieces))])
        offset = int(rng.integers(0, seq_len))
        n = (len(stream) - offset - 1) // seq_len
        if n >= 1:
            x, y = _cut(stream[offset:], n, seq_len)
            order = rng.permutation(n)
            yield x[order], y[order]


def shuffle_buffer(arrays: ShardedArrays, *, seq_len: int, batch_size: int) -> int:
    """Windows in the shuffle buffer: a pass's worth, at most :data:`SHUFFLE_WINDOWS` and :data:`SHUFFLE_BYTES`,
    at least a batch."""
    window_bytes = 2 * seq_len * max(1, arrays.nbytes // max(1, arrays.steps))
    return max(batch_size, min(max(1, windows_per_pass(arrays, seq_len=seq_len)), SHUFFLE_WINDOWS,
                               SHUFFLE_BYTES // window_bytes))


def stream_dataset(arrays: ShardedArrays, *, seq_len: int, batch_size: int, seed: int,
                   replicas: range | None = None, of: int = 1):
    """Endless ``tf.data`` batches of training windows read from ``arrays`` on disk.

    Passes of :func:`pass_windows` follow one another, drawn with ``seed``;
    the windows are shuffled in a buffer of :func:`shuffle_buffer` windows and
    batched ``batch_size`` at a time, every batch whole (a batch split among
    replicas never leaves one empty).  Every iterator of the dataset gives the
    same batches from the first, so the workers of a multi-worker run, each
    making its own, cut the same ones.  With ``replicas``, the part of each
    global batch that those of the ``of`` replicas take, one element each in
    turn (the input of one worker of a multi-worker run).

    Returns
    -------
    tf.data.Dataset of (x, y) [shape=(batch_size, seq_len, ...)], or of each replica's rows of them
    """
    from musegen import backend

    tf = backend.tf()
    if windows_per_pass(arrays, seq_len=seq_len) < 1:
        raise MusegenError(f"the corpus is too short for windows of {seq_len} steps")

    def chunks():
        rng = np.random.default_rng(seed)
        while True:
            yield from pass_windows(arrays, seq_len=seq_len, rng=rng)

    spec = tf.TensorSpec((None, seq_len, *arrays.shape), tf.as_dtype(arrays.dtype))
    dataset = tf.data.Dataset.from_generator(chunks, output_signature=(spec, spec)).unbatch()
    buffer = shuffle_buffer(arrays, seq_len=seq_len, batch_size=batch_size)
    dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=False).batch(batch_size,
                                                                                      drop_remainder=True)
    if replicas is not None:
        bounds = np.linspace(0, batch_size, of + 1).round().astype(int)  # replica r: rows bounds[r] to bounds[r+1]

        def rows(x, y):
            parts = [tf.data.Dataset.from_tensors((x[bounds[r]:bounds[r + 1]], y[bounds[r]:bounds[r + 1]]))
                     for r in replicas]
            out = parts[0]
            for part in parts[1:]:
                out = out.concatenate(part)
            return out

        dataset = dataset.flat_map(rows)
    return dataset.prefetch(tf.data.AUTOTUNE)
