"""musegen train REPRESENTATION CORPUS: train a network and write a model bundle.

One command function, registered for every representation: the training
options below are the same for all, the representation adds its own
settings (:attr:`~musegen.representations.base.Representation.Settings`).
"""

from __future__ import annotations

import importlib.util
from enum import Enum
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from musegen.cli.common import Cell, Json, Optimizer, RichReporter, emit_json, Force
from musegen.cli.options import RegistryTyper, argument, command, param, settings_params, settings_values
from musegen.distribute import STRATEGIES
from musegen.errors import UsageError

Strategy = Enum("Strategy", {s.replace("-", "_"): s for s in STRATEGIES}, type=str)  # --strategy's choices



def parse_transpose(text: str) -> tuple[int, ...]:
    """``"-2,2"`` or ``"-3..3"`` -> semitone shifts."""
    text = text.strip()
    if not text:
        return ()
    try:
        if ".." in text:
            lo, hi = (int(v) for v in text.split(".."))
            return tuple(s for s in range(lo, hi + 1) if s)
        return tuple(int(v) for v in text.split(",") if v.strip() and int(v))
    except ValueError:
        raise UsageError(f"--transpose takes semitone shifts like '-2,2' or '-3..3', got {text!r}") from None


def _opt(kind: Any, help: str, **extra: Any) -> Any:
    return Annotated[Optional[kind], typer.Option(help=help, **extra)]


# the network and schedule options of every `train` command: name -> annotation (default None: the preset's)
NETWORK_OPTIONS = {
    "layers": _opt(int, "Stacked recurrent layers."),
    "units": _opt(int, "Units per layer."),
    "cell": _opt(Cell, "Recurrent cell."),
    "embedding": None,  # named and explained by each representation (embedding or projection)
    "dropout": _opt(float, "Dropout between layers."),
    "seq_len": _opt(int, "Steps per training window (BPTT length)."),
    "batch_size": _opt(int, "Windows per batch: the global batch, split among the replicas of a --strategy "
                            "mirrored or multi-worker run."),
    "epochs": _opt(int, "Training epochs."),
    "optimizer": _opt(Optimizer, "Optimizer."),
    "lr": _opt(float, "Learning rate."),
    "clipnorm": _opt(float, "Clip gradients to this norm (0: off)."),
}
# the options that choose the data: every `prepare` and `train` command
DATA_OPTIONS = {
    "valid_split": _opt(float, "Share of pieces held out for validation."),
    "seed": _opt(int, "Seed of the split, weights and batches."),
    "transpose": _opt(str, "Semitone shifts added as augmentation ('-2,2')."),
}
PATIENCE = _opt(int, "Stop after this many epochs with no improvement (0: never).")
# where training runs (not saved as settings: a --resume may run elsewhere)
DEVICE_OPTIONS = {
    "strategy": (Annotated[Strategy, typer.Option(
        help="single: one device; mirrored: every local GPU (or the --cpu-replicas); multi-worker: the machines "
             "TF_CONFIG names, each running this same command (worker 0 writes the model); auto: multi-worker "
             "where TF_CONFIG names a cluster, mirrored where there are several GPUs, else single.")],
                 Strategy.auto),
    "cpu_replicas": (Annotated[int, typer.Option(
        help="Split the CPU into this many devices for --strategy mirrored (0: off): the mirrored path "
             "without GPUs, for tests.")], 0),
    "mixed_precision": (Annotated[bool, typer.Option(
        "--mixed-precision", help="Compute in float16 on GPUs (weights and the output head stay float32); "
                                  "refused without a GPU.")], False),
}
CONFIG_NAMES = {*NETWORK_OPTIONS, *DATA_OPTIONS, "patience"}  # the options that are fields of TrainConfig


def preset_param(rep_cls) -> Any:
    names = ", ".join(rep_cls.presets)
    return param("preset", _opt(str, f"Starting settings: {names} (study: the 2017 study; tiny: seconds).",
                                show_default=rep_cls.default_preset))


def data_params(rep_cls) -> list:
    return [param(k, v) for k, v in DATA_OPTIONS.items() if k != "transpose" or rep_cls.transposable]


def resolve(rep_cls, values: dict[str, Any]):
    """The training configuration of a command's values: the preset, then the options given."""
    from musegen.pipeline import resolve_config

    extra = {k: v for k, v in settings_values(rep_cls.Settings, values).items() if v is not None}
    overrides = {k: (v.value if isinstance(v, Enum) else v) for k, v in values.items() if k in CONFIG_NAMES}
    if overrides.get("transpose") is not None:
        overrides["transpose"] = parse_transpose(overrides["transpose"])
    overrides["embedding"] = values.get(rep_cls.embedding_option[0])
    rep_cls.Settings.from_dict(extra)  # refuse a bad setting before anything is read
    preset = values.get("preset") or rep_cls.preset_for(extra)
    config, preset_name = resolve_config(rep_cls.name, preset=preset, overrides=overrides)
    if extra:
        config = config.replace(extra={**config.extra, **extra})
    given = {k: v for k, v in overrides.items() if v is not None}
    return config, preset_name, given, extra


