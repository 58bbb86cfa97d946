"""musegen models: the shipped model bundles, with their representation, corpus and size."""

from __future__ import annotations

from typing import Any

from musegen.cli.common import Json, console, emit_json


def models(json_out: Json = False) -> None:
    """List the shipped models: each name works as --model NAME (and with musegen info NAME)."""
    from rich.table import Table

    from musegen.config import load_json
    from musegen.paths import shipped_models
    from musegen.representations import REPRESENTATIONS

    defaults = {cls.default_model: name for name, cls in REPRESENTATIONS.items()}
    rows: list[dict[str, Any]] = []
    for name, path in shipped_models().items():
        config = load_json(path / "config.json")
        rows.append({
            "name": name,
            "representation": load_json(path / "representation.json").get("name"),
            "corpus": config.get("corpus"),
            "preset": config.get("preset"),
            "megabytes": round(sum(f.stat().st_size for f in path.iterdir() if f.is_file()) / 1e6, 1),
            "default_of": f"sample {defaults[name]}" if name in defaults else "",
            "path": str(path),
        })
    if json_out:
        emit_json(rows)
        return
    table = Table(title=f"{len(rows)} shipped model(s)")
    for col in ("name", "representation", "corpus", "MB", "default of"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["representation"], r["corpus"], f"{r['megabytes']:.1f}", r["default_of"])
    console(stderr=False).print(table)
