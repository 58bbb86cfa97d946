"""Progress reporting: library code calls a Reporter; the CLI draws it."""

from __future__ import annotations

from typing import Any


class Reporter:
    """Progress sink; the default does nothing.  The CLI subclasses it with rich bars."""

    def start(self, task: str, total: int | None, **info: Any) -> None: ...

    def update(self, advance: int = 1, **info: Any) -> None: ...

    def finish(self, **info: Any) -> None: ...

    def log(self, message: str) -> None: ...
