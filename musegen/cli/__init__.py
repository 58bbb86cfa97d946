"""The musegen command line: a thin Typer layer over the library.

Each command parses and validates its options, then calls one library
function.  Errors a user can fix are printed as one line on stderr with exit
code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from musegen import __version__
from musegen.cli.common import STATE
from musegen.errors import MusegenError


class Interrupted(Exception):
    """Ctrl-C inside a command (Typer would turn it into a silent exit code)."""


class MusegenGroup(TyperGroup):
    """Runs the app and turns every error into one clear line on stderr."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # --debug shows where it struck
            raise Interrupted() from exc

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        STATE["debug"] = "--debug" in argv
        argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
        if STATE["debug"]:
            os.environ["MUSEGEN_DEBUG"] = "1"
        try:
            rv = super().main(args=argv, prog_name=prog_name or "musegen", complete_var=complete_var,
                              standalone_mode=False, **extra)
        except typer.Exit as exc:
            code = exc.exit_code
            if code == 130:  # Typer turns Ctrl-C into Exit(130)
                _fail("interrupted", 130)
        except typer.Abort:
            _fail("interrupted", 130)
        except TyperException as exc:  # bad options and arguments
            message = exc.format_message().strip()
            if not message:  # no arguments: the help was shown
                sys.exit(2)
            _fail(" ".join(message.split()), 2)
        except Interrupted:
            _fail("interrupted", 130)
        except MusegenError as exc:
            _fail(" ".join(str(exc).split()), 2)
        except OSError as exc:  # disk full, permission denied, read-only file system...
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(f"{where}{exc.strerror or exc}", 2)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:  # a bug: say so in one line, traceback behind --debug
            text = " ".join(str(exc).split())[:300]
            _fail(f"internal error: {type(exc).__name__}: {text} (run with --debug for the traceback)", 1)
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _fail(message: str, code: int):
    if STATE["debug"]:
        traceback.print_exc()
    sys.stderr.write(f"musegen: error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


app = typer.Typer(
    cls=MusegenGroup,
    name="musegen",
    help="Learn music from a corpus with LSTM networks and generate new pieces (ABC, MIDI, score, audio).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"musegen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """musegen: train LSTMs on music and sample new pieces."""


def _register() -> None:
    from musegen.cli import convert, evaluate, gallery, info, interpolate, models, prepare, sample, train

    # the commands written once: one sub-command per entry of the representations' registry
    for verb in (prepare, train, sample, evaluate):
        app.add_typer(verb.app, name=verb.__name__.rsplit(".", 1)[1])
    # one module per command; add an entry here
    app.command("convert")(convert.convert)
    app.command("gallery")(gallery.gallery)
    app.command("info")(info.info)
    app.command("models")(models.models)
    app.add_typer(interpolate.app, name="interpolate")


_register()


def main() -> None:
    app()
