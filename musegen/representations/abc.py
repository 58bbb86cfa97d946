"""ABC notation as text: a character-level representation."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from musegen.config import MAX_SEED, Settings, check_range, check_sampling, option
from musegen.errors import MusegenError, UsageError
from musegen.formats import abc as abcfmt
from musegen.formats.abc.grammar import RHYTHMS, SWUNG, UNITS, FormRequest, TuneForm, valid_key, valid_meter
from musegen.limits import MAX_TUNE_CHARS
from musegen.representations.base import InputSpec, OutputSpec, Representation, SamplingPlan

PAD, START, END, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
START_ID, END_ID, UNK_ID = 1, 2, 3
DEFAULT_PRIMER = "X:"  # the model writes the tune number, then the header and the tune
COPY_RUN = 48  # a sample copies a training tune when it shares this many body characters with it
MAX_PARTS = 4
EVALUATE_BATCH = 256  # tunes evaluate draws at once (the batches of `musegen sample`, at most)
ALSO_FILE = "training-also.abc"  # in a bundle: the tunes of --also, trained on beside training.abc


ATTRIBUTION_FIELDS = "ABCDFHOSZ"  # area, book, composer, discography, file, history, origin, source, transcriber


def credited(tune: str) -> str:
    """``tune`` with the header's attribution lines (``C:``, ``S:``, ``Z:``...) that the network invented, from
    the corpus's ("S:Trad, arr Phil Rowe"), replaced by one ``C:musegen``: a generated tune names no person."""
    out, credit, in_header = [], False, True
    for line in tune.split("\n"):
        if in_header and len(line) > 1 and line[1] == ":" and line[0] in ATTRIBUTION_FIELDS:
            if not credit:
                out.append("C:musegen")
                credit = True
            continue
        out.append(line)
        in_header = in_header and not line.startswith("K:")
    return "\n".join(out)


def training_keys(bundle_path: Path) -> frozenset[str]:
    """The keys (``K:`` as written) of a bundle's training tunes, those the form can write; empty when the
    bundle keeps no training tunes (any key then)."""
    keys = set()
    for name in ("training.abc", ALSO_FILE):
        path = Path(bundle_path) / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            keys.update(m.group(1) for m in re.finditer(r"^K:[ \t]*(\S+)[ \t]*$", text, flags=re.M))
    return frozenset(k for k in keys if valid_key(k))


@dataclass(frozen=True)
class AbcSettings(Settings):
    """How tunes are read: characters rarer than ``min_count`` in the training tunes are one unknown class."""

    owner = "abc"
    min_count: int = option(3, "Characters seen fewer times in the training tunes are read as unknown.")
    also: str = option("", "More tunes to train on, never held out (a .abc file, a folder or a shipped corpus "
                           "such as 'nottingham'); added with --transpose's copies ('--transpose 0': as they are).",
                       show_default=False)

    def validate(self) -> None:
        if self.min_count < 1:
            raise UsageError(f"--min-count must be at least 1, got {self.min_count}")


def check_form(*, meter: str, key: str, parts: int) -> None:
    """Refuse a meter, key or number of parts that the form of a tune cannot take."""
    if meter and not valid_meter(meter):
        raise UsageError(f"--meter {meter}: give beats/unit, the unit 2, 4 or 8 (e.g. 6/8, 4/4, 3/4, 9/8)")
    if key and not valid_key(key):
        raise UsageError(f"--key {key}: give a tonic, # or b, and a mode (e.g. G, F#m, Bb, Ador, Emix)")
    if not 0 <= parts <= MAX_PARTS:
        raise UsageError(f"--parts must be 0 (two or three) to {MAX_PARTS}, got {parts}")


