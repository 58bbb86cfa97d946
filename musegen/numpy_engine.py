"""Sampling without TensorFlow: a saved network's weights read from ``model.keras`` and stepped in NumPy.

The light engine of ``musegen sample`` on a CPU (``--engine numpy``): it reads
the bundle's ``model.keras`` (a zip of ``config.json`` and an HDF5 file of
weights) with ``zipfile``, ``json`` and ``h5py`` alone, so a tune costs the
arithmetic of its own matrix products and not the start of TensorFlow.  It
runs the networks :func:`musegen.models.build_model` makes: embeddings (or
one-hot tables), fixed column selections, dense projections, stacked LSTM
and GRU layers (fused kernels, as :mod:`musegen.sampling` steps them), and
the dense layers after them.  Draws come from a NumPy generator seeded with
the seed, so the same seed gives the same music; the column rules are the
ones TensorFlow runs (:mod:`musegen.rules`).

The samplers here have the interface of :mod:`musegen.sampling`'s.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musegen.errors import MusegenError
from musegen.rules import COLUMN_RULES, NUMPY_OPS, logistic, noise_width

ACTIVATIONS = {"linear": lambda x: x, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0),
               "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x))}
PROGRESS_EVERY = 256  # steps between two progress reports
NOISE_BLOCK = 64  # steps of sampling noise drawn at once
FAST_NOISE = 8  # pieces from which the noise is made with np.log (gumbel_block): fewer draw it with rng.gumbel
_STARTED = time.monotonic()  # about when this process began its work (see busy)


@dataclass
class Layer:
    """One layer of a saved network: its kind, name, settings and weights (as Keras stores them)."""

    kind: str  # the Keras class name: Embedding, Dense, LSTM, GRU, Dropout, Reshape
    name: str
    config: dict[str, Any]
    weights: list[np.ndarray] = field(default_factory=list)


def _snake(name: str) -> str:
    """A class name as Keras names its layers' variables: ``LSTM`` -> ``lstm``, ``GroupNorm`` -> ``group_norm``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def read_layers(path: str | Path, *, weights: bool = True) -> list[Layer]:
    """The layers of a saved functional model, in order, with their weights (unless not ``weights``);
    no TensorFlow.  The first layer's ``config`` also holds ``input_shape``, the model's input.

    Keras stores each layer's variables under ``layers/<class in snake case>[_N]``
    in the order of the model's layers; each is checked against its layer's
    settings, so a file laid out otherwise is refused rather than misread.
    """
    import h5py

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            blob = z.read("model.weights.h5") if weights else None
        specs = config["config"]["layers"]
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise MusegenError(f"{path}: cannot load model ({exc})") from None
    layers, seen, previous, input_shape = [], {}, None, None
    with (h5py.File(io.BytesIO(blob), "r") if blob is not None else contextlib.nullcontext({})) as stored:
        for spec in specs:
            kind, cfg = spec["class_name"], spec["config"]
            if kind == "InputLayer":
                previous, input_shape = cfg["name"], cfg.get("batch_shape")
                continue
            inbound = json.dumps(spec.get("inbound_nodes", []))
            if f'"keras_history": ["{previous}"' not in inbound:
                raise MusegenError(f"{path}: {cfg['name']} does not follow {previous}: not a chain of layers")
            key = _snake(kind)
            count = seen.get(key, 0)
            seen[key] = count + 1
            group = stored.get(f"layers/{key}_{count}" if count else f"layers/{key}")
            if group is not None and "cell" in group:
                group = group["cell"]
            arrays = [np.asarray(group["vars"][str(i)], np.float32) for i in range(len(group["vars"]))] \
                if group is not None and "vars" in group else []
            layers.append(Layer(kind, cfg["name"], cfg, arrays))
            previous = cfg["name"]
    if not layers:
        raise MusegenError(f"{path}: the network has no layers")
    layers[0].config = {**layers[0].config, "input_shape": input_shape}
    return layers


