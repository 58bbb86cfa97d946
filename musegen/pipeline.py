"""The generic pipeline: prepare, train, sample, evaluate — written once for every representation.

Library code here returns values and never prints; progress goes to a
:class:`Reporter` that the CLI draws with rich.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from musegen import __version__
from musegen.config import MAX_SEED, Settings, TrainConfig, check_sampling, load_json, save_json
from musegen.errors import MusegenError, OutputExists, UsageError
from musegen.fileio import atomic_dir, claim
from musegen.paths import cache_dir
from musegen.progress import Reporter
from musegen.representations import Representation, SamplingPlan, get_representation
from musegen.shards import ShardedArrays, ShardWriter
from musegen.windows import stream_dataset, token_windows, windows_per_pass

if TYPE_CHECKING:
    from musegen.distribute import DeviceOptions, Placement


# The layout of a prepared corpus's folder (manifest.json and shards): the cache key holds it, with a digest of
# representations/ and formats/; a change to what _prepare_into writes or to musegen/shards.py must raise it.
PREPARED_FORMAT = 3
VALID_BYTES = 64 * 2**20  # held-out windows kept in memory for validation, at most
TOKEN_BATCH = 2**16  # tokens (pieces x the longest) a batch of token_bits runs at most: its logits stay near 100 MB
STALE_SECONDS = 24 * 3600  # a prepared corpus still unfinished after this long was left by a run that died

# -- prepare ------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """A corpus read, split by piece, the representation fitted on the training part, every piece encoded.

    The encoded pieces (``train_arrays``: the training pieces and their
    augmented copies; ``valid_arrays``) are :class:`~musegen.shards.ShardedArrays`
    on disk in ``folder``, read on demand; so are ``train`` and ``valid`` where
    the pieces are arrays (audio), else they are lists in memory.
    """

    representation: Representation
    train: Sequence[Any]
    valid: Sequence[Any]
    train_arrays: ShardedArrays
    valid_arrays: ShardedArrays
    corpus: str
    folder: Path
    cached: bool = False
    keep: Any = None  # what keeps ``folder`` alive where it is temporary

    def summary(self) -> dict[str, Any]:
        spec = self.representation.input_spec()
        return {
            "representation": self.representation.name,
            "corpus": self.corpus,
            "pieces": len(self.train) + len(self.valid),
            "train_pieces": len(self.train),
            "valid_pieces": len(self.valid),
            "train_steps": self.train_arrays.steps,
            "valid_steps": self.valid_arrays.steps,
            "input": f"{spec.kind} x {spec.size}",
            "shards": len(self.train_arrays.shards) + len(self.valid_arrays.shards),
            "cached": self.cached,
        }


class Pieces(Sequence):
    """Some of the pieces kept in shards (``indices`` of ``arrays``), loaded by the representation on access."""

    def __init__(self, arrays: ShardedArrays, indices: list[int], load: Callable[[Any], Any]) -> None:
        self.arrays, self.indices, self.load = arrays, list(indices), load

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.load(self.arrays[self.indices[i]])

    def lengths(self) -> np.ndarray:
        """The length of each piece (its rows), from the index: nothing read."""
        return self.arrays.lengths()[np.asarray(self.indices, np.int64)]


def split_indices(count: int, *, valid_split: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split by piece of ``count`` pieces: the indices of the training and the held-out ones, in order;
    at least one on each side."""
    if count < 2:
        raise MusegenError(f"the corpus holds {count} piece(s); at least 2 are needed to hold some out")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    n_valid = min(count - 1, max(1, round(count * valid_split)))
    valid_idx = set(order[:n_valid])
    return [i for i in range(count) if i not in valid_idx], sorted(valid_idx)