@dataclass(frozen=True)
class AbcSampleOptions(Settings):
    owner = "abc"
    temperature: float = option(0.8, "Sampling temperature (0: always the likeliest character).")
    max_length: int = option(2000, "Most characters generated per tune.")
    primer: str = option(DEFAULT_PRIMER, "Start of the tune: text (e.g. 'X:1\\nM:6/8\\nK:D\\n') or a file.")
    candidates: int = option(4, "Tunes drawn for each one written; the first whose every bar fits is kept "
                                "(1: no choice).")
    rhythm: str = option("jig", "Dance rhythm: its meter (jig 6/8, reel 4/4, hornpipe 4/4 with R:Hornpipe, polka "
                                "2/4, waltz 3/4, slip-jig 9/8); any: the network's choice.", choices=(*RHYTHMS, "any"))
    meter: str = option("", "Meter of the tunes (e.g. 6/8), instead of the rhythm's.", show_default=False)
    key: str = option("", "Key of the tunes (e.g. G, Ador, F#m); default: the network's choice among the keys "
                      "of its training tunes.", show_default=False)
    parts: int = option(0, "Parts of 8 bars, each repeated (0: two or three, the network's choice).")
    form: bool = option(True, "Write the form of a dance tune as the characters are drawn: the meter, key and "
                              "parts asked, full bars, a pickup and closing bars that add up through the repeats.",
                        flag="--form/--no-form")

    def validate(self) -> None:
        check_sampling(temperature=self.temperature, max_length=self.max_length, candidates=self.candidates)
        check_range("--max-length", self.max_length, MAX_TUNE_CHARS)
        read_primer(self.primer, check_only=True)
        check_form(meter=self.meter, key=self.key, parts=self.parts)

    def request(self) -> FormRequest:
        """The form asked: the meter (given, else the rhythm's), the key and the number of parts."""
        meter = self.meter or RHYTHMS.get(self.rhythm, "")
        unit = UNITS.get(self.rhythm, "") if not self.meter or self.meter == RHYTHMS.get(self.rhythm) else ""
        return FormRequest(meter=meter, key=self.key, parts=self.parts, rhythm=SWUNG.get(self.rhythm, ""), unit=unit)


@dataclass(frozen=True)
class AbcPrimer:
    """How each tune of a sampling run starts: the primer ``text`` and the form asked (``None``: no form)."""

    text: str
    request: FormRequest | None


@dataclass
class PrimedTunes:
    """The primer of ``num`` tunes, as :meth:`AbcRepresentation.sample_steps` takes it: its ``len`` is the number
    of tunes; as an array (``np.asarray``, indexing) it is the primer's ids, the start marker first."""

    primer: AbcPrimer
    ids: np.ndarray
    num: int

    def __len__(self) -> int:
        return self.num

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.ids if dtype is None else self.ids.astype(dtype)

    def __getitem__(self, index: Any) -> Any:
        return self.ids[index]


@dataclass(frozen=True)
class AbcEvaluateOptions(Settings):
    owner = "abc"
    samples: int = option(0, "Also generate N tunes and check validity and copying.")
    temperature: float = option(0.8, "Temperature of the samples.")
    candidates: int = option(4, "Draws per written tune, as in `sample abc`.")
    max_length: int = option(2000, "Most characters generated per tune.")
    order: int = option(4, "Order of the character n-gram baseline.")
    abc2midi: bool = option(True, "Also count the samples abc2midi reads with no error (when it is installed).")
    form: bool = option(True, "Sample as `sample abc` does by default: the form of a jig as the characters are "
                              "drawn.", flag="--form/--no-form")

    def validate(self) -> None:
        if self.samples < 0:
            raise UsageError(f"--samples must be 0 or positive, got {self.samples}")
        if self.order < 1:
            raise UsageError(f"--order must be at least 1, got {self.order}")
        check_sampling(temperature=self.temperature, max_length=self.max_length, candidates=self.candidates)
        check_range("--max-length", self.max_length, MAX_TUNE_CHARS)


