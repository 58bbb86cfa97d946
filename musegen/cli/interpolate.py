"""musegen interpolate score A B: scores that move measure by measure from melody A to melody B.

The measure network's code book does the work (see
:mod:`musegen.representations.score.interpolate`); the files written are
those of ``musegen sample score``, with how they were made inside.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Force, Json, parse_formats
from musegen.errors import UsageError

app = typer.Typer(help="Interpolate between two pieces with a model's latent space (MusicVAE's signature).",
                  no_args_is_help=True)


@app.command("score")
def score(
    a: Annotated[Path, typer.Argument(metavar="A", help="The first melody: MusicXML, ABC (its first tune) or MIDI.")],
    b: Annotated[Path, typer.Argument(metavar="B", help="The last melody, in the same meter.")],
    model: Annotated[Path, typer.Option(
        help="A measure-network score model (e.g. from `musegen train score corpora/jigs --variant measure`).")],
    steps: Annotated[int, typer.Option(help="Scores written, A's rebuild first and B's last (2..64).")] = 5,
    key: Annotated[Optional[str], typer.Option(
        help="Key of every score, e.g. G, Em \\[default: A's for the first half, B's for the second].")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out"),
    format: Annotated[str, typer.Option(
        help="Comma-separated: musicxml (always written), mid, abc, wav (played), png, svg, pdf (sheet music).")]
    = "musicxml,mid,abc,png",
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Write STEPS scores that move measure by measure from melody A to melody B through the code book of a
    measure-network model: each measure of A and its counterpart in B are coded, and each score decodes a blend of
    the two (e.g. `musegen interpolate score a.abc b.musicxml --steps 5 --model models/score-measure`)."""
    from musegen.formats.theory import parse_key
    from musegen import __version__
    from musegen.models import load_bundle
    from musegen.paths import model_path
    from musegen.pipeline import check_outputs, write_piece
    from musegen.representations.score import ScoreRepresentation
    from musegen.representations.score.interpolate import check_steps, interpolate, read_endpoint

    check_steps(steps)  # refused before the model (and TensorFlow) is loaded
    wanted = parse_key(key) if key is not None else None
    formats = parse_formats(format, ScoreRepresentation.output_formats)
    formats = (*(f for f in ScoreRepresentation.required_formats if f not in formats), *formats)
    bundle = load_bundle(model_path(model, default=ScoreRepresentation.default_model), representation="score")
    rep = bundle.representation
    if rep.variant.name != "measure":
        raise UsageError(f"{bundle.path}: a {rep.variant.name} network has no code of a measure to interpolate; "
                         "use a measure-network model (musegen train score CORPUS --variant measure)")
    ends = read_endpoint(rep, a, label="A"), read_endpoint(rep, b, label="B")
    melodies = interpolate(rep, *ends, steps=steps, key=wanted)
    stems = [out / f"score_{i}" for i in range(1, steps + 1)]
    check_outputs(stems, formats, force=force)  # refuse before anything is written
    out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["musegen", *sys.argv[1:]])
    pieces = []
    for i, (melody, stem) in enumerate(zip(melodies, stems, strict=True), start=1):
        fixed, notes = rep.postprocess(melody, index=i)
        made = {"musegen": __version__, "model": str(bundle.path), "representation": "score",
                "interpolation": f"{i} of {steps}: {a} to {b}", "command": command}
        pieces.append({**notes, **write_piece(rep, fixed, stem, formats=formats, force=force, provenance=made)})
    from types import SimpleNamespace

    from musegen.cli.sample import show_result

    made = {"model": str(bundle.path), "a": str(a), "b": str(b), "steps": steps, "pieces": pieces}
    show_result(SimpleNamespace(pieces=pieces, to_json=lambda: made), json_out=json_out,
                title=f"{steps} score(s) from {a.name} to {b.name}, {len(melodies[0].measures)} measures each",
                columns=rep.summary_columns, row=rep.summary_row)

