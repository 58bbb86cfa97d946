"""Fast step-by-step generation from a trained recurrent network.

The weights of the Keras model are read once; every step of every layer is a
single fused matrix product ``[x, h] @ [[W], [U]]``, the recurrent state is
carried from step to step, and the whole loop (primer, then sampling) runs in
one compiled ``tf.function``, all pieces in one batch.  Random draws are
stateless (``seed=[seed, step]``), so the same seed gives the same music.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from musegen import backend

# this module is imported only to generate, so TensorFlow is loaded here
tf = backend.tf()
keras = backend.keras()


@dataclass
class _Layer:
    kind: str  # "lstm" | "gru"
    kernel: Any  # [shape=(in + units, gates * units)]
    bias: Any
    units: int
    recurrent_bias: Any = None  # GRU (reset_after) only


def _lstm_step(layer: _Layer, x, state):

    h, c = state
    u = layer.units
    # the kernel's gate columns were reordered to (i, f, o, g): one sigmoid covers three gates
    z = tf.matmul(tf.concat([x, h], axis=1), layer.kernel) + layer.bias
    ifo = tf.sigmoid(z[:, : 3 * u])
    c = ifo[:, u : 2 * u] * c + ifo[:, :u] * tf.tanh(z[:, 3 * u :])
    h = ifo[:, 2 * u :] * tf.tanh(c)
    return h, (h, c)


def _gru_step(layer: _Layer, x, state):

    (h,) = state
    u = layer.units
    mx = tf.matmul(x, layer.kernel[:-u]) + layer.bias
    mh = tf.matmul(h, layer.kernel[-u:]) + layer.recurrent_bias
    xz, xr, xh = tf.split(mx, 3, axis=1)
    hz, hr, hh = tf.split(mh, 3, axis=1)
    z = tf.sigmoid(xz + hz)
    r = tf.sigmoid(xr + hr)
    cand = tf.tanh(xh + r * hh)
    h = z * h + (1.0 - z) * cand
    return h, (h,)


CHUNK = 256  # steps per compiled call; progress is reported between calls

# cell kind -> (step function, number of state tensors); add an entry for a new cell
CELL_STEPS = {"lstm": (_lstm_step, 2), "gru": (_gru_step, 1)}


def read_recurrent_weights(model) -> tuple[list[_Layer], tuple[np.ndarray, np.ndarray]]:
    """The stacked recurrent layers of ``model`` (fused kernels) and its output layer."""
    from musegen import backend

    tf = backend.tf()

    layers = []
    dense = None
    for layer in model.layers:
        if isinstance(layer, keras.layers.LSTM):
            w, u, b = (np.asarray(v) for v in layer.get_weights())
            n = layer.units
            order = np.r_[0 : 2 * n, 3 * n : 4 * n, 2 * n : 3 * n]  # Keras (i, f, g, o) -> (i, f, o, g)
            fused = tf.constant(np.concatenate([w, u], axis=0)[:, order])
            layers.append(_Layer("lstm", fused, tf.constant(b[order]), layer.units))
        elif isinstance(layer, keras.layers.GRU):
            w, u, b = (np.asarray(v) for v in layer.get_weights())
            if b.ndim != 2:
                raise ValueError("only GRU layers with reset_after=True are supported")
            fused = tf.constant(np.concatenate([w, u], axis=0))
            layers.append(_Layer("gru", fused, tf.constant(b[0]), layer.units, tf.constant(b[1])))
        elif isinstance(layer, keras.layers.Dense):
            dense = tuple(np.asarray(v) for v in layer.get_weights())
    if not layers or dense is None:
        raise ValueError("the model has no recurrent layers or no output layer")
    return layers, dense


class TokenSampler:
    """Generate token sequences from a network with a token input and a softmax head.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`musegen.models.build_model` with a ``tokens`` input.
    banned : sequence of int
        Ids never sampled (padding, start marker, unknown class).
    jit : bool
        Compile the sampling loop with XLA (falls back to a plain graph).
    """

    def __init__(self, model, *, banned=(), jit: bool = True) -> None:
        emb = next(layer for layer in model.layers if layer.__class__.__name__ == "Embedding")
        self.embedding = tf.constant(np.asarray(emb.get_weights()[0]))
        self.layers, (w, b) = read_recurrent_weights(model)
        self.vocab_size = int(w.shape[1])
        self.out_w, self.out_b = tf.constant(w), tf.constant(b)
        mask = np.zeros(self.vocab_size, dtype=np.float32)
        mask[list(banned)] = -np.inf
        self.mask = tf.constant(mask)
        self._prime = tf.function(self._prime_graph, reduce_retracing=True)
        # XLA fuses each step's small ops: about twice as fast at batch 1 on a CPU
        self._chunk = tf.function(self._chunk_graph, reduce_retracing=True, jit_compile=jit)

    def _initial_state(self, num):
        state = []
        for layer in self.layers:
            n = CELL_STEPS[layer.kind][1]
            state.append(tuple(tf.zeros([num, layer.units]) for _ in range(n)))
        return tuple(state)

    def _step(self, tokens, state):
        """Logits ``[shape=(num, vocab)]`` after reading ``tokens`` ``[shape=(num,)]``."""
        x = tf.gather(self.embedding, tokens)
        new_state = []
        for layer, s in zip(self.layers, state, strict=True):
            x, s = CELL_STEPS[layer.kind][0](layer, x, s)
            new_state.append(s)
        return tf.matmul(x, self.out_w) + self.out_b, tuple(new_state)

    def _prime_graph(self, primer, num):
        """Read the primer (all but its last token); return the last token and the state."""
        state = self._initial_state(num)
        for t in tf.range(tf.shape(primer)[0] - 1):
            tf.autograph.experimental.set_loop_options(
                shape_invariants=[(state, tf.nest.map_structure(lambda _: tf.TensorShape([None, None]), state))]
            )
            _, state = self._step(tf.fill([num], primer[t]), state)
        return tf.fill([num], primer[-1]), state

    def _chunk_graph(self, tokens, state, done, start, steps, temperature, seed, end_id):
        """Generate up to ``steps`` (at most ``CHUNK``) tokens from step number ``start`` on.

        Stops early when every row has ended.  Returns ``[shape=(CHUNK, num)]``
        ids (only the first ``count`` rows are filled), the count, and the
        carried token, state and done flags.
        """
        out = tf.TensorArray(tf.int32, size=CHUNK, element_shape=tokens.shape)
        i = tf.constant(0)
        while i < steps and not tf.reduce_all(done):
            logits, state = self._step(tokens, state)
            logits = logits + self.mask
            draw = tf.random.stateless_categorical(logits / tf.maximum(temperature, 1e-6), 1,
                                                   seed=tf.stack([seed, start + i]))
            greedy = tf.argmax(logits, axis=1, output_type=tf.int32)
            nxt = tf.where(temperature > 0.0, tf.cast(draw[:, 0], tf.int32), greedy)
            nxt = tf.where(done, end_id, nxt)
            out = out.write(i, nxt)
            done = tf.logical_or(done, tf.equal(nxt, end_id))
            tokens = nxt
            i += 1
        return out.stack(), i, tokens, state, done

    def generate(self, primer: np.ndarray, *, num: int, max_length: int, temperature: float,
                 seed: int, end_id: int, progress=None) -> np.ndarray:
        """Sample ``num`` sequences after ``primer``.

        Generation runs in compiled chunks of :data:`CHUNK` steps, the state
        carried between them; ``progress(steps_done)`` is called after each.

        Returns
        -------
        np.ndarray [shape=(num, steps)]
            Generated ids; rows that ended early are padded with ``end_id``.
        """
        primer = np.asarray(primer, dtype=np.int32).ravel()
        tokens, state = self._prime(tf.constant(primer), tf.constant(num, tf.int32))
        done = tf.zeros([num], tf.bool)
        pieces, made = [], 0
        temperature, seed, end_id = (tf.constant(temperature, tf.float32), tf.constant(seed, tf.int32),
                                     tf.constant(end_id, tf.int32))
        while made < max_length:
            steps = min(CHUNK, max_length - made)
            args = (tokens, state, done, tf.constant(made, tf.int32), tf.constant(steps, tf.int32), temperature,
                    seed, end_id)
            try:
                ids, count, tokens, state, done = self._chunk(*args)
            except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError, tf.errors.InternalError):
                # no XLA for this device or build: the same loop, not fused
                self._chunk = tf.function(self._chunk_graph, reduce_retracing=True)
                ids, count, tokens, state, done = self._chunk(*args)
            ids = np.asarray(ids)[: int(count)].T
            pieces.append(ids)
            made += ids.shape[1]
            if progress is not None:
                progress(ids.shape[1])
            if ids.shape[1] < steps or bool(np.all(np.asarray(done))):
                break
        return np.concatenate(pieces, axis=1) if pieces else np.zeros((num, 0), np.int32)

    def logits(self, tokens: np.ndarray) -> np.ndarray:
        """Logits after each token of ``tokens`` ``[shape=(num, t)]``, by stepping (for checks)."""
        tokens = np.asarray(tokens, dtype=np.int32)
        state = self._initial_state(tokens.shape[0])
        outs = []
        for t in range(tokens.shape[1]):
            lg, state = self._step(tf.constant(tokens[:, t]), state)
            outs.append(np.asarray(lg))
        return np.stack(outs, axis=1)
