"""Pictures of music as PNG files (matplotlib, Agg backend, imported lazily)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from musegen.fileio import atomic_path, check_writable
from musegen.fileio import output_errors
from musegen.formats.pianoroll import Roll

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAX_GRID_LINES = 400  # beyond this many beat lines, only bar lines are drawn
MAX_BAR_LINES = 1000  # beyond this many bars (3 pixels apart in the widest picture), no grid lines are drawn
MAX_PICTURE_COLUMNS = 4000  # a longer roll is drawn with blocks of steps merged (the loudest velocity of each)
MAX_ONSET_MARKS = 20_000  # a merged roll with more onsets than this is drawn without onset edges


def note_name(pitch: int) -> str:
    """Scientific pitch name of a MIDI pitch: 60 -> "C4", 61 -> "C#4"."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def grid_lines(meters: list[tuple[float, int, int]], end: float) -> tuple[list[float], list[float]]:
    """Bar and beat positions (in quarter-note beats) up to ``end`` from a meter map.

    Parameters
    ----------
    meters : list of (beat, numerator, denominator)
        Sorted by beat; each meter starts a new bar.
    end : float
        Last beat to mark.

    Returns
    -------
    (bars, beats) : two lists of float
        Bar starts, and the meter's beats that are not bar starts.
    """
    meters = meters or [(0.0, 4, 4)]
    bars: list[float] = []
    beats: list[float] = []
    bounds = [b for b, *_ in meters[1:]] + [end + 1e-9]
    for (start, num, den), stop in zip(meters, bounds):
        unit = 4.0 / den  # one beat of the meter, in quarter notes
        bar = num * unit
        if bar <= 0:
            continue
        for pos in np.arange(start, min(stop, end + 1e-9), unit):
            (bars if abs((pos - start) / bar - round((pos - start) / bar)) < 1e-6 else beats).append(float(pos))
    return bars, beats


def _line_counts(meters: list[tuple[float, int, int]], end: float) -> tuple[float, float]:
    """About how many (bar, beat) lines :func:`grid_lines` would return, computed without making them."""
    meters = meters or [(0.0, 4, 4)]
    bounds = [b for b, *_ in meters[1:]] + [end]
    bars = beats = 0.0
    for (start, num, den), stop in zip(meters, bounds):
        length = max(min(stop, end) - start, 0.0)
        beats += length * den / 4
        bars += length * den / (4 * num)
    return bars, beats


