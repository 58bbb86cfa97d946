"""musegen: learn music from a corpus with LSTM networks and generate new pieces."""

import os as _os

# Quiet TensorFlow's C++ start-up chatter and pick the TensorFlow backend for Keras 3.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