def read_primer(text: str, *, check_only: bool = False) -> str:
    """A primer given as a file path, or as text with ``\\n`` escapes.

    Text that looks like a file name (a path separator or a file suffix, no
    line break) but names no file is refused rather than used as music.
    """
    path = Path(text)
    if text and len(text) < 1024 and path.is_file():
        return "" if check_only else abcfmt.read_abc_text(path)
    looks_like_path = "\n" not in text and "\\n" not in text and (
        "/" in text or path.suffix.lower() in (".abc", ".txt", ".mid"))
    if path.is_dir() or (looks_like_path and not path.exists()):
        raise UsageError(f"--primer {text}: no such file (give a file, or ABC text such as 'M:6/8\\nK:D\\n')")
    return text.replace("\\n", "\n").replace("\\t", "\t")


class AbcRepresentation(Representation):
    """Each tune is one sequence of character ids between a start and an end marker.

    Characters seen fewer than ``min_count`` times in the training tunes map to
    an unknown class, so any text can be scored.
    """

    name: ClassVar[str] = "abc"
    Settings = AbcSettings
    SampleOptions = AbcSampleOptions
    EvaluateOptions = AbcEvaluateOptions
    end_id: ClassVar[int] = END_ID
    default_model: ClassVar[str] = "abc-jigs"
    corpus_help: ClassVar[str] = "A .abc file or a folder of them (many tunes each, split at X:)."
    evaluate_argument: ClassVar[str] = "file"
    evaluate_help: ClassVar[str] = "ABC file or folder to score (e.g. the bundle's validation.abc)."
    loss_unit: ClassVar[str] = "nats/char"
    piece_noun: ClassVar[str] = "tune"
    default_formats: ClassVar[str] = "abc,mid"
    summary_columns: ClassVar[tuple[str, ...]] = ("title", "meter", "key", "parts", "bars fitting", "repairs")
    commands_help: ClassVar[dict[str, str]] = {
        "prepare": "Prepare ABC tunes: split by tune, build the character vocabulary, cache.",
        "train": "Train the character-level ABC model (e.g. `musegen train abc corpora/jigs`).",
        "sample": "Sample ABC tunes, check every bar, write .abc/.mid/.wav files named from the titles.",
        "evaluate": "Bits per character of FILE under the model and under a character 4-gram baseline.",
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The 2017 study: one LSTM, sequences of 50 characters, batches of 50, RMSprop.
        "study": dict(layers=1, units=256, embedding=0, seq_len=50, batch_size=50, epochs=30,
                      optimizer="rmsprop", lr=0.002, clipnorm=5.0, dropout=0.0),
        # Best measured on the 340 Nottingham jigs on a 2-core CPU (see README).
        "default": dict(layers=2, units=384, embedding=48, seq_len=128, batch_size=32, epochs=20,
                        optimizer="adam", lr=0.003, clipnorm=1.0, dropout=0.25, patience=4, lr_decay=0.5,
                        transpose=(-1, 1)),
        # For tests and quick checks: trains in seconds.
        "tiny": dict(layers=1, units=16, embedding=8, seq_len=20, batch_size=8, epochs=2,
                     optimizer="adam", lr=0.01, clipnorm=1.0),
    }

    def __init__(self, settings: AbcSettings | None = None) -> None:
        super().__init__(settings)
        self.min_count = self.settings.min_count
        self.vocab: list[str] = list(SPECIALS)
        self._index: dict[str, int] = {}

    # -- corpus -------------------------------------------------------------
    def read_corpus(self, path: str | os.PathLike) -> list[str]:
        """Tunes of an ABC file or folder, split at ``X:``, kept verbatim."""
        return abcfmt.read_tunes(path, clean=False)

    @staticmethod
    def clean(piece: str) -> str:
        """The text the network sees: comments dropped."""
        return abcfmt.strip_comments(piece)

    def more_tunes(self) -> list[str]:
        """The tunes of the ``also`` setting (trained on, never held out), verbatim; none without it."""
        if not self.settings.also:
            return []
        return abcfmt.read_tunes(self.resolve_corpus(self.settings.also), clean=False)

    def bundle_files(self, train: list[str], valid: list[str]) -> dict[str, bytes]:
        """``validation.abc`` (held-out tunes verbatim), ``training.abc`` (the training tunes of the corpus, for
        the n-gram baseline and copy checks) and, with ``also``, ``training-also.abc`` (the further tunes trained
        on, for copy checks)."""
        files = {
            "validation.abc": "\n".join(valid).encode("utf-8"),
            "training.abc": "\n".join(train).encode("utf-8"),
        }
        more = self.more_tunes()
        if more:
            files[ALSO_FILE] = "\n".join(more).encode("utf-8")
        return files

    def augment(self, pieces: list[str], *, transpose: tuple[int, ...] = ()) -> list[str]:
        """The pieces plus each transposed by every shift in ``transpose``, then the ``also`` tunes as they are."""
        from musegen.formats.abc.transpose import transpose_tune

        out = list(pieces)
        for shift in transpose:
            if shift:
                # Nottingham writes a sharp bass note of a chord as "D/f+": keep that style
                out.extend(transpose_tune(p, shift, bass_sharp="+") for p in pieces)
        return out + self.more_tunes()

    # -- vocabulary -----------------------------------------------------------
    def fit(self, pieces: list[str]) -> None:
        counts = Counter("".join(self.clean(p) for p in pieces))
        chars = sorted(c for c, n in counts.items() if n >= self.min_count)
        self.vocab = list(SPECIALS) + chars
        self._index = {c: i for i, c in enumerate(self.vocab)}

    @property
    def index(self) -> dict[str, int]:
        if not self._index:
            self._index = {c: i for i, c in enumerate(self.vocab)}
        return self._index

    def describe(self) -> dict[str, Any]:
        return {"vocabulary": len(self.vocab)}

    def encode(self, piece: str) -> np.ndarray:
        """``[shape=(len(piece) + 2,)]`` ids: start marker, characters, end marker."""
        index = self.index
        ids = [START_ID] + [index.get(c, UNK_ID) for c in self.clean(piece)] + [END_ID]
        return np.asarray(ids, dtype=np.int32)

    def decode(self, array: np.ndarray) -> str:
        """Characters of ``array`` up to the first end marker; markers and unknowns dropped."""
        chars = []
        for i in np.asarray(array).ravel():
            i = int(i)
            if i == END_ID:
                break
            if i >= len(SPECIALS):
                chars.append(self.vocab[i])
        return "".join(chars)

    def encode_primer(self, primer: AbcPrimer | str, *, num: int = 1, **_: Any) -> PrimedTunes:
        """The primer of ``num`` tunes: the start marker and the primer's characters (no end marker)."""
        if isinstance(primer, str):
            primer = AbcPrimer(primer, None)
        index = self.index
        ids = np.asarray([START_ID] + [index.get(c, UNK_ID) for c in primer.text], dtype=np.int32)
        return PrimedTunes(primer, ids, num)

    generator: ClassVar[str] = "stepped"  # the sampler follows the form of each tune (sample_steps)

    def sample_steps(self, net: Any, primer: PrimedTunes, *, max_length: int, temperature: float,
                     rng: np.random.Generator, progress: Any = None) -> tuple[list[str], int]:
        """Draw each tune character by character; with a form asked, only characters that keep it.

        Each step draws from the network's distribution at ``temperature``
        (Gumbel-max), restricted to the characters that
        :class:`~musegen.formats.abc.grammar.TuneForm` allows there: the
        first allowed character in the order of the noisy scores is an exact
        draw from the distribution renormalised over the allowed ones.  Runs
        that can be written one way only (the meter asked after ``M``) are
        written so; the end marker comes when the form allows it (and must
        come once every part asked is written).  Without a form, it is plain
        sampling.
        """
        num = len(primer)
        vocab = self.vocab
        banned = np.zeros(len(vocab), bool)
        banned[self.banned_ids()] = True
        request = primer.primer.request
        alphabet = frozenset(vocab[len(SPECIALS):])
        forms = [TuneForm(request, alphabet=alphabet) for _ in range(num)] if request is not None else []
        for form in forms:
            form.feed_text(primer.primer.text)
        for token in primer.ids[:-1]:
            net.step(np.full(num, token))
        tokens = np.full(num, primer.ids[-1])
        out = np.full((num, max_length), END_ID, np.int32)
        done = np.zeros(num, bool)
        made = reported = 0
        for step in range(max_length):
            logits = np.asarray(net.step(tokens), np.float64)
            logits[:, banned] = -np.inf
            scores = logits / temperature + rng.gumbel(size=logits.shape) if temperature > 0 else logits
            chosen = np.argmax(scores, axis=1)
            for r, form in enumerate(forms):
                if not done[r]:
                    chosen[r] = self._allowed_choice(form, scores[r], int(chosen[r]))
            chosen = np.where(done, END_ID, chosen)
            out[:, step] = chosen
            done |= chosen == END_ID
            tokens = chosen
            made = step + 1
            if progress is not None and made - reported >= 50:
                progress(made - reported)
                reported = made
            if done.all():
                break
        if progress is not None and made > reported:
            progress(made - reported)
        pieces = [self.decode(row[:made]) for row in out]
        return pieces, int(sum(min(made, len(p) + 1) for p in pieces))

    def _allowed_choice(self, form: TuneForm, scores: np.ndarray, best: int) -> int:
        """The id drawn for one tune, taken by its form: ``best`` when the form allows it, else the best-scored id
        it allows (the scores are sorted only then: most steps take ``best``)."""
        forced = form.forced()
        if forced:
            choice = self.index.get(forced[0], UNK_ID)
            if choice >= len(SPECIALS):
                form.feed(forced[0])
            return choice
        if form.must_end():
            return END_ID
        if np.isfinite(scores[best]) and self._taken(form, best):
            return best
        for i in np.argsort(-scores):
            i = int(i)
            if not np.isfinite(scores[i]):
                break
            if i != best and self._taken(form, i):
                return i
        return END_ID  # where the form allows nothing (it cannot happen), the tune ends

    def _taken(self, form: TuneForm, i: int) -> bool:
        """True when the form allows id ``i`` here, taking it (the end marker: when the tune may end)."""
        if i == END_ID:
            return form.can_end()
        return i >= len(SPECIALS) and form.take(self.vocab[i])

    def input_spec(self) -> InputSpec:
        return InputSpec("tokens", len(self.vocab))

    def head(self) -> OutputSpec:
        return OutputSpec("softmax", len(self.vocab))

    def banned_ids(self) -> list[int]:
        """Ids never sampled: padding, start and unknown."""
        return [0, START_ID, UNK_ID]

    # -- output ---------------------------------------------------------------
    output_formats: ClassVar[tuple[str, ...]] = ("abc", "mid", "wav", "musicxml", "svg", "png", "pdf")  # + sheet music

    def postprocess(self, piece: str, *, index: int) -> tuple[str, dict[str, Any]]:
        """Check every bar against the meter, repair what can be repaired."""
        from musegen.formats.abc.check import check_tune

        text = piece if piece.lstrip().startswith("X:") else f"X:{index}\n{piece}"
        text = credited(text)
        result = check_tune(text, repair=True)
        shape = result.shape()
        return result.text, {
            "title": abcfmt.tune_title(result.text),
            "characters": len(piece),
            "valid": result.valid,
            "bars": result.bars,
            "bars_fitting": result.bars_fitting,
            "meter": shape.meter,
            "key": shape.key,
            "parts": shape.parts,
            "repeats": shape.repeats,
            "repairs": result.repairs,
            "problems": result.problems,
        }

    def rank(self, summary: dict[str, Any]) -> float:
        """The share of bars that fit the meter."""
        return summary.get("bars_fitting", 0) / max(1, summary.get("bars", 1))

    def title(self, piece: str) -> str:
        return abcfmt.tune_title(piece)

    def plan_sampling(self, bundle_path: Path, options: AbcSampleOptions) -> SamplingPlan:
        request = options.request() if options.form else None
        if request is not None and not request.key:  # the network's choice among the keys of its training tunes
            request = replace(request, keys=training_keys(bundle_path))
        return SamplingPlan(AbcPrimer(read_primer(options.primer), request), options.max_length,
                            options.temperature, candidates=options.candidates)

    def summary_row(self, piece: dict[str, Any]) -> tuple[str, ...]:
        return (piece["title"], piece["meter"] or "-", piece["key"] or "-", str(piece["parts"]),
                f"{piece['bars_fitting']}/{piece['bars']}", str(len(piece["repairs"])))

    def summary_title(self, result: Any, plan: SamplingPlan) -> str:
        drawn = len(result.pieces) * plan.candidates
        request = plan.primer.request if isinstance(plan.primer, AbcPrimer) else None
        if request is None:
            asked = "no form asked"
        else:
            asked = ", ".join((f"M:{request.meter}" if request.meter else "any meter",
                               f"K:{request.key}" if request.key else "any key",
                               f"{request.parts} parts" if request.parts else "2 or 3 parts"))
        return (f"{len(result.pieces)} tune(s) kept of {drawn} drawn (asked: {asked}): {result.tokens} characters "
                f"in {result.seconds:.2f} s")

    def with_primer(self, primer: AbcPrimer | str, piece: str) -> str:
        """A tune is its primer (e.g. ``X:``) then what was generated."""
        return (primer if isinstance(primer, str) else primer.text) + piece

    def write(self, piece: str, stem: Path, *, formats: tuple[str, ...], force: bool = False,
              provenance: dict[str, str] | None = None) -> list[Path]:
        from musegen.formats import write_tune

        return write_tune(piece, stem, formats=formats, force=force, provenance=provenance)

    def get_config(self) -> dict[str, Any]:
        more = {"also": self.settings.also} if self.settings.also else {}
        return {"name": self.name, "min_count": self.min_count, **more, "vocab": self.vocab}

    def set_config(self, config: dict[str, Any]) -> None:
        vocab = config.get("vocab")
        if not isinstance(vocab, list) or vocab[: len(SPECIALS)] != list(SPECIALS):
            raise MusegenError("representation.json: not an abc vocabulary")
        self.settings = AbcSettings(min_count=int(config.get("min_count", 3)), also=str(config.get("also", "")))
        self.min_count = self.settings.min_count
        self.vocab = vocab
        self._index = {c: i for i, c in enumerate(vocab)}

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, probe: Any, target: str, options: AbcEvaluateOptions) -> dict[str, Any]:
        """Bits per character of the tunes in ``target`` under the model and under an n-gram baseline.

        Every character of every tune (comments dropped, as in training) is
        scored, plus each tune's end marker; the start marker is the context.
        The baseline is an interpolated character n-gram fitted on the model's
        training tunes (``training.abc`` in the bundle).  With ``samples`` > 0,
        that many tunes are generated and checked: the share with every bar
        fitting, the share abc2midi reads with no error (when installed) and
        the share that copies a run of 48 body characters of a training tune,
        both raw (``*_raw``: first draw, unrepaired) and as ``musegen sample``
        writes them (repaired, best of ``candidates`` draws).
        """
        from musegen.metrics import CharNgram

        tunes = abcfmt.read_tunes(target, clean=True)
        arrays = [self.encode(t) for t in tunes]
        t0 = time.perf_counter()
        bits = probe.token_bits(arrays)
        result: dict[str, Any] = {
            "file": str(target),
            "model": str(probe.bundle.path),
            "tunes": len(tunes),
            "characters": int(bits.size),
            "bits_per_char": float(bits.mean()),
            "unknown_chars": int(sum(int((a == UNK_ID).sum()) for a in arrays)),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        f = Path(probe.bundle.path) / "training.abc"
        training = abcfmt.read_tunes(f, clean=True) if f.is_file() else []
        if training:
            ngram = CharNgram(order=options.order).fit(training)
            result["baseline"] = (f"interpolated Kneser-Ney character {options.order}-gram on {len(training)} "
                                  "training tunes")
            result["baseline_bits_per_char"] = float(ngram.bits_per_char(tunes))
            result["improvement"] = 1.0 - result["bits_per_char"] / result["baseline_bits_per_char"]
        if options.samples:
            more = Path(probe.bundle.path) / ALSO_FILE  # further tunes trained on: copying them is copying too
            copied_from = training + (abcfmt.read_tunes(more, clean=True) if more.is_file() else [])
            result.update(self.sample_quality(probe, options, training=copied_from))
            result["copy_rate_n"] = COPY_RUN
        return result

    def sample_quality(self, probe: Any, options: AbcEvaluateOptions, *, training: list[str]) -> dict[str, Any]:
        """Generate tunes and measure validity and copying, raw and as ``musegen sample`` writes them.

        ``raw``: the first draw for each tune, unrepaired.  Written: repaired,
        and the first of ``candidates`` draws whose every bar fits (as
        :func:`musegen.pipeline.sample` does).
        """
        from musegen.formats.abc.check import (
            abc2midi_available,
            abc2midi_bar_warnings,
            abc2midi_check,
            check_tune,
        )
        from musegen.metrics import shared_runs

        candidates = options.candidates
        primer = AbcPrimer(DEFAULT_PRIMER, AbcSampleOptions().request() if options.form else None)
        texts: list[str] = []
        tokens, seconds = 0, 0.0
        per_batch = max(1, EVALUATE_BATCH // candidates)  # whole groups of candidates, batch by batch
        for batch, start in enumerate(range(0, options.samples, per_batch)):
            num = min(per_batch, options.samples - start) * candidates
            seeded = replace(probe, seed=(probe.seed + batch * 1_000_003) % (MAX_SEED + 1))
            gen = seeded.generate(num=num, temperature=options.temperature, max_length=options.max_length,
                                  primer=self.encode_primer(primer, num=num))
            texts += [self.with_primer(primer, p) for p in gen.pieces]
            tokens, seconds = tokens + gen.tokens, seconds + gen.seconds
        raw = texts[::candidates]
        written = [piece for piece, _ in probe.select(texts, candidates=candidates)]
        raw_checks = [check_tune(t, repair=False) for t in raw]
        written_checks = [check_tune(t, repair=False) for t in written]
        raw_shapes = [c.shape() for c in raw_checks]
        written_shapes = [c.shape() for c in written_checks]
        out: dict[str, Any] = {
            "samples": options.samples,
            "temperature": options.temperature,
            "candidates": candidates,
            "form": options.form,
            "sample_chars_per_second": round(tokens / seconds, 1) if seconds else None,
            "dance_form_rate": float(np.mean([f.dance_form for f in written_shapes])),
            "dance_form_rate_raw": float(np.mean([f.dance_form for f in raw_shapes])),
            "repeats_rate": float(np.mean([f.repeats for f in written_shapes])),
            "repeats_rate_raw": float(np.mean([f.repeats for f in raw_shapes])),
            "bars_median": float(np.median([f.bars for f in written_shapes])),
            "bars_median_raw": float(np.median([f.bars for f in raw_shapes])),
            "meter_valid_rate": float(np.mean([c.bars_fitting == c.bars for c in written_checks])),
            "meter_valid_rate_raw": float(np.mean([c.bars_fitting == c.bars for c in raw_checks])),
            "check_valid_rate": float(np.mean([c.valid for c in written_checks])),
            "check_valid_rate_raw": float(np.mean([c.valid for c in raw_checks])),
            "bars_fitting_rate_raw": float(sum(c.bars_fitting for c in raw_checks)
                                           / max(1, sum(c.bars for c in raw_checks))),
        }
        if training:
            out["copy_rate"] = float(np.mean(shared_runs(written, training, n=COPY_RUN)))
            out["copy_rate_raw"] = float(np.mean(shared_runs(raw, training, n=COPY_RUN)))
        if options.abc2midi and abc2midi_available():
            for label, tunes in (("", written), ("_raw", raw)):
                judged = [abc2midi_check(t) for t in tunes]
                out[f"abc2midi_ok_rate{label}"] = float(np.mean([ok for ok, _ in judged]))
                out[f"abc2midi_bars_ok_rate{label}"] = float(np.mean([not abc2midi_bar_warnings(m) for _, m in judged]))
        return out
