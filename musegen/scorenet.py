"""The networks of the score representation: the measure autoencoder, the samplers, the evaluation.

:class:`MeasureCodec`
    A measure's grid of slots (see :func:`musegen.representations.score.measure_slots`)
    to a vector and back, every slot decoded at once by its own softmax.
    Trained with Keras (:func:`train_codec`), kept and run as NumPy arrays, so
    that ``representation.json`` carries it (and the prepared-corpus cache
    with it); the measure network starts from a copy of its decoder
    (:meth:`MeasureCodec.keras_decoder`), built of standard Keras layers.
:data:`SAMPLERS`
    One constrained sampler per variant: a duration is drawn only among those
    that fit what remains of the measure (note, series), a measure vector is
    decoded into a full grid (measure), so every generated measure is
    complete.  Sampling is an eager loop over the recurrent stack
    (:class:`musegen.sampling._Stepper`), all pieces in one batch, draws from
    a NumPy generator seeded with the seed: the same seed gives the same score.
:func:`evaluate_score`
    Validation loss per note, the autoencoder's exact-rebuild rate, and
    statistics of generated scores.

TensorFlow is imported inside the functions that need it.
"""

from __future__ import annotations

import base64
import io
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from musegen.errors import MusegenError, UsageError

CODEC_SHIFTS = 6  # the autoencoder sees each training measure moved by up to this many semitones either way
CODEC_BATCH = 64
CODEC_LR = 1e-3
CODEC_EMBED = 8  # values per slot class at the autoencoder's input
CODEC_FEATURES = 8  # values per slot before its softmax
DECODER_LAYERS = ("dec_hidden", "dec_slots", "dec_classes")  # the measure network's decoder, as Keras names it


# -- the measure autoencoder ------------------------------------------------------------------------------


