"""The gallery: DIR/index.html shows every piece (picture, player, ABC, downloads, provenance), relative links only.

The page is parsed with html.parser in every run; where Chromium is
installed it is also opened headless and every picture and player must load.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from helpers import assert_refused, run
from musegen.errors import MusegenError
from musegen.formats import MELODY_WRITERS, ROLL_WRITERS, ConvertOptions, write_tune
from musegen.gallery import build_gallery

TUNES = {
    "Proof_Jig": "X:1\nT:Proof Jig\nM:6/8\nL:1/8\nK:G\nGAB c2d|e3 d2B|GAB c3|B3 G3|]\n",
    "Second_Jig": "X:2\nT:Second & <Jig>\nM:6/8\nL:1/8\nK:D\nDFA d2c|B3 A3|dcB AFD|E3 D3|]\n",
}
FAST = dict(synth="builtin", sample_rate=8000)


def made(rep: str, seed: int) -> dict[str, str]:
    return {"musegen": "0.1.0", "model": f"models/{rep}", "representation": rep, "seed": str(seed),
            "temperature": "0.8", "primer": "", "command": f"musegen sample {rep} --seed {seed}"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """2 jigs (ABC, sheet music, WAV), 1 piano-roll piece, 1 audio clip, 1 score: 5 pictures, 5 players."""
    from musegen.formats.abc.player import abc_to_song
    from musegen.formats.melody import abc_to_melody
    from musegen.formats.pianoroll import song_to_roll
    from musegen.representations.audio import AUDIO_WRITERS

    out = tmp_path_factory.mktemp("gallery")
    for i, (stem, tune) in enumerate(TUNES.items()):
        write_tune(tune, out / stem, formats=("abc", "mid", "svg", "wav"), options=ConvertOptions(**FAST),
                   provenance=made("abc", i))
    roll = song_to_roll(abc_to_song(TUNES["Proof_Jig"])[0])
    for fmt in ("mid", "png", "wav"):
        ROLL_WRITERS[fmt](roll, out / f"midi_1.{fmt}", ConvertOptions(provenance=made("midi", 5), **FAST))

    class Rep:
        sample_rate, frame_seconds, overlap = 8000, 0.25, False

    audio = (0.3 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000)).astype(np.float32)
    for fmt in ("wav", "png"):
        AUDIO_WRITERS[fmt](Rep(), audio, out / f"audio_1.{fmt}", ConvertOptions(provenance=made("audio", 6)))
    melody = abc_to_melody(TUNES["Second_Jig"])
    for fmt in ("musicxml", "abc", "png", "wav"):  # a score written with its ABC too, as sample score does
        MELODY_WRITERS[fmt](melody, out / f"score_1.{fmt}", ConvertOptions(provenance=made("score", 7), **FAST))
    (out / ".hidden.wav").write_bytes(b"")  # left out
    return out


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.tags if t == tag]


def parse(index: Path) -> Page:
    page = Page()
    page.feed(index.read_text(encoding="utf-8"))
    return page


def test_the_page_shows_every_piece(folder):
    index, found, notes = build_gallery(folder)
    assert index == folder / "index.html" and notes == []
    assert [p.stem for p in found] == ["Proof_Jig", "Second_Jig", "audio_1", "midi_1", "score_1"]
    page = parse(index)
    links = [a["src"] for a in page.all("img") + page.all("audio")] + [a["href"] for a in page.all("a")]
    for link in links:
        assert not re.match(r"[a-z]+:", link) and not link.startswith("/"), link  # relative only
        assert (folder / unquote(link)).is_file(), link
    assert not re.search(r"https?://", index.read_text().replace('xmlns="http://www.w3.org', ""))
    wavs = sorted(p.name for p in folder.glob("*.wav") if not p.name.startswith("."))
    assert sorted(a["src"] for a in page.all("audio")) == wavs and len(wavs) == 5
    assert sorted(a["src"] for a in page.all("img")) == ["Proof_Jig.svg", "Second_Jig.svg", "audio_1.png",
                                                         "midi_1.png", "score_1.png"]
    assert len(page.all("article")) == 5
    text = "".join(page.text)
    for title in ("Proof Jig", "Second & <Jig>", "audio 1", "midi 1"):
        assert title in text
    assert "K:G\nGAB c2d|" in text  # the ABC text
    assert "musegen sample score --seed 7" in text and "musegen sample midi --seed 5" in text  # how it was made
    downloads = {a["href"] for a in page.all("a")}
    assert {"Proof_Jig.abc", "Proof_Jig.mid", "Proof_Jig.svg", "Proof_Jig.wav", "score_1.musicxml"} <= downloads
    assert ".hidden.wav" not in index.read_text()
    kinds = re.findall(r'<p class="kind">([^<]*)</p>', index.read_text())  # named by how each was made
    assert kinds[:5] == ["ABC tune", "ABC tune", "audio", "MIDI", "score"]


def test_a_foreign_index_is_kept_without_force(tmp_path, folder):
    work = tmp_path / "work"
    shutil.copytree(folder, work)
    (work / "index.html").write_text("<p>mine</p>")
    assert_refused(run("gallery", work), contains="not a musegen gallery")
    assert (work / "index.html").read_text() == "<p>mine</p>"
    r = run("gallery", work, "--force", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["players"] == 5 and summary["pictures"] == 5
    r = run("gallery", work)  # our own page: refreshed
    assert r.exit_code == 0, r.output
    assert not [p for p in work.iterdir() if ".part" in p.name]


def test_fill_makes_the_missing_picture_and_player(tmp_path):
    (tmp_path / "Proof_Jig.abc").write_text(TUNES["Proof_Jig"])
    index, found, notes = build_gallery(tmp_path, fill_missing=True)
    assert notes == [] and sorted(found[0].files) == [".abc", ".svg", ".wav"]
    page = parse(index)
    assert [a["src"] for a in page.all("audio")] == ["Proof_Jig.wav"]
    assert [a["src"] for a in page.all("img")] == ["Proof_Jig.svg"]


def test_bad_folders_are_one_line(tmp_path):
    assert_refused(run("gallery", tmp_path / "missing"), contains="no such folder")
    (tmp_path / "notes.txt").write_text("x")
    assert_refused(run("gallery", tmp_path), contains="no pieces")
    assert_refused(run("gallery", tmp_path / "notes.txt"), contains="not a folder")
    with pytest.raises(MusegenError):
        build_gallery(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_sample_html_refreshes_the_gallery(tmp_path):
    r = run("sample", "abc", "--num", "1", "--format", "abc,html", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    page = parse(tmp_path / "index.html")
    assert len(page.all("article")) == 1
    r = run("sample", "abc", "--num", "1", "--seed", "1", "--format", "abc,html", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert len(parse(tmp_path / "index.html").all("article")) == 2
    assert_refused(run("sample", "abc", "--format", "html", "--out", tmp_path), contains="--format html needs")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """<script>