def split_pieces(pieces: list[Any], *, valid_split: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Seeded split by piece; at least one piece on each side when there are two or more."""
    train, valid = split_indices(len(pieces), valid_split=valid_split, seed=seed)
    return [pieces[i] for i in train], [pieces[i] for i in valid]


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of the code that reads and encodes pieces (``representations/`` and ``formats/``), so that a corpus
    prepared by other code is prepared again rather than read with an encoding that has changed."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted([*(root / "representations").rglob("*.py"), *(root / "formats").rglob("*.py")]):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def _prepared_folder(rep_name: str, corpus: Path, config: TrainConfig) -> Path:
    """Where the cache keeps ``corpus`` prepared with ``config``'s settings."""
    settings = {"valid_split": config.valid_split, "seed": config.seed, "transpose": list(config.transpose),
                "extra": config.extra}
    return cache_dir() / "prepared" / f"{rep_name}-{_cache_key(rep_name, corpus, settings)}"


def _cache_key(rep_name: str, corpus: Path, settings: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([rep_name, __version__, code_digest(), PREPARED_FORMAT, settings], sort_keys=True).encode())
    files = sorted(p for p in corpus.rglob("*") if p.is_file()) if corpus.is_dir() else [corpus]
    for f in files:
        h.update(str(f.relative_to(corpus) if corpus.is_dir() else f.name).encode())
        digest = hashlib.sha256()
        with open(f, "rb") as stream:  # a piece at a time: a recording may be larger than memory
            for block in iter(lambda: stream.read(2**20), b""):
                digest.update(block)
        h.update(digest.digest())
    return h.hexdigest()[:24]


def prepare(rep_name: str, corpus: str | os.PathLike, *, config: TrainConfig, reporter: Reporter | None = None,
            use_cache: bool = True) -> Dataset:
    """Read ``corpus``, split it by piece, fit the representation, encode every piece into shards on disk.

    Pieces are read one at a time (:meth:`Representation.iter_corpus`) and
    written out as they come, so memory holds one piece rather than the corpus
    (where pieces are arrays; pieces of text or notes are kept as a list).  The
    prepared corpus is kept under :func:`musegen.paths.cache_dir`, keyed on the
    corpus files, the settings and the code, so a second run opens it at once;
    with ``use_cache=False`` (or a cache folder that cannot be written) it
    lives in a temporary folder as long as the :class:`Dataset`.
    """
    reporter = reporter or Reporter()
    rep_cls = get_representation(rep_name)
    name = str(corpus)
    corpus = rep_cls.resolve_corpus(corpus)
    folder = _prepared_folder(rep_name, corpus, config)
    broken = False
    if use_cache and folder.exists():
        dataset = _open_prepared(rep_cls, folder, name=name, reporter=reporter)
        if dataset is not None:
            return dataset
        broken = True
    work, keep = _work_folder(folder if use_cache else None)
    try:
        rep, manifest, listed = _prepare_into(work, rep_cls.from_settings(config.extra), corpus, config=config,
                                              reporter=reporter)
        if keep is None:  # publish the finished folder under its key, whole or not at all
            if broken:
                _set_aside(folder, rep_cls, name=name)
            if not _publish(work, folder):  # another process (a worker of the same run) published it first
                shutil.rmtree(work, ignore_errors=True)
                dataset = _open_prepared(rep_cls, folder, name=name, reporter=reporter)
                if dataset is None:
                    raise MusegenError(f"cannot keep the prepared corpus in {folder}: remove it and run again")
                return dataset
            work = folder
    except BaseException:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    return _dataset(rep, work, manifest, listed, name=name, keep=keep)


def _set_aside(folder: Path, rep_cls: type[Representation], *, name: str) -> None:
    """Remove the broken entry ``folder`` unless another process has published a good one there meanwhile (the
    workers of one run that found it broken at once): it is renamed aside first, so only one process removes it."""
    if _open_prepared(rep_cls, folder, name=name, reporter=Reporter()) is not None:
        return  # good now: _publish will find it there and open it
    aside = folder.with_name(f".{folder.name}.{os.getpid()}.broken.part")
    try:
        os.rename(folder, aside)
    except OSError:
        return  # gone already
    shutil.rmtree(aside, ignore_errors=True)


def _publish(work: Path, folder: Path) -> bool:
    """Rename ``work`` to ``folder``; False where ``folder`` exists already."""
    try:
        os.rename(work, folder)  # atomic; refuses a folder that exists and is not empty
        return True
    except OSError:
        if folder.exists():
            return False
        raise


def _work_folder(folder: Path | None) -> tuple[Path, Any]:
    """Where a corpus is prepared: a fresh folder beside ``folder`` (then renamed to it), or a temporary folder
    (and what keeps it) where ``folder`` is None or its parent cannot be written."""
    if folder is not None:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            for stale in folder.parent.glob(".*.part"):  # left by a run that was killed: gone after a day
                if time.time() - stale.stat().st_mtime > STALE_SECONDS:
                    shutil.rmtree(stale, ignore_errors=True)
            return Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent)), None
        except OSError:
            pass  # caching is an optimisation only
    keep = tempfile.TemporaryDirectory(prefix="musegen-prepared-")
    return Path(keep.name), keep


def _prepare_into(folder: Path, rep: Representation, corpus: Path, *, config: TrainConfig,
                  reporter: Reporter) -> tuple[Representation, dict[str, Any], list[Any] | None]:
    """Read, split, fit and encode into ``folder``: the representation fitted, the manifest written there, and
    the pieces where they are kept in memory (None where they are in shards)."""
    stored, listed, count = _read_pieces(folder, rep, corpus, reporter=reporter)
    train_idx, valid_idx = split_indices(count, valid_split=config.valid_split, seed=config.seed)
    train, valid = _subsets(rep, stored, listed, train_idx, valid_idx)
    augmented = rep.augment(train, transpose=config.transpose)
    rep.fit(augmented)
    reporter.start("Encoding", len(augmented) + len(valid))
    encoded = {}
    # the training pieces in a seeded random order, so that each shard is a sample of the whole corpus (its files,
    # its transpositions), not a block of it: a batch is drawn mostly from one shard
    order = np.random.default_rng(config.seed).permutation(len(augmented))
    for part, pieces in (("train", (augmented[int(i)] for i in order)), ("valid", valid)):
        out = ShardWriter(folder, part)
        for p in pieces:
            out.add(rep.encode(p))
            reporter.update()
        encoded[part] = out.close().to_json()
    reporter.finish()
    manifest = {"format": PREPARED_FORMAT, "representation": rep.get_config(), "pieces": count,
                "split": {"train": train_idx, "valid": valid_idx},
                "stored": stored.to_json() if stored is not None else None, **encoded}
    if stored is None:
        (folder / "pieces.json").write_text(json.dumps([rep.dump_piece(p) for p in listed]))
    save_json(manifest, folder / "manifest.json")  # written last: a folder without it is unfinished
    return rep, manifest, (listed if stored is None else None)