class MeasureCodec:
    """A measure autoencoder as NumPy arrays.

    Encoder: each slot's class embedded (``emb [shape=(classes, embed)]``),
    the embeddings side by side, a ReLU layer of ``hidden`` units, a linear
    layer of ``latent`` units.  Decoder: a ReLU layer of ``hidden`` units, a
    linear layer of ``slots * features`` values (``features`` per slot), and
    one softmax per slot over the classes, its weights shared by every slot
    (``cls_w [shape=(features, classes)]``).  Vectors are normalised by the
    training vectors' mean and deviation (``mean``, ``std``) for the network
    that predicts them.

    Parameters
    ----------
    weights : dict of np.ndarray
        ``emb``, ``enc_w [shape=(slots * embed, hidden)]``, ``enc_b``, ``lat_w
        [shape=(hidden, latent)]``, ``lat_b``, ``dec_w [shape=(latent,
        hidden)]``, ``dec_b``, ``out_w [shape=(hidden, slots * features)]``,
        ``out_b``, ``cls_w``, ``cls_b``, ``mean``, ``std`` ``[shape=(latent,)]``.
    slots : int
        Grid steps of the longest measure.
    train_exact : float
        Share of the training measures rebuilt exactly.
    rhythms : dict
        Measure length (grid steps) -> ``(onsets, counts)``: the rhythms of
        the training measures of that length (see :meth:`decode_rhythm`).
    """

    NAMES = ("emb", "enc_w", "enc_b", "lat_w", "lat_b", "dec_w", "dec_b", "out_w", "out_b", "cls_w", "cls_b",
             "mean", "std")

    def __init__(self, weights: dict[str, np.ndarray], *, slots: int, train_exact: float = math.nan,
                 rhythms: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        missing = [n for n in self.NAMES if n not in weights]
        if missing:
            raise ValueError(f"the measure autoencoder lacks {', '.join(missing)}")
        self.w = {n: np.asarray(weights[n], np.float32) for n in self.NAMES}
        self.slots = int(slots)
        self.classes, embed = self.w["emb"].shape
        self.latent = int(self.w["lat_w"].shape[1])
        if self.w["enc_w"].shape[0] != self.slots * embed or self.w["out_w"].shape[1] != \
                self.slots * self.w["cls_w"].shape[0] or self.w["cls_w"].shape[1] != self.classes:
            raise ValueError("the measure autoencoder's layers do not match its slots")
        self.train_exact = float(train_exact)
        self.rhythms = dict(rhythms or {})

    def raw(self, rows: np.ndarray) -> np.ndarray:
        """Unnormalised vectors of slot rows ``[shape=(n, slots)]`` -> ``[shape=(n, latent)]``."""
        rows = np.asarray(rows, np.int64).reshape(-1, self.slots)
        x = self.w["emb"][rows].reshape(len(rows), self.w["enc_w"].shape[0])
        return np.maximum(x @ self.w["enc_w"] + self.w["enc_b"], 0.0) @ self.w["lat_w"] + self.w["lat_b"]

    def encode(self, rows: np.ndarray) -> np.ndarray:
        """Normalised vectors ``[shape=(n, latent)]`` of slot rows ``[shape=(n, slots)]``."""
        return (self.raw(rows) - self.w["mean"]) / self.w["std"]

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """Slot logits ``[shape=(n, slots, classes)]`` of normalised vectors ``[shape=(n, latent)]``."""
        z = np.asarray(vectors, np.float32).reshape(-1, self.latent) * self.w["std"] + self.w["mean"]
        h = np.maximum(z @ self.w["dec_w"] + self.w["dec_b"], 0.0)
        per_slot = (h @ self.w["out_w"] + self.w["out_b"]).reshape(len(z), self.slots, -1)
        return per_slot @ self.w["cls_w"] + self.w["cls_b"]

    def keras_decoder(self, keras, *, trainable: bool = False) -> Callable[[Any], Any]:
        """The decoder as Keras layers starting from these weights, reading normalised vectors: a function of a tensor.

        Applied to ``[shape=(..., latent)]`` it gives the slot logits
        ``[shape=(..., slots, classes)]``; the layers are trained further
        only if ``trainable``.
        """
        w = self.w
        features = w["cls_w"].shape[0]
        weights = {  # the normalisation folded into the first layer: z = v * std + mean
            "dec_hidden": [w["std"][:, None] * w["dec_w"], w["dec_b"] + w["mean"] @ w["dec_w"]],
            "dec_slots": [w["out_w"], w["out_b"]],
            "dec_classes": [w["cls_w"], w["cls_b"]],
        }
        layers = {"dec_hidden": keras.layers.Dense(w["dec_w"].shape[1], activation="relu", name="dec_hidden"),
                  "dec_slots": keras.layers.Dense(self.slots * features, name="dec_slots"),
                  "dec_classes": keras.layers.Dense(self.classes, name="dec_classes")}
        for (name, layer), width in zip(layers.items(), (self.latent, w["out_w"].shape[0], features), strict=True):
            layer.build((None, width))
            layer.set_weights(weights[name])
            layer.trainable = trainable
        reshape = keras.layers.Reshape((-1, self.slots, features), name="dec_per_slot")

        def decode(x):
            return layers["dec_classes"](reshape(layers["dec_slots"](layers["dec_hidden"](x))))

        return decode

    def decode(self, vectors: np.ndarray, *, lengths: np.ndarray | None = None) -> np.ndarray:
        """Slot rows ``[shape=(n, slots)]``: the likeliest class of each slot.

        With ``lengths`` (grid steps of each row's measure), the measure comes
        out full: its first ``lengths[i]`` slots are never ``PAD`` and the
        others always are; and where training measures of that length were
        seen, its rhythm is one of theirs (see :meth:`decode_rhythm`).
        """
        return self.choose(self.logits(vectors), lengths=lengths)

    def choose(self, logits: np.ndarray, *, lengths: np.ndarray | None = None, temperature: float = 0.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """Slot rows ``[shape=(n, slots)]`` from slot logits ``[shape=(n, slots, classes)]`` (see :meth:`decode`).

        With a ``temperature`` above 0 (and ``rng``), the rest or pitch of
        each onset is drawn from its slot's softmax at that temperature
        instead of taken as the likeliest.
        """
        from musegen.representations.score import PAD

        logits = np.array(logits, np.float32)
        if lengths is None:
            return logits.argmax(axis=-1).astype(np.int32)
        lengths = np.asarray(lengths)
        inside = np.arange(self.slots)[None, :] < lengths[:, None]
        logits[..., PAD] = np.where(inside, -np.inf, np.inf)
        out = logits.argmax(axis=-1).astype(np.int32)
        for n in np.unique(lengths):
            if int(n) in self.rhythms:
                rows = np.flatnonzero(lengths == n)
                out[rows] = self.decode_rhythm(logits[rows], self.rhythms[int(n)], temperature=temperature, rng=rng)
        return out

    def decode_rhythm(self, logits: np.ndarray, rhythms: tuple[np.ndarray, np.ndarray], *,
                      temperature: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
        """Slot rows of one length ``[shape=(n, slots)]`` whose rhythm is the likeliest of ``rhythms``.

        ``rhythms`` is ``(onsets [shape=(patterns, length)], counts)``: where
        each training rhythm of that length starts a note or a rest, and how
        often it was seen.  A rhythm's score is its log-frequency plus the
        log-probability, slot by slot, of an onset (a rest or any pitch)
        where it has one and of ``HOLD`` where it has none.  The likeliest
        rhythm is taken, then each onset's likeliest rest or pitch; with a
        ``temperature`` above 0 both are drawn from their softmaxes instead.
        """
        from musegen.representations.score import HOLD, PAD, REST

        onsets, counts = rhythms
        length = onsets.shape[1]
        logp = _log_softmax(logits[:, :length])
        onset_lp = np.logaddexp.reduce(logp[..., REST:], axis=-1)  # [shape=(n, length)]
        scores = np.log(counts)[None, :] + onset_lp @ onsets.T + logp[..., HOLD] @ (1.0 - onsets).T
        sounds = logits[:, :length, REST:]
        if temperature > 0 and rng is not None:  # Gumbel-max: draws from the softmaxes
            scores = scores / temperature + rng.gumbel(size=scores.shape)
            sounds = sounds / temperature + rng.gumbel(size=sounds.shape)
        chosen = onsets[scores.argmax(axis=1)] > 0  # [shape=(n, length)]
        out = np.full((len(logits), self.slots), PAD, np.int32)
        out[:, :length] = np.where(chosen, REST + sounds.argmax(axis=-1), HOLD)
        return out

    def exact_rate(self, rows: np.ndarray) -> float:
        """Share of slot rows ``[shape=(n, slots)]`` rebuilt exactly (every slot) by encoding then decoding."""
        rows = np.asarray(rows).reshape(-1, self.slots)
        return float((self.decode(self.encode(rows)) == rows).all(axis=1).mean()) if len(rows) else math.nan

    def to_config(self) -> dict[str, Any]:
        """JSON-able: the arrays as float16 in a base64 ``.npz``."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **{n: self.w[n].astype(np.float16) for n in self.NAMES})
        rhythms = {str(n): [[int(c), *np.flatnonzero(o).tolist()] for o, c in zip(*r, strict=True)]
                   for n, r in sorted(self.rhythms.items())}
        return {"slots": self.slots, "train_exact": round(self.train_exact, 6), "rhythms": rhythms,
                "weights": base64.b64encode(buf.getvalue()).decode("ascii")}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MeasureCodec:
        try:
            blob = base64.b64decode(config["weights"], validate=True)
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                weights = {n: z[n] for n in cls.NAMES if n in z.files}
            rhythms = {}
            for n, patterns in config.get("rhythms", {}).items():
                onsets = np.zeros((len(patterns), int(n)), np.float32)
                for row, (_, *where) in zip(onsets, patterns, strict=True):
                    row[where] = 1.0
                rhythms[int(n)] = (onsets, np.array([p[0] for p in patterns], np.float64))
        except (KeyError, TypeError, ValueError, IndexError, OSError) as exc:
            raise ValueError(f"unreadable measure autoencoder ({exc})") from None
        return cls(weights, slots=int(config["slots"]), train_exact=float(config.get("train_exact", math.nan)),
                   rhythms=rhythms)


def transpose_rows(rows: np.ndarray, shifts: np.ndarray, *, classes: int) -> np.ndarray:
    """Slot rows with every pitch moved by its row's shift; rows that would leave the range are kept as they are."""
    from musegen.representations.score import SLOT_PITCH

    pitched = rows >= SLOT_PITCH
    moved = np.where(pitched, rows + shifts[:, None], rows)
    ok = ((moved >= SLOT_PITCH) | ~pitched).all(axis=1) & (moved < classes).all(axis=1)
    return np.where(ok[:, None], moved, rows).astype(np.int32)


def train_codec(rows: np.ndarray, *, classes: int, latent: int, hidden: int, epochs: int, seed: int = 0,
                shifts: int = CODEC_SHIFTS, lr: float = CODEC_LR) -> MeasureCodec:
    """Train the measure autoencoder on slot rows ``[shape=(n, slots)]`` (Keras), return it as NumPy arrays.

    Each epoch shows every measure once as it is and once moved by a random
    shift of up to ``shifts`` semitones (within the pitch range), so that
    the codec learns melodic shapes wherever they lie; the learning rate
    falls from ``lr`` along a cosine.  The weights are rounded to float16
    (as saved) before the normalisation, the exact-rebuild rate and the
    rhythms of the training measures are measured.
    """
    from musegen import backend

    keras = backend.keras()
    rows = np.asarray(rows, np.int32)
    slots = rows.shape[1]
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input(shape=(slots,), dtype="int32", name="slots")
    x = keras.layers.Embedding(classes, CODEC_EMBED, name="emb")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(hidden, activation="relu", name="enc")(x)
    z = keras.layers.Dense(latent, name="lat")(x)
    y = keras.layers.Dense(hidden, activation="relu", name="dec")(z)
    y = keras.layers.Dense(slots * CODEC_FEATURES, name="out")(y)
    y = keras.layers.Reshape((slots, CODEC_FEATURES))(y)
    y = keras.layers.Dense(classes, name="cls")(y)  # one softmax per slot, the same weights for every slot
    model = keras.Model(inputs, y)

    # every epoch at once: each measure as it is and moved by a fresh random shift, shuffled within its epoch
    epoch_data = []
    for _ in range(epochs):
        moves = rng.integers(-shifts, shifts + 1, size=len(rows))
        data = np.concatenate([rows, transpose_rows(rows, moves, classes=classes)])
        epoch_data.append(data[rng.permutation(len(data))])
    data = np.concatenate(epoch_data).astype(np.int8 if classes <= 127 else np.int32)
    batch = min(CODEC_BATCH, 2 * len(rows))  # a handful of measures still makes a step per epoch
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=math.ceil(len(data) / batch), alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data, data, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    weights = {"emb": model.get_layer("emb").get_weights()[0].astype(np.float16).astype(np.float32)}
    for name in ("enc", "lat", "dec", "out", "cls"):
        w, b = model.get_layer(name).get_weights()
        weights[f"{name}_w"] = w.astype(np.float16).astype(np.float32)
        weights[f"{name}_b"] = b.astype(np.float16).astype(np.float32)
    weights["mean"], weights["std"] = np.zeros(latent, np.float32), np.ones(latent, np.float32)
    codec = MeasureCodec(weights, slots=slots)
    raw = codec.raw(rows)
    codec.w["mean"] = raw.mean(axis=0).astype(np.float16).astype(np.float32)
    codec.w["std"] = np.maximum(raw.std(axis=0), 1e-3).astype(np.float16).astype(np.float32)
    codec.train_exact = codec.exact_rate(rows)
    codec.rhythms = rhythms_of(rows)
    return codec


def rhythms_of(rows: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The rhythms of slot rows ``[shape=(n, slots)]`` by measure length: ``(onsets, counts)`` (see
    :meth:`MeasureCodec.decode_rhythm`); a measure's length is where its ``PAD`` slots begin."""
    from collections import Counter

    from musegen.representations.score import PAD, REST

    seen: dict[int, Counter] = {}
    for row in np.asarray(rows):
        pad = np.flatnonzero(row == PAD)
        n = int(pad[0]) if len(pad) else len(row)
        seen.setdefault(n, Counter())[tuple(np.flatnonzero(row[:n] >= REST))] += 1
    out = {}
    for n, counter in seen.items():
        onsets = np.zeros((len(counter), n), np.float32)
        for row, where in zip(onsets, counter, strict=True):
            row[list(where)] = 1.0
        out[n] = (onsets, np.array(list(counter.values()), np.float64))
    return out


# -- sampling ---------------------------------------------------------------------------------------------


class _Net:
    """A trained network stepped one input at a time: NumPy in, NumPy out, the recurrent state carried.

    The input layers are read from the model: an embedding (``tokens``,
    ``token_pairs``: the embeddings of a step's ids side by side), fixed
    ``columns`` (``leading_vectors``), a dense ``projection``.  The output is
    the model's last dense layer, or its ``vector`` layer when it has one
    (the measure network: its decoder is the autoencoder's, run in NumPy).
    """

    def __init__(self, model, num: int) -> None:
        from musegen import backend
        from musegen.sampling import _Stepper

        self.tf = backend.tf()
        self.core = _Stepper(model)
        self.state = self.core._initial_state(num)
        self.embedding = self.columns = self.projection = None
        self.decoder: dict[str, list[np.ndarray]] = {}
        for layer in model.layers:
            weights = [np.asarray(v, np.float32) for v in layer.get_weights()]
            if layer.__class__.__name__ == "Embedding":
                self.embedding = weights[0]
            elif layer.name == "columns":
                self.columns = weights[0]
            elif layer.name == "projection":
                self.projection = tuple(weights)
            elif layer.name == "vector":
                self.core.out_w, self.core.out_b = (self.tf.constant(v) for v in weights)
            elif layer.name in DECODER_LAYERS:
                self.decoder[layer.name] = weights

    def slot_logits(self, vectors: np.ndarray) -> np.ndarray:
        """The model's own decoder (see :meth:`MeasureCodec.keras_decoder`) on vectors ``[shape=(n, latent)]``:
        slot logits ``[shape=(n, slots, classes)]``."""
        (w1, b1), (w2, b2), (w3, b3) = (self.decoder[n] for n in DECODER_LAYERS)
        h = np.maximum(vectors @ w1 + b1, 0.0) @ w2 + b2
        return h.reshape(len(vectors), -1, w3.shape[0]) @ w3 + b3

    def step(self, x: np.ndarray) -> np.ndarray:
        """The output layer's values ``[shape=(num, out)]`` after reading one step ``x`` of every row."""
        x = np.asarray(x)
        if self.embedding is not None:
            x = self.embedding[x.astype(np.int64)].reshape(len(x), -1)
        if self.columns is not None:
            x = x @ self.columns
        if self.projection is not None:
            x = np.tanh(x @ self.projection[0] + self.projection[1])
        out, self.state = self.core._recurrent(self.tf.constant(x, self.tf.float32), self.state)
        return np.asarray(out)

    def feed(self, steps: np.ndarray) -> np.ndarray:
        """Read ``steps`` ``[shape=(num, t, ...)]`` in order; the output after the last."""
        out = None
        for t in range(steps.shape[1]):
            out = self.step(steps[:, t])
        return out


def _draw(logits: np.ndarray, allowed: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """A class per row among the ``allowed`` ones ``[shape=(num, classes)]``: softmax at ``temperature``, 0: argmax."""
    logits = np.where(allowed, logits, -np.inf)
    if temperature > 0:
        logits = logits / temperature + rng.gumbel(size=logits.shape)  # Gumbel-max: a draw from the softmax
    return np.argmax(logits, axis=1)


def _sample_notes(bundle, rows, *, measures: int, temperature: float, rng: np.random.Generator,
                  progress: Callable[[int], None] | None) -> tuple[list[Any], int]:
    """Notes of the note or series network, each duration drawn among those that fit the measure.

    The note network gives a pitch and a duration per step (two softmaxes);
    the series network reads the pitch drawn before it gives the duration.
    """
    from musegen.formats.melody import GRID
    from musegen.representations.score import bar_aligned_notes, grid_steps, meter_length, notes_to_melody

    rep = bundle.representation
    series = rep.variant.name == "series"
    num, vocab = len(rows), rep.vocab_size
    net = _Net(bundle.model, num)
    pitches = np.zeros((1, vocab), bool)
    pitches[0, rep.rest_id:rep.duration_base] = True
    steps = rep.duration_steps()
    expected = np.array([grid_steps(meter_length(m)) for m in rows.meters])
    left, done = expected.copy(), np.zeros(num, int)
    notes: list[list[tuple[int | None, Any]]] = [[] for _ in range(num)]
    out, made = net.feed(rows.arrays), 0
    while (done < measures).any():
        active = done < measures
        pitch = _draw(out[:, :vocab], pitches, temperature, rng)
        if series:
            out = net.step(pitch)
        fits = (steps[None, :] > 0) & (steps[None, :] <= left[:, None])
        dur = _draw(out[:, -vocab:], fits, temperature, rng)
        stuck = ~fits.any(axis=1)  # no duration of the vocabulary fits: the note fills the measure
        units = np.where(stuck, left, steps[dur])
        dur = np.array([rep.duration_id(left[i] * GRID) if stuck[i] else dur[i] for i in range(num)])
        for i in np.flatnonzero(active):
            notes[i].append((rep.note_of(int(pitch[i]), int(dur[i]))[0], units[i] * GRID))
        left = np.where(active, left - units, left)
        finished = active & (left == 0)
        done, left = done + finished, np.where(finished, expected, left)
        if progress is not None and done.min() > made:
            progress(int(done.min()) - made)
            made = int(done.min())
        out = net.step(dur if series else np.stack([pitch, dur], axis=1))
    pieces = []
    for i in range(num):
        prefix = bar_aligned_notes(rows.prefixes[i]) if rows.prefixes[i] is not None else []
        melody = notes_to_melody(prefix + notes[i], meter=rows.meters[i], key=rows.keys[i])
        pieces.append(rep.finish(melody, rows, i))
    return pieces, sum(len(n) for n in notes) * (2 if series else 1)


def _sample_measures(bundle, rows, *, measures: int, temperature: float, rng: np.random.Generator,
                     progress: Callable[[int], None] | None) -> tuple[list[Any], int]:
    """Measures of the measure network, decoded from the predicted vectors, encoded again and read back.

    Each predicted vector is decoded into a full measure: a rhythm of the
    training measures, then the rest or pitch of each onset, both drawn
    from the decoded softmaxes at ``temperature`` (see
    :meth:`MeasureCodec.choose`).  The randomness is there, not in noise
    added to the vector: the decoder, tuned along with the network, turns
    even small noise (0.05 deviations of the training vectors) into measures
    out of key (scale consistency 0.98 -> 0.93 on the jigs).
    """
    from musegen.representations.score import grid_steps, melody_slot_rows, meter_length, slots_to_melody

    rep = bundle.representation
    codec, variant, num = rep.codec, rep.variant, len(rows)
    net = _Net(bundle.model, num)
    lengths = np.array([grid_steps(meter_length(m)) for m in rows.meters])
    conditions = np.stack([variant.condition(k, m) for k, m in zip(rows.keys, rows.meters, strict=True)])
    out = net.feed(rows.arrays)
    grids = []
    for _ in range(measures):
        grid = codec.choose(net.slot_logits(out), lengths=lengths, temperature=temperature, rng=rng)
        grids.append(grid)
        out = net.step(variant.measure_rows(grid, conditions))
        if progress is not None:
            progress(1)
    pieces = []
    for i in range(num):
        prefix = rows.prefixes[i]
        head = melody_slot_rows(prefix, slots=codec.slots, lo=rep.lo, hi=rep.hi) if prefix is not None else \
            np.zeros((0, codec.slots), np.int32)
        before = [(m.meter, m.key) for m in prefix.measures] if prefix is not None else []
        both = before + [(rows.meters[i], rows.keys[i])] * measures
        melody = slots_to_melody(np.concatenate([head, np.stack([g[i] for g in grids])]), lo=rep.lo,
                                 meters=[m for m, _ in both], keys=[k for _, k in both])
        melody.pickup = prefix is not None and prefix.pickup
        pieces.append(rep.finish(melody, rows, i))
    return pieces, measures * num


# variant -> sampler(bundle, rows, measures=, temperature=, rng=, progress=) -> (melodies, steps); add an entry here
SAMPLERS = {"note": _sample_notes, "series": _sample_notes, "measure": _sample_measures}


def generate_score(bundle, *, num: int, temperature: float, seed: int, max_length: int, primer,
                   progress: Callable[[int], None] | None = None, **_: Any):
    """Generate ``num`` melodies of ``max_length`` measures after the primed rows ``primer``.

    ``primer`` is what :meth:`~musegen.representations.score.ScoreRepresentation.encode_primer`
    returns.  The melodies hold the primer as it was fed, then the generated
    measures (``with_primer`` puts the primer's own measures back).
    """
    from musegen.pipeline import Generated

    if len(primer) != num:
        raise MusegenError(f"{len(primer)} primed rows for {num} pieces")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    pieces, steps = SAMPLERS[bundle.representation.variant.name](
        bundle, primer, measures=max_length, temperature=temperature, rng=rng, progress=progress)
    return Generated(pieces, steps, time.perf_counter() - t0)


# -- evaluation -------------------------------------------------------------------------------------------


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))


def _nats(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cross-entropy of each target id ``[shape=(t,)]`` under its logits ``[shape=(t, classes)]``."""
    return -np.take_along_axis(_log_softmax(logits), targets[:, None].astype(np.int64), axis=-1)[:, 0]


def _note_loss(model, array: np.ndarray, rep) -> tuple[float, int, int]:
    """Nats of every note of a note-network array (the pitch's plus the duration's), the notes, the measures."""
    pred = np.asarray(model(array[None, :-1], training=False))[0]
    target, vocab = array[1:], rep.vocab_size
    nats = _nats(pred[:, :vocab], target[:, 0]) + _nats(pred[:, vocab:], target[:, 1])
    return float(nats.sum()), len(target), 0


def _series_loss(model, array: np.ndarray, rep) -> tuple[float, int, int]:
    """Nats of every pitch and duration token of a series array (the header's key and meter aside), the notes."""
    pred = np.asarray(model(array[None, :-1], training=False))[0]
    nats = _nats(pred, array[1:])[1:]  # the first target is the meter: part of the header
    return float(nats.sum()), len(nats) // 2, 0


def _measure_loss(model, array: np.ndarray, rep) -> tuple[float, int, int]:
    """Nats of every slot of every measure, the notes (events, as the note network counts them), the measures."""
    from musegen.representations.score import HOLD

    logits = np.asarray(model(array[None, :-1], training=False))[0]  # [shape=(measures, slots, classes)]
    slots = np.rint(array[1:, -rep.codec.slots:]).astype(np.int64)
    nats = _nats(logits.reshape(-1, logits.shape[-1]), slots.ravel())
    notes = int((slots > HOLD).sum() + (slots[:, 0] == HOLD).sum())  # onsets of notes and rests, tied-in notes
    return float(nats.sum()), notes, len(slots)


# variant -> loss(model, array, representation) -> (nats, notes, measures); add an entry here
LOSSES = {"note": _note_loss, "series": _series_loss, "measure": _measure_loss}


def validation_loss(bundle, arrays: list[np.ndarray]) -> dict[str, float]:
    """The network's loss on held-out arrays: nats per note (all variants), and per measure (measure network).

    A note is an event as the note network counts them (a note, a rest, a
    tied continuation); for the measure network, whose loss is the
    cross-entropy of every slot of a measure, the nats of all the measures
    are divided by their events.
    """
    rep = bundle.representation
    scores = [LOSSES[rep.variant.name](bundle.model, a, rep) for a in arrays if len(a) > 2]
    nats, notes, measures = (sum(col) for col in zip(*scores))
    out = {"loss_per_note": nats / max(1, notes)}
    if measures:
        out["loss_per_measure"] = nats / measures
    return out


def pitch_statistics(melodies: list[Any]) -> dict[str, float]:
    """Pitch-class entropy (bits) and scale consistency of the notes (tied notes joined), as MusPy defines them."""
    from musegen.formats.melody import melody_notes
    from musegen.metrics import SCALES

    entropy, scale = [], []
    for m in melodies:
        pitches = np.array([p for _, _, p in melody_notes(m)], int)
        if not len(pitches):
            continue
        counts = np.bincount(pitches % 12, minlength=12).astype(float)
        prob = counts[counts > 0] / counts.sum()
        entropy.append(float(-(prob * np.log2(prob)).sum()))
        scale.append(float((SCALES[:, pitches % 12].sum(axis=1) / len(pitches)).max()))
    return {"pitch_class_entropy": float(np.mean(entropy)) if entropy else math.nan,
            "scale_consistency": float(np.mean(scale)) if scale else math.nan}


def _measure_key(m) -> tuple:
    return tuple((e.pitch, e.duration) for e in m.events)


def sample_statistics(generated: list[Any], training: list[Any]) -> dict[str, Any]:
    """Completeness, copying and pitch statistics of generated melodies (as generated: nothing repaired).

    ``measure_complete_rate``: share of measures whose durations add up to
    their meter (a pickup aside); ``copied_measure_rate``: share of measures
    with notes found note for note (pitch and duration) in ``training``.
    """
    seen = {_measure_key(m) for p in training for m in p.measures}
    measures = [m for p in generated for i, m in enumerate(p.measures) if not (i == 0 and p.pickup)]
    with_notes = [m for m in measures if any(e.pitch is not None for e in m.events)]
    return {
        "measures": len(measures),
        "measure_complete_rate": float(np.mean([m.is_full() for m in measures])) if measures else math.nan,
        "copied_measure_rate": float(np.mean([_measure_key(m) in seen for m in with_notes])) if with_notes
        else math.nan,
        "notes_per_measure": float(np.mean([sum(e.pitch is not None for e in m.events) for m in measures]))
        if measures else math.nan,
        **pitch_statistics(generated),
    }


def evaluate_score(bundle, corpus: str | os.PathLike, *, samples: int = 8, measures: int = 16,
                   temperature: float | None = None, seed: int = 0) -> dict[str, Any]:
    """Validation loss, the autoencoder's exact rebuilds, and statistics of generated scores against the corpus.

    ``corpus`` is read with the model's settings and split as in training
    (the bundle's ``valid_split`` and ``seed``), so the model's own corpus
    gives back its held-out pieces.  The loss is per note for the note
    network (pitch plus duration) and the series network (the pitch token
    plus the duration token), so the two compare; the measure network's is
    per measure and per value of its Gaussian, with the share of held-out
    measures its autoencoder rebuilds exactly.  Then ``samples`` scores of
    ``measures`` measures are generated (keys and meters drawn as the
    training pieces begin) at ``temperature`` (default: the variant's), and
    measured as generated, before any repair.
    """
    from musegen.pipeline import check_sampling, split_pieces
    from musegen.representations.score import ScorePrimer, melody_slot_rows

    if samples < 0:
        raise UsageError(f"--samples must be 0 or positive, got {samples}")
    if measures < 1:
        raise UsageError(f"--measures must be at least 1, got {measures}")
    rep = bundle.representation
    temperature = rep.variant.temperature if temperature is None else temperature
    check_sampling(temperature=temperature, seed=seed)
    pieces = rep.read_corpus(rep.resolve_corpus(corpus))
    train, valid = split_pieces(pieces, valid_split=bundle.config.valid_split, seed=bundle.config.seed)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"corpus": str(corpus), "model": str(bundle.path), "variant": rep.variant.name,
                              "pieces": len(pieces), "valid_pieces": len(valid)}
    result.update(validation_loss(bundle, [rep.encode(p) for p in valid]))
    if rep.codec is not None:
        codec = rep.codec

        def rows(melodies: list[Any]) -> np.ndarray:
            return np.concatenate([melody_slot_rows(p, slots=codec.slots, lo=rep.lo, hi=rep.hi) for p in melodies])

        result["codec_exact_rebuild"] = codec.exact_rate(rows(valid))
        result["codec_exact_rebuild_train"] = codec.exact_rate(rows(train))
    result["seconds"] = round(time.perf_counter() - t0, 3)
    result["corpus_stats"] = pitch_statistics(pieces)
    if samples:
        gen = generate_score(bundle, num=samples, temperature=temperature, seed=seed, max_length=measures,
                             primer=rep.encode_primer(ScorePrimer(), num=samples, seed=seed))
        result["samples"] = {"temperature": temperature, "scores": samples,
                             **sample_statistics(gen.pieces, train),
                             "measures_per_second": round(samples * measures / gen.seconds, 1) if gen.seconds
                             else None}
    return result
