"""Shared CLI pieces: the rich progress reporter, option types, output helpers."""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated, Any

import typer

from musegen.errors import UsageError
from musegen.progress import Reporter

STATE = {"debug": False}


def console(stderr: bool = True):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


class RichReporter(Reporter):
    """Draws each long step as a rich progress bar on stderr."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self._progress = None
        self._task = None
        self._name = ""
        self._console = console()
        # bars on a terminal; in a log, one line per finished epoch only
        self._bars = self._console.is_terminal

    def start(self, task: str, total: int | None, **info: Any) -> None:
        self._name = task
        if self.quiet or not self._bars:
            return
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.finish()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=self._console, transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(task, total=total, info="")

    def update(self, advance: int = 1, **info: Any) -> None:
        if self._progress is None:
            return
        self._progress.update(self._task, advance=advance, info=_describe(info))

    def finish(self, **info: Any) -> None:
        if not self.quiet and not self._bars and "val_loss" in info:
            self._console.print(f"{self._name}: loss {info['loss']:.4f}  val_loss {info['val_loss']:.4f}"
                                + ("  saved" if info.get("improved") else ""))
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        self._progress.update(self._task, total=task.total or 1, completed=task.total or 1)
        if info:
            text = _describe({k: v for k, v in info.items() if k in ("loss", "val_loss", "pieces")})
            if info.get("improved"):
                text += "  [green]saved[/green]"
            self._progress.update(self._task, info=text)
        self._progress.stop()
        self._progress = None

    def log(self, message: str) -> None:
        if not self.quiet:
            self._console.print(message)


def _describe(info: dict[str, Any]) -> str:
    """``loss 1.2345  pieces 340``: the fields shown beside a progress bar."""
    return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def parse_formats(text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``"abc,mid"`` -> ``("abc", "mid")``; refuse unknown formats."""
    formats = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()))
    if not formats:
        raise UsageError("--format needs at least one format")
    bad = [f for f in formats if f not in allowed]
    if bad:
        raise UsageError(f"unknown output format {bad[0]!r}; choose from {', '.join(allowed)}")
    return formats


class Optimizer(str, Enum):
    rmsprop = "rmsprop"
    adam = "adam"
    adagrad = "adagrad"
    adadelta = "adadelta"
    sgd = "sgd"


class Cell(str, Enum):
    lstm = "lstm"
    gru = "gru"


Force = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")]
