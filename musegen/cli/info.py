"""musegen info [MODEL | FILE]: a model bundle's summary, or how a generated file was made."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Json, emit_json
from musegen.paths import model_path


def info(
    model: Annotated[Optional[Path], typer.Argument(
        metavar="[MODEL|FILE]",
        help="Model bundle: a folder, or a shipped model's name (musegen models) \\[default: abc-jigs]; or a file "
             "musegen sample wrote (.abc, .mid, .musicxml, .wav, .png, .svg, .pdf, .npz).")] = None,
    json_out: Json = False,
) -> None:
    """Show what a model bundle holds (representation, network, training run, losses), or how a generated file
    was made (model, representation, seed, temperature, primer, musegen version, the command that remakes it)."""
    from musegen.config import load_json
    from musegen.models import load_bundle

    if model is not None and model.is_file():
        _file_info(model, json_out=json_out)
        return

    path = model_path(model, default="abc-jigs")
    bundle = load_bundle(path)
    raw = load_json(bundle.path / "config.json")
    h = bundle.history
    spec = bundle.representation.input_spec()
    summary = {
        "model": str(bundle.path),
        "representation": bundle.representation.name,
        "preset": raw.get("preset"),
        "corpus": raw.get("corpus"),
        "input": f"{spec.kind} x {spec.size}",
        "network": f"{bundle.config.layers} x {bundle.config.cell.upper()} {bundle.config.units}"
                   + _input_layer(spec.kind, bundle.config.embedding)
                   + (f", dropout {bundle.config.dropout}" if bundle.config.dropout else ""),
        **bundle.representation.describe(),
        "parameters": bundle.parameters(),
        "training": f"{bundle.config.optimizer} lr {bundle.config.lr}, seq {bundle.config.seq_len}, "
                    f"batch {bundle.config.batch_size}, clipnorm {bundle.config.clipnorm}",
        "epochs": len(h.get("loss", [])),
        "best_epoch": h.get("best_epoch"),
        "best_val_loss": h.get("best_val_loss"),
        "train_seconds": round(sum(h.get("seconds", [])), 1),
        "pieces": raw.get("summary", {}).get("pieces"),
        "files": sorted(p.name for p in bundle.path.iterdir() if not p.name.startswith(".")),
    }
    if json_out:
        emit_json(summary)
        return
    from musegen.cli.common import console

    out = console(stderr=False)
    for k, v in summary.items():
        out.print(f"{k:>15}: {', '.join(v) if isinstance(v, list) else v}")


def _input_layer(kind: str, size: int) -> str:
    """How the input enters the network: an embedding or one-hot ids, a projection or raw vectors."""
    if kind == "tokens":
        return f", embedding {size}" if size else ", one-hot"
    return f", projection {size}" if size else ""


def _file_info(path: Path, *, json_out: bool) -> None:
    """The provenance written into a generated file, or one line when it holds none."""
    from musegen.errors import MusegenError
    from musegen.formats.provenance import read_provenance

    made = read_provenance(path)
    if not made:
        raise MusegenError(f"{path}: holds no provenance (musegen sample writes one; convert copies none)")
    if json_out:
        emit_json({"file": str(path), "provenance": made})
        return
    from musegen.cli.common import console

    out = console(stderr=False)
    out.print(f"{'file':>15}: {path}", markup=False, soft_wrap=True)
    for key, value in made.items():
        shown = value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\r", "\\r").replace("\n", "\\n")
        out.print(f"{key:>15}: {shown}", markup=False, soft_wrap=True)  # one line each
