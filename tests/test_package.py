"""The package as a user installs it: the wheel carries the shipped models and corpus, and finds them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import run

from musegen.representations import REPRESENTATIONS

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ("model.keras", "representation.json", "config.json")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout (no dependencies installed, no build isolation)."""
    src = tmp_path_factory.mktemp("src")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("musegen", "models", "corpora", "tests"):
        shutil.copytree(ROOT / name, src / name, ignore=skip)
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    (src / "models" / "abc-jigs" / "training_state.npz").write_bytes(b"optimizer state: not for the wheel")
    shutil.copytree(src / "models" / "abc-jigs", src / "models" / "mine")  # trained in the checkout: stays there
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(src)], check=True, capture_output=True)
    (found,) = out.glob("musegen-*.whl")
    return found


def test_the_wheel_carries_every_default_model_and_the_corpus_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for rep in REPRESENTATIONS.values():
        for f in BUNDLE:
            assert f"musegen/data/models/{rep.default_model}/{f}" in names
    for f in ("jigs.abc", "LICENSE.md", "SOURCE.md"):
        assert f"musegen/data/corpora/jigs/{f}" in names
    assert "musegen/__main__.py" in names and "musegen/representations/score/measure.py" in names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.endswith("training_state.npz") or "/." in n]
    shipped = (ROOT / "models" / "SHIPPED.txt").read_text().split()
    assert {n.split("/")[3] for n in names if n.startswith("musegen/data/models/")} == set(shipped)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "musegen = musegen.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
    assert wheel.stat().st_size < 60e6


def test_installed_apart_it_finds_its_models_from_any_folder(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import json, musegen, musegen.paths as p; "
            "print(json.dumps([musegen.__file__, str(p.shipped_dir()), sorted(p.shipped_models()), "
            "sorted(p.shipped_corpora())]))")
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    found = json.loads(subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, check=True,
                                      capture_output=True, text=True).stdout)
    assert found[0].startswith(str(site)) and found[1] == str(site / "musegen" / "data")
    assert {rep.default_model for rep in REPRESENTATIONS.values()} <= set(found[2]) and found[3] == sorted(d.name for d in (ROOT / "corpora").iterdir() if d.is_dir())
    version = subprocess.run([sys.executable, "-m", "musegen", "--version"], cwd=elsewhere, env=env,
                             capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("musegen ")
    made = subprocess.run([sys.executable, "-m", "musegen", "sample", "abc", "--num", "1", "--max-length", "200",
                           "--format", "abc", "--out", "tunes", "--json"], cwd=elsewhere, env=env,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    (tune,) = json.loads(made.stdout)["files"]
    assert (elsewhere / tune).read_text().startswith("X:")  # made with the shipped model the wheel carries
    completion = {**env, "_MUSEGEN_COMPLETE": "complete_bash", "COMP_WORDS": "musegen sample m", "COMP_CWORD": "2"}
    words = subprocess.run([sys.executable, "-m", "musegen"], cwd=elsewhere, env=completion, capture_output=True,
                           text=True)
    assert words.stdout.split() == ["midi"]


def test_models_lists_the_shipped_bundles_and_a_name_works_as_model():
    r = run("models", "--json")
    assert r.exit_code == 0, r.output
    listed = {m["name"]: m for m in json.loads(r.stdout)}
    for name, rep in REPRESENTATIONS.items():
        assert listed[rep.default_model]["representation"] == name
        assert listed[rep.default_model]["default_of"] == f"sample {name}"
    assert listed["midi-bach"]["corpus"] == "music21:bach" and listed["abc-jigs"]["megabytes"] < 20
    r = run("info", "abc-jigs", "--json")
    assert r.exit_code == 0, r.output
    assert Path(json.loads(r.stdout)["model"]).resolve() == (ROOT / "models" / "abc-jigs").resolve()


def test_a_shipped_corpus_is_found_by_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no folder called jigs here
    r = run("prepare", "abc", "jigs", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["pieces"] == 340


def test_python_m_musegen_and_shell_completion(tmp_path):
    r = subprocess.run([sys.executable, "-m", "musegen", "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip().startswith("musegen ")
    env = {**__import__("os").environ, "_MUSEGEN_COMPLETE": "complete_bash", "COMP_WORDS": "musegen sample m",
           "COMP_CWORD": "2"}
    r = subprocess.run([sys.executable, "-m", "musegen"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.stdout.split() == ["midi"]