def _read_pieces(folder: Path, rep: Representation, corpus: Path, *,
                 reporter: Reporter) -> tuple[ShardedArrays | None, list[Any], int]:
    """Every piece of ``corpus``, read one at a time: written to shards in ``folder`` where the representation
    dumps pieces as arrays (audio; then the list is empty), else kept in a list; and their number."""
    reporter.start("Reading corpus", None)
    writer = ShardWriter(folder, "pieces")
    listed: list[Any] = []
    count = 0
    for piece in rep.iter_corpus(corpus):
        dumped = rep.dump_piece(piece)
        if isinstance(dumped, np.ndarray):
            writer.add(dumped)
        else:
            listed.append(piece)
        count += 1
        reporter.update()
    reporter.finish(pieces=count)
    if listed and len(listed) != count:
        raise MusegenError(f"the {rep.name} representation dumps some pieces as arrays and some not")
    return (writer.close() if len(listed) < count else None), listed, count


@dataclass
class HeldOut:
    """A corpus read with a model's settings and split as in its training: every piece, the training ones and
    the held-out ones; sequences read from disk piece by piece where the pieces are arrays (audio)."""

    pieces: Sequence[Any]
    train: Sequence[Any]
    valid: Sequence[Any]
    keep: Any = None  # what keeps the pieces' temporary folder alive


def held_out_pieces(rep: Representation, corpus: str | os.PathLike, *, config: TrainConfig,
                    reporter: Reporter | None = None) -> HeldOut:
    """The pieces of ``corpus`` split as :func:`prepare` splits them for ``config``, without fitting or encoding.

    Where the representation keeps its pieces as arrays (audio), memory never
    holds the corpus: the pieces come from the prepared corpus where training
    left one in the cache for these settings, else they are read one at a
    time into a temporary folder and read back from there on access.
    """
    reporter = reporter or Reporter()
    rep_cls = type(rep)
    path = rep_cls.resolve_corpus(corpus)
    folder = _prepared_folder(rep.name, path, config)
    if folder.exists():  # pieces of text or notes are read again: a list, as cheap to read as to load
        dataset = _open_prepared(rep_cls, folder, name=str(corpus), reporter=reporter, arrays_only=True)
        if dataset is not None:
            stored = dataset.train.arrays
            return HeldOut(Pieces(stored, list(range(len(stored))), rep.load_piece), dataset.train, dataset.valid)
    keep = tempfile.TemporaryDirectory(prefix="musegen-held-out-")
    stored, listed, count = _read_pieces(Path(keep.name), rep, path, reporter=reporter)
    train_idx, valid_idx = split_indices(count, valid_split=config.valid_split, seed=config.seed)
    train, valid = _subsets(rep, stored, listed, train_idx, valid_idx)
    if stored is None:
        keep.cleanup()
        return HeldOut(listed, train, valid)
    return HeldOut(Pieces(stored, list(range(count)), rep.load_piece), train, valid, keep)


def _subsets(rep: Representation, stored: ShardedArrays | None, listed: list[Any], train_idx: list[int],
             valid_idx: list[int]) -> tuple[Sequence[Any], Sequence[Any]]:
    if stored is not None:
        return Pieces(stored, train_idx, rep.load_piece), Pieces(stored, valid_idx, rep.load_piece)
    return [listed[i] for i in train_idx], [listed[i] for i in valid_idx]


def _open_prepared(rep_cls: type[Representation], folder: Path, *, name: str, reporter: Reporter,
                   arrays_only: bool = False) -> Dataset | None:
    """The prepared corpus kept in ``folder``, or None where it cannot be read back whole (or, with
    ``arrays_only``, where its pieces are not kept as arrays: nothing but the manifest is read then).

    Any failure (a truncated shard, JSON of the wrong types or shapes, a
    representation that no longer loads it) means a stale or broken entry,
    which the caller rebuilds: a cache never stops a command.
    """
    try:
        manifest = load_json(folder / "manifest.json")
        if manifest.get("format") != PREPARED_FORMAT:
            raise ValueError("another layout")
        if arrays_only and manifest["stored"] is None:
            return None
        rep = rep_cls.from_config(manifest["representation"])
        listed = None
        if manifest["stored"] is None:
            listed = [rep.load_piece(p) for p in load_json(folder / "pieces.json")]
        return _dataset(rep, folder, manifest, listed, name=name, cached=True)
    except Exception:  # noqa: BLE001 - whatever broke the entry, it is rebuilt
        reporter.log(f"the prepared corpus kept in {folder} is unreadable: it is prepared again")
        return None


def _dataset(rep: Representation, folder: Path, manifest: dict[str, Any], listed: list[Any] | None, *, name: str,
             cached: bool = False, keep: Any = None) -> Dataset:
    """The :class:`Dataset` a manifest describes (every index checked against the files)."""
    stored = ShardedArrays.from_json(folder, manifest["stored"]) if listed is None else None
    count = len(stored) if stored is not None else len(listed)
    train_idx = [int(i) for i in manifest["split"]["train"]]
    valid_idx = [int(i) for i in manifest["split"]["valid"]]
    if count != manifest["pieces"] or not train_idx or not valid_idx or not all(
            0 <= i < count for i in train_idx + valid_idx):
        raise ValueError("the split does not match the pieces")
    train, valid = _subsets(rep, stored, listed or [], train_idx, valid_idx)
    train_arrays = ShardedArrays.from_json(folder, manifest["train"])
    valid_arrays = ShardedArrays.from_json(folder, manifest["valid"])
    if len(valid_arrays) != len(valid) or len(train_arrays) < len(train):
        raise ValueError("the encoded pieces do not match the pieces")
    return Dataset(rep, train, valid, train_arrays, valid_arrays, name, folder, cached=cached, keep=keep)


