"""The measure network: a code book of measures, and an LSTM over measures giving a distribution over the codes.

:class:`MeasureCodes`
    A discrete latent model of one measure: ``codes`` classes, each a
    distribution over every slot of a measure's grid (see
    :func:`~.notes.measure_slots`), fitted by expectation-maximisation
    (:func:`fit_codes`) on the training measures.  A measure's code is the
    class that explains it best (the encoder); a code is decoded by drawing
    one of the training rhythms and each onset's rest or pitch from its slot
    distributions (the decoder).  It is kept and run as NumPy arrays, so
    that ``representation.json`` carries it like a vocabulary.
:class:`MeasureVariant`
    The network reads, per step, the code of a measure (one-hot) with the key,
    meter, phrase position and "last measure" flag of the next measure, and
    gives a softmax over the next measure's code (input ``leading_vectors``,
    head ``slot_softmax`` with one slot: the code).  The model of a piece is
    the mixture ``p(measure | before) = sum_k p(k | before) p(measure | k)``:
    sampling draws a code, then the measure from it; the validation loss is
    that mixture's exact likelihood, per note.

No Keras: the code book is fitted with NumPy.
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
from musegen.representations.score.notes import (HOLD, PAD, REST, PrimedRows, Variant, draw, grid_steps, log_softmax,
                                                 logsumexp, melody_slot_rows, slots_to_melody)

CODE_PRIOR = 1.0  # slot counts of each code are smoothed by this many measures of the training measures' average
CODE_ROWS = 12000  # the code book is fitted on at most this many training measures (drawn at random)
PHRASE = 8  # measures of a phrase: the network reads where in one the next measure stands


# -- the code book ----------------------------------------------------------------------------------------


class MeasureCodes:
    """A code book of measures as NumPy arrays.

    Parameters
    ----------
    log_slots : np.ndarray
        ``[shape=(codes, slots, classes)]``: the log-probability of each slot
        class (``PAD``, ``HOLD``, ``REST``, pitches) in each slot, per code.
    log_prior : np.ndarray
        ``[shape=(codes,)]``: how often each code explains a training measure.
    train_exact : float
        Share of the training measures rebuilt exactly (coded, then decoded).
    rhythms : dict
        Measure length (grid steps) -> ``(onsets, counts)``: the rhythms of
        the training measures of that length (see :meth:`decode_rhythm`).
    """

    def __init__(self, log_slots: np.ndarray, log_prior: np.ndarray, *, train_exact: float = math.nan,
                 rhythms: dict[int, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self.log_slots = np.asarray(log_slots, np.float32)
        self.log_prior = np.asarray(log_prior, np.float32)
        if self.log_slots.ndim != 3 or self.log_prior.shape != self.log_slots.shape[:1]:
            raise ValueError("the code book's arrays do not match")
        self.codes, self.slots, self.classes = self.log_slots.shape
        self.train_exact = float(train_exact)
        self.rhythms = dict(rhythms or {})
        self._table = self.log_slots.reshape(self.codes, -1).T.copy()  # [shape=(slots * classes, codes)]
        padded = np.concatenate([self.log_slots[:, :, PAD], np.zeros((self.codes, 1), np.float32)], axis=1)
        self.lengths = np.argmax(padded > math.log(0.5), axis=1)  # grid steps of each code's measures

    def allowed(self, lengths: np.ndarray) -> np.ndarray:
        """Which codes make measures of each of ``lengths`` grid steps ``[shape=(n, codes)]`` (all of them for a
        length no code has)."""
        ok = self.lengths[None, :] == np.asarray(lengths)[:, None]
        return ok | ~ok.any(axis=1, keepdims=True)

    def likelihoods(self, rows: np.ndarray) -> np.ndarray:
        """``log p(measure | code)`` of slot rows ``[shape=(n, slots)]``: ``[shape=(n, codes)]``."""
        rows = np.asarray(rows, np.int64).reshape(-1, self.slots)
        flat = np.arange(self.slots)[None, :] * self.classes + np.clip(rows, 0, self.classes - 1)
        return self._table[flat].sum(axis=1)

    def encode(self, rows: np.ndarray) -> np.ndarray:
        """The code of each slot row ``[shape=(n, slots)]``: the one most likely to have made it ``[shape=(n,)]``."""
        return (self.likelihoods(rows) + self.log_prior).argmax(axis=1).astype(np.int64)

    def logits(self, codes: np.ndarray) -> np.ndarray:
        """Slot logits ``[shape=(n, slots, classes)]`` of codes ``[shape=(n,)]``."""
        return self.log_slots[np.asarray(codes, np.int64)]

    def decode(self, codes: np.ndarray, *, lengths: np.ndarray | None = None) -> np.ndarray:
        """Slot rows ``[shape=(n, slots)]``: each code's likeliest measure (of a training rhythm, given ``lengths``)."""
        return self.choose(self.logits(codes), lengths=lengths)

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
        """Share of slot rows ``[shape=(n, slots)]`` rebuilt exactly (every slot) by coding then decoding."""
        rows = np.asarray(rows).reshape(-1, self.slots)
        if not len(rows):
            return math.nan
        lengths = np.argmax(np.concatenate([rows, np.zeros((len(rows), 1), rows.dtype)], axis=1) == PAD, axis=1)
        return float((self.decode(self.encode(rows), lengths=lengths) == rows).all(axis=1).mean())

    def to_config(self) -> dict[str, Any]:
        """JSON-able: the arrays as float16 in a base64 ``.npz``."""
        buf = io.BytesIO()
        np.savez_compressed(buf, log_slots=self.log_slots.astype(np.float16),
                            log_prior=self.log_prior.astype(np.float16))
        rhythms = {str(n): [[int(c), *np.flatnonzero(o).tolist()] for o, c in zip(*r, strict=True)]
                   for n, r in sorted(self.rhythms.items())}
        return {"codes": self.codes, "slots": self.slots, "train_exact": round(self.train_exact, 6),
                "rhythms": rhythms, "weights": base64.b64encode(buf.getvalue()).decode("ascii")}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MeasureCodes:
        try:
            blob = base64.b64decode(config["weights"], validate=True)
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                log_slots, log_prior = z["log_slots"], z["log_prior"]
            rhythms = {}
            for n, patterns in config.get("rhythms", {}).items():
                onsets = np.zeros((len(patterns), int(n)), np.float32)
                for row, (_, *where) in zip(onsets, patterns, strict=True):
                    row[where] = 1.0
                rhythms[int(n)] = (onsets, np.array([p[0] for p in patterns], np.float64))
            if log_slots.shape[:2] != (int(config["codes"]), int(config["slots"])):
                raise ValueError("its sizes do not match its arrays")
        except (KeyError, TypeError, ValueError, IndexError, OSError) as exc:
            raise ValueError(f"unreadable measure code book ({exc})") from None
        return cls(log_slots, log_prior, train_exact=float(config.get("train_exact", math.nan)), rhythms=rhythms)


