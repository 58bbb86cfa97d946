"""Import TensorFlow and Keras quietly, once, on first use.

TensorFlow's C++ runtime writes start-up chatter (CUDA probes, CPU feature
notes) straight to file descriptor 2; it is silenced here so that musegen's
stderr carries only its own messages.  ``--debug`` keeps it.
"""

from __future__ import annotations

import contextlib
import os
import sys

_LOADED: dict[str, object] = {}


@contextlib.contextmanager
def _quiet_fd2():
    if os.environ.get("MUSEGEN_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def keras():
    """The ``keras`` module (TensorFlow backend), imported quietly."""
    if "keras" not in _LOADED:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        with _quiet_fd2():
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
            tf.config.list_physical_devices("GPU")  # probe devices now, while quiet
            import keras as _keras
        _LOADED["tf"], _LOADED["keras"] = tf, _keras
    return _LOADED["keras"]


def tf():
    """The ``tensorflow`` module, imported quietly."""
    keras()
    return _LOADED["tf"]
