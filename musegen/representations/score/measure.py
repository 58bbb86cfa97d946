"""The measure network: a measure autoencoder, and an LSTM over measure vectors predicting the next measure.

:class:`MeasureCodec`
    A measure's grid of slots (see :func:`~.notes.measure_slots`) to a vector
    and back, every slot decoded at once by its own softmax.  It is this
    variant's encoding, learnt in :meth:`MeasureVariant.fit` (with Keras,
    :func:`train_codec`) like a vocabulary, kept and run as NumPy arrays so
    that ``representation.json`` carries it (and the prepared-corpus cache
    with it); the measure network starts from a copy of its decoder
    (:meth:`MeasureCodec.keras_decoder`), built of standard Keras layers.
:class:`MeasureVariant`
    The network reads one measure vector per step (with the key and meter of
    the next measure) and predicts the next measure's vector, trained through
    that copy of the decoder on the next measure's slots (input
    ``leading_vectors``, head ``slot_softmax``); sampling decodes each
    predicted vector into a whole measure in one of the rhythms of the
    training measures.

Keras is imported (through :mod:`musegen.backend`) only to train the codec.
"""

from __future__ import annotations

import base64
import io
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from musegen.formats.melody import Measure, Melody
from musegen.formats.theory import meter_length
from musegen.representations.base import InputSpec, OutputSpec
from musegen.representations.score.notes import (HOLD, PAD, REST, SLOT_PITCH, PrimedRows, Variant, grid_steps,
                                                     log_softmax, melody_slot_rows, nats,
                                                     slots_to_melody)

CODEC_SHIFTS = 6  # the autoencoder sees each training measure moved by up to this many semitones either way
CODEC_BATCH = 64
CODEC_LR = 1e-3
CODEC_EMBED = 8  # values per slot class at the autoencoder's input
CODEC_FEATURES = 8  # values per slot before its softmax
CODEC_ROWS = 8000  # the measure autoencoder learns from at most this many training measures (drawn at random)
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
        onsets, counts = rhythms
        length = onsets.shape[1]
        logp = log_softmax(logits[:, :length])
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


# -- the network over measures ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DecoderOutput(OutputSpec):
    """A head whose vector of ``size`` values is decoded by fixed layers: ``decoder(keras)`` applies them."""

    decoder: Callable[[Any], Callable[[Any], Any]] | None = None


