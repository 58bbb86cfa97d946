"""musegen sample REPRESENTATION: generate new pieces from a model bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Force, Json, RichReporter, default_model, emit_json, parse_formats

app = typer.Typer(help="Generate new pieces from a trained model.", no_args_is_help=True)


def read_primer(text: str) -> str:
    """A primer given as a file path, or as text with ``\\n`` escapes.

    Text that looks like a file name (a path separator or a file suffix, no
    line break) but names no file is refused rather than used as music.
    """
    from musegen.errors import UsageError
    from musegen.formats.abc import read_abc_text

    path = Path(text)
    if text and len(text) < 1024 and path.is_file():
        return read_abc_text(path)
    looks_like_path = "\n" not in text and "\\n" not in text and (
        "/" in text or path.suffix.lower() in (".abc", ".txt", ".mid"))
    if path.is_dir() or (looks_like_path and not path.exists()):
        raise UsageError(f"--primer {text}: no such file (give a file, or ABC text such as 'M:6/8\\nK:D\\n')")
    return text.replace("\\n", "\n").replace("\\t", "\t")


@app.command("abc")
def sample_abc(
    model: Annotated[Optional[Path], typer.Option(help="Model bundle [default: the shipped models/abc-jigs].")] = None,
    num: Annotated[int, typer.Option(help="Number of tunes.")] = 1,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0: always the likeliest character).")] = 0.8,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same tunes.")] = 0,
    max_length: Annotated[int, typer.Option(help="Most characters generated per tune.")] = 2000,
    primer: Annotated[str, typer.Option(help="Start of the tune: text (e.g. 'X:1\\nM:6/8\\nK:D\\n') or a file.")] = "X:",
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("out"),
    format: Annotated[str, typer.Option(help="Comma-separated: abc, mid, wav, musicxml.")] = "abc,mid",
    candidates: Annotated[int, typer.Option(
        help="Tunes drawn for each one written; the first whose every bar fits is kept (1: no choice).")] = 4,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Sample ABC tunes, check every bar, write .abc/.mid/.wav files named from the titles."""
    from musegen.models import load_bundle
    from musegen.pipeline import check_sampling, sample
    from musegen.representations.abc import AbcRepresentation

    formats = parse_formats(format, AbcRepresentation.output_formats)
    # refuse bad options before the model (and TensorFlow) is loaded
    check_sampling(temperature=temperature, seed=seed, num=num, max_length=max_length, candidates=candidates)
    bundle = load_bundle(model or default_model("abc-jigs"), representation="abc")
    reporter = RichReporter(quiet=json_out)
    result = sample(bundle, num=num, temperature=temperature, seed=seed, max_length=max_length,
                    primer=read_primer(primer), out=out, formats=formats, force=force, candidates=candidates,
                    reporter=reporter)
    if json_out:
        emit_json(result.to_json())
        return
    from rich.table import Table

    from musegen.cli.common import console

    drawn = len(result.pieces) * candidates
    table = Table(title=f"{len(result.pieces)} tune(s) kept of {drawn} drawn: {result.tokens} characters "
                        f"in {result.seconds:.2f} s")
    for col in ("title", "bars fitting", "repairs", "files"):
        table.add_column(col)
    for p in result.pieces:
        files = ", ".join(Path(f).name for f in p["files"])
        if p["skipped"]:
            files += " (not written: " + "; ".join(f"{k}: {v}" for k, v in p["skipped"].items()) + ")"
        table.add_row(p["title"], f"{p['bars_fitting']}/{p['bars']}", str(len(p["repairs"])), files)
    console(stderr=False).print(table)