def fit_codes(rows: np.ndarray, *, classes: int, codes: int, steps: int, seed: int = 0,
              prior: float = CODE_PRIOR) -> MeasureCodes:
    """Fit a code book of ``codes`` classes to slot rows ``[shape=(n, slots)]`` by expectation-maximisation.

    Each code starts as one training measure drawn at random (smoothed by
    ``prior`` measures of the average slot distribution of all of them);
    each of ``steps`` rounds gives every measure a share in each code (its
    posterior) and sets each code's slot distributions to its shares'
    counts, smoothed the same way.  The arrays are rounded to float16 (as
    saved) before the exact-rebuild rate and the rhythms are measured.
    """
    rows = np.asarray(rows, np.int64)
    n, slots = rows.shape
    codes = max(1, min(codes, n))
    rng = np.random.default_rng(seed)
    onehot = np.zeros((n, slots * classes), np.float32)
    onehot[np.arange(n)[:, None], np.arange(slots)[None, :] * classes + rows] = 1.0
    average = (onehot.mean(axis=0).reshape(slots, classes) + 1e-4) * prior

    def maximise(counts: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = counts.reshape(codes, slots, classes) + average[None]
        log_slots = np.log(probs / probs.sum(axis=-1, keepdims=True))
        return log_slots, np.log((weights + 1.0) / (weights + 1.0).sum())

    start = rng.choice(n, codes, replace=False)
    log_slots, log_prior = maximise(onehot[start], np.ones(codes, np.float32))
    for _ in range(steps):
        joint = onehot @ log_slots.reshape(codes, -1).T + log_prior  # [shape=(n, codes)]
        shares = np.exp(joint - logsumexp(joint)[:, None]).astype(np.float32)
        log_slots, log_prior = maximise(shares.T @ onehot, shares.sum(axis=0))
    book = MeasureCodes(log_slots.astype(np.float16), log_prior.astype(np.float16))
    book.rhythms = rhythms_of(rows)
    book.train_exact = book.exact_rate(rows)
    return book


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


def code_slot(keras, *, codes: int) -> Callable[[Any], Any]:
    """The code logits ``[shape=(..., codes)]`` as the one slot of a ``slot_softmax`` head: ``[shape=(..., 1, codes)]``
    (a Keras ``Reshape``)."""
    return keras.layers.Reshape((-1, 1, codes), name="code_slot")


class MeasureVariant(Variant):
    """One step per measure: ``[shape=(measures + 1, codes + conditions + slots + 1)]``.

    Row ``t`` holds the one-hot code of measure ``t`` (zeros in the header
    row 0), the condition of measure ``t + 1`` (see :meth:`condition`): the
    network reads these :attr:`features` columns; then the slots of measure
    ``t`` (for the exact likelihood) and its code (the target of the code
    softmax: the head's one slot).
    """

    name: ClassVar[str] = "measure"
    preset: ClassVar[str] = "measure"
    loss_unit: ClassVar[str] = "nats/measure code"
    temperature: ClassVar[float] = 0.8
    input_kind: ClassVar[str] = "leading_vectors"
    head_kind: ClassVar[str] = "slot_softmax"

    def fit(self, pieces: list[Melody], measures: list[Measure]) -> None:
        """The code book, fitted on the training measures' slots."""
        rep = self.rep
        slots = max(grid_steps(m.expected) for m in measures)
        rows = np.concatenate([melody_slot_rows(p, slots=slots, lo=rep.lo, hi=rep.hi) for p in pieces])
        if len(rows) > CODE_ROWS:
            rows = rows[np.sort(np.random.default_rng(0).choice(len(rows), CODE_ROWS, replace=False))]
        from musegen.representations.score.notes import SLOT_PITCH

        rep.codec = fit_codes(rows, classes=SLOT_PITCH + rep.hi - rep.lo + 1, codes=rep.codes, steps=rep.code_steps)

    @property
    def conditions(self) -> int:
        """Columns of a condition: keys, meters, the header flag, the last-measure flag, the phrase position."""
        return len(self.rep.keys) + len(self.rep.meters) + 2 + PHRASE

    @property
    def features(self) -> int:
        """Columns the network reads."""
        return self.rep.codec.codes + self.conditions

    def input_spec(self) -> InputSpec:
        return InputSpec(self.input_kind, self.features + self.rep.codec.slots + 1, sizes=(self.features,))

    def head(self) -> OutputSpec:
        from functools import partial

        return DecoderOutput(self.head_kind, self.rep.codec.codes, decoder=partial(code_slot, codes=self.rep.codec.codes))

    def condition(self, key: tuple[int, str], meter: tuple[int, int], *, position: int, header: bool = False,
                  last: bool = False) -> np.ndarray:
        """What the network knows of the measure it predicts: its key and meter, whether the piece begins (the
        header row) and whether it is the piece's last measure, and where it stands in a phrase of
        :data:`PHRASE` measures (``position`` counts the full measures before it)."""
        rep = self.rep
        out = np.zeros(self.conditions, np.float32)
        out[rep.key_id(key)] = 1.0
        out[rep.meter_id(meter)] = 1.0  # meter ids follow the key ids, as in the token vocabulary
        n = len(rep.keys) + len(rep.meters)
        out[n], out[n + 1] = float(header), float(last)
        out[n + 2 + position % PHRASE] = 1.0
        return out

    def measure_rows(self, grids: np.ndarray, conditions: np.ndarray) -> np.ndarray:
        """Rows of measures' slots ``[shape=(t, slots)]``, each with its next measure's condition ``[shape=(t, c)]``."""
        codec = self.rep.codec
        grids = np.asarray(grids, np.int32).reshape(-1, codec.slots)
        codes = codec.encode(grids)
        onehot = np.zeros((len(grids), codec.codes), np.float32)
        onehot[np.arange(len(grids)), codes] = 1.0
        return np.concatenate([onehot, conditions, grids, codes[:, None]], axis=1).astype(np.float32)

    def encode(self, melody: Melody, *, key=None, meter=None, final: bool = True) -> np.ndarray:
        """The header row, then a row per measure; with ``final`` (a whole piece) the last measure is flagged."""
        rep, ms = self.rep, melody.measures
        codec = rep.codec
        first = ms[0] if ms else Measure([], *(meter or (4, 4)), *(key or (0, "major")))
        pickup = int(bool(melody.pickup))
        conds = [self.condition(key or first.key, meter or first.meter, header=True, position=-pickup,
                                last=final and len(ms) == 1)]
        for i in range(len(ms)):
            nxt = ms[min(i + 1, len(ms) - 1)]
            conds.append(self.condition(key or nxt.key, meter or nxt.meter, position=i + 1 - pickup,
                                        last=final and i + 1 == len(ms) - 1))
        grids = melody_slot_rows(melody, slots=codec.slots, lo=rep.lo, hi=rep.hi)
        header = np.concatenate([np.zeros(codec.codes), conds[0], np.full(codec.slots, PAD), [0]])[None]
        rows = self.measure_rows(grids, np.asarray(conds[1:], np.float32).reshape(len(ms), self.conditions))
        return np.concatenate([header, rows]).astype(np.float32)

    def decode(self, array: np.ndarray) -> Melody:
        rep, features = self.rep, self.features
        codec = rep.codec
        a = np.asarray(array, np.float32).reshape(-1, features + codec.slots + 1)
        c, k = codec.codes, len(rep.keys)
        keys = [rep.keys[int(np.argmax(r[c:c + k]))] for r in a[:-1]]
        meters = [rep.meters[int(np.argmax(r[c + k:c + k + len(rep.meters)]))] for r in a[:-1]]
        melody = slots_to_melody(np.rint(a[1:, features:-1]).astype(np.int32), lo=rep.lo, meters=meters, keys=keys)
        melody.pickup = len(melody.measures) > 1 and not melody.measures[0].is_full()
        return melody

    def sample(self, net: Any, rows: PrimedRows, *, measures: int, temperature: float, rng: np.random.Generator,
               progress: Any = None) -> tuple[list[Melody], int]:
        """Measures drawn code by code: a code from the network's softmax, then a measure from the code.

        Both draws are at ``temperature``: the code (among those of full
        measures of the meter), then one of the training rhythms and each
        onset's rest or pitch (see :meth:`MeasureCodes.choose`).
        The network then reads the code of the measure drawn, and the
        condition of the next one (the last flagged).
        """
        rep = self.rep
        codec, num = rep.codec, len(rows)
        lengths = np.array([grid_steps(meter_length(m)) for m in rows.meters])
        arrays = np.array(rows.arrays, np.float32)
        n = len(rep.keys) + len(rep.meters)
        if measures == 1:  # the first measure generated is the last
            arrays[:, -1, codec.codes + n + 1] = 1.0
        done = [len(p.measures) - int(bool(p.pickup)) if p is not None else 0 for p in rows.prefixes]
        out = net.feed(arrays)
        grids = []
        allowed = codec.allowed(lengths)  # codes of full measures (a tune's short last measure is not one)
        for g in range(measures):
            code = draw(out, allowed, temperature, rng)
            grid = codec.choose(codec.logits(code), lengths=lengths, temperature=temperature, rng=rng)
            grids.append(grid)
            conditions = np.stack([self.condition(k, m, position=done[i] + g + 1, last=g + 1 == measures - 1)
                                   for i, (k, m) in enumerate(zip(rows.keys, rows.meters, strict=True))])
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
        """Nats of every measure under the mixture of codes (``-log sum_k p(k | before) p(measure | k)``), the
        notes (events, as the note network counts them), the measures.

        ``outputs`` are the code logits ``[shape=(measures, 1, codes)]``.
        """
        codec = self.rep.codec
        slots = np.rint(np.asarray(array)[1:, -codec.slots - 1:-1]).astype(np.int64)
        log_codes = log_softmax(np.asarray(outputs, np.float64).reshape(len(slots), codec.codes))
        total = -logsumexp(log_codes + codec.likelihoods(slots))
        notes = int((slots > HOLD).sum() + (slots[:, 0] == HOLD).sum())  # onsets of notes and rests, tied-in notes
        return float(total.sum()), notes, len(slots)