class Network:
    """A saved musegen network stepped in NumPy: ``step(x, state) -> (output, state)``.

    The input layers (embedding, ``columns``, ``projection``) turn a step's
    ids or values into the recurrent stack's input; the output of a step is
    the ``vector`` layer's where the network has one (a decoder the
    representation runs itself follows it), else the last dense layer's.
    :meth:`__call__` runs whole sequences through every layer, as the Keras
    model does.
    """

    KNOWN = ("Embedding", "Dense", "LSTM", "GRU", "Dropout", "Reshape")

    def __init__(self, layers: list[Layer], *, source: str = "network") -> None:
        unknown = [f"{layer.name} ({layer.kind})" for layer in layers if layer.kind not in self.KNOWN]
        if unknown:
            raise MusegenError(f"{source}: the NumPy engine cannot run {', '.join(unknown)}; "
                               "use --engine tensorflow")
        for layer in layers:
            problem = _unsupported(layer)
            if problem:
                raise MusegenError(f"{source}: {layer.name}: {problem}; use --engine tensorflow")
        if not any(layer.kind in ("LSTM", "GRU") for layer in layers):
            raise MusegenError(f"{source}: no recurrent layer: not a network musegen built")
        self.layers = layers
        first = next(i for i, layer in enumerate(layers) if layer.kind in ("LSTM", "GRU"))
        last = max(i for i, layer in enumerate(layers) if layer.kind in ("LSTM", "GRU"))
        self.inputs, self.head = layers[:first], layers[last + 1:]
        self.cells = [self._fuse(layer) for layer in layers[first:last + 1] if layer.kind in ("LSTM", "GRU")]
        dense = [layer for layer in self.head if layer.kind == "Dense"]
        named = [layer for layer in dense if layer.name == "vector"]
        self.output = (named or dense[-1:] or [None])[0]
        if self.output is None:
            raise MusegenError(f"{source}: the network has no output layer")
        self.out_size = int(self.output.weights[0].shape[1])
        # one id a step, read by the first layer: its input products, bias included, are a table of the ids
        self.token_table = None
        if [layer.kind for layer in self.inputs] == ["Embedding"] and self.cells[0][0] == "lstm":
            kind, n, kernel, bias, _ = self.cells[0]
            self.token_table = self.inputs[0].weights[0] @ kernel[:-n] + bias

    @classmethod
    def load(cls, path: str | Path) -> Network:
        return cls(read_layers(path), source=str(path))

    @staticmethod
    def _fuse(layer: Layer) -> tuple[str, int, np.ndarray, np.ndarray, np.ndarray | None]:
        """``(kind, units, [W; U], bias, recurrent bias)``.

        An LSTM's gate columns are reordered to (i, f, o, g) and those of its
        three sigmoid gates negated, so that the products give ``-z`` for
        ``exp(-z)`` directly: negation is exact in floating point, so the
        gates are those of ``1 / (1 + exp(-z))`` to the last bit.
        """
        w, u, b = layer.weights
        n = int(layer.config["units"])
        if layer.kind == "LSTM":
            order = np.r_[0:2 * n, 3 * n:4 * n, 2 * n:3 * n]  # Keras (i, f, g, o) -> (i, f, o, g)
            sign = np.r_[-np.ones(3 * n, np.float32), np.ones(n, np.float32)]
            kernel = np.ascontiguousarray(np.concatenate([w, u])[:, order] * sign)
            return "lstm", n, kernel, b[order] * sign, None
        if b.ndim != 2:
            raise MusegenError(f"{layer.name}: only GRU layers with reset_after=True are supported")
        return "gru", n, np.ascontiguousarray(np.concatenate([w, u])), b[0], b[1]

    def weights(self, name: str) -> list[np.ndarray]:
        """The weights of the layer ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer.weights
        raise KeyError(name)

    def initial_state(self, num: int) -> State:
        return State(self, num)

    def read(self, x: np.ndarray) -> np.ndarray:
        """The recurrent stack's input for one step ``x``: ids ``[shape=(num,)]``, id pairs or values."""
        for layer in self.inputs:
            if layer.kind == "Embedding":
                x = layer.weights[0][np.asarray(x, np.int64)].reshape(len(x), -1)
            elif layer.kind == "Dense":
                x = dense(layer, np.asarray(x, np.float32))
        return np.asarray(x, np.float32)

    def step(self, x: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """The output layer's values after one step ``x`` (ids, id pairs or values); ``state`` is advanced
        in place and returned."""
        self.advance(x, state)
        return dense(self.output, state.last), state

    def advance(self, x: np.ndarray, state: State) -> None:
        """Advance ``state`` in place by one step ``x`` (ids, id pairs or values)."""
        if self.token_table is not None:
            state.advance(ids=np.asarray(x, np.int64))
        else:
            state.advance(x=self.read(x))

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        """The output layer's values after each step of ``inputs`` ``[shape=(num, t, ...)]``."""
        state, outs = self.initial_state(inputs.shape[0]), []
        for t in range(inputs.shape[1]):
            out, state = self.step(inputs[:, t], state)
            outs.append(out)
        return np.stack(outs, axis=1)

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """Every layer's work on whole sequences ``[shape=(num, t, ...)]``, as the Keras model gives it."""
        inputs = np.asarray(inputs)
        state = self.initial_state(inputs.shape[0])
        outs = []
        for t in range(inputs.shape[1]):
            _, state = self.step(inputs[:, t], state)
            x = state.last
            for layer in self.head:
                if layer.kind == "Dense":
                    x = dense(layer, x)
                elif layer.kind == "Reshape":
                    x = x.reshape(len(x), *layer.config["target_shape"][1:])
            outs.append(x)
        return np.stack(outs, axis=1)


class State:
    """The recurrent stack's state for ``num`` pieces, advanced in place one step at a time.

    One buffer holds, side by side, the step's input (unless the first layer
    reads token ids from its table) and every layer's output ``h``, so that a
    layer's input and its own last output are one slice of it, multiplied by
    the layer's fused ``[W; U]`` kernel with no copy; the layer's new output is
    then written where the next layer reads it.  Every buffer and view of them
    is made once: a step is the arithmetic of Keras's cells (``concatenate([x,
    h]) @ kernel``, ``1 / (1 + exp(-z))``), done in place, and nothing else.

    The buffers of many pieces of an LSTM stack are laid out feature by
    feature (a column a piece), so that a product is ``kernel.T @ [x, h].T``
    and each gate a contiguous block: OpenBLAS runs that faster (a step of 64
    pieces of ``models/abc-jigs`` 6 to 20% faster on one core here, side by
    side) and gives the very bits of ``[x, h] @ kernel``, which the state
    checks on its own buffers when it is made (:meth:`_same_products`); where
    it does not hold (one piece: a matrix-vector product; a few pieces of
    small layers, which OpenBLAS multiplies otherwise) the state keeps a row a
    piece, as for GRU layers.  A first layer that reads token ids is laid out
    by feature too: the ids' columns of the transposed table are taken into a
    buffer and added to ``h @ U`` (65 us at batch 64, against 25 for rows of
    the table added a row a piece), which costs less than the strided gate
    arithmetic and the copy of ``h`` that a row a piece needed (a step 4 to 6%
    faster with the bias change below, side by side).  A bias is added from
    a copy of it laid out as ``z`` is, in one pass over contiguous memory (9
    against 26 us at batch 64).  The output layer multiplies the top layer's
    output as it lies (``last`` is ``top``: the same bits as a row a piece,
    checked, else copied), saving a copy of 35 us.

    Measured and left out (``models/abc-jigs``, 2 cores, side by side, the
    same bits either way): the bias folded into the product as a last row of
    the kernel and a column of ones gives other bits for a layer of 768
    inputs (OpenBLAS adds the kernel's rows in blocks); a step's gate
    arithmetic shared with a second Python thread (each half of the pieces or
    features) ran no faster at batch 64 to 512 with two BLAS threads (2,116
    against 2,012 us a step at batch 64), as a ufunc on half of a step's
    arrays (12,000 to 36,000 numbers) takes about as long as the interpreter
    lock takes to pass between the threads (at batch 512 it saved 8% with one
    BLAS thread but nothing with two: OpenBLAS's own thread seemingly keeps
    the other core, spinning, after a product); the first layer's product for
    the next step (it does not need the next ids) made on a second thread
    while the top layer's gates and the draw are done, 10% slower with two
    BLAS threads, 12 to 24% slower with one and each product split between
    the two threads; the next block of Gumbel noise made on a second thread,
    6% slower.
    """

    def __init__(self, net: Network, num: int, *, by_feature: bool = True) -> None:
        self.table = net.token_table
        first = net.cells[0]
        self.width_in = 0 if self.table is not None else first[2].shape[0] - first[1]
        self.by_feature = by_feature and num > 1 and all(kind == "lstm" for kind, *_ in net.cells)
        self._build(net, num)
        if self.by_feature and not self._same_products():
            self.by_feature = False
            self._build(net, num)

    def _build(self, net: Network, num: int) -> None:
        """The buffers and the views of them that a step reads and writes, by feature or by piece."""
        order = "F" if self.by_feature else "C"  # a piece's row of an "F" array: a column of its memory
        widths = [self.width_in] + [n for _, n, *_ in net.cells]
        self.buffer = np.zeros((num, sum(widths)), np.float32, order=order)
        self.input = self.buffer[:, :self.width_in]
        self.layers, self.checks, at = [], [], self.width_in
        for kind, n, kernel, bias, recurrent_bias in net.cells:
            h = self.buffer[:, at:at + n]
            reads = self.buffer[:, at - (kernel.shape[0] - n):at + n]  # [x, h]
            if kind == "gru":
                self.layers.append((kind, (reads[:, :-n], kernel[:-n]), (h, kernel[-n:]), (bias, recurrent_bias),
                                    h, None, None, None))
                at += n
                continue
            z = np.empty((num, 4 * n), np.float32, order=order)
            c, t = np.zeros((num, n), np.float32, order=order), np.empty((num, n), np.float32, order=order)
            ifo, g = z[:, :3 * n], z[:, 3 * n:]
            gates = (z, ifo, g, ifo[:, :n], ifo[:, n:2 * n], ifo[:, 2 * n:])
            if not self.layers and self.table is not None:  # x @ W + bias: a row of the table, added to h @ U
                reads, kernel = h, kernel[-n:]
                addend = (None, np.empty((4 * n, num), np.float32)) if self.by_feature else (None, None)
            else:  # the bias, a row a piece, in z's own layout: one pass over contiguous memory
                added = np.broadcast_to(bias, z.shape).copy(order)
                addend = (z.reshape(-1, order=order), added.reshape(-1, order=order))  # views, no copy
            if self.by_feature:  # np.matmul(a, b, out=out)
                product = (np.ascontiguousarray(kernel.T), reads.T, z.T)
                self.checks.append((product, (at + n - kernel.shape[0], at + n), kernel))
            else:
                product = (reads, kernel, z)
            self.layers.append((kind, product, addend, bias, h, c, t, gates))
            at += n
        if self.table is not None and self.by_feature:
            self.table_t = np.ascontiguousarray(self.table.T)  # the table a column an id, taken a column a piece
        self.top = self.buffer[:, at - widths[-1]:]  # the last recurrent layer's output
        self.last = self.top  # what the layers after the stack read: a feature-by-feature top serves as it is
        # (dense layers multiply it as they do a row a piece, to the bit: checked) else it is copied a row a piece
        self.heads = [layer.weights[0] for layer in net.head
                      if layer.kind == "Dense" and layer.weights[0].shape[0] == self.top.shape[1]]

    def _same_products(self) -> bool:
        """Whether each layer's product by feature gives the very bits of the product by piece, on random
        values in this state's own buffers, with the BLAS threads of the moment."""
        values = np.random.default_rng(0).standard_normal(self.buffer.shape, dtype=np.float32)
        rows = np.ascontiguousarray(values)  # the buffer as it is laid out by piece
        self.buffer[...] = values
        same = True
        for (kernel_t, reads_t, z_t), (start, stop), kernel in self.checks:
            np.matmul(kernel_t, reads_t, out=z_t)
            same = same and np.array_equal(z_t.T, rows[:, start:stop] @ kernel)
        top = rows[:, self.buffer.shape[1] - self.top.shape[1]:]
        if same and not all(np.array_equal(self.top @ kernel, top @ kernel) for kernel in self.heads):
            self.last = np.zeros(self.top.shape, np.float32)  # a row a piece, copied from the top after a step
        self.buffer[...] = 0.0
        return same

    def advance(self, *, x: np.ndarray | None = None, ids: np.ndarray | None = None) -> None:
        """One step on the stack's input ``x`` (already read) or on token ``ids`` (looked up in the table)."""
        if x is not None:
            self.input[...] = x
        for kind, product, addend, bias, h, c, t, gates in self.layers:
            if kind == "gru":
                (reads, kernel), (_, recurrent_kernel), (bias, recurrent_bias) = product, addend, bias
                zx, rx, hx = np.split(reads @ kernel + bias, 3, axis=1)
                zh, rh, hh = np.split(h @ recurrent_kernel + recurrent_bias, 3, axis=1)
                update = 1.0 / (1.0 + np.exp(-(zx + zh)))
                reset = 1.0 / (1.0 + np.exp(-(rx + rh)))
                h[...] = update * h + (1.0 - update) * np.tanh(hx + reset * hh)
                continue
            z, ifo, g, i, f, o = gates
            np.matmul(*product)
            flat, added = addend
            if flat is not None:
                np.add(flat, added, out=flat)  # + bias
            elif added is not None:  # + the ids' columns of the table (ids below 0 count from the end, as in a[ids])
                np.take(self.table_t, ids, axis=1, out=added, mode="wrap")
                np.add(product[2], added, out=product[2])
            else:
                np.add(self.table[ids], z, out=z)
            np.exp(ifo, out=ifo)  # the gate columns hold -z
            ifo += 1.0
            np.reciprocal(ifo, out=ifo)
            np.tanh(g, out=g)
            np.multiply(f, c, out=c)
            np.multiply(i, g, out=g)
            c += g
            np.tanh(c, out=t)
            np.multiply(o, t, out=h)
        if self.last is not self.top:
            self.last[...] = self.top


def _unsupported(layer: Layer) -> str:
    """Why the NumPy engine cannot run ``layer`` as Keras does ("" when it can)."""
    cfg, count = layer.config, len(layer.weights)
    if layer.kind in ("LSTM", "GRU"):
        if (cfg.get("activation", "tanh"), cfg.get("recurrent_activation", "sigmoid")) != ("tanh", "sigmoid"):
            return "a recurrent layer with other activations than tanh and sigmoid"
        if not cfg.get("use_bias", True) or count != 3:
            return f"a recurrent layer without its kernels and bias ({count} weights)"
        if layer.kind == "GRU" and not cfg.get("reset_after", True):
            return "a GRU with reset_after=False"
    elif layer.kind == "Dense":
        if cfg.get("activation", "linear") not in ACTIVATIONS:
            return f"a dense layer with activation {cfg.get('activation')!r}"
        if count != (2 if cfg.get("use_bias", True) else 1):
            return f"a dense layer with {count} weights"
    elif layer.kind == "Embedding" and count != 1:
        return f"an embedding with {count} weights"
    return ""


def dense(layer: Layer, x: np.ndarray) -> np.ndarray:
    """A Keras ``Dense`` layer on ``x``."""
    y = x @ layer.weights[0]
    if len(layer.weights) > 1:
        y += layer.weights[1]
    return ACTIVATIONS[layer.config.get("activation", "linear")](y)


@contextlib.contextmanager
def session(num: int):
    """Generation of ``num`` pieces at once: every BLAS thread on an idle machine, one on a busy one.

    Threads that wait for each other cost far more than a step's small
    products when other work is running (measured on the 2-core machine:
    batch 1 at 282 us a step with one thread, 7,251 us with two; batch 64 at
    3.3 ms against 14 ms), while on an idle machine two threads are faster
    (batch 1: 3,895 characters/s against 2,667; batch 64: 25,433 against
    16,157).  The products split the outputs among the threads, never a sum,
    so the music is the same either way (tested).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    if not busy():
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def busy() -> bool:
    """Whether other work keeps this machine's cores busy: the load of the last minute, less what this process
    has added to it, against the cores.

    The load average follows the number of tasks that run or wait to, with a
    time constant of a minute, so a process that has kept a core busy for
    ``t`` seconds adds about ``1 - exp(-t / 60)`` to it itself: a long
    generation, or a benchmark, would otherwise find its own work there and
    keep to one thread on an idle machine.  Its share of that is the CPU time
    it used over the time since it began (at most a core).
    """
    try:
        load, cores = os.getloadavg()[0], max(1, len(os.sched_getaffinity(0)))
        elapsed = max(time.monotonic() - _STARTED, 1e-3)
        used = os.times()
    except (OSError, AttributeError):
        return True
    own = min(1.0, (used.user + used.system) / elapsed) * (1.0 - math.exp(-elapsed / 60.0))
    return load - own > cores - 0.5


def gumbel_block(rng: np.random.Generator, size: tuple[int, ...], *, fast: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Gumbel noise of ``size`` from ``rng``: ``(rng.gumbel(size=size), None)``, or, if ``fast``, the same
    draws computed with NumPy's vectorised logarithm, and the uniform numbers they come from.

    NumPy's ``Generator.gumbel`` is ``0.0 - 1.0 * log(-log(1 - U))`` with ``U``
    the generator's next double, drawn again where ``1 - U == 1.0``
    (``distributions.c``); ``rng.random`` gives the same doubles, so the
    generator ends where ``gumbel`` leaves it.  ``np.log`` (SIMD) is several
    times as fast as the C library's ``log`` that ``gumbel`` calls (a block of
    64 steps of 64 pieces of 89 ids: 3.1 ms against 9.0, most of it now the
    generator's own draws) but differs from it in the last bit of about one
    number in 240: :func:`gumbel_argmax` settles the draws that so small a
    difference could change with the library's ``log``, so the choices are
    ``gumbel``'s.  A draw of exactly 0 (``gumbel`` draws again there) sends
    the block back to ``gumbel`` itself.
    """
    if not fast:
        return rng.gumbel(size=size), None
    saved = rng.bit_generator.state
    uniform = rng.random(size)
    if not uniform.all():
        rng.bit_generator.state = saved
        return rng.gumbel(size=size), None
    noise = np.subtract(1.0, uniform)
    np.log(noise, out=noise)
    np.negative(noise, out=noise)
    np.log(noise, out=noise)
    np.negative(noise, out=noise)
    return noise, uniform


NEAR = 1e-9  # absolute room of a draw made with np.log: its noise is within 1e-14 of the C library's
NEAR_RELATIVE = 1e-14  # and room for the rounding of a sum, relative to the largest


def gumbel_argmax(noise: np.ndarray, logits: np.ndarray, uniform: np.ndarray | None) -> np.ndarray:
    """``np.argmax(noise + logits, axis=1)`` as with the noise of ``rng.gumbel``, where ``noise``
    ``[shape=(num, width)]`` was made from ``uniform`` by :func:`gumbel_block` (``None``: it is
    ``gumbel``'s own).

    Each row's largest sum wins by far more than the last bits that
    ``np.log`` and the C library's ``log`` may differ by, but where another
    of its row comes within :data:`NEAR` of it, the noise of those close
    ones is computed again with the C library's ``log`` (``math.log``), as
    ``gumbel`` computes it, and the first of the largest sums wins, as in
    ``np.argmax``.
    """
    sums = noise + logits
    chosen = np.argmax(sums, axis=1)
    if uniform is None:
        return chosen
    num, width = sums.shape
    best = sums.ravel()[chosen + np.arange(0, num * width, width)]
    best -= NEAR + NEAR_RELATIVE * np.abs(best)
    near = sums >= best[:, None]  # the winner, and any sum that an exact log could put before it
    if np.count_nonzero(near) == num:  # the winners alone
        return chosen
    for row in np.flatnonzero(np.count_nonzero(near, axis=1) > 1):
        ids = np.flatnonzero(near[row])
        exact = [0.0 - 1.0 * math.log(-math.log(1.0 - float(uniform[row, j]))) + float(logits[row, j])
                 for j in ids]
        chosen[row] = ids[int(np.argmax(exact))]
    return chosen


def _report(progress, made: int, step: int, total: int) -> int:
    """Call ``progress`` every :data:`PROGRESS_EVERY` steps and at the end; the steps reported so far."""
    if progress is not None and (step - made >= PROGRESS_EVERY or step == total):
        progress(step - made)
        return step
    return made


class TokenSampler:
    """Generate token sequences from a network with a token input and a softmax head (NumPy).

    A draw is Gumbel-max: the first largest of ``logits / temperature``
    plus ``rng.gumbel`` noise, drawn a block of :data:`NOISE_BLOCK` steps at
    a time; from :data:`FAST_NOISE` pieces on the noise is made with
    ``np.log`` (:func:`gumbel_block`, :func:`gumbel_argmax`), the same choices.

    Parameters
    ----------
    network : Network
    banned : sequence of int
        Ids never sampled (padding, start marker, unknown class).
    """

    def __init__(self, network: Network, *, banned=()) -> None:
        self.net = network
        self.vocab_size = network.out_size
        self.mask = np.zeros(self.vocab_size, np.float32)
        self.mask[list(banned)] = -np.inf

    def generate(self, primer: np.ndarray, *, num: int, max_length: int, temperature: float, seed: int,
                 end_id: int, progress=None) -> np.ndarray:
        """Sample ``num`` sequences after ``primer`` ``[shape=(t,)]``.

        Returns
        -------
        np.ndarray [shape=(num, steps)]
            Generated ids; rows that ended early are padded with ``end_id``.
        """
        primer = np.asarray(primer, np.int64).ravel()
        net, state = self.net, self.net.initial_state(num)
        for token in primer[:-1]:
            net.advance(np.full(num, token), state)
        tokens = np.full(num, primer[-1])
        out = np.full((num, max_length), end_id, np.int32)
        done = np.zeros(num, bool)
        made = 0
        scale = max(temperature, 1e-6)  # as TensorFlow's, >= 1e-6
        head = self.head()
        rng = np.random.default_rng(seed)
        for i in range(max_length):
            net.advance(tokens, state)
            if head is not None:  # (x @ W + b) + mask, as (x @ W) + (b + mask) gives it
                logits = np.matmul(state.last, head[0])
                logits += head[1]
            else:
                logits = dense(net.output, state.last)
                logits += self.mask
            if temperature > 0:  # Gumbel-max: a draw from the softmax at this temperature
                if i % NOISE_BLOCK == 0:  # drawn a block of steps at a time: the same numbers as step by step
                    size = (min(NOISE_BLOCK, max_length - i), num, self.vocab_size)
                    noise, uniform = gumbel_block(rng, size, fast=num >= FAST_NOISE)
                if scale != 1.0:
                    logits /= scale
                nxt = gumbel_argmax(noise[i % NOISE_BLOCK], logits,
                                    None if uniform is None else uniform[i % NOISE_BLOCK])
            else:
                nxt = np.argmax(logits, axis=1)
            if num > 1:
                nxt = np.where(done, end_id, nxt)
                done |= nxt == end_id
                ended = done.all()
            else:
                ended = nxt[0] == end_id
            out[:, i] = nxt
            tokens = nxt
            made = _report(progress, made, i + 1, max_length)
            if ended:
                if progress is not None and i + 1 > made:
                    progress(i + 1 - made)
                return out[:, :i + 1]
        return out

    def head(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The output layer's kernel and its bias plus the mask, where it is linear with a bias (else None):
        ``(x @ W + b) + mask`` is ``x @ W + (b + mask)`` to the bit, the mask's terms being 0 or -inf (unless
        ``x @ W + b`` overflows to inf)."""
        layer = self.net.output
        if layer.config.get("activation", "linear") != "linear" or len(layer.weights) != 2:
            return None
        return layer.weights[0], layer.weights[1] + self.mask

    def logits(self, tokens: np.ndarray) -> np.ndarray:
        """Logits after each token of ``tokens`` ``[shape=(num, t)]`` (for checks)."""
        return self.net.outputs(np.asarray(tokens))


class VectorSampler:
    """Generate columns from a network with a ``vectors`` input, each chosen column fed back in (NumPy).

    Parameters
    ----------
    network : Network
    rule : str
        A key of :data:`musegen.rules.COLUMN_RULES`: how a column is chosen from the output.
    """

    def __init__(self, network: Network, *, rule: str) -> None:
        self.net = network
        self.rule, self.noise_kind, _ = COLUMN_RULES[rule]
        self.noise_width = noise_width(rule, network.out_size)

    def generate(self, primer: np.ndarray, *, max_length: int, temperature: float, seed: int,
                 threshold: float = 0.0, progress=None) -> np.ndarray:
        """Generate ``max_length`` columns after each row's primer ``[shape=(num, steps, features)]``.

        Returns
        -------
        np.ndarray [shape=(num, max_length, features)]
        """
        primer = np.asarray(primer, np.float32)
        num = primer.shape[0]
        net, state = self.net, self.net.initial_state(num)
        for t in range(primer.shape[1] - 1):
            _, state = net.step(primer[:, t], state)
        column = primer[:, -1]
        rng = np.random.default_rng(seed)
        out = np.zeros((num, max_length, primer.shape[2]), np.float32)
        made = 0
        for i in range(max_length):
            o, state = net.step(column, state)
            if self.noise_kind == "normal":
                noise = rng.standard_normal((num, self.noise_width), dtype=np.float32)
            else:
                noise = logistic(rng.uniform(1e-7, 1.0 - 1e-7, (num, self.noise_width))).astype(np.float32)
            column = np.asarray(self.rule(NUMPY_OPS, o, column, noise, temperature, threshold), np.float32)
            out[:, i] = column
            made = _report(progress, made, i + 1, max_length)
        return out

    def outputs(self, columns: np.ndarray) -> np.ndarray:
        """Outputs after each column of ``columns`` ``[shape=(num, t, features)]`` (for checks)."""
        return self.net.outputs(np.asarray(columns, np.float32))


class NetworkStepper:
    """A network stepped one input at a time for a representation's own sampler (NumPy in and out).

    The interface of :class:`musegen.sampling.NetworkStepper`.
    """

    def __init__(self, network: Network, num: int) -> None:
        self.net = network
        self.state = network.initial_state(num)

    def weights(self, name: str) -> list[np.ndarray]:
        return self.net.weights(name)

    def step(self, x: np.ndarray) -> np.ndarray:
        out, self.state = self.net.step(np.asarray(x), self.state)
        return out

    def feed(self, steps: np.ndarray) -> np.ndarray:
        out = None
        for t in range(steps.shape[1]):
            out = self.step(steps[:, t])
        return out