# -- train ---------------------------------------------------------------------------------------------


def validation_windows(arrays: ShardedArrays, *, seq_len: int, seed: int,
                       reporter: Reporter) -> tuple[np.ndarray, np.ndarray]:
    """The held-out windows, in memory: every held-out piece, or where they exceed :data:`VALID_BYTES`, as many
    as fit, drawn at random with ``seed`` (the same each epoch and on every worker)."""
    pieces: list[int] = list(range(len(arrays)))
    if arrays.nbytes > VALID_BYTES:
        lengths = arrays.lengths()
        order = np.random.default_rng(seed).permutation(len(arrays))
        room = VALID_BYTES * arrays.steps // arrays.nbytes  # steps that fit
        kept = order[: max(1, int(np.searchsorted(np.cumsum(lengths[order]), room, side="right")))]
        pieces = sorted(int(i) for i in kept)
        reporter.log(f"validation on {len(pieces)} of the {len(arrays)} held-out pieces "
                     f"({VALID_BYTES // 2**20} MB of them)")
    chosen = [arrays[i] for i in pieces]
    return token_windows(chosen, seq_len=min(seq_len, sum(len(a) for a in chosen) - 1))


def resolve_config(rep_name: str, *, preset: str | None, overrides: dict[str, Any]) -> tuple[TrainConfig, str]:
    """The named preset of the representation (or its default) with ``overrides`` applied."""
    rep_cls = get_representation(rep_name)
    name = preset or rep_cls.default_preset
    if name not in rep_cls.presets:
        raise UsageError(f"unknown preset {name!r} for {rep_name}; choose one of {', '.join(rep_cls.presets)}")
    base = TrainConfig(**rep_cls.presets[name])
    return base.replace(**overrides), name


@dataclass
class TrainResult:
    out: Path
    history: dict[str, Any]
    interrupted: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    trained: bool = True  # False: the bundle had its epochs already (--resume with nothing left to do)
    chief: bool = True  # False: a worker of a multi-worker run, which wrote nothing (the chief writes the bundle)
    written: bool = True  # False: this run wrote no bundle (interrupted before its first save: out unchanged)


def _history_template() -> dict[str, Any]:
    return {"loss": [], "val_loss": [], "seconds": [], "best_epoch": None, "best_val_loss": None}


def _check_parent_writable(path: Path) -> None:
    """Refuse an output whose folder cannot be created or written, before any long work."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MusegenError(f"cannot create {path.parent}: {exc.strerror}") from None
    if not os.access(path.parent, os.W_OK):
        raise MusegenError(f"{path.parent}: not writable")


def train(rep_name: str, corpus: str | os.PathLike, *, out: str | os.PathLike, config: TrainConfig,
          preset: str = "default", resume: bool = False, force: bool = False,
          resume_changes: dict[str, Any] | None = None, reporter: Reporter | None = None,
          devices: DeviceOptions | None = None, tensorboard: str | os.PathLike | None = None) -> TrainResult:
    """Train a network on ``corpus`` and write the bundle folder ``out``.

    The bundle is rewritten atomically at each improvement of the validation
    loss, so an interrupted run (Ctrl-C) leaves the best model so far;
    ``resume`` continues from it with the bundle's own settings, changed only
    by ``resume_changes`` (e.g. ``{"epochs": 40}``).  The run claims ``out``
    first (:func:`musegen.fileio.claim`): a second run into the same folder
    meanwhile is refused.  The bundle holds its training curves too
    (``history.png``); ``tensorboard`` names a folder for Keras's TensorBoard
    logs.

    ``devices`` (:class:`musegen.distribute.DeviceOptions`, default ``auto``)
    chooses the strategy: one device, every local GPU, or the workers
    ``TF_CONFIG`` names, each running the same call; ``config.batch_size`` is
    the global batch, split among the replicas.  Only the chief writes
    ``out`` and reports progress; the other workers train in step with it
    into a temporary folder they delete (:func:`_train_worker`).
    """
    from musegen.distribute import DeviceOptions, place

    reporter = reporter or Reporter()
    out = Path(out).absolute()
    get_representation(rep_name).resolve_corpus(corpus)  # a missing corpus is refused first
    placement = place(devices or DeviceOptions())  # before TensorFlow runs anything
    if not placement.chief:
        return _train_worker(rep_name, corpus, out=out, config=config, preset=preset, resume=resume,
                             resume_changes=resume_changes, placement=placement)
    _check_parent_writable(out)
    with claim(out):
        _check_output(out, resume=resume, force=force)
        return _train(rep_name, corpus, out=out, config=config, preset=preset, resume=resume,
                      resume_changes=resume_changes, reporter=reporter, placement=placement, tensorboard=tensorboard)


def _train_worker(rep_name: str, corpus: str | os.PathLike, *, out: Path, config: TrainConfig, preset: str,
                  resume: bool, resume_changes: dict[str, Any] | None, placement: Placement) -> TrainResult:
    """A worker other than the chief: it trains in step with the chief (every collective step needs it), saving
    into a temporary folder that it deletes, silently; ``--resume`` reads the bundle at ``out`` (shared, or copied
    to every worker)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="musegen-worker-") as tmp:
        scratch = Path(tmp) / "bundle"
        if resume:
            if not (out / "model.keras").is_file():
                raise MusegenError(f"{out}: nothing to resume on worker {placement.task.index if placement.task else 0}"
                                   " (every worker reads the bundle: share its folder or copy it to each machine)")
            shutil.copytree(out, scratch)
        result = _train(rep_name, corpus, out=scratch, config=config, preset=preset, resume=resume,
                        resume_changes=resume_changes, reporter=Reporter(), placement=placement)
    return TrainResult(out, result.history, interrupted=result.interrupted, summary=result.summary,
                       trained=result.trained, chief=False)


