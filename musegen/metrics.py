"""Measures for generated music: an n-gram baseline and copy detection.

:class:`CharNgram` is the baseline that the character-level LSTM is compared
with: an interpolated (modified) Kneser-Ney character n-gram model that scores
exactly the symbols the LSTM scores (each character of a tune, then an end
symbol, from a start context).

:func:`shared_runs`, :func:`copy_rate` and :func:`longest_shared_run` measure
how much of a generated tune is copied from the training tunes, on the tune
bodies (the notes, without the header fields).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from musegen.errors import UsageError

__all__ = [
    "CharNgram",
    "RunIndex",
    "copy_rate",
    "longest_shared_run",
    "shared_runs",
    "tune_body",
]

# Internal alphabet: every symbol is one character from a Unicode private use
# area, so that contexts are plain strings (fast to slice and hash).
_BASE = 0xF0000
_BOS = chr(0xEFFFF)


class CharNgram:
    """Interpolated Kneser-Ney character n-gram language model.

    The model predicts, after a context of ``order - 1`` symbols, a proper
    probability distribution over the vocabulary: every character seen in
    training (or given as ``vocab``), one unknown class (``unk``, for any
    other character) and the end symbol.  Each text is one sequence, padded on
    the left with ``order - 1`` start symbols; its characters and a final end
    symbol are scored, so a text of ``n`` characters gives ``n + 1`` scores,
    the same symbols a character LSTM with start and end markers scores.

    Parameters
    ----------
    order : int
        The n of the n-gram (1 to 12): the number of symbols in the longest
        n-gram, so ``order - 1`` symbols of context.
    vocab : sequence of str, optional
        Fix the vocabulary to these characters; training characters outside
        it count as ``unk``.  By default the vocabulary is every character
        seen by :meth:`fit`.
    unk : str
        The character that stands for the unknown class in :attr:`symbols`.
    discount : float, optional
        One fixed absolute discount (0 < D < 1) for every order and count.
        By default the three modified Kneser-Ney discounts (D1, D2, D3+) of
        each order are estimated from its count-of-counts (Chen & Goodman).

    Attributes
    ----------
    symbols : list of str
        The vocabulary as scored: the characters, then ``unk``, then ``""``
        (the end symbol).  Filled by :meth:`fit`.
    discounts : list of tuple of float
        ``discounts[k - 1]`` holds (D1, D2, D3+) of the order-k estimates.

    Examples
    --------
    >>> lm = CharNgram(3).fit(["abcabc", "abcab"])
    >>> bits = lm.bits("abc")
    >>> len(bits)
    4
    """

    def __init__(
        self,
        order: int = 4,
        *,
        vocab: Sequence[str] | None = None,
        unk: str = "\x00",
        discount: float | None = None,
    ):
        if not 1 <= int(order) <= 12:
            raise UsageError(f"n-gram order must be 1 to 12, not {order}")
        if discount is not None and not 0.0 < discount < 1.0:
            raise UsageError(f"n-gram discount must be between 0 and 1, not {discount}")
        if len(unk) != 1:
            raise UsageError("the unknown-character symbol must be one character")
        self.order = int(order)
        self.unk = unk
        self.discount = discount
        self._fixed_vocab = None if vocab is None else sorted(set(vocab) - {unk})
        self.symbols: list[str] = []
        self.discounts: list[tuple[float, float, float]] = []
        self._tables: list[dict[str, tuple[dict[str, float], float, float]]] = []
        self._code: dict[str, str] = {}

    # -- vocabulary --------------------------------------------------------
    def _encode(self, text: str) -> str:
        unk = self._unk_code
        code = self._code
        return "".join([code.get(ch, unk) for ch in text])

    def _pad(self, text: str) -> str:
        return _BOS * (self.order - 1) + self._encode(text) + self._eos_code

    @property
    def vocab_size(self) -> int:
        """Number of symbols with a probability: characters + unknown + end."""
        return len(self.symbols)

    # -- training ----------------------------------------------------------
    def fit(self, texts: Sequence[str]) -> "CharNgram":
        """Count the n-grams of ``texts`` (each text one sequence).

        Parameters
        ----------
        texts : sequence of str
            The training texts, e.g. whole ABC tunes.

        Returns
        -------
        CharNgram
            ``self``, fitted.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise UsageError("no texts to fit the n-gram model on")
        chars = self._fixed_vocab if self._fixed_vocab is not None else sorted(set("".join(texts)) - {self.unk})
        self.symbols = list(chars) + [self.unk, ""]
        self._code = {ch: chr(_BASE + i) for i, ch in enumerate(chars)}
        self._unk_code = chr(_BASE + len(chars))
        self._eos_code = chr(_BASE + len(chars) + 1)
        self._index = {chr(_BASE + i): i for i in range(len(self.symbols))}
        n = self.order
        padded = [self._pad(t) for t in texts]

        # raw counts of the highest order; Kneser-Ney adjusted counts below it
        raw = Counter()
        for s in padded:
            raw.update(s[i - n + 1 : i + 1] for i in range(n - 1, len(s)))
        counts: list[dict[str, float]] = [dict()] * n
        counts[n - 1] = dict(raw)
        for k in range(n - 1, 0, -1):  # order k from the types of order k + 1
            adjusted: dict[str, float] = defaultdict(float)
            for gram, c in counts[k].items():
                suffix = gram[1:]
                if suffix.startswith(_BOS):
                    # n-grams at the start of a text have no real left
                    # extension (only padding): they keep their raw counts
                    adjusted[suffix] += c
                else:
                    adjusted[suffix] += 1.0
            counts[k - 1] = dict(adjusted)
        self.discounts = [self._estimate_discounts(counts[k]) for k in range(n)]
        self._tables = []
        for k in range(n):
            d1, d2, d3 = self.discounts[k]
            table: dict[str, list] = {}
            for gram, c in counts[k].items():
                entry = table.get(gram[:-1])
                if entry is None:
                    entry = table[gram[:-1]] = [dict(), 0.0, 0.0]
                entry[0][gram[-1]] = c - (d1 if c <= 1 else d2 if c <= 2 else d3)
                entry[1] += c
                entry[2] += d1 if c <= 1 else d2 if c <= 2 else d3
            self._tables.append({h: (e[0], e[1], e[2]) for h, e in table.items()})
        return self

    def _estimate_discounts(self, counts: dict[str, float]) -> tuple[float, float, float]:
        if self.discount is not None:
            return (self.discount,) * 3
        coc = Counter(int(c) for c in counts.values() if c <= 4 and float(c).is_integer())
        n1, n2, n3, n4 = (coc.get(i, 0) for i in (1, 2, 3, 4))
        if min(n1, n2, n3, n4) == 0:
            return (0.75, 0.75, 0.75)
        y = n1 / (n1 + 2 * n2)
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
        # keep each discount inside (0, c]: degenerate count-of-counts can
        # give nonsense at low orders of a small alphabet
        return tuple(float(min(max(di, 0.05), ci)) for di, ci in zip(d, (1.0, 2.0, 3.0)))

    # -- scoring -----------------------------------------------------------
    def _check(self) -> None:
        if not self._tables:
            raise UsageError("the n-gram model is not fitted: call fit() first")

    def _prob(self, context: str, sym: str) -> float:
        p = 1.0 / len(self.symbols)
        for k, table in enumerate(self._tables):
            entry = table.get(context[len(context) - k :] if k else "")
            if entry is None:
                break
            disc, total, gamma = entry
            p = (max(disc.get(sym, 0.0), 0.0) + gamma * p) / total
        return p

    def distribution(self, context: str = "") -> np.ndarray:
        """Probabilities of every symbol (see :attr:`symbols`) after ``context``.

        Parameters
        ----------
        context : str
            Text already seen in the current sequence (from its start); only
            its last ``order - 1`` symbols matter.

        Returns
        -------
        numpy.ndarray
            One probability per symbol of :attr:`symbols`; they sum to 1.
        """
        self._check()
        ctx = self._pad(context)[:-1][-(self.order - 1) :] if self.order > 1 else ""
        p = np.full(len(self.symbols), 1.0 / len(self.symbols))
        for k, table in enumerate(self._tables):
            entry = table.get(ctx[len(ctx) - k :] if k else "")
            if entry is None:
                break
            disc, total, gamma = entry
            p = gamma * p
            for sym, d in disc.items():
                p[self._index[sym]] += max(d, 0.0)
            p /= total
        return p

    def bits(self, text: str) -> np.ndarray:
        """Bits (-log2 p) of each character of ``text`` and of the end symbol.

        Parameters
        ----------
        text : str
            One sequence, scored from the start context.

        Returns
        -------
        numpy.ndarray
            ``len(text) + 1`` values, float64.
        """
        self._check()
        s = self._pad(text)
        m = self.order - 1
        out = np.empty(len(s) - m)
        for i in range(m, len(s)):
            out[i - m] = self._prob(s[i - m : i], s[i])
        return -np.log2(out)

    def bits_per_char(self, texts: Sequence[str]) -> float:
        """Total bits over total scored symbols (characters + one end per text).

        Parameters
        ----------
        texts : sequence of str
            The texts to score, each from the start context.

        Returns
        -------
        float
            Bits per scored symbol.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise UsageError("no texts to score")
        total = 0.0
        n = 0
        for t in texts:
            b = self.bits(t)
            total += float(b.sum())
            n += len(b)
        return total / n


# ---------------------------------------------------------------------------
# copy detection
# ---------------------------------------------------------------------------
_FIELD_LINE = re.compile(r"^[A-Za-z]:")


def tune_body(tune: str) -> str:
    """The tune body: the lines after the first ``K:`` line, fields removed.

    Header and field lines (``X:``, ``T:``, ``M:``, ``K:``, ``P:``, ``w:``...)
    are dropped; the remaining lines are joined with their newlines kept.  A
    text without a ``K:`` line is taken as all body.

    Parameters
    ----------
    tune : str
        One ABC tune.

    Returns
    -------
    str
        The body lines, each ending with a newline.
    """
    lines = tune.split("\n")
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("K:")), 0)
    body = [line for line in lines[start:] if line and not _FIELD_LINE.match(line)]
    return "".join(line + "\n" for line in body)


class _SuffixAutomaton:
    """Generalised suffix automaton of several strings (matching only)."""

    def __init__(self, texts: Iterable[str]):
        self.next: list[dict[str, int]] = [{}]
        self.link = [-1]
        self.length = [0]
        for text in texts:
            last = 0
            for ch in text:
                last = self._extend(last, ch)

    def _clone(self, p: int, q: int, ch: str) -> int:
        clone = len(self.length)
        self.next.append(dict(self.next[q]))
        self.link.append(self.link[q])
        self.length.append(self.length[p] + 1)
        while p != -1 and self.next[p].get(ch) == q:
            self.next[p][ch] = clone
            p = self.link[p]
        self.link[q] = clone
        return clone

    def _extend(self, last: int, ch: str) -> int:
        nxt, link, length = self.next, self.link, self.length
        q = nxt[last].get(ch)
        if q is not None:  # the string so far already is a substring
            if length[q] == length[last] + 1:
                return q
            return self._clone(last, q, ch)
        cur = len(length)
        nxt.append({})
        link.append(0)
        length.append(length[last] + 1)
        p = last
        while p != -1 and ch not in nxt[p]:
            nxt[p][ch] = cur
            p = link[p]
        if p != -1:
            q = nxt[p][ch]
            if length[p] + 1 == length[q]:
                link[cur] = q
            else:
                link[cur] = self._clone(p, q, ch)
        return cur

    def longest_match(self, text: str) -> int:
        """Length of the longest substring of ``text`` found in the automaton."""
        nxt, link, length = self.next, self.link, self.length
        state, cur, best = 0, 0, 0
        for ch in text:
            while state and ch not in nxt[state]:
                state = link[state]
                cur = length[state]
            if ch in nxt[state]:
                state = nxt[state][ch]
                cur += 1
                if cur > best:
                    best = cur
        return best


class RunIndex:
    """Index of training tune bodies for repeated copy queries.

    Parameters
    ----------
    training : sequence of str
        The training tunes (whole tunes; their bodies are indexed).

    Examples
    --------
    >>> idx = RunIndex(["X:1\\nK:G\\nGABcdefg|\\n"])
    >>> idx.longest("X:2\\nK:G\\nzzcdefzz\\n")
    4
    """

    def __init__(self, training: Sequence[str]):
        self._bodies = [tune_body(t) for t in training]
        self._sets: dict[int, set[str]] = {}
        self._automaton: _SuffixAutomaton | None = None

    def grams(self, n: int) -> set[str]:
        """Every run of ``n`` characters of the training bodies (cached)."""
        if n not in self._sets:
            self._sets[n] = {b[i : i + n] for b in self._bodies for i in range(len(b) - n + 1)}
        return self._sets[n]

    def shares(self, sample: str, *, n: int = 48) -> bool:
        """True when the body of ``sample`` shares ``n`` consecutive characters."""
        if n < 1:
            raise UsageError(f"run length must be at least 1, not {n}")
        grams = self.grams(n)
        body = tune_body(sample)
        return any(body[i : i + n] in grams for i in range(len(body) - n + 1))

    def longest(self, sample: str) -> int:
        """Length of the longest run the body of ``sample`` shares with a training body."""
        if self._automaton is None:
            self._automaton = _SuffixAutomaton(self._bodies)
        return self._automaton.longest_match(tune_body(sample))


def shared_runs(samples: Sequence[str], training: Sequence[str], *, n: int = 48) -> list[bool]:
    """For each sample, whether its body shares a run of ``n`` characters with a training body.

    Parameters
    ----------
    samples : sequence of str
        Tunes to check (e.g. generated tunes).
    training : sequence of str
        The training tunes.
    n : int
        Run length in characters of the bodies (newlines count).

    Returns
    -------
    list of bool
        One flag per sample.
    """
    index = RunIndex(training)
    return [index.shares(s, n=n) for s in samples]


def copy_rate(samples: Sequence[str], training: Sequence[str], *, n: int = 48) -> float:
    """Fraction of ``samples`` whose body shares a run of ``n`` characters with a training body.

    Parameters
    ----------
    samples : sequence of str
        Tunes to check.
    training : sequence of str
        The training tunes.
    n : int
        Run length.

    Returns
    -------
    float
        Between 0 and 1 (0 when there are no samples).
    """
    flags = shared_runs(samples, training, n=n)
    return sum(flags) / len(flags) if flags else 0.0


def longest_shared_run(sample: str, training: Sequence[str]) -> int:
    """Length of the longest common substring of the sample body and any training body.

    Parameters
    ----------
    sample : str
        One tune.
    training : sequence of str
        The training tunes.

    Returns
    -------
    int
        The length in characters (0 when nothing is shared).
    """
    # the automaton of the (short) sample; the training bodies stream through it
    body = tune_body(sample)
    if not body:
        return 0
    automaton = _SuffixAutomaton([body])
    return max((automaton.longest_match(tune_body(t)) for t in training), default=0)


# -- piano-roll statistics (as MusPy defines them) --------------------------------------------------------

_MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], bool)
_MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], bool)
# the 24 major and minor scales as rows of pitch-class masks
SCALES = np.array([np.roll(m, r) for m in (_MAJOR, _MINOR) for r in range(12)])


def pitch_class_statistics(pitches: np.ndarray) -> dict[str, float]:
    """Pitch-class entropy (bits) and scale consistency of MIDI ``pitches`` ``[shape=(n,)]``, as MusPy defines
    them (NaN for no pitches)."""
    pitches = np.asarray(pitches, int)
    if not len(pitches):
        return {"pitch_class_entropy": math.nan, "scale_consistency": math.nan}
    counts = np.bincount(pitches % 12, minlength=12).astype(float)
    prob = counts[counts > 0] / counts.sum()
    return {"pitch_class_entropy": float(-(prob * np.log2(prob)).sum()),
            "scale_consistency": float((SCALES[:, pitches % 12].sum(axis=1) / len(pitches)).max())}


def roll_statistics(roll) -> dict[str, Any]:
    """Musical statistics of a piano roll, defined as MusPy defines them.

    ``notes_per_second`` (tempo map applied), ``polyphony`` (mean number of
    pitches sounding, over steps where at least one sounds), ``pitch_range``
    (highest minus lowest note), ``pitch_class_entropy`` (bits, of the notes'
    pitch classes), ``scale_consistency`` (the largest share of notes in one
    major or minor scale), ``empty_beat_rate`` (share of beats where no note
    sounds).  Rates are NaN for a silent roll.
    """
    from musegen.formats.midi import Song

    notes = roll.notes()
    sounding = roll.velocity > 0  # [shape=(128, steps)]
    beats = roll.steps / roll.steps_per_beat
    seconds = Song(tempos=list(roll.tempos) or [(0.0, 120.0)]).seconds(beats) if beats else 0.0
    per_step = sounding.sum(axis=0)
    active = per_step > 0
    pitches = np.array([n[2] for n in notes], dtype=int)
    out: dict[str, Any] = {
        "notes": len(notes),
        "beats": round(beats, 3),
        "seconds": round(seconds, 3),
        "notes_per_second": len(notes) / seconds if seconds else math.nan,
        "polyphony": float(per_step[active].mean()) if active.any() else math.nan,
        "pitch_range": int(pitches.max() - pitches.min()) if len(pitches) else 0,
    }
    out.update(pitch_class_statistics(pitches))
    spb = roll.steps_per_beat
    n_beats = max(1, math.ceil(roll.steps / spb))
    padded = np.zeros(n_beats * spb, bool)
    padded[: roll.steps] = active
    out["empty_beat_rate"] = float((~padded.reshape(n_beats, spb).any(axis=1)).mean()) if roll.steps else math.nan
    return out