const res = {pictures: {}, players: {}};
function show() { document.getElementById('probe').textContent = JSON.stringify(res); }
document.addEventListener('DOMContentLoaded', () => {
  const out = document.createElement('pre'); out.id = 'probe'; document.body.appendChild(out);
  for (const i of document.querySelectorAll('img')) {
    const src = i.getAttribute('src'), p = new Image(); res.pictures[src] = 'pending';
    p.onload = () => { res.pictures[src] = p.naturalWidth > 0 ? 'ok' : 'empty'; show(); };
    p.onerror = () => { res.pictures[src] = 'missing'; show(); };
    p.src = src;
  }
  for (const a of document.querySelectorAll('audio')) {
    const src = a.getAttribute('src'), p = new Audio(); res.players[src] = 'pending'; p.preload = 'metadata';
    p.addEventListener('loadedmetadata', () => { res.players[src] = p.duration > 0 ? 'ok' : 'empty'; show(); });
    p.addEventListener('error', () => { res.players[src] = 'missing'; show(); });
    p.src = src;
  }
  show();
});
</script>"""


def browse(index: Path) -> dict:
    """Open a copy of the page (with a probe script) in headless Chromium: what each picture and player did."""
    probe = index.with_name(".probe.html")
    probe.write_text(index.read_text(encoding="utf-8").replace("</head>", PROBE + "</head>"), encoding="utf-8")
    try:
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                               "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert match, done.stderr[-1000:]
    return json.loads(match.group(1))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium or chromium-browser installed")
def test_chromium_loads_every_picture_and_player(tmp_path, folder):
    work = tmp_path / "work"
    shutil.copytree(folder, work)
    index, _, _ = build_gallery(work)
    seen = browse(index)
    assert len(seen["pictures"]) == 5 and set(seen["pictures"].values()) == {"ok"}, seen
    assert len(seen["players"]) == 5 and set(seen["players"].values()) == {"ok"}, seen
    (work / "midi_1.wav").unlink()  # the probe does see a missing file
    assert browse(index)["players"]["midi_1.wav"] == "missing"