def _check_output(out: Path, *, resume: bool, force: bool) -> None:
    """Refuse an output folder that exists (without --resume or --force), a resume of nothing, a --force over a
    folder that is not a model bundle."""
    from musegen.models import check_bundle

    if os.path.lexists(out) and not (resume or force):
        raise MusegenError(f"{out} already exists (use --resume to continue training it, or --force to replace it)")
    if resume and not out.exists():
        raise MusegenError(f"{out}: nothing to resume (no such model folder)")
    if out.exists() and not resume:
        if not out.is_dir():
            raise MusegenError(f"{out} is a file, not a model folder")
        if any(out.iterdir()):
            check_bundle(out)  # --force replaces a model bundle, never another folder


def _train(rep_name: str, corpus: str | os.PathLike, *, out: Path, config: TrainConfig, preset: str, resume: bool,
           resume_changes: dict[str, Any] | None, reporter: Reporter, placement: Placement,
           tensorboard: str | os.PathLike | None = None) -> TrainResult:
    """The body of :func:`train`, once ``out`` is claimed and checked: the model is built (or loaded) and
    compiled inside the strategy's scope."""

    from musegen.distribute import fit, precision
    from musegen.formats.pictures import draw_history
    from musegen.models import build_model, load_bundle, restore_training_state, save_model

    history = _history_template()
    from musegen import backend

    keras = backend.keras()
    if resume:
        bundle = load_bundle(out, representation=rep_name, compile=True)
        # sizes, data and schedule come from the bundle; only what the user passed changes
        config = bundle.config.replace(**(resume_changes or {}))
        preset = load_json(out / "config.json").get("preset", preset)
        data = prepare(rep_name, corpus, config=config, reporter=reporter)
        if data.representation.get_config() != bundle.representation.get_config():
            raise MusegenError(f"{out}: the corpus does not match the one this model was trained on")
        with placement.scope(), precision(placement.mixed_precision):
            model = bundle.model
            restored = restore_training_state(model, out)
        if not restored and not int(model.optimizer.iterations):
            reporter.log(f"{out} holds no optimizer state: training goes on with a fresh one")
        history = {**history, **bundle.history}
    else:
        keras.utils.set_random_seed(config.seed)
        data = prepare(rep_name, corpus, config=config, reporter=reporter)
        spec = data.representation.input_spec()
        with placement.scope(), precision(placement.mixed_precision):
            model = build_model(spec, data.representation.head(), config)
    rep = data.representation
    train_tokens = data.train_arrays.steps
    if train_tokens < 3:
        raise MusegenError(f"{corpus}: too little music to train on")
    if config.seq_len >= train_tokens // 2:
        raise MusegenError(f"--seq-len {config.seq_len} is too long for this corpus ({train_tokens} training "
                           f"tokens); use at most {max(1, train_tokens // 2 - 1)}")
    val_x, val_y = validation_windows(data.valid_arrays, seq_len=config.seq_len, seed=config.seed,
                                      reporter=reporter)
    start_epoch = len(history["loss"])
    meta = {"representation": rep_name, "preset": preset, "corpus": str(corpus), "musegen": __version__,
            "summary": data.summary(), "devices": placement.describe()}

    saves: list[int] = []  # epochs at which this run wrote the bundle

    def save_bundle() -> None:
        saves.append(len(history["loss"]))
        with atomic_dir(out, force=True) as tmp:
            save_model(model, tmp)
            save_json(rep.get_config(), tmp / "representation.json")
            save_json({**config.to_dict(), **meta}, tmp / "config.json")
            save_json(history, tmp / "history.json")
            draw_history(history, tmp / "history.png", force=True)
            for name, blob in rep.bundle_files(data.train, data.valid).items():
                (tmp / name).write_bytes(blob)

    class Progress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.t0 = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()
            reporter.start(f"Epoch {epoch + 1}/{config.epochs}", steps_per_epoch, epoch=epoch + 1)

        def on_train_batch_end(self, batch, logs=None):
            reporter.update(1, loss=float((logs or {}).get("loss", math.nan)))

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            loss, val = float(logs.get("loss", math.nan)), float(logs.get("val_loss", math.nan))
            history["loss"].append(loss)
            history["val_loss"].append(val)
            history["seconds"].append(round(time.perf_counter() - self.t0, 2))
            best = history["best_val_loss"]
            improved = best is None or val < best
            if improved:
                history["best_val_loss"], history["best_epoch"] = val, epoch + 1
                save_bundle()
            else:
                save_history()
                if config.lr_decay < 1:
                    lr = self.model.optimizer.learning_rate
                    lr.assign(lr * config.lr_decay)
            reporter.finish(loss=loss, val_loss=val, improved=improved, epoch=epoch + 1)
            since = epoch + 1 - (history["best_epoch"] or 0)
            if config.patience and since >= config.patience:
                reporter.log(f"no improvement for {since} epochs: stopping")
                self.model.stop_training = True

    def save_history() -> None:
        if (out / "history.json").exists():
            tmp = out / ".history.json.part"
            save_json(history, tmp)
            os.replace(tmp, out / "history.json")
            draw_history(history, out / "history.png", force=True)

    # endless batches streamed from the shards; an epoch is (at least) the windows of one pass
    steps_per_epoch = max(1, math.ceil(windows_per_pass(data.train_arrays, seq_len=config.seq_len)
                                       / config.batch_size))
    if start_epoch >= config.epochs:
        return TrainResult(out, history, summary=meta["summary"], trained=False)
    interrupted = False
    # multi-worker: each worker makes its part of every batch (see distribute.fit_steps)
    train_data = functools.partial(stream_dataset, data.train_arrays, seq_len=config.seq_len,
                                   batch_size=config.batch_size, seed=config.seed + start_epoch)
    if placement.kind != "multi-worker":
        train_data = train_data()
    try:
        fit(placement, model, train_data, steps_per_epoch=steps_per_epoch, shuffle=False,
            validation_data=(val_x, val_y), batch_size=config.batch_size, epochs=config.epochs, initial_epoch=start_epoch, verbose=0,
            callbacks=[Progress(), *([keras.callbacks.TensorBoard(log_dir=str(tensorboard))] if tensorboard else [])])
    except KeyboardInterrupt:
        interrupted = True
    if not (out / "model.keras").exists():  # interrupted before the first epoch ended
        save_bundle()
    return TrainResult(out, history, interrupted=interrupted, summary=meta["summary"], written=bool(saves))