def _merge_columns(matrix: np.ndarray, block: int) -> np.ndarray:
    """``matrix`` [shape=(rows, T)] with every ``block`` columns merged into their maximum."""
    rows, steps = matrix.shape
    count = -(-steps // block)
    padded = np.zeros((rows, count * block), dtype=matrix.dtype)
    padded[:, :steps] = matrix
    return padded.reshape(rows, count, block).max(axis=2)


def draw_roll(roll: Roll, path: str | os.PathLike, *, force: bool = False, title: str | None = None) -> Path:
    """Draw ``roll`` as a PNG picture, atomically.

    Pitch (the range used plus a margin, labelled with note names) against
    time in beats; bar lines and beat lines from the meters; velocity as
    colour with a colour bar; each onset as a dark left edge, so repeated
    notes stay apart.

    A roll longer than :data:`MAX_PICTURE_COLUMNS` steps is drawn with
    blocks of steps merged, and with fewer grid lines and onset marks, so
    that any roll draws in seconds.

    Parameters
    ----------
    roll : Roll
        velocity [shape=(128, T)] and onset [shape=(128, T)].
    path : path-like
        The PNG file to write.
    force : bool
        Replace an existing file.
    title : str, optional
        Default: the roll's title.
    """
    check_writable(path, force=force)  # fail before drawing
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    spb = roll.steps_per_beat
    used = np.flatnonzero(roll.velocity.any(axis=1))
    lo, hi = (int(used[0]), int(used[-1])) if used.size else (60, 72)
    lo, hi = max(0, lo - 2), min(127, hi + 2)
    if hi - lo < 12:  # at least an octave, so the picture keeps a sensible shape
        lo = max(0, min(lo, hi - 12))
        hi = min(127, lo + 12)
    end = max(roll.beats, 1.0)

    fig = Figure(figsize=(float(np.clip(3 + end * 0.08, 8, 30)), float(np.clip(2 + (hi - lo) * 0.1, 3.5, 10))),
                 dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    block = max(1, -(-roll.steps // MAX_PICTURE_COLUMNS))  # steps per drawn column
    velocity = roll.velocity[lo:hi + 1] if block == 1 else _merge_columns(roll.velocity[lo:hi + 1], block)
    rows = np.where(velocity > 0, velocity, np.nan).astype(np.float32)  # NaN: "bad"
    if not roll.steps:  # an empty roll: one silent step
        rows = np.full((hi - lo + 1, 1), np.nan, dtype=np.float32)
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    image = ax.imshow(rows, cmap=cmap, vmin=1, vmax=127, origin="lower", aspect="auto", interpolation="nearest",
                      extent=(0, max(rows.shape[1] * block, 1) / spb, lo - 0.5, hi + 0.5))
    fig.colorbar(image, ax=ax, label="velocity", pad=0.01)

    bar_count, beat_count = _line_counts(roll.meters, end)
    if bar_count <= MAX_BAR_LINES and beat_count <= 100 * MAX_BAR_LINES:  # else they would blacken the picture
        bars, beats = grid_lines(roll.meters, end)
        if len(beats) <= MAX_GRID_LINES:
            ax.vlines(beats, lo - 0.5, hi + 0.5, colors="0.88", linewidth=0.5, zorder=0.5)
        ax.vlines(bars, lo - 0.5, hi + 0.5, colors="0.6", linewidth=0.8, zorder=0.6)
    onset = roll.onset[lo:hi + 1] if block == 1 else _merge_columns(roll.onset[lo:hi + 1], block)
    pitch, step = np.nonzero(onset)
    if block == 1 or len(step) <= MAX_ONSET_MARKS:
        x = step * block / spb
        y = pitch + lo
        edges = np.stack([np.column_stack([x, y - 0.45]), np.column_stack([x, y + 0.45])], axis=1)
        ax.add_collection(LineCollection(edges, colors="black", linewidths=1.2, zorder=3))

    ticks = [p for p in range(lo, hi + 1) if hi - lo <= 24 or p % 12 == 0]
    ax.set_yticks(ticks, [note_name(p) for p in ticks])
    ax.set_ylim(lo - 0.5, hi + 0.5)
    ax.set_xlim(0, end)
    ax.set_xlabel("time (quarter-note beats)")
    ax.set_ylabel("pitch")
    ax.set_title(roll.title if title is None else title)
    with output_errors(path), atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def draw_history(history: dict, path: str | os.PathLike, *, force: bool = False) -> Path:
    """The training curves of a model: training and validation loss per epoch, the best epoch marked, as a PNG.

    Parameters
    ----------
    history : dict
        A bundle's ``history.json``: ``loss`` and ``val_loss`` per epoch, ``best_epoch``, ``best_val_loss``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    path = check_writable(path, force=force)
    loss, val = history.get("loss", []), history.get("val_loss", [])
    epochs = range(1, len(loss) + 1)
    fig = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(epochs, loss, marker=".", label="training")
    ax.plot(range(1, len(val) + 1), val, marker=".", label="validation")
    best = history.get("best_epoch")
    if best:
        ax.axvline(best, color="grey", linestyle=":", linewidth=1)
        ax.plot([best], [history.get("best_val_loss")], "o", color="black",
                label=f"best: epoch {best}, {history.get('best_val_loss'):.4f}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with output_errors(path), atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, format="png")
    return path
