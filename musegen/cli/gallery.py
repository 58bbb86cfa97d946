"""musegen gallery DIR: one HTML page that shows and plays every piece in DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from musegen.cli.common import Force, Json, emit_json


def gallery(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of pieces (e.g. the --out of musegen sample).")],
    fill: Annotated[bool, typer.Option(
        "--fill", help="First make each piece's missing picture and WAV from its ABC, MusicXML or MIDI.")] = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Write DIR/index.html: each piece's title, sheet music, piano roll or spectrogram, a player for its WAV,
    its ABC, links to its files and how it was made.  Relative links only: open it from file://, offline.

    A page musegen wrote is replaced; another index.html only with --force.
    """
    from musegen.gallery import build_gallery

    index, found, notes = build_gallery(folder, force=force, fill_missing=fill)
    if json_out:
        emit_json({"index": str(index), "pieces": [p.stem for p in found],
                   "players": sum(".wav" in p.files for p in found),
                   "pictures": sum(p.picture is not None for p in found), "notes": notes})
        return
    from musegen.cli.common import console

    out = console(stderr=False)
    for note in notes:
        console().print(f"note: {note}", markup=False)
    players = sum(".wav" in p.files for p in found)
    pictures = sum(p.picture is not None for p in found)
    out.print(f"{index}: {len(found)} piece(s), {pictures} picture(s), {players} player(s)", markup=False)