# -- sample ---------------------------------------------------------------------------------------------


@dataclass
class Generated:
    """Sequences decoded by the representation, with timing."""

    pieces: list[Any]
    tokens: int
    seconds: float


def engine_of(bundle) -> tuple[Any, Any]:
    """The module whose samplers step ``bundle``'s network (its ``engine``), and the network as they take it:
    :mod:`musegen.numpy_engine` and NumPy arrays, or :mod:`musegen.sampling` and the Keras model."""
    if bundle.engine == "numpy":
        from musegen import numpy_engine

        return numpy_engine, bundle.network
    from musegen import sampling

    return sampling, bundle.model


def generate_tokens(bundle, *, num: int, temperature: float, seed: int, max_length: int,
                    primer: np.ndarray, progress=None, **_: Any) -> Generated:
    """Sample ``num`` token sequences from a bundle with a token input and a softmax head.

    The pieces hold what was generated after the primer (decoded), not the primer.
    """
    engine, network = engine_of(bundle)
    rep = bundle.representation
    sampler = engine.TokenSampler(network, banned=rep.banned_ids())
    t0 = time.perf_counter()
    ids = sampler.generate(primer, num=num, max_length=max_length, temperature=temperature, seed=seed,
                           end_id=rep.end_id, progress=progress)
    seconds = time.perf_counter() - t0
    pieces, tokens = [], 0
    for row in ids:
        end = np.flatnonzero(row == rep.end_id)
        n = int(end[0]) + 1 if end.size else len(row)
        tokens += n
        pieces.append(rep.decode(row[:n]))
    return Generated(pieces, tokens, seconds)


def generate_vectors(bundle, *, num: int, temperature: float, seed: int, max_length: int, primer: np.ndarray,
                     progress=None, threshold: float = 0.0, **_: Any) -> Generated:
    """Generate ``max_length`` columns per piece from a bundle with a vector input.

    ``primer`` holds one primer per piece ``[shape=(num, steps, features)]``;
    each column is chosen by the representation's rule
    (:data:`musegen.rules.COLUMN_RULES`) and fed back in.
    """
    engine, network = engine_of(bundle)
    rep = bundle.representation
    sampler = engine.VectorSampler(network, rule=rep.column_rule)
    t0 = time.perf_counter()
    columns = sampler.generate(primer, max_length=max_length, temperature=temperature, seed=seed,
                               threshold=threshold, progress=progress)
    seconds = time.perf_counter() - t0
    return Generated([rep.decode(c) for c in columns], int(columns.shape[0] * columns.shape[1]), seconds)


def generate_stepped(bundle, *, num: int, temperature: float, seed: int, max_length: int, primer: Any,
                     progress=None, **_: Any) -> Generated:
    """Pieces of a representation that steps the network itself (its ``sample_steps``), all in one batch.

    The network is a :class:`musegen.sampling.NetworkStepper`: NumPy in and
    out, the recurrent state carried; draws come from a NumPy generator
    seeded with ``seed``, so the same seed gives the same pieces.
    """
    engine, network = engine_of(bundle)
    if len(primer) != num:
        raise MusegenError(f"{len(primer)} primed rows for {num} pieces")
    t0 = time.perf_counter()
    pieces, steps = bundle.representation.sample_steps(
        engine.NetworkStepper(network, num), primer, max_length=max_length, temperature=temperature,
        rng=np.random.default_rng(seed), progress=progress)
    return Generated(pieces, steps, time.perf_counter() - t0)


