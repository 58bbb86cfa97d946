"""Safe file output: write to a temporary name, then rename.

Nothing half-written is ever left at the destination, and an existing file is
never replaced unless ``force`` is set: without it, the finished file is
published with a create-exclusive step (a hard link, or ``renameat2`` with
``RENAME_NOREPLACE`` for a folder), so that of two runs writing the same path
at the same time one wins and the other is refused, never silently
overwritten.  A symbolic link at the output counts as a file there (even a
dangling one); a bundle folder reached through a link is rewritten where the
link points, and the link stays.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from musegen.errors import MusegenError, OutputExists


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def already_exists(path: Path) -> OutputExists:
    return OutputExists(f"{path} already exists (use --force to overwrite)")


# a temporary that atomic_path (or another tool) leaves while writing: NAME.part, NAME.part12, NAME.part.abc
TEMPORARY = re.compile(r"\.part\d*(\.[^.]+)?$")


def input_file(path: str | os.PathLike, *, what: str = "file") -> Path:
    """``Path(path)`` when it is a regular file, else a one-line refusal.

    Parameters
    ----------
    path : path-like
    what : str
        What the file is, for the message ("no such SoundFont file").

    Raises
    ------
    MusegenError
        "no such file", "a folder, not a file", or "not a regular file" (a
        FIFO, a device, a socket: reading one could block or never end).
    """
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise MusegenError(f"{path}: a folder, not a {what}")
    if path.exists():
        raise MusegenError(f"{path}: not a regular file")
    raise MusegenError(f"{path}: no such {what}")


def is_listed(path: Path, root: Path) -> bool:
    """Whether a file found under the folder ``root`` belongs to a corpus.

    Hidden files, files inside hidden folders (both relative to ``root``) and
    the ``*.part`` / ``*.part.EXT`` temporaries of an unfinished write are left
    out, and so is anything but a regular file.
    """
    parts = path.relative_to(root).parts
    if any(part.startswith(".") or TEMPORARY.search(part) for part in parts):
        return False
    return path.is_file()


def folder_files(folder: str | os.PathLike, suffixes: Iterable[str]) -> list[Path]:
    """The regular files under ``folder`` (recursive, sorted) whose suffix is one of ``suffixes``.

    Hidden files and folders and ``*.part`` temporaries are skipped (see
    :func:`is_listed`); symbolic links to folders are not followed.
    """
    folder = Path(folder)
    wanted = {s.lower() for s in suffixes}
    files = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not TEMPORARY.search(d)]
        for name in names:
            path = Path(top, name)
            if path.suffix.lower() in wanted and is_listed(path, folder):
                files.append(path)
    return sorted(files)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (its type name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


@contextlib.contextmanager
def output_errors(path: str | os.PathLike, *errors: type[BaseException]) -> Iterator[None]:
    """Report a failed write of ``path`` in one line: ``"x.wav: No space left on device"``.

    Wrap the whole write (the ``atomic_path`` block): an ``OSError`` (disk
    full, permission denied, read-only file system) and any of ``errors`` (a
    library's own write error, such as soundfile's ``LibsndfileError``)
    become a :class:`MusegenError` naming ``path``, not the temporary.
    """
    try:
        yield
    except MusegenError:
        raise
    except OSError as exc:
        raise MusegenError(f"{path}: {exc.strerror or one_line(exc)}") from None
    except errors as exc:
        reason = getattr(exc, "error_string", None) or one_line(exc)
        raise MusegenError(f"{path}: cannot write the file ({reason})") from None


def path_files(path: str | os.PathLike, suffixes: Iterable[str], *, what: str) -> list[Path]:
    """``[path]`` for a file; the files of the folder ``path`` whose suffix is one of ``suffixes`` (see
    :func:`folder_files`); a one-line refusal when nothing is there or the folder holds no ``what``."""
    path = Path(path)
    if path.is_dir():
        files = folder_files(path, suffixes)
        if not files:
            raise MusegenError(f"{path}: no {what} in this folder")
        return files
    if not path.exists():
        raise MusegenError(f"{path}: no such file or folder")
    return [path]


def check_input(path: Path) -> Path:
    """Refuse an input that is missing, or that is neither a folder nor a regular file (a FIFO, a device)."""
    if not path.exists():
        raise MusegenError(f"{path}: no such file or folder")
    if not (path.is_file() or path.is_dir()):
        raise MusegenError(f"{path}: not a regular file or folder")
    return path


def check_writable(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Refuse an existing output (a dangling link too) unless ``force``; return the path."""
    path = Path(path)
    if os.path.lexists(path) and not force:
        raise already_exists(path)
    if path.exists() and path.is_dir() and not path.is_symlink() and force:
        raise MusegenError(f"{path} is a folder, not a file")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    Examples
    --------
    >>> with atomic_path("song.mid", force=True) as tmp:   # doctest: +SKIP
    ...     midi.save(tmp)
    """
    path = check_writable(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp_path
        if force:
            os.replace(tmp_path, path)
        else:
            publish(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def publish(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` to ``path`` only if nothing is there yet, in one atomic step."""
    if _rename_noreplace(tmp, path):
        return
    try:  # no renameat2: a hard link fails where the name is taken
        os.link(tmp, path)
    except FileExistsError:
        raise already_exists(path) from None
    except OSError:  # no hard links on this file system: the plain rename, checked just before
        if os.path.lexists(path):
            raise already_exists(path) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def write_bytes(path: str | os.PathLike, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, force=force) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, force: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"), force=force)


RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2  # flags of Linux renameat2


def _renameat2(a: Path, b: Path, flags: int) -> int | None:
    """``renameat2(a, b, flags)``: 0 on success, the errno on failure, None where the system has no renameat2."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), flags) == 0:
        return 0
    err = ctypes.get_errno()
    return None if err in (errno.ENOSYS, errno.EINVAL) else err


def _rename_noreplace(a: Path, b: Path) -> bool:
    """Rename ``a`` to ``b`` unless ``b`` exists (refused); False where the system cannot say so atomically."""
    err = _renameat2(a, b, RENAME_NOREPLACE)
    if err == errno.EEXIST:
        raise already_exists(b)
    if err:
        raise OSError(err, os.strerror(err), str(b))
    return err == 0


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    return _renameat2(a, b, RENAME_EXCHANGE) == 0


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` on success.

    An existing folder is swapped out in one atomic step where the system
    allows it, so a reader never finds the folder missing or half-written.
    """
    path = Path(path)
    if path.is_symlink() and path.is_dir():
        path = path.resolve()  # the folder the link points to is rewritten; the link stays
    if os.path.lexists(path) and not force:
        raise already_exists(path)
    if force and path.is_symlink() and not path.exists():
        path.unlink()  # a dangling link is replaced, as --force asks
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.is_dir() and _exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        elif path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        elif not _rename_noreplace(tmp, path):
            if os.path.lexists(path):
                raise already_exists(path)
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def claim(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``path`` for this run: a second run that claims it meanwhile is refused at once.

    An advisory lock (``flock``) on a hidden file beside ``path``; the system
    drops it when the process ends, however it ends, so a killed run never
    leaves a claim behind.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise MusegenError(f"{path} is being written by another musegen run") from None
        try:  # the file locked must still be the one at that name: a run ending meanwhile unlinks its own
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()  # while still holding it: a run that opened it meanwhile finds it gone and starts again
        os.close(fd)
