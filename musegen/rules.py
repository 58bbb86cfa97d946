"""How a sampled piano-roll or audio column is chosen from the network's output: written once for both engines.

A rule is ``rule(ops, out, prev, noise, temperature, threshold) -> column``:
``out`` the output after the previous column ``prev`` (both ``[shape=(num,
width)]``), ``noise`` the draws the rule asks for (:data:`NOISE`), ``ops``
the array functions of the engine that runs it (:data:`NUMPY_OPS`, or
TensorFlow's in :mod:`musegen.sampling`).  NumPy and TensorFlow then choose
the same column from the same output and noise.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

VELOCITY_NOISE = 16.0  # velocity units of noise per unit of temperature, for the study's linear head
LOGVAR_RANGE = (-12.0, 6.0)  # log-variance clipped to this range (normalised units), as the Gaussian head's loss


def roll_rule(ops, out, prev, noise, temperature, threshold):
    """The next piano-roll column from a ``roll`` head: ``[sounding, onset, velocity / 127]`` per pitch.

    A pitch sounds where its expected velocity, ``P(sounding) * velocity``,
    is at least ``threshold`` (velocity units: the study's rule); a note
    already sounding goes on only while ``P(sounding)`` is also above one half
    (else a 20 % chance of going on would hold every note: the study's
    models' long notes).  The temperature scales logistic noise added to the
    logits (0: deterministic).  A pitch already sounding is struck again where
    the onset output says so; a new note takes the predicted velocity, a held
    one keeps its own.
    """
    n = out.shape[1] // 3
    noise = noise * temperature
    prev_sound = prev[:, :n] > 0.5
    prev_vel = prev[:, 2 * n:]
    new_vel = ops.clip(ops.round(out[:, 2 * n:] * 127.0), 1.0, 127.0) / 127.0
    vel = ops.where(prev_sound, prev_vel, new_vel)
    active = ops.sigmoid(out[:, :n] + noise[:, :n]) * vel * 127.0 >= threshold
    # a held note goes on only while the network finds that likelier than not
    active = ops.logical_and(active, ops.logical_or(ops.logical_not(prev_sound), out[:, :n] + noise[:, :n] > 0.0))
    restrike = out[:, n:2 * n] + noise[:, n:] > 0.0
    onset = ops.logical_and(active, ops.logical_or(ops.logical_not(prev_sound), restrike))
    velocity = ops.where(onset, new_vel, prev_vel) * ops.floats(active)
    return ops.concat([ops.floats(active), ops.floats(onset), velocity])


def velocity_rule(ops, out, prev, noise, temperature, threshold):
    """The study's rule: a pitch sounds where its predicted velocity (plus noise) is at least ``threshold``."""
    vel = out * 127.0 + noise * temperature * VELOCITY_NOISE
    return ops.where(vel >= threshold, ops.clip(ops.round(vel), 1.0, 127.0) / 127.0, 0.0 * vel)


def noise_rule(ops, out, prev, noise, temperature, threshold):
    """Regression output plus Gaussian noise of standard deviation ``temperature`` (normalised units)."""
    return out + noise * temperature


def gaussian_rule(ops, out, prev, noise, temperature, threshold):
    """A draw from the predicted Gaussian: ``mean + temperature * sigma * noise``."""
    n = out.shape[1] // 2
    sigma = ops.exp(0.5 * ops.clip(out[:, n:], *LOGVAR_RANGE))
    return out[:, :n] + noise * sigma * temperature


# rule name -> (rule, noise kind, noise width as a share of the output's); add an entry for a new rule
COLUMN_RULES = {
    "roll": (roll_rule, "logistic", 2 / 3),
    "velocity": (velocity_rule, "normal", 1),
    "noise": (noise_rule, "normal", 1),
    "gaussian": (gaussian_rule, "normal", 1 / 2),
}


def noise_width(rule: str, out_width: int) -> int:
    """Values of noise ``rule`` draws per row for an output ``out_width`` wide."""
    return round(COLUMN_RULES[rule][2] * out_width)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


NUMPY_OPS = SimpleNamespace(
    clip=np.clip, round=np.round, where=np.where, exp=np.exp, sigmoid=_sigmoid, logical_and=np.logical_and,
    logical_or=np.logical_or, logical_not=np.logical_not, floats=lambda x: x.astype(np.float32),
    concat=lambda parts: np.concatenate(parts, axis=1),
)


def logistic(u):
    """Logistic noise from uniforms in (0, 1): ``sigmoid(logit + noise) > 0.5`` is a Bernoulli draw."""
    return np.log(u) - np.log1p(-u)