def run_train(rep_cls, corpus: str, **values: Any) -> None:
    """Resolve the settings, train, report: the body of every `train` command."""
    from musegen.distribute import DeviceOptions
    from musegen.pipeline import train

    json_out, resume, force = values.pop("json_out"), values.pop("resume"), values.pop("force")
    devices = DeviceOptions(strategy=values.pop("strategy").value, cpu_replicas=values.pop("cpu_replicas"),
                            mixed_precision=values.pop("mixed_precision"))
    out, tensorboard = values.pop("out"), values.pop("tensorboard")
    if tensorboard is not None and importlib.util.find_spec("tensorboard") is None:
        raise UsageError("--tensorboard writes logs with the tensorboard package: pip install 'musegen[tensorboard]'")
    config, preset_name, given, extra = resolve(rep_cls, values)
    stem = corpus.split(":", 1)[1] if corpus.startswith("music21:") else Path(corpus).stem
    out = out or Path("models") / f"{rep_cls.name}-{stem}"
    reporter = RichReporter(quiet=json_out)
    # on --resume the bundle's own settings hold; only what was given here changes
    if resume and (set(given) - {"epochs", "patience"} or values.get("preset") or extra):
        raise UsageError("with --resume only --epochs and --patience may change; the rest comes from the bundle")
    result = train(rep_cls.name, corpus, out=out, config=config, preset=preset_name, resume=resume, force=force,
                   resume_changes=given, reporter=reporter, devices=devices, tensorboard=tensorboard)
    h = result.history
    summary = {"model": str(result.out), "epochs": len(h["loss"]), "best_epoch": h["best_epoch"],
               "best_val_loss": h["best_val_loss"], "interrupted": result.interrupted, **result.summary}
    if json_out:
        emit_json({**summary, "trained": result.trained, "chief": result.chief})
    elif not result.chief:
        pass  # a multi-worker run's other workers stay quiet: the chief reports and writes the model
    elif not result.trained:
        reporter.log(f"nothing to do: {result.out} has trained {len(h['loss'])} epochs already "
                     "(give --resume a larger --epochs)")
    elif result.interrupted and not result.written:
        reporter.log(f"interrupted before the first epoch ended: nothing written ({result.out} is as it was)")
    else:
        msg = "interrupted; " if result.interrupted else ""
        unit = rep_cls.loss_unit_of(config.extra)
        reporter.log(f"{msg}model written to {result.out} (best validation loss {h['best_val_loss']:.4f} "
                     f"{unit} at epoch {h['best_epoch']})" if h["best_val_loss"] is not None
                     else f"{msg}model written to {result.out}")
    if result.interrupted:
        raise typer.Exit(130)


def make(rep_cls) -> Callable[..., Any]:
    """The function of ``musegen train NAME`` for the representation ``rep_cls``."""
    embedding, embedding_help = rep_cls.embedding_option
    network = [param(embedding, _opt(int, embedding_help)) if k == "embedding" else param(k, v)
               for k, v in NETWORK_OPTIONS.items()]
    params = [
        argument("corpus", rep_cls.corpus_help),
        param("out", Annotated[Optional[Path], typer.Option(
            help="Bundle folder to write [default: models/REPRESENTATION-CORPUS].")]),
        preset_param(rep_cls),
        *settings_params(rep_cls.Settings, unset=True),
        *network,
        *data_params(rep_cls),
        param("patience", PATIENCE),
        *(param(k, annotation, default) for k, (annotation, default) in DEVICE_OPTIONS.items()),
        param("resume", Annotated[bool, typer.Option("--resume", help="Continue training the bundle at --out.")],
              False),
        param("tensorboard", Annotated[Optional[Path], typer.Option(
            help="Also write Keras TensorBoard logs to this folder (the bundle always gets history.png).")]),
        param("force", Force, False),
        param("json_out", Json, False),
    ]
    return command(lambda corpus, **v: run_train(rep_cls, corpus, **v), params,
                                      name=f"train_{rep_cls.name}", doc=rep_cls.help_of("train"))


app = RegistryTyper(make, help="Train a network on a corpus and write a model bundle folder.", no_args_is_help=True)
