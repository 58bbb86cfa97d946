"""musegen: learn music from a corpus with LSTM networks and generate new pieces."""

__version__ = "0.1.0"