class MeasureVariant(Variant):
    """One step per measure: ``[shape=(measures + 1, latent + keys + meters + 1 + slots)]``.

    Row ``t`` holds the normalised vector of measure ``t`` (zeros in the
    header row 0), the one-hot key and meter of measure ``t + 1`` (the one to
    predict), a flag set in the header row only (the network reads these
    ``features`` columns), then the slots of measure ``t`` (``PAD`` in the
    header row), which only the loss reads: the network predicts the next
    measure's vector, which a copy of the autoencoder's decoder turns into a
    softmax per slot (head ``slot_softmax``).
    """

    name: ClassVar[str] = "measure"
    preset: ClassVar[str] = "default"
    loss_unit: ClassVar[str] = "nats/measure"
    temperature: ClassVar[float] = 0.5
    input_kind: ClassVar[str] = "leading_vectors"
    head_kind: ClassVar[str] = "slot_softmax"

    def fit(self, pieces: list[Melody], measures: list[Measure]) -> None:
        """The measure autoencoder, trained on the training measures' slots."""
        rep = self.rep
        slots = max(grid_steps(m.expected) for m in measures)
        rows = np.concatenate([melody_slot_rows(p, slots=slots, lo=rep.lo, hi=rep.hi) for p in pieces])
        if len(rows) > CODEC_ROWS:  # transposed copies add nothing the autoencoder does not see anyway
            rows = rows[np.sort(np.random.default_rng(0).choice(len(rows), CODEC_ROWS, replace=False))]
        rep.codec = train_codec(rows, classes=SLOT_PITCH + rep.hi - rep.lo + 1, latent=rep.latent,
                                hidden=rep.hidden, epochs=rep.codec_epochs)

    @property
    def features(self) -> int:
        """Columns the network reads."""
        rep = self.rep
        return rep.codec.latent + len(rep.keys) + len(rep.meters) + 1

    def input_spec(self) -> InputSpec:
        return InputSpec(self.input_kind, self.features + self.rep.codec.slots, sizes=(self.features,))

    def head(self) -> OutputSpec:
        from functools import partial

        decoder = partial(self.rep.codec.keras_decoder, trainable=self.rep.tune_decoder)
        return DecoderOutput(self.head_kind, self.rep.codec.latent, decoder=decoder)

    def condition(self, key: tuple[int, str], meter: tuple[int, int], *, header: bool = False) -> np.ndarray:
        """The columns after the measure vector: ``[shape=(keys + meters + 1,)]``."""
        rep = self.rep
        out = np.zeros(len(rep.keys) + len(rep.meters) + 1, np.float32)
        out[rep.key_id(key)] = 1.0
        out[rep.meter_id(meter)] = 1.0  # meter ids follow the key ids, as in the token vocabulary
        out[-1] = float(header)
        return out

    def measure_rows(self, grids: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        """Rows of measures' slots ``[shape=(t, slots)]``, each with its next measure's condition ``[shape=(t, c)]``."""
        grids = np.asarray(grids, np.int32).reshape(-1, self.rep.codec.slots)
        return np.concatenate([self.rep.codec.encode(grids), conditions, grids], axis=1).astype(np.float32)

    def rows(self, grids: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        """The header row (the first condition) then :meth:`measure_rows` (the others): ``[shape=(t + 1, width)]``."""
        codec = self.rep.codec
        header = np.concatenate([np.zeros(codec.latent), conditions[0], np.zeros(codec.slots)])[None]
        return np.concatenate([header, self.measure_rows(grids, conditions[1:])]).astype(np.float32)

    def encode(self, melody: Melody, *, key=None, meter=None) -> np.ndarray:
        rep, ms = self.rep, melody.measures
        first = ms[0] if ms else Measure([], *(meter or (4, 4)), *(key or (0, "major")))
        conds = [self.condition(key or first.key, meter or first.meter, header=True)]
        for i in range(len(ms)):
            nxt = ms[min(i + 1, len(ms) - 1)]
            conds.append(self.condition(key or nxt.key, meter or nxt.meter))
        grids = melody_slot_rows(melody, slots=rep.codec.slots, lo=rep.lo, hi=rep.hi)
        return self.rows(grids, np.asarray(conds))

    def decode(self, array: np.ndarray) -> Melody:
        rep, features = self.rep, self.features
        a = np.asarray(array, np.float32).reshape(-1, features + rep.codec.slots)
        lat, k = rep.codec.latent, len(rep.keys)
        keys = [rep.keys[int(np.argmax(r[lat:lat + k]))] for r in a[:-1]]
        meters = [rep.meters[int(np.argmax(r[lat + k:features - 1]))] for r in a[:-1]]
        melody = slots_to_melody(np.rint(a[1:, features:]).astype(np.int32), lo=rep.lo, meters=meters, keys=keys)
        melody.pickup = len(melody.measures) > 1 and not melody.measures[0].is_full()
        return melody

    def slot_logits(self, net: Any, vectors: np.ndarray) -> np.ndarray:
        """The network's own decoder (see :meth:`MeasureCodec.keras_decoder`) on vectors ``[shape=(n, latent)]``:
        slot logits ``[shape=(n, slots, classes)]``."""
        (w1, b1), (w2, b2), (w3, b3) = (net.weights(n) for n in DECODER_LAYERS)
        h = np.maximum(vectors @ w1 + b1, 0.0) @ w2 + b2
        return h.reshape(len(vectors), -1, w3.shape[0]) @ w3 + b3

    def sample(self, net: Any, rows: PrimedRows, *, measures: int, temperature: float, rng: np.random.Generator,
               progress: Any = None) -> tuple[list[Melody], int]:
        """Measures decoded from the predicted vectors, encoded again and read back.

        Each predicted vector is decoded into a full measure: a rhythm of the
        training measures, then the rest or pitch of each onset, both drawn
        from the decoded softmaxes at ``temperature`` (see
        :meth:`MeasureCodec.choose`).  The randomness is there, not in noise
        added to the vector: the decoder, tuned along with the network, turns
        even small noise (0.05 deviations of the training vectors) into
        measures out of key (scale consistency 0.98 -> 0.93 on the jigs).
        """
        rep = self.rep
        codec, num = rep.codec, len(rows)
        lengths = np.array([grid_steps(meter_length(m)) for m in rows.meters])
        conditions = np.stack([self.condition(k, m) for k, m in zip(rows.keys, rows.meters, strict=True)])
        out = net.feed(rows.arrays)
        grids = []
        for _ in range(measures):
            grid = codec.choose(self.slot_logits(net, out), lengths=lengths, temperature=temperature, rng=rng)
            grids.append(grid)
            out = net.step(self.measure_rows(grid, conditions))
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

    def loss(self, outputs: np.ndarray, array: np.ndarray) -> tuple[float, int, int]:
        """Nats of every slot of every measure, the notes (events, as the note network counts them), the measures.

        ``outputs`` are the slot logits ``[shape=(measures, slots, classes)]``.
        """
        slots = np.rint(array[1:, -self.rep.codec.slots:]).astype(np.int64)
        total = nats(outputs.reshape(-1, outputs.shape[-1]), slots.ravel())
        notes = int((slots > HOLD).sum() + (slots[:, 0] == HOLD).sum())  # onsets of notes and rests, tied-in notes
        return float(total.sum()), notes, len(slots)
