"""User-facing errors.

Library code raises :class:`MusegenError` for anything a user can fix (a missing
file, a corrupt model, a nonsense option).  The CLI turns it into one line on
stderr and exit code 2; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations


class MusegenError(Exception):
    """An error caused by the user's input, reported as one clear line."""


class UsageError(MusegenError):
    """A bad option value or an unsupported request."""


class OutputExists(MusegenError):
    """An output file or folder is there already (and ``--force`` was not given)."""
