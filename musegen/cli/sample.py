"""musegen sample REPRESENTATION: generate new pieces from a model bundle.

One command function, registered for every representation: the options
every run takes are below, the representation adds its own
(:attr:`~musegen.representations.base.Representation.SampleOptions`) and
says how its summary reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from musegen.cli.common import Force, Json, RichReporter, console, emit_json, parse_formats
from musegen.cli.options import RegistryTyper, command, param, settings_params, settings_values
from musegen.errors import UsageError
from musegen.paths import model_path



def show_result(result, *, json_out: bool, title: str, columns: tuple[str, ...], row) -> None:
    """The summary of ``sample``: JSON, or a table with ``row(piece)``'s cells then the files written."""
    if json_out:
        emit_json(result.to_json())
        return
    from rich.table import Table

    table = Table(title=title)
    for col in (*columns, "files"):
        table.add_column(col)
    for p in result.pieces:
        files = ", ".join(Path(f).name for f in p["files"])
        if p["skipped"]:
            files += " (not written: " + "; ".join(f"{k}: {v}" for k, v in p["skipped"].items()) + ")"
        table.add_row(*row(p), files)
    console(stderr=False).print(table)


def command_line(engine: str) -> str:
    """The command line as typed (``musegen sample ...``), quoted for a shell, with the engine that ran (the
    engines draw differently, and ``auto`` picks by the machine): it makes the same files again anywhere."""
    import shlex
    import sys

    args = ["musegen", *sys.argv[1:]]
    if not any(a == "--engine" or a.startswith("--engine=") for a in args):
        args += ["--engine", engine]
    return shlex.join(args)


def run_sample(rep_cls, *, model: Path | None, num: int, seed: int, out: Path, format: str, force: bool,
               json_out: bool, engine: str, **values: Any) -> None:
    """Check the options, load the model, sample, show the summary: the body of every `sample` command."""
    from musegen.config import check_sampling
    from musegen.models import load_bundle
    from musegen.pipeline import sample

    # refuse bad options before the model (and TensorFlow) is loaded
    options = rep_cls.SampleOptions.from_dict(settings_values(rep_cls.SampleOptions, values))
    formats = parse_formats(format, (*rep_cls.output_formats, "html"))
    page = "html" in formats  # not a file per piece: the gallery of OUT, refreshed at the end
    formats = tuple(f for f in formats if f != "html")
    if not formats:
        raise UsageError("--format html needs a format of the pieces too (e.g. --format abc,svg,wav,html)")
    missing = tuple(f for f in rep_cls.required_formats if f not in formats)
    check_sampling(seed=seed, num=num)
    if page:
        from musegen.gallery import check_index

        check_index(out, force=force)
    bundle = load_bundle(model_path(model, default=rep_cls.default_model), representation=rep_cls.name,
                         engine=engine)
    result = sample(bundle, options, num=num, seed=seed, out=out, formats=(*missing, *formats), force=force,
                    reporter=RichReporter(quiet=json_out), command=command_line(bundle.engine))
    rep = bundle.representation
    if page:
        from musegen.gallery import build_gallery

        index, _, _ = build_gallery(out, force=force)
        result.files.append(index)
    show_result(result, json_out=json_out, title=rep.summary_title(result, result.plan),
                columns=rep.summary_columns, row=rep.summary_row)


def make(rep_cls) -> Callable[..., Any]:
    """The function of ``musegen sample NAME`` for the representation ``rep_cls``."""
    noun = rep_cls.piece_noun
    formats = (rep_cls.format_help or f"Comma-separated: {', '.join(rep_cls.output_formats)}.") + \
        " Add html to refresh OUT/index.html, the gallery (musegen gallery)."
    params = [
        param("model", Annotated[Optional[Path], typer.Option(
            help=f"Model bundle: a folder, or a shipped model's name (musegen models) [default: {rep_cls.default_model}].")]),
        param("num", Annotated[int, typer.Option(help=f"Number of {noun}s.")], 1),
        param("seed", Annotated[int, typer.Option(help=f"Random seed: the same seed gives the same {noun}s.")], 0),
        *settings_params(rep_cls.SampleOptions, unset=False),
        param("out", Annotated[Path, typer.Option(help="Output folder.")], Path("out")),
        param("format", Annotated[str, typer.Option(help=formats)], rep_cls.default_formats),
        param("engine", Annotated[str, typer.Option(
            metavar="auto|numpy|tensorflow",
            help="What steps the network: numpy (no TensorFlow to start), tensorflow (compiled; a GPU), or auto: "
                 "tensorflow where there is a GPU, else numpy.")], "auto"),
        param("force", Force, False),
        param("json_out", Json, False),
    ]
    return command(lambda **v: run_sample(rep_cls, **v), params, name=f"sample_{rep_cls.name}",
                                      doc=rep_cls.help_of("sample"))


app = RegistryTyper(make, help="Generate new pieces from a trained model.", no_args_is_help=True)