# input kind, or a representation's own ``generator`` -> generator; add an entry for a new way to generate
GENERATORS = {"tokens": generate_tokens, "vectors": generate_vectors, "stepped": generate_stepped}


def generate(bundle, **kwargs: Any) -> Generated:
    """Generate with the sampler the representation names, else the one that fits its input (see :data:`GENERATORS`),
    on the bundle's engine."""
    rep = bundle.representation
    engine, _ = engine_of(bundle)
    with engine.session(kwargs["num"]):
        return GENERATORS[rep.generator or rep.input_spec().kind](bundle, **kwargs)


# -- evaluate -------------------------------------------------------------------------------------------


def token_bits(model, arrays: list[np.ndarray], *, batch_size: int = 32) -> np.ndarray:
    """Bits of every token after the first of each sequence, given all before it.

    Sequences are run whole (state from the start of each piece), right-padded
    in batches of at most ``batch_size`` pieces and :data:`TOKEN_BATCH` tokens
    (long recordings go a few at a time); padding never affects earlier
    positions.

    Returns
    -------
    np.ndarray [shape=(sum(len(a) - 1),)]
    """
    from musegen import backend

    tf = backend.tf()

    order = sorted(range(len(arrays)), key=lambda i: len(arrays[i]))
    bits: list[np.ndarray] = [np.empty(0)] * len(arrays)
    s = 0
    while s < len(order):  # up to batch_size pieces, as many as hold TOKEN_BATCH tokens padded (one at least)
        e = s + 1
        while e < len(order) and e - s < batch_size and (e - s + 1) * len(arrays[order[e]]) <= TOKEN_BATCH:
            e += 1
        idx, s = order[s:e], e
        longest = max(len(arrays[i]) for i in idx)
        batch = np.zeros((len(idx), longest), dtype=np.int32)
        for r, i in enumerate(idx):
            batch[r, : len(arrays[i])] = arrays[i]
        logits = model(batch[:, :-1], training=False)
        logp = np.asarray(tf.nn.log_softmax(logits, axis=-1))
        for r, i in enumerate(idx):
            n = len(arrays[i]) - 1
            target = arrays[i][1:]
            bits[i] = -logp[r, np.arange(n), target] / math.log(2)
    return np.concatenate(bits) if bits else np.empty(0)


