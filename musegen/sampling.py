"""Fast step-by-step generation from a trained recurrent network.

The weights of the Keras model are read once; every step of every layer is a
single fused matrix product ``[x, h] @ [[W], [U]]``, the recurrent state is
carried from step to step, and the whole loop (primer, then sampling) runs in
one compiled ``tf.function``, all pieces in one batch.  Random draws are
stateless (``seed=[seed, step]``), so the same seed gives the same music.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from musegen import backend
from musegen.rules import COLUMN_RULES, noise_width

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


def session(num: int):
    """Generation of ``num`` pieces at once (TensorFlow manages its own threads)."""
    return contextlib.nullcontext()


CHUNK = 256  # steps per compiled call; progress is reported between calls

# cell kind -> (step function, number of state tensors); add an entry for a new cell
CELL_STEPS = {"lstm": (_lstm_step, 2), "gru": (_gru_step, 1)}


def read_recurrent_weights(model, *, output: str | None = None) -> tuple[list[_Layer], tuple[np.ndarray, np.ndarray]]:
    """The stacked recurrent layers of ``model`` (fused kernels) and its output layer: the dense layer named
    ``output``, else the last dense one."""
    layers = []
    dense = None
    if output is not None:
        dense = tuple(np.asarray(v) for v in model.get_layer(output).get_weights())
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
        elif isinstance(layer, keras.layers.Dense) and layers and output is None:
            dense = tuple(np.asarray(v) for v in layer.get_weights())
    if not layers or dense is None:
        raise ValueError("the model has no recurrent layers or no output layer")
    return layers, dense


class Stepper:
    """The recurrent stack and output layer of a model, stepped one column at a time.

    ``output`` names the dense layer whose values a step gives (default: the
    model's last dense layer).
    """

    def __init__(self, model, *, output: str | None = None) -> None:
        self.layers, (w, b) = read_recurrent_weights(model, output=output)
        self.out_size = int(w.shape[1])
        self.out_w, self.out_b = tf.constant(w), tf.constant(b)

    def initial_state(self, num):
        """Zero state of every layer for ``num`` rows."""
        state = []
        for layer in self.layers:
            n = CELL_STEPS[layer.kind][1]
            state.append(tuple(tf.zeros([num, layer.units]) for _ in range(n)))
        return tuple(state)

    def recurrent(self, x, state):
        """Outputs ``[shape=(num, out)]`` of the output layer after feeding ``x`` to the stack."""
        new_state = []
        for layer, s in zip(self.layers, state, strict=True):
            x, s = CELL_STEPS[layer.kind][0](layer, x, s)
            new_state.append(s)
        return tf.matmul(x, self.out_w) + self.out_b, tuple(new_state)

    def _step_all(self, inputs: np.ndarray) -> np.ndarray:
        """Outputs after each step of ``inputs`` ``[shape=(num, t, ...)]``, stepped in eager mode."""
        state = self.initial_state(inputs.shape[0])
        outs = []
        for t in range(inputs.shape[1]):
            o, state = self._step(tf.constant(inputs[:, t]), state)
            outs.append(np.asarray(o))
        return np.stack(outs, axis=1)

    @staticmethod
    def _loop_invariants(state):
        tf.autograph.experimental.set_loop_options(
            shape_invariants=[(state, tf.nest.map_structure(lambda _: tf.TensorShape([None, None]), state))]
        )

    def _run_chunks(self, chunk_fn, graph_fn, carry, *, max_length: int, progress=None):
        """Call the compiled ``chunk_fn`` until ``max_length`` steps are made; return the outputs in order.

        ``chunk_fn(*carry, start, steps)`` returns ``(outputs, count, *carry)``;
        it is recompiled without XLA (``graph_fn``) where XLA is unavailable.
        """
        outs, made = [], 0
        while made < max_length:
            steps = min(CHUNK, max_length - made)
            args = (*carry, tf.constant(made, tf.int32), tf.constant(steps, tf.int32))
            try:
                result = chunk_fn(*args)
            except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError, tf.errors.InternalError):
                # no XLA for this device or build: the same loop, not fused
                chunk_fn = tf.function(graph_fn, reduce_retracing=True)
                result = chunk_fn(*args)
            produced, count, *carry = result
            produced = np.asarray(produced)[: int(count)]
            outs.append(produced)
            made += len(produced)
            if progress is not None:
                progress(len(produced))
            if len(produced) < steps:  # every row ended
                break
        return outs, chunk_fn


class TokenSampler(Stepper):
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
        super().__init__(model)
        emb = next(layer for layer in model.layers if layer.__class__.__name__ == "Embedding")
        self.embedding = tf.constant(np.asarray(emb.get_weights()[0]))
        self.vocab_size = self.out_size
        mask = np.zeros(self.vocab_size, dtype=np.float32)
        mask[list(banned)] = -np.inf
        self.mask = tf.constant(mask)
        self._prime = tf.function(self._prime_graph, reduce_retracing=True)
        # XLA fuses each step's small ops: about twice as fast at batch 1 on a CPU
        self._chunk = tf.function(self._chunk_graph, reduce_retracing=True, jit_compile=jit)

    def _step(self, tokens, state):
        """Logits ``[shape=(num, vocab)]`` after reading ``tokens`` ``[shape=(num,)]``."""
        return self.recurrent(tf.gather(self.embedding, tokens), state)

    def _prime_graph(self, primer, num):
        """Read the primer (all but its last token); return the last token and the state."""
        state = self.initial_state(num)
        for t in tf.range(tf.shape(primer)[0] - 1):
            self._loop_invariants(state)
            _, state = self._step(tf.fill([num], primer[t]), state)
        return tf.fill([num], primer[-1]), state

    def _chunk_graph(self, tokens, state, done, temperature, seed, end_id, start, steps):
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
        return out.stack(), i, tokens, state, done, temperature, seed, end_id

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
        carry = (tokens, state, tf.zeros([num], tf.bool), tf.constant(temperature, tf.float32),
                 tf.constant(seed, tf.int32), tf.constant(end_id, tf.int32))
        outs, self._chunk = self._run_chunks(self._chunk, self._chunk_graph, carry, max_length=max_length,
                                             progress=progress)
        return np.concatenate(outs, axis=0).T if outs else np.zeros((num, 0), np.int32)

    def logits(self, tokens: np.ndarray) -> np.ndarray:
        """Logits after each token of ``tokens`` ``[shape=(num, t)]``, by stepping (for checks)."""
        return self._step_all(np.asarray(tokens, dtype=np.int32))


# -- vector columns ------------------------------------------------------------------------------------


TF_OPS = SimpleNamespace(
    clip=tf.clip_by_value, round=tf.round, where=tf.where, exp=tf.exp, sigmoid=tf.sigmoid,
    logical_and=tf.logical_and, logical_or=tf.logical_or, logical_not=tf.logical_not,
    floats=lambda x: tf.cast(x, tf.float32), concat=lambda parts: tf.concat(parts, axis=1),
)


def _noise(kind: str, shape, seed, step):
    """Stateless draws for step ``step``: ``normal``, or ``logistic`` (from uniforms, as :func:`rules.logistic`)."""
    if kind == "normal":
        return tf.random.stateless_normal(shape, seed=tf.stack([seed, step]))
    u = tf.random.stateless_uniform(shape, seed=tf.stack([seed, step]), minval=1e-7, maxval=1.0 - 1e-7)
    return tf.math.log(u) - tf.math.log1p(-u)


class VectorSampler(Stepper):
    """Generate columns from a network with a ``vectors`` input: each chosen column is fed back in.

    Parameters
    ----------
    model : keras.Model
        Built by :func:`musegen.models.build_model` with a ``vectors`` input
        (optionally a dense ``projection`` before the recurrent layers).
    rule : str
        A key of :data:`musegen.rules.COLUMN_RULES`: how a column is chosen from the output.
    jit : bool
        Compile the sampling loop with XLA (falls back to a plain graph).
    """

    def __init__(self, model, *, rule: str, jit: bool = True) -> None:
        super().__init__(model)
        self.projection = None
        for layer in model.layers:
            if layer.name == "projection":
                w, b = (tf.constant(np.asarray(v)) for v in layer.get_weights())
                self.projection = (w, b)
        self.rule, self.noise_kind, _ = COLUMN_RULES[rule]
        self.noise_width = noise_width(rule, self.out_size)
        self._prime = tf.function(self._prime_graph, reduce_retracing=True)
        self._chunk = tf.function(self._chunk_graph, reduce_retracing=True, jit_compile=jit)

    def _step(self, column, state):
        x = column
        if self.projection is not None:
            x = tf.tanh(tf.matmul(x, self.projection[0]) + self.projection[1])
        return self.recurrent(x, state)

    def _prime_graph(self, primer):
        """Read ``primer`` ``[shape=(steps, num, features)]`` but its last column; return it and the state."""
        state = self.initial_state(tf.shape(primer)[1])
        for t in tf.range(tf.shape(primer)[0] - 1):
            self._loop_invariants(state)
            _, state = self._step(primer[t], state)
        return primer[-1], state

    def _chunk_graph(self, column, state, temperature, threshold, seed, start, steps):
        out = tf.TensorArray(tf.float32, size=CHUNK, element_shape=column.shape)
        i = tf.constant(0)
        while i < steps:
            o, state = self._step(column, state)
            noise = _noise(self.noise_kind, [tf.shape(o)[0], self.noise_width], seed, start + i)
            column = self.rule(TF_OPS, o, column, noise, temperature, threshold)
            out = out.write(i, column)
            i += 1
        return out.stack(), i, column, state, temperature, threshold, seed

    def generate(self, primer: np.ndarray, *, max_length: int, temperature: float, seed: int,
                 threshold: float = 0.0, progress=None) -> np.ndarray:
        """Generate ``max_length`` columns after each row's primer.

        Parameters
        ----------
        primer : np.ndarray [shape=(num, steps, features)]
            One primer per piece (at least one column each).

        Returns
        -------
        np.ndarray [shape=(num, max_length, features)]
        """
        primer = np.asarray(primer, dtype=np.float32)
        column, state = self._prime(tf.constant(np.transpose(primer, (1, 0, 2))))
        carry = (column, state, tf.constant(temperature, tf.float32), tf.constant(threshold, tf.float32),
                 tf.constant(seed, tf.int32))
        outs, self._chunk = self._run_chunks(self._chunk, self._chunk_graph, carry, max_length=max_length,
                                             progress=progress)
        if not outs:
            return np.zeros((primer.shape[0], 0, primer.shape[2]), np.float32)
        return np.transpose(np.concatenate(outs, axis=0), (1, 0, 2))

    def outputs(self, columns: np.ndarray) -> np.ndarray:
        """Outputs after each column of ``columns`` ``[shape=(num, t, features)]``, by stepping (for checks)."""
        return self._step_all(np.asarray(columns, dtype=np.float32))


class NetworkStepper:
    """A trained network stepped one input at a time: NumPy in, NumPy out, the recurrent state carried.

    For representations that step the network themselves (``sample_steps``).
    The input layers are read from the model: an embedding (``tokens``,
    ``token_pairs``: the embeddings of a step's ids side by side), fixed
    ``columns`` (``leading_vectors``), a dense ``projection``.  A step gives
    the values of the model's ``vector`` layer when it has one (a network
    whose decoder the representation runs itself, in NumPy: see
    :meth:`weights`), else of its last dense layer.  Sampling is an eager
    loop: the representation draws between steps.
    """

    def __init__(self, model, num: int) -> None:
        names = {layer.name for layer in model.layers}
        self.core = Stepper(model, output="vector" if "vector" in names else None)
        self.state = self.core.initial_state(num)
        self.embedding = self.columns = self.projection = None
        self._weights = {layer.name: [np.asarray(v, np.float32) for v in layer.get_weights()] for layer in model.layers}
        for layer in model.layers:
            weights = self._weights[layer.name]
            if layer.__class__.__name__ == "Embedding":
                self.embedding = weights[0]
            elif layer.name == "columns":
                self.columns = weights[0]
            elif layer.name == "projection":
                self.projection = tuple(weights)

    def weights(self, name: str) -> list[np.ndarray]:
        """The weights of the model's layer ``name`` (e.g. a decoder the representation runs in NumPy)."""
        return self._weights[name]

    def step(self, x: np.ndarray) -> np.ndarray:
        """The output layer's values ``[shape=(num, out)]`` after reading one step ``x`` of every row."""
        x = np.asarray(x)
        if self.embedding is not None:
            x = self.embedding[x.astype(np.int64)].reshape(len(x), -1)
        if self.columns is not None:
            x = x @ self.columns
        if self.projection is not None:
            x = np.tanh(x @ self.projection[0] + self.projection[1])
        out, self.state = self.core.recurrent(tf.constant(x, tf.float32), self.state)
        return np.asarray(out)

    def feed(self, steps: np.ndarray) -> np.ndarray:
        """Read ``steps`` ``[shape=(num, t, ...)]`` in order; the output after the last."""
        out = None
        for t in range(steps.shape[1]):
            out = self.step(steps[:, t])
        return out
