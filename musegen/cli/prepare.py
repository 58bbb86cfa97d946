"""musegen prepare REPRESENTATION CORPUS: read, split, fit, encode and cache a corpus.

One command function, registered for every representation with its own
settings as options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


from musegen.cli.common import Json, RichReporter, console, emit_json
from musegen.cli.options import RegistryTyper, argument, command, param, settings_params
from musegen.cli.train import data_params, preset_param, resolve



def run_prepare(rep_cls, corpus: str, **values: Any) -> None:
    """Resolve the settings, prepare, print the summary: the body of every `prepare` command."""
    from musegen.pipeline import prepare

    json_out = values.pop("json_out")
    config, _, _, _ = resolve(rep_cls, values)
    data = prepare(rep_cls.name, corpus, config=config, reporter=RichReporter(quiet=json_out))
    summary = {**data.summary(), **data.representation.describe()}
    if data.keep is None:  # kept in the cache (not a temporary folder)
        summary["folder"] = str(data.folder)
    if json_out:
        emit_json(summary)
        return
    out = console(stderr=False)
    for k, v in summary.items():
        out.print(f"{k:>15}: {v}")


def make(rep_cls) -> Callable[..., Any]:
    """The function of ``musegen prepare NAME`` for the representation ``rep_cls``."""
    params = [argument("corpus", rep_cls.corpus_help), preset_param(rep_cls),
              *settings_params(rep_cls.Settings, unset=True), *data_params(rep_cls), param("json_out", Json, False)]
    return command(lambda corpus, **v: run_prepare(rep_cls, corpus, **v), params,
                                      name=f"prepare_{rep_cls.name}", doc=rep_cls.help_of("prepare"))


app = RegistryTyper(make, help="Read a corpus, split it, fit the representation and cache the result.", no_args_is_help=True)
