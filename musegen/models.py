"""Networks and model bundles.

A bundle is a folder: ``model.keras``, ``representation.json``,
``config.json``, ``history.json`` (and files the representation adds, such as
``validation.abc``).  It is loadable without the training corpus.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musegen.config import TrainConfig, load_json
from musegen.errors import MusegenError
from musegen.rules import LOGVAR_RANGE
from musegen.representations import InputSpec, OutputSpec, Representation, get_representation

BUNDLE_FILES = ("model.keras", "representation.json", "config.json")
TRAINING_STATE = "training_state.npz"  # the optimizer's state, apart: only --resume reads it (the wheel leaves it out)


def _softmax_head(spec: OutputSpec):
    from musegen import backend

    keras = backend.keras()

    layer = keras.layers.Dense(spec.size, name="logits")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return layer, loss


def _linear_head(spec: OutputSpec):
    """A linear layer of ``size`` values and mean squared error (the study's MIDI and audio heads)."""
    from musegen import backend

    keras = backend.keras()

    return keras.layers.Dense(spec.size, name="output"), keras.losses.MeanSquaredError()


def _roll_head(spec: OutputSpec):
    """Per pitch: a "sounding" logit, an "onset" logit and a velocity: ``3 * size`` values.

    The loss (:class:`RollLoss`) is binary cross-entropy on sounding, on onset
    where a note sounds, and squared error on the velocity of new notes.
    """
    from musegen import backend

    keras = backend.keras()

    return keras.layers.Dense(3 * spec.size, name="output"), roll_loss_class()()


_ROLL_LOSS = None


def roll_loss_class():
    """The :class:`RollLoss` class, built once (Keras is imported lazily) and registered for loading."""
    global _ROLL_LOSS
    if _ROLL_LOSS is not None:
        return _ROLL_LOSS
    from musegen import backend

    keras = backend.keras()
    ops = keras.ops

    @keras.saving.register_keras_serializable(package="musegen", name="RollLoss")
    class RollLoss(keras.losses.Loss):
        """Nats per column for sounding and onsets, plus weighted velocity error.

        Targets are encoded columns ``[sounding, onset, velocity / 127]`` (``3 * 128``);
        predictions are ``[sounding logits, onset logits, velocity]``.
        """

        def __init__(self, velocity_weight: float = 1.0, name: str = "roll_loss", **kwargs):
            super().__init__(name=name, **kwargs)
            self.velocity_weight = velocity_weight

        def call(self, y_true, y_pred):
            return roll_loss_terms(ops, y_true, y_pred, self.velocity_weight)[0]

        def get_config(self):
            return {**super().get_config(), "velocity_weight": self.velocity_weight}

    _ROLL_LOSS = RollLoss
    return RollLoss


def roll_loss_terms(ops, y_true, y_pred, velocity_weight: float = 1.0):
    """Loss of the roll head per column: total, sounding nats, onset nats, velocity squared error.

    Works on Keras ops or on NumPy through a compatible ``ops`` namespace.
    """
    n = y_true.shape[-1] // 3
    sound, onset, vel = y_true[..., :n], y_true[..., n:2 * n], y_true[..., 2 * n:]
    ls, lo, v = y_pred[..., :n], y_pred[..., n:2 * n], y_pred[..., 2 * n:]

    def bce(target, logit):  # stable binary cross-entropy from logits
        return ops.maximum(logit, 0.0) - logit * target + ops.log1p(ops.exp(-ops.abs(logit)))

    sound_nats = ops.sum(bce(sound, ls), axis=-1)
    onset_nats = ops.sum(sound * bce(onset, lo), axis=-1)
    vel_err = ops.sum(onset * ops.square(v - vel), axis=-1)
    return sound_nats + onset_nats + velocity_weight * vel_err, sound_nats, onset_nats, vel_err


def _gaussian_head(spec: OutputSpec):
    """A mean and a log-variance per value (``2 * size``), Gaussian negative log-likelihood.

    Where the next value cannot be predicted (the phase of a partial in an
    FFT frame), the mean goes to zero but the variance keeps the energy, so
    sampling ``mean + sigma * noise`` rebuilds it.
    """
    from musegen import backend

    keras = backend.keras()

    return keras.layers.Dense(2 * spec.size, name="output"), gaussian_loss_class()()




def _mean_gaussian_nll(ops, y_true, y_pred):
    return ops.mean(gaussian_nll(ops, y_true, y_pred), axis=-1)


def gaussian_loss_class():
    """Nats per value, averaged: ``0.5 * (log var + (y - mean)^2 / var + log 2 pi)``."""
    return _registered_loss("GaussianNLL", _mean_gaussian_nll, gaussian_loss_class.__doc__,
                            loss_name="gaussian_nll")


def gaussian_nll(ops, y_true, y_pred):
    """Per-value Gaussian negative log-likelihood (nats) of ``y_true`` under ``[mean, log-variance]``."""
    n = y_true.shape[-1]
    mean, logvar = y_pred[..., :n], ops.clip(y_pred[..., n:], *LOGVAR_RANGE)
    return 0.5 * (logvar + ops.square(y_true - mean) * ops.exp(-logvar) + 1.8378770664093453)


def _pair_softmax_head(spec: OutputSpec):
    """Two distributions over ``size`` classes per step (a note's pitch and duration): ``2 * size`` logits.

    Targets are pairs of ids ``[shape=(..., 2)]``; the loss
    (``PairCrossEntropy``) is the sum of both sparse cross-entropies:
    nats per note.
    """
    from musegen import backend

    keras = backend.keras()

    return keras.layers.Dense(2 * spec.size, name="logits"), pair_loss_class()()


_LOSSES: dict[str, Any] = {}


def _registered_loss(name: str, call: Callable[[Any, Any, Any], Any], doc: str, *, loss_name: str | None = None):
    """A Keras loss class ``name`` whose ``call(y_true, y_pred)`` is ``call(ops, y_true, y_pred)``.

    Built once (Keras is imported lazily) and registered, so a model
    compiled with it loads.
    """
    if name in _LOSSES:
        return _LOSSES[name]
    from musegen import backend

    keras = backend.keras()
    ops = keras.ops

    def init(self, name: str = loss_name or name, **kwargs):
        keras.losses.Loss.__init__(self, name=name, **kwargs)

    cls = type(name, (keras.losses.Loss,), {"__init__": init, "__doc__": doc,
                                             "call": lambda self, y_true, y_pred: call(ops, y_true, y_pred)})
    _LOSSES[name] = keras.saving.register_keras_serializable(package="musegen", name=name)(cls)
    return _LOSSES[name]


def _pair_nats(ops, y_true, y_pred):
    n = y_pred.shape[-1] // 2
    ids = ops.cast(y_true, "int32")
    first = ops.sparse_categorical_crossentropy(ids[..., 0], y_pred[..., :n], from_logits=True)
    return first + ops.sparse_categorical_crossentropy(ids[..., 1], y_pred[..., n:], from_logits=True)


def pair_loss_class():
    """The ``PairCrossEntropy`` loss class: nats per step, the first id's under the first half of the logits
    plus the second's under the second half."""
    return _registered_loss("PairCrossEntropy", _pair_nats, pair_loss_class.__doc__)


def _slot_softmax_head(spec: OutputSpec):
    """A vector of ``size`` values per step, decoded into a softmax per slot of the next measure.

    The decoder is the spec's own (``spec.decoder(keras)``: layers built
    with given weights, such as a measure autoencoder's); the loss
    (``SlotCrossEntropy``) is the summed cross-entropy of every slot of the
    next step's measure, which the target rows carry in their last
    ``slots`` columns: nats per measure.
    """
    from musegen import backend

    keras = backend.keras()
    vector = keras.layers.Dense(spec.size, name="vector")
    decode = spec.decoder(keras)
    return (lambda x: decode(vector(x))), slot_loss_class()()


def _slot_nats(ops, y_true, y_pred):
    slots = ops.cast(y_true[..., -y_pred.shape[-2]:], "int32")
    return ops.sum(ops.sparse_categorical_crossentropy(slots, y_pred, from_logits=True), axis=-1)


def slot_loss_class():
    """The ``SlotCrossEntropy`` loss class: nats per step, summed over the slots of the logits
    ``[shape=(..., slots, classes)]``, the target ids being the last ``slots`` values of the target row."""
    return _registered_loss("SlotCrossEntropy", _slot_nats, slot_loss_class.__doc__)


# head kind -> builder(spec) -> (output layer, loss); add an entry for a new head
HEADS: dict[str, Callable[[OutputSpec], tuple[Any, Any]]] = {
    "softmax": _softmax_head,  # a class per step, sparse cross-entropy (abc)
    "linear": _linear_head,  # values per step, mean squared error (the study's midi; audio)
    "roll": _roll_head,  # sounding, onset and velocity per pitch (midi default)
    "gaussian": _gaussian_head,  # mean and variance per value, Gaussian likelihood (audio default)
    "pair_softmax": _pair_softmax_head,  # two classes per step, summed cross-entropies (score, note variant)
    "slot_softmax": _slot_softmax_head,  # a vector decoded into a measure's slots (score, measure variant)
}

# head kind -> values per unit of its size at the network's output (a head not listed is not checked on load)
HEAD_WIDTHS: dict[str, int] = {"softmax": 1, "linear": 1, "roll": 3, "gaussian": 2, "pair_softmax": 2}

# head kind -> its loss in NumPy form, f(ops, targets, outputs) (as evaluation scores held-out steps and baselines)
LOSS_TERMS: dict[str, Callable[..., Any]] = {"roll": roll_loss_terms, "gaussian": gaussian_nll}


def _token_embedding(spec: InputSpec, config: TrainConfig):
    """The embedding of token ids: learnt (``embedding`` values), or a fixed one-hot table when it is 0."""
    from musegen import backend

    keras = backend.keras()

    if config.embedding:
        return keras.layers.Embedding(spec.size, config.embedding, name="embedding")
    return keras.layers.Embedding(spec.size, spec.size, embeddings_initializer="identity", trainable=False,
                                  name="one_hot")


def _token_input(spec: InputSpec, config: TrainConfig):
    from musegen import backend

    keras = backend.keras()

    inputs = keras.Input(shape=(None,), dtype="int32", name="tokens")
    return inputs, _token_embedding(spec, config)(inputs)


def _vector_input(spec: InputSpec, config: TrainConfig):
    """Vectors per step; with ``embedding`` > 0 a dense projection (tanh) to that size comes first."""
    from musegen import backend

    keras = backend.keras()

    inputs = keras.Input(shape=(None, spec.size), dtype="float32", name="vectors")
    return inputs, _projected(inputs, config)


def _projected(x, config: TrainConfig):
    """``x``, or with ``embedding`` > 0 its dense projection (tanh) to that size."""
    from musegen import backend

    keras = backend.keras()

    if config.embedding:
        return keras.layers.Dense(config.embedding, activation="tanh", name="projection")(x)
    return x


def _leading_vector_input(spec: InputSpec, config: TrainConfig):
    """Rows of ``size`` values of which the network reads the first ``sizes[0]`` (the rest: targets only).

    The columns are taken by a fixed identity layer (``columns``); a
    projection follows as for ``vectors``.
    """
    from musegen import backend

    keras = backend.keras()

    inputs = keras.Input(shape=(None, spec.size), dtype="float32", name="rows")
    x = keras.layers.Dense(spec.sizes[0], use_bias=False, kernel_initializer="identity", trainable=False,
                           name="columns")(inputs)
    return inputs, _projected(x, config)


def _token_pair_input(spec: InputSpec, config: TrainConfig):
    """Two ids per step ``[shape=(t, 2)]`` (a note's pitch and duration), embedded by one table, side by side."""
    from musegen import backend

    keras = backend.keras()

    inputs = keras.Input(shape=(None, 2), dtype="int32", name="token_pairs")
    x = _token_embedding(spec, config)(inputs)
    return inputs, keras.layers.Reshape((-1, 2 * (config.embedding or spec.size)), name="pair")(x)


# input kind -> builder(spec, config) -> (keras input, first tensor); add an entry for a new input
INPUTS: dict[str, Callable[[InputSpec, TrainConfig], tuple[Any, Any]]] = {
    "tokens": _token_input,
    "vectors": _vector_input,
    "token_pairs": _token_pair_input,
    "leading_vectors": _leading_vector_input,
}

_CELLS = {"lstm": "LSTM", "gru": "GRU"}


def build_model(input_spec: InputSpec, head: OutputSpec, config: TrainConfig):
    """Build and compile the network: input, stacked recurrent layers, head.

    The recurrent layers keep the settings that allow the fused cuDNN kernel on
    a GPU (tanh, sigmoid, no recurrent dropout, ``unroll=False``); dropout is
    applied between layers instead.  Built under the ``mixed_float16`` policy
    (:func:`musegen.distribute.precision`), the layers compute in float16 but
    the head stays float32, so its logits and loss keep their range; the
    optimizer is then wrapped in Keras's loss scaling by ``compile``.
    """
    from musegen import backend

    keras = backend.keras()

    inputs, x = INPUTS[input_spec.kind](input_spec, config)
    rnn = getattr(keras.layers, _CELLS[config.cell])
    for i in range(config.layers):
        x = rnn(config.units, return_sequences=True, name=f"{config.cell}_{i}")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")  # the head's layers take the policy they are made under
    try:
        layer, loss = HEADS[head.kind](head)
    finally:
        keras.config.set_dtype_policy(policy)
    outputs = layer(x)
    model = keras.Model(inputs, outputs, name="musegen")
    model.compile(optimizer=make_optimizer(config), loss=loss)
    return model


_OPTIMIZERS = {
    "rmsprop": lambda lr, kw: ("RMSprop", kw),
    "adam": lambda lr, kw: ("Adam", kw),
    "adagrad": lambda lr, kw: ("Adagrad", kw),
    "adadelta": lambda lr, kw: ("Adadelta", kw),
    "sgd": lambda lr, kw: ("SGD", {**kw, "momentum": 0.9, "nesterov": True}),
}


def make_optimizer(config: TrainConfig):
    """The optimizer named in ``config``, with gradient clipping by norm (Graves 2013)."""
    from musegen import backend

    keras = backend.keras()

    kwargs: dict[str, Any] = {"learning_rate": config.lr}
    if config.clipnorm:
        kwargs["clipnorm"] = config.clipnorm
    cls_name, kwargs = _OPTIMIZERS[config.optimizer](config.lr, kwargs)
    return getattr(keras.optimizers, cls_name)(**kwargs)


ENGINES = ("numpy", "tensorflow")  # what steps a network while sampling (see musegen.pipeline.GENERATORS)


def default_engine() -> str:
    """``tensorflow`` where a GPU is there to run it, else ``numpy`` (no TensorFlow to start: a tune in a second)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return "tensorflow" if gpus.is_dir() and any(gpus.iterdir()) else "numpy"


@dataclass
class Bundle:
    """A loaded model bundle.

    The network is read when first used: :attr:`model` as a Keras model
    (TensorFlow, for training, evaluation and the ``tensorflow`` engine),
    :attr:`network` as NumPy arrays (the ``numpy`` engine, no TensorFlow).
    """

    path: Path
    representation: Representation
    config: TrainConfig
    history: dict[str, Any]
    engine: str = "numpy"
    compile: bool = False
    loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def model(self):
        if "model" not in self.loaded:
            self.loaded["model"] = load_keras(self.path / "model.keras", compile=self.compile)
        return self.loaded["model"]

    def parameters(self) -> int:
        """The network's weights, counted from ``model.keras`` (no TensorFlow)."""
        from musegen.numpy_engine import read_layers

        return int(sum(w.size for layer in read_layers(self.path / "model.keras") for w in layer.weights))

    @property
    def network(self):
        if "network" not in self.loaded:
            from musegen.numpy_engine import Network

            self.loaded["network"] = Network.load(self.path / "model.keras")
        return self.loaded["network"]


def check_bundle(path: str | os.PathLike) -> Path:
    """Refuse a missing or incomplete bundle folder with one clear line."""
    path = Path(path)
    if not path.exists():
        raise MusegenError(f"{path}: no such model folder")
    if not path.is_dir():
        raise MusegenError(f"{path}: a model is a folder holding {', '.join(BUNDLE_FILES)}")
    missing = [f for f in BUNDLE_FILES if not (path / f).is_file()]
    if missing:
        raise MusegenError(f"{path}: not a musegen model (missing {', '.join(missing)})")
    return path


def load_bundle(path: str | os.PathLike, *, representation: str | None = None, compile: bool = False,
                engine: str = "auto") -> Bundle:
    """Load a bundle's settings and check its network's sizes; the network itself is read when first used.

    ``model.keras`` is loaded with ``safe_mode=True``.  ``engine`` (``auto``:
    :func:`default_engine`) is what samples it.
    """
    if engine not in (*ENGINES, "auto"):
        raise MusegenError(f"unknown engine {engine!r}; choose one of auto, {', '.join(ENGINES)}")
    path = check_bundle(path)
    try:
        rep_config = load_json(path / "representation.json")
        config = TrainConfig.from_dict(load_json(path / "config.json"))
        history = load_json(path / "history.json") if (path / "history.json").is_file() else {}
        if not isinstance(rep_config, dict) or not isinstance(history, dict):
            raise TypeError("not a JSON object")
    except (ValueError, TypeError, AttributeError, OSError, MusegenError) as exc:
        raise MusegenError(f"{path}: corrupt model metadata ({str(exc).splitlines()[0][:120]})") from None
    name = rep_config.get("name")
    if representation is not None and name != representation:
        raise MusegenError(f"{path}: this is a {name!r} model, not {representation!r}")
    try:
        rep = get_representation(str(name)).from_config(rep_config)
        spec, head = rep.input_spec(), rep.head()
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise MusegenError(f"{path}: corrupt representation.json ({str(exc).splitlines()[0][:120]})") from None
    check_sizes(path / "model.keras", spec, head)
    return Bundle(path, rep, config, history, engine=default_engine() if engine == "auto" else engine,
                  compile=compile)


def check_sizes(path: Path, spec: InputSpec, head: OutputSpec) -> None:
    """Refuse a network whose input or output does not have the sizes ``representation.json`` describes
    (an edited or mismatched bundle), before it is run; read from the file's layers, without TensorFlow."""
    from musegen.numpy_engine import read_layers

    layers = read_layers(path, weights=False)
    embeddings = [layer for layer in layers if layer.kind == "Embedding"]
    if embeddings:  # token inputs: the ids the embedding takes
        found = int(embeddings[0].config["input_dim"])
    else:
        found = layers[0].config.get("input_shape", [None])[-1]
    problems = [] if found in (None, spec.size) else [f"the network reads {found} values, the representation "
                                                       f"{spec.size}"]
    width = HEAD_WIDTHS.get(head.kind)
    units = next((int(layer.config["units"]) for layer in reversed(layers) if layer.kind == "Dense"), None)
    if width is not None and units != width * head.size:
        problems.append(f"the network gives {units} values, its {head.kind} head {width * head.size}")
    if problems:
        raise MusegenError(f"{path.parent}: model.keras and representation.json do not match "
                           f"({'; '.join(problems)})")


def save_model(model, folder: Path) -> None:
    """Write ``model.keras`` without the optimizer's state, and that state apart in :data:`TRAINING_STATE`.

    Keras saves a compiled model's optimizer variables with its weights: with
    Adam they double the file, and only ``--resume`` needs them.  The model
    keeps its compile settings, so a bundle loaded with ``compile=True``
    trains on (with a fresh optimizer where the state is missing).
    """
    import numpy as np

    optimizer = model.optimizer
    if optimizer is not None and optimizer.built:
        with open(folder / TRAINING_STATE, "wb") as f:
            np.savez(f, *[np.asarray(v) for v in optimizer.variables])
    model.optimizer = None
    try:
        model.save(folder / "model.keras")
    finally:
        model.optimizer = optimizer


def restore_training_state(model, folder: Path) -> bool:
    """Put the optimizer state saved by :func:`save_model` back into a compiled ``model``; False where there is none."""
    import numpy as np

    path = Path(folder) / TRAINING_STATE
    if not path.is_file():
        return False
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = [z[f"arr_{i}"] for i in range(len(z.files))]
    except (OSError, ValueError, KeyError) as exc:
        raise MusegenError(f"{path}: unreadable ({exc})") from None
    if [a.shape for a in arrays] != [tuple(v.shape) for v in optimizer.variables]:
        raise MusegenError(f"{path}: the optimizer state does not match the model")
    for variable, value in zip(optimizer.variables, arrays, strict=True):
        variable.assign(value)
    return True


def load_keras(path: Path, *, compile: bool = False):
    """Load a ``.keras`` file safely (no arbitrary code), or refuse it in one line."""
    from musegen import backend

    keras = backend.keras()
    roll_loss_class()  # registered, so a roll model compiles on load
    gaussian_loss_class()
    pair_loss_class()
    slot_loss_class()

    try:
        with warnings.catch_warnings():  # a bundle keeps its optimizer state apart (restore_training_state)
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # corrupt zip, wrong layers, lambda layers refused by safe_mode...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MusegenError(f"{path}: cannot load model ({msg[:200]})") from None
