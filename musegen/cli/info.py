"""musegen info [MODEL]: a model bundle's summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from musegen.cli.common import Json, emit_json
from musegen.paths import model_path


def info(
    model: Annotated[Optional[Path], typer.Argument(
        help="Model bundle: a folder, or a shipped model's name (musegen models) \\[default: abc-jigs].")] = None,
    json_out: Json = False,
) -> None:
    """Show what a model bundle holds: representation, network, training run, losses."""
    from musegen.config import load_json
    from musegen.models import load_bundle

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
        "parameters": int(bundle.model.count_params()),
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
