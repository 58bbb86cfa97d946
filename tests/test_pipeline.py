"""Generic pieces of the pipeline: splits, windows, configs, atomic output."""

from __future__ import annotations

import numpy as np
import pytest

from musegen.config import TrainConfig
from musegen.errors import MusegenError, UsageError
from musegen.fileio import atomic_path, write_text
from musegen.pipeline import split_pieces
from musegen.windows import token_windows


def test_split_is_seeded_and_by_piece():
    pieces = [f"tune {i}" for i in range(50)]
    a = split_pieces(pieces, valid_split=0.1, seed=3)
    b = split_pieces(pieces, valid_split=0.1, seed=3)
    c = split_pieces(pieces, valid_split=0.1, seed=4)
    assert a == b and a != c
    train, valid = a
    assert len(valid) == 5 and len(train) == 45 and not set(train) & set(valid)


def test_split_needs_two_pieces():
    with pytest.raises(MusegenError):
        split_pieces(["only"], valid_split=0.1, seed=0)


def test_token_windows_are_next_token_targets():
    arrays = [np.arange(1, 8), np.arange(10, 15)]
    x, y = token_windows(arrays, seq_len=4)
    stream = np.concatenate(arrays)
    assert x.shape == (2, 4)
    np.testing.assert_array_equal(x.ravel(), stream[:8])
    np.testing.assert_array_equal(y.ravel(), stream[1:9])


@pytest.mark.parametrize("field, value", [("units", 0), ("layers", -2), ("dropout", 1.0), ("optimizer", "nadam"),
                                          ("valid_split", 0.0), ("cell", "rnn"), ("clipnorm", -1.0)])
def test_config_refuses_bad_values(field, value):
    with pytest.raises(UsageError, match=str(value)):
        TrainConfig(**{field: value})


def test_config_json_round_trip():
    c = TrainConfig(layers=3, transpose=(-2, 2), extra={"a": 1})
    assert TrainConfig.from_dict(c.to_dict()) == c


def test_atomic_write_never_leaves_half_files(tmp_path):
    target = tmp_path / "x.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    write_text(target, "one")
    with pytest.raises(MusegenError, match="already exists"):
        write_text(target, "two")
    assert target.read_text() == "one"
    write_text(target, "two", force=True)
    assert target.read_text() == "two"


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    from musegen.fileio import atomic_dir

    target = tmp_path / "bundle"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("one")
    with atomic_dir(target, force=True) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"], "no temporary or old folder left"
    with pytest.raises(RuntimeError):
        with atomic_dir(target, force=True) as tmp:
            (tmp / "c.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
