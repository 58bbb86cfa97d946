"""Prepared corpora on disk in shards, streamed to training through tf.data."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from musegen import shards as shards_module
from musegen.pipeline import prepare, resolve_config, split_pieces, train
from musegen.shards import ShardedArrays, ShardWriter
from musegen.windows import pass_windows, stream_dataset, windows_per_pass


def _pieces(rng, count=23, width=()):
    return [rng.integers(0, 50, size=(int(rng.integers(5, 40)), *width)).astype(np.int32) for _ in range(count)]


def _write(folder, pieces, shard_bytes):
    writer = ShardWriter(folder, "train", shard_bytes=shard_bytes)
    for p in pieces:
        writer.add(p)
    return writer.close()


@pytest.mark.parametrize("width", [(), (3,)])
def test_shards_give_back_every_piece_whole_and_in_order(tmp_path, rng, width):
    pieces = _pieces(rng, width=width)
    arrays = _write(tmp_path, pieces, shard_bytes=200 * int(np.prod(width or (1,))))
    assert len(arrays.shards) > 3  # a piece is never split: shards close after the piece that fills them
    assert len(arrays) == len(pieces) and arrays.steps == sum(len(p) for p in pieces)
    assert arrays.lengths().tolist() == [len(p) for p in pieces]
    for got, want in zip(arrays, pieces, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(arrays[7], pieces[7])
    rows, ends = arrays.read_shard(1)
    first = len(arrays.shards[0].ends)
    np.testing.assert_array_equal(rows, np.concatenate(pieces[first:first + len(ends)]))
    reopened = ShardedArrays.from_json(tmp_path, json.loads(json.dumps(arrays.to_json())))
    np.testing.assert_array_equal(reopened[-1], pieces[-1])


def test_a_truncated_or_renamed_shard_is_refused(tmp_path, rng):
    arrays = _write(tmp_path, _pieces(rng), shard_bytes=300)
    index = arrays.to_json()
    shard = tmp_path / arrays.shards[1].file
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(ValueError, match="not the size"):
        ShardedArrays.from_json(tmp_path, index)
    index["shards"][0]["file"] = "../elsewhere.bin"
    with pytest.raises(ValueError, match="not a shard file name"):
        ShardedArrays.from_json(tmp_path, index)


def test_a_pass_cuts_every_shard_into_next_step_windows(tmp_path, rng):
    pieces = [np.arange(i * 1000, i * 1000 + int(rng.integers(20, 60)), dtype=np.int32) for i in range(30)]
    arrays = _write(tmp_path, pieces, shard_bytes=400)
    seq_len = 8
    chunks = list(pass_windows(arrays, seq_len=seq_len, rng=np.random.default_rng(1)))
    assert len(chunks) == len(arrays.shards)
    windows = sum(len(x) for x, _ in chunks)
    assert windows_per_pass(arrays, seq_len=seq_len) <= windows <= windows_per_pass(arrays, seq_len=seq_len) + len(
        arrays.shards)
    owner = {int(v): s for s, shard in enumerate(arrays.shards) for v in arrays.read_shard(s)[0]}
    for x, y in chunks:
        assert x.shape[1:] == (seq_len,) and y.shape == x.shape
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x one step on
        for row in np.concatenate([x, y[:, -1:]], axis=1):
            assert len({owner[int(v)] for v in row}) == 1  # a window never joins two shards
    again = list(pass_windows(arrays, seq_len=seq_len, rng=np.random.default_rng(1)))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(chunks, again, strict=True))


def test_the_stream_gives_whole_shuffled_batches_and_the_same_from_every_iterator(tmp_path, rng, monkeypatch):
    from musegen import windows

    monkeypatch.setattr(windows, "SHUFFLE_WINDOWS", 5)  # far fewer than a shard's windows: they come shuffled
    pieces = _pieces(rng, count=40)
    arrays = _write(tmp_path, pieces, shard_bytes=2000)
    assert windows.shuffle_buffer(arrays, seq_len=6, batch_size=5) == 5 < len(arrays.read_shard(0)[0]) // 6 // 4
    dataset = stream_dataset(arrays, seq_len=6, batch_size=5, seed=3)
    first = [x.numpy() for x, _ in dataset.take(30)]
    second = [x.numpy() for x, _ in dataset.take(30)]
    assert all(b.shape == (5, 6) for b in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    # shuffled: windows from far apart in the corpus meet in one batch
    stream = np.concatenate(pieces)
    starts = {tuple(stream[i:i + 6]): i for i in range(len(stream) - 6)}
    spans = [np.ptp([starts[tuple(w)] for w in batch if tuple(w) in starts]) for batch in first]
    assert max(spans) > len(stream) // 4
    # a worker's part: its replicas' rows of every global batch, one element each in turn
    parts = [x.numpy() for x, _ in stream_dataset(arrays, seq_len=6, batch_size=5, seed=3, replicas=range(1, 3),
                                                 of=4).take(20)]
    bounds = np.linspace(0, 5, 5).round().astype(int)
    for i in range(10):
        np.testing.assert_array_equal(parts[2 * i], first[i][bounds[1]:bounds[2]])
        np.testing.assert_array_equal(parts[2 * i + 1], first[i][bounds[2]:bounds[3]])


def test_prepare_keeps_shards_on_disk_and_opens_them_again(tmp_path, small_corpus, monkeypatch):
    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shards_module, "SHARD_BYTES", 4096)
    config, _ = resolve_config("abc", preset="tiny", overrides={})
    data = prepare("abc", small_corpus, config=config)
    assert not data.cached and len(data.train_arrays.shards) > 2
    assert data.folder.parent == tmp_path / "cache" / "prepared" and (data.folder / "manifest.json").is_file()
    from musegen.representations import get_representation

    pieces = get_representation("abc")().read_corpus(small_corpus)
    train, valid = split_pieces(pieces, valid_split=config.valid_split, seed=config.seed)
    assert list(data.train) == train and list(data.valid) == valid
    encoded = [data.representation.encode(p).tolist() for p in train]
    stored = [a.tolist() for a in data.train_arrays]
    assert sorted(stored) == sorted(encoded) and stored != encoded  # every piece, in a seeded random order
    for got, piece in zip(data.valid_arrays, valid, strict=True):
        np.testing.assert_array_equal(got, data.representation.encode(piece))
    again = prepare("abc", small_corpus, config=config)
    assert again.cached and again.folder == data.folder
    assert [a.tolist() for a in again.train_arrays] == [a.tolist() for a in data.train_arrays]
    # a damaged entry is prepared again, not trusted
    shard = data.folder / data.train_arrays.shards[0].file
    shard.write_bytes(shard.read_bytes()[:10])
    rebuilt = prepare("abc", small_corpus, config=config)
    assert not rebuilt.cached and [a.tolist() for a in rebuilt.train_arrays] == [a.tolist() for a in
                                                                                 data.train_arrays]
    assert not list((tmp_path / "cache" / "prepared").glob(".*.part"))  # nothing left half-written


def test_training_streams_many_shards(tmp_path, small_corpus, monkeypatch):
    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(shards_module, "SHARD_BYTES", 4096)
    config, name = resolve_config("abc", preset="tiny", overrides={"epochs": 1})
    result = train("abc", small_corpus, out=tmp_path / "model", config=config, preset=name)
    assert len(result.history["loss"]) == 1 and np.isfinite(result.history["loss"][0])
    summary = json.loads((tmp_path / "model" / "config.json").read_text())["summary"]
    assert summary["shards"] > 2


def test_audio_is_read_one_piece_at_a_time(tmp_path, audio_corpus, monkeypatch):
    from musegen.formats import audio as audio_format
    from musegen.representations import get_representation

    read = []
    original = audio_format.read_audio
    monkeypatch.setattr(audio_format, "read_audio", lambda f, **kw: read.append(f) or original(f, **kw))
    rep = get_representation("audio")()
    pieces = rep.iter_corpus(audio_corpus)
    next(pieces)
    next(pieces)
    assert len(read) == 2  # the third file is not read before the third piece is asked for
    assert len(list(pieces)) + 2 == len(read) == len(list(audio_corpus.glob("*.wav")))


def test_one_recording_is_cut_into_pieces_of_30_seconds(tmp_path):
    import soundfile as sf

    from musegen.representations import get_representation

    t = np.arange(16000 * 70) / 16000
    sf.write(tmp_path / "long.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    pieces = list(get_representation("audio")().iter_corpus(tmp_path))
    assert [len(p) for p in pieces] == [16000 * 30, 16000 * 30, 16000 * 10]



def test_a_corpus_another_worker_published_first_is_used_and_kept(tmp_path, small_corpus, monkeypatch):
    import shutil

    from musegen import pipeline

    config, _ = resolve_config("abc", preset="tiny", overrides={})
    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "other"))
    theirs = prepare("abc", small_corpus, config=config).folder
    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "cache"))
    real = pipeline._prepare_into

    def slower(folder, *args, **kwargs):  # the other worker publishes while this one prepares
        done = real(folder, *args, **kwargs)
        shutil.copytree(theirs, tmp_path / "cache" / "prepared" / theirs.name)
        (tmp_path / "cache" / "prepared" / theirs.name / "theirs").write_text("")
        return done

    monkeypatch.setattr(pipeline, "_prepare_into", slower)
    data = prepare("abc", small_corpus, config=config)
    assert data.cached and (data.folder / "theirs").is_file()  # theirs opened, not replaced
    assert [p.name for p in (tmp_path / "cache" / "prepared").iterdir()] == [theirs.name]  # ours removed


def test_what_a_killed_prepare_left_is_removed_after_a_day(tmp_path, small_corpus, monkeypatch):
    import os
    import time

    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "cache"))
    prepared = tmp_path / "cache" / "prepared"
    old, recent = prepared / ".abc-0123.x1.part", prepared / ".abc-4567.x2.part"  # one may still be running
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "pieces-0000.bin").write_bytes(b"\0" * 64)
    os.utime(old, (time.time() - 2 * 24 * 3600,) * 2)
    config, _ = resolve_config("abc", preset="tiny", overrides={})
    prepare("abc", small_corpus, config=config)
    assert not old.exists() and recent.exists()


def test_validation_keeps_a_seeded_sample_of_held_out_pieces_where_they_are_many(tmp_path, rng, monkeypatch):
    from musegen import pipeline
    from musegen.progress import Reporter

    arrays = _write(tmp_path, _pieces(rng, count=60), shard_bytes=300)
    x, y = pipeline.validation_windows(arrays, seq_len=4, seed=0, reporter=Reporter())
    assert len(x) == (arrays.steps - 1) // 4  # all of them
    monkeypatch.setattr(pipeline, "VALID_BYTES", arrays.nbytes // 4)
    x, y = pipeline.validation_windows(arrays, seq_len=4, seed=0, reporter=Reporter())
    again, _ = pipeline.validation_windows(arrays, seq_len=4, seed=0, reporter=Reporter())
    assert 0 < x.nbytes <= arrays.nbytes // 4 and np.array_equal(x, again)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])


def test_a_broken_entry_another_worker_mended_meanwhile_is_kept(tmp_path, small_corpus, monkeypatch):
    import shutil

    from musegen import pipeline

    config, _ = resolve_config("abc", preset="tiny", overrides={})
    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "other"))
    theirs = prepare("abc", small_corpus, config=config).folder
    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "prepared" / theirs.name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{")  # broken: both workers find it so
    real = pipeline._prepare_into

    def slower(work, *args, **kwargs):  # the other worker replaces it with a good one while this one prepares
        done = real(work, *args, **kwargs)
        shutil.rmtree(folder)
        shutil.copytree(theirs, folder)
        (folder / "theirs").write_text("")
        return done

    monkeypatch.setattr(pipeline, "_prepare_into", slower)
    data = prepare("abc", small_corpus, config=config)
    assert data.cached and (folder / "theirs").is_file()  # theirs kept and opened
    assert [p.name for p in folder.parent.iterdir()] == [theirs.name]


def test_evaluation_reads_held_out_audio_from_disk_split_as_in_training(tiny_audio_model, audio_corpus, tmp_path,
                                                                         monkeypatch):
    """evaluate never holds an audio corpus: its pieces come from the prepared corpus where the cache has one,
    else from a temporary folder they are read into one at a time; either way split as training split them."""
    from musegen.models import load_bundle
    from musegen.pipeline import Pieces, held_out_pieces

    monkeypatch.setenv("MUSEGEN_CACHE", str(tmp_path / "cache"))
    bundle = load_bundle(tiny_audio_model)
    rep, config = bundle.representation, bundle.config
    pieces = rep.read_corpus(rep.resolve_corpus(audio_corpus))
    train, valid = split_pieces(pieces, valid_split=config.valid_split, seed=config.seed)

    def same(split):
        for got, want in ((split.pieces, pieces), (split.train, train), (split.valid, valid)):
            assert isinstance(got, Pieces) and len(got) == len(want)
            assert all(np.array_equal(a, b) for a, b in zip(got, want))

    spooled = held_out_pieces(rep, audio_corpus, config=config)  # nothing in the cache: read into a temporary folder
    same(spooled)
    folder = spooled.keep.name
    del spooled
    assert not (tmp_path / "cache" / "prepared").exists()
    prepare(rep.name, audio_corpus, config=config)
    monkeypatch.setattr(type(rep), "iter_corpus", lambda *a, **k: pytest.fail("read the corpus again"))
    cached = held_out_pieces(rep, audio_corpus, config=config)
    same(cached)
    assert cached.keep is None and str(cached.train.arrays.folder).startswith(str(tmp_path / "cache"))
    assert not os.path.exists(folder)  # the temporary folder went with its pieces