def select_candidates(rep: Representation, pieces: list[Any], *, candidates: int,
                      first: int = 1) -> list[tuple[Any, dict[str, Any]]]:
    """Check and repair each piece; keep one of every ``candidates`` consecutive ones, numbered from ``first``.

    The kept one is the first that passes the representation's checks after
    repair, else the one the representation ranks highest
    (:meth:`~musegen.representations.base.Representation.rank`).
    """
    chosen = []
    for i in range(len(pieces) // candidates):
        drawn = [rep.postprocess(p, index=first + i) for p in pieces[i * candidates:(i + 1) * candidates]]
        good = [d for d in drawn if d[1].get("valid", True)]
        chosen.append(good[0] if good else max(drawn, key=lambda d: rep.rank(d[1])))
    return chosen


@dataclass
class SampleResult:
    files: list[Path]
    tokens: int
    seconds: float
    pieces: list[dict[str, Any]]
    plan: SamplingPlan | None = None

    def to_json(self) -> dict[str, Any]:
        return {"files": [str(f) for f in self.files], "tokens": self.tokens, "seconds": round(self.seconds, 4),
                "tokens_per_second": round(self.tokens / self.seconds, 1) if self.seconds else None,
                "pieces": self.pieces}


def provenance(bundle, options: Settings, plan: SamplingPlan, *, seed: int, piece: int, num: int,
               command: str = "") -> dict[str, str]:
    """How a generated piece was made, as text fields every format can hold: musegen's version, the model,
    representation and engine, the seed, temperature and primer, the piece's place in the run and the command
    line that makes it again."""
    primer = getattr(options, "primer", None)
    made = {"musegen": __version__, "model": str(bundle.path), "representation": bundle.representation.name,
            "engine": bundle.engine, "seed": str(seed), "temperature": f"{plan.temperature:g}",
            "primer": "" if primer is None else str(primer), "piece": f"{piece} of {num}"}
    if command:
        made["command"] = command
    return made


SAMPLE_BUDGET = 1 << 30  # bytes the pieces of one batch may take while generated: more are made batch by batch
MAX_BATCH = 256  # pieces generated at once, at most


def sample_batches(rep: Representation, *, total: int, candidates: int, max_length: int) -> int:
    """Pieces generated at once: whole groups of ``candidates``, within :data:`SAMPLE_BUDGET` and :data:`MAX_BATCH`.

    A piece's steps are counted at twice their input's size in float32 (the
    steps themselves and what they are decoded into); a single piece that
    needs more than the budget is refused with the figures.
    """
    spec = rep.input_spec()
    per_step = 2 * 4 * (spec.size if spec.kind in ("vectors", "leading_vectors") else 2)
    per_piece = max_length * per_step
    if per_piece > SAMPLE_BUDGET:
        most = SAMPLE_BUDGET // per_step
        raise UsageError(f"{max_length:,} steps per piece would take {per_piece / 2**20:,.0f} MiB; a piece may take "
                         f"{SAMPLE_BUDGET / 2**20:,.0f} MiB ({most:,} steps of this model): ask for less")
    fit = max(1, min(MAX_BATCH, SAMPLE_BUDGET // per_piece) // candidates)
    return min(total, fit * candidates)


def batch_seed(seed: int, batch: int) -> int:
    """The seed of batch ``batch`` of a run: the run's own for the first, then one derived from it for each."""
    return seed if batch == 0 else (seed + batch * 1_000_003) % (MAX_SEED + 1)


def sample(bundle, options: Settings, *, num: int, seed: int, out: str | os.PathLike, formats: tuple[str, ...],
           force: bool = False, reporter: Reporter | None = None, command: str = "") -> SampleResult:
    """Generate ``num`` pieces, check and repair each, write them under ``out``.

    ``options`` are the representation's :attr:`SampleOptions`; its
    :meth:`plan_sampling` turns them into the primer, length, temperature
    and candidates of the run.  With ``candidates`` > 1, that many pieces
    are drawn (in the same batch) for each one written, and the first that
    passes the representation's checks after repair is kept (else the one
    with the most bars fitting).  Pieces are generated and written batch by
    batch (:func:`sample_batches`), so memory stays bounded however many
    are asked for; the first batch uses ``seed``, the next ones seeds derived
    from it (:func:`batch_seed`).  Every output path of a batch is checked
    before any of its files is written, so an existing file (without
    ``force``) stops the command before it is touched; a file that another
    run writes meanwhile is never overwritten either (see
    :func:`musegen.fileio.publish`).  Each file holds how it was made
    (:func:`provenance`; ``command`` is the command line that makes it again).
    """
    from musegen.formats.abc import sanitize_filename, unique_stem

    reporter = reporter or Reporter()
    rep = bundle.representation
    check_sampling(seed=seed, num=num)
    plan = rep.plan_sampling(bundle.path, options)
    check_sampling(temperature=plan.temperature, max_length=plan.max_length, candidates=plan.candidates)
    candidates = plan.candidates
    total = num * candidates
    size = sample_batches(rep, total=total, candidates=candidates, max_length=plan.max_length)
    starts = range(0, total, size)
    out = Path(out)
    taken: set[str] = set()
    files: list[Path] = []
    summaries: list[dict[str, Any]] = []
    tokens, seconds = 0, 0.0
    reporter.start(f"Sampling {num} piece(s)" + (f" x {candidates} candidates" if candidates > 1 else ""),
                   plan.max_length * len(starts))
    for batch, start in enumerate(starts):
        count = min(size, total - start)
        bseed = batch_seed(seed, batch)
        primer_array = rep.encode_primer(plan.primer, num=count, seed=bseed)
        gen = generate(bundle, num=count, temperature=plan.temperature, seed=bseed,
                       max_length=plan.max_length, primer=primer_array, progress=lambda n: reporter.update(n),
                       **plan.options)
        tokens, seconds = tokens + gen.tokens, seconds + gen.seconds
        chosen = select_candidates(rep, [rep.with_primer(plan.primer, piece) for piece in gen.pieces],
                                   candidates=candidates, first=start // candidates + 1)
        plans = []
        for i, (fixed, notes) in enumerate(chosen, start=start // candidates):
            notes["candidates"] = candidates
            stem = unique_stem(sanitize_filename(rep.title(fixed), default=f"{rep.name}_{i + 1}"), taken)
            plans.append((fixed, notes, out / stem))
        check_outputs([stem for _, _, stem in plans], formats, force=force)
        out.mkdir(parents=True, exist_ok=True)
        for fixed, notes, stem in plans:
            made = provenance(bundle, options, plan, seed=seed, piece=len(summaries) + 1, num=num, command=command)
            written = write_piece(rep, fixed, stem, formats=formats, force=force, provenance=made)
            files.extend(Path(f) for f in written["files"])
            summaries.append({**notes, **written})
    reporter.finish()
    return SampleResult(files, tokens, seconds, summaries, plan)


def check_outputs(stems: list[Path], formats: tuple[str, ...], *, force: bool) -> None:
    """Refuse, before anything is written, a file of ``stems`` in ``formats`` that exists (unless ``force``)."""
    for stem in stems:
        for fmt in formats:
            target = stem.with_name(f"{stem.name}.{fmt}")
            if os.path.lexists(target) and not force:
                raise OutputExists(f"{target} already exists (use --force to overwrite)")


def write_piece(rep: Representation, piece: Any, stem: Path, *, formats: tuple[str, ...], force: bool,
                provenance: dict[str, str]) -> dict[str, Any]:
    """Write ``piece`` as ``stem`` in each of ``formats``, with ``provenance`` inside.

    A format that cannot hold the piece (a tune with no notes has no MIDI, no
    renderer for the pictures) is skipped with its reason, and the others are
    written; a file that exists meanwhile stops the command (``OutputExists``).

    Returns
    -------
    {"files": paths written, "skipped": {format: reason}}
    """
    written, skipped = [], {}
    for fmt in formats:
        try:
            written.extend(rep.write(piece, stem, formats=(fmt,), force=force, provenance=provenance))
        except OutputExists:
            raise
        except MusegenError as exc:  # the file is named in the summary already: keep the reason only
            skipped[fmt] = str(exc).removeprefix(f"{stem.with_name(stem.name + '.' + fmt)}: ")
    return {"files": [str(w) for w in written], "skipped": skipped}
