"""Command-line options made from dataclasses, and commands made from a function and its options.

After spaCy's config overrides and Typer's dynamic commands: a
representation declares its options once, as the fields of a frozen
:class:`~musegen.config.Settings` dataclass (type, default, help), and every
command that takes them gets one Typer option per field.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer
from typer.models import CommandInfo

from musegen.config import Settings, base_type

KW = inspect.Parameter.KEYWORD_ONLY


def param(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    """One keyword parameter of a command: ``annotation`` is ``Annotated[type, typer.Option(...)]``."""
    return inspect.Parameter(name, KW, default=default, annotation=annotation)


def argument(name: str, help: str) -> inspect.Parameter:
    """The command's required positional argument ``name`` (a string)."""
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                             annotation=Annotated[str, typer.Argument(help=help)])


def settings_params(cls: type[Settings], *, unset: bool) -> list[inspect.Parameter]:
    """One option per field of ``cls``.

    With ``unset``, every option defaults to ``None`` (the value then comes
    from a preset or the dataclass) and ``--help`` shows the field's default;
    else the field's default is the option's.
    """
    hints = typing.get_type_hints(cls)
    params = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        kind = base_type(hints[f.name])
        decls = [meta["flag"]] if meta.get("flag") else []
        if kind is bool and not decls:
            dashed = f.name.replace("_", "-")
            decls = [f"--{dashed}/--no-{dashed}"]
        show = meta.get("show_default", True)
        if unset and show is True and f.default is not None:
            show = str(f.default).lower() if isinstance(f.default, bool) else str(f.default)
        choices = "|".join(meta.get("choices") or ()) or None  # checked by the dataclass, in its own words
        option = typer.Option(*decls, help=meta.get("help", ""), show_default=show, metavar=choices)
        params.append(param(f.name, Annotated[Optional[kind], option], None if unset else f.default))
    return params


def settings_values(cls: type[Settings], values: dict[str, Any]) -> dict[str, Any]:
    """The values given for ``cls``'s fields (``None``: not given)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def command(body: Callable[..., Any], params: list[inspect.Parameter], *, name: str, doc: str) -> Callable[..., Any]:
    """A Typer command of ``params`` whose call is ``body(**values)``."""

    def run(**values: Any) -> Any:
        return body(**values)

    for p in params:  # "[default: ...]" in a help text is words, not rich markup
        for info in getattr(p.annotation, "__metadata__", ()):
            if isinstance(getattr(info, "help", None), str):
                info.help = re.sub(r"(?<!\\)\[", r"\\[", info.help)
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__name__ = name
    run.__doc__ = doc
    return run


class RegistryTyper(typer.Typer):
    """A command (``prepare``, ``train``...) with one sub-command per entry of the representations' registry.

    ``make(rep_cls)`` makes the sub-command's function; it is made whenever
    the command line is built, so a representation added to
    :data:`musegen.representations.REPRESENTATIONS` has its commands with no
    edit here.
    """

    def __init__(self, make: Callable[[type], Callable[..., Any]], **kwargs: Any) -> None:
        self._make = make
        self._made: dict[str, tuple[type, CommandInfo]] = {}
        super().__init__(**kwargs)

    @property
    def registered_commands(self) -> list[CommandInfo]:  # type: ignore[override]
        from musegen.representations import REPRESENTATIONS

        for name, rep_cls in REPRESENTATIONS.items():
            if name not in self._made or self._made[name][0] is not rep_cls:
                self._made[name] = (rep_cls, CommandInfo(name=name, callback=self._make(rep_cls)))
        return [self._made[name][1] for name in REPRESENTATIONS]

    @registered_commands.setter
    def registered_commands(self, value: list[CommandInfo]) -> None:
        """Typer starts every app with an empty list; this one's list is the registry's."""
        if value:
            raise TypeError("the sub-commands of a RegistryTyper come from REPRESENTATIONS: add an entry there")
