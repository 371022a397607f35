"""Writing files so that nothing half-written is ever left behind, and checking output paths.

A writer fills a hidden temporary sibling of its target (:func:`temp_path`, named
``.NAME.tmp-PID-HOST-RANDOM``) and renames it into place (:func:`atomic_path`,
:func:`write_files`); on any error, an interrupt included, it removes the temporary. A writer
killed outright (``kill -9``, a power cut) cannot clean up, so its temporary is removed later by
:func:`sweep_stale`: the workspace sweeps its own folders when it opens, and a writer sweeps the
temporaries of its own target before it writes. It removes only names Easel makes (or made in
earlier versions), and only when their writer is gone: the process id in the name is not running
on this machine, or the temporary has not changed for :data:`STALE_AFTER` seconds (a name without
a process id, or written on another machine, is judged by its age alone; one whose process still
runs is kept for :data:`PID_REUSED_AFTER`, in case the id was reused).

:func:`check_output_file` and :func:`check_output_folder` refuse an output path that cannot be
written before any work starts, and :func:`os_error_message` puts a failed read or write in plain
words; both name the user's path, never a temporary.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
import time
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from automl.errors import EaselError, ParameterError

# A temporary that has not changed for this long has no writer left: saving a model, a report or
# a chunk of predictions writes every few seconds to minutes, never hours apart.
STALE_AFTER = 6 * 3600.0
# ... unless the process named in it still runs: then only if that process id was reused
PID_REUSED_AFTER = 24 * 3600.0
_NAME_BYTES = 120  # of the target's name kept in a temporary's name (file names hold 255 bytes)
_HOST = f"{zlib.crc32(socket.gethostname().encode('utf-8', 'replace')):08x}"
_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>[0-9]{1,10})-(?P<host>[0-9a-f]{8})-[0-9a-f]{8}$")
# what earlier Easel versions wrote: ``.NAME.tmp`` (reports), ``.NAME.tmp-XXXXXXXX`` (models,
# predictions), ``HEX32.tmp`` (workspace datasets)
_OLD_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp(?:-[0-9a-f]{8})?$")
_OLD_DATASET_TEMP = re.compile(r"^(?P<name>[0-9a-f]{32})\.tmp$")


def _short(name: str) -> str:
    return name.encode("utf-8", "surrogateescape")[:_NAME_BYTES].decode("utf-8", "ignore")


def temp_path(target: str | os.PathLike[str]) -> Path:
    """A hidden sibling of ``target`` for one writer to fill and then rename into place; the
    name carries the writer's process id and machine, so :func:`sweep_stale` can tell when the
    writer is gone."""
    t = Path(target)
    return t.parent / f".{_short(t.name)}.tmp-{os.getpid()}-{_HOST}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix" or pid <= 0:
        return True  # cannot tell: leave it to the age rule
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def newest_change(path: Path, limit: int = 10_000) -> float:
    """The newest modification time in ``path`` (a file, or a folder and what it holds)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for seen, (folder, dirs, files) in enumerate(os.walk(path)):
            for n in dirs + files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(folder, n)).st_mtime)
            if seen >= limit:
                break
    return newest


def _temp_target(name: str) -> tuple[str, int | None, str | None] | None:
    """(target name, writer pid, writer host) of an Easel temporary's name; None for others."""
    m = _TEMP.match(name)
    if m:
        return m["name"], int(m["pid"]), m["host"]
    m = _OLD_TEMP.match(name) or _OLD_DATASET_TEMP.match(name)
    return (m["name"], None, None) if m else None


def is_stale(path: str | os.PathLike[str], max_age: float = STALE_AFTER) -> bool:
    """Whether ``path`` is an Easel temporary whose writer is gone (see the module's text)."""
    p = Path(path)
    parsed = _temp_target(p.name)
    if parsed is None:
        return False
    _, pid, host = parsed
    if pid is not None and host == _HOST:
        if not _alive(pid):
            return True
        max_age = max(max_age, PID_REUSED_AFTER)  # its writer runs: only a reused id is wrong
    try:
        return time.time() - newest_change(p) > max_age
    except OSError:
        return False


def sweep_stale(
    folder: str | os.PathLike[str], of: str | None = None, max_age: float = STALE_AFTER
) -> list[Path]:
    """Remove the temporaries of crashed writers in ``folder``; returns what was removed.

    ``of`` (a file or folder name) limits the sweep to that target's temporaries: use it in a
    folder that is not Easel's own (an ``--out`` folder). Never raises: a temporary that cannot
    be removed now is tried again next time."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        parsed = _temp_target(entry.name)
        if parsed is None or (of is not None and parsed[0] != _short(of)):
            continue
        path = Path(entry.path)
        if not is_stale(path, max_age):
            continue
        remove(path)
        if not path.exists():
            removed.append(path)
    return removed


def remove(path: str | os.PathLike[str]) -> None:
    """Delete a file or a folder (a symbolic link itself, never what it points to), quietly."""
    p = Path(path)
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    except OSError:
        pass


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Write ``target`` through a temporary: ``with atomic_path(out) as tmp: write(tmp)``.

    The temporary replaces ``target`` only when the block finishes; on any error (an interrupt
    included) it is removed and ``target`` is left as it was. Stale temporaries of the same
    target are swept first."""
    t = Path(target)
    sweep_stale(t.parent, of=t.name)
    tmp = temp_path(t)
    try:
        yield tmp
        os.replace(tmp, t)
    except BaseException:
        remove(tmp)
        raise


def write_files(texts: Mapping[Path, str]) -> None:
    """Write several text files, all or none: every temporary is written before any replaces
    its target, so an error leaves none of them changed."""
    temps: dict[Path, Path] = {}
    try:
        for target, text in texts.items():
            sweep_stale(target.parent, of=target.name)
            temps[target] = temp_path(target)
            temps[target].write_text(text, encoding="utf-8")
        for target, tmp in temps.items():
            os.replace(tmp, target)
    except BaseException:
        for tmp in temps.values():
            remove(tmp)
        raise


# ---------------------------------------------------------------------- output paths
def shown(path: str | os.PathLike[str] | bytes) -> str:
    """A path as a user gave it: a temporary is shown as the file it stands for."""
    text = os.fsdecode(path)
    p = Path(text)
    parsed = _temp_target(p.name)
    return str(p.with_name(parsed[0])) if parsed and p.name.startswith(".") else text


_WORDS = {
    errno.ENOENT: ("it does not exist", "Check the path."),
    errno.EACCES: ("permission denied", "Choose a place you may use, or ask for access."),
    errno.EPERM: ("permission denied", "Choose a place you may use, or ask for access."),
    errno.EISDIR: ("it is a folder, not a file", "Give the name of a file."),
    errno.ENOTDIR: (
        "a part of the path is a file, not a folder",
        "Choose a path whose folders are folders.",
    ),
    errno.EEXIST: ("something with that name exists already", "Choose another name."),
    errno.ENOSPC: ("the disk is full", "Free some space, or choose another disk."),
    errno.EDQUOT: ("your disk quota is used up", "Free some space, or choose another disk."),
    errno.EROFS: ("the disk is read-only", "Choose a place you can write to."),
    errno.ENAMETOOLONG: ("the name is too long", "Choose a shorter name."),
    errno.ELOOP: ("it is a loop of symbolic links", "Check the path."),
    errno.EBUSY: ("it is in use", "Close what uses it, then try again."),
    errno.ETXTBSY: ("it is in use", "Close what uses it, then try again."),
    errno.ENOTEMPTY: ("the folder is not empty", "Choose an empty or a new folder."),
    errno.EXDEV: ("it is on another disk", "Choose a path on the same disk."),
}


def os_error_message(exc: OSError, path: str | os.PathLike[str] | None = None) -> str:
    """A failed read or write in plain words, naming ``path`` (default: the error's own path,
    a temporary shown as its target) and what to do."""
    where = path if path is not None else (exc.filename or exc.filename2)
    what, todo = _WORDS.get(
        exc.errno or 0,
        ((exc.strerror or "the system refused it").rstrip(".").lower(), "Check the path."),
    )
    if where is None or where == "":
        return f"A file could not be used: {what}. {todo}"
    return f"Easel cannot use '{shown(where)}': {what}. {todo}"


def _nearest_existing(p: Path) -> Path:
    for a in [p, *p.parents]:
        try:
            a.lstat()
            return a
        except (FileNotFoundError, NotADirectoryError):  # missing, or under a file: look up
            continue
    return Path(p.anchor or ".")


def _check_parent(p: Path, what: str) -> None:
    """The folders above ``p`` are folders that exist or can be made, and may be written."""
    a = _nearest_existing(p.parent)
    try:
        if not a.is_dir():
            raise ParameterError(
                f"The {what} '{p}' cannot be written: '{a}' is a file, not a folder. Choose "
                "a path in a folder."
            )
    except OSError as exc:
        raise EaselError(os_error_message(exc, a)) from None
    if not os.access(a, os.W_OK | os.X_OK):
        raise ParameterError(
            f"The {what} '{p}' cannot be written: Easel may not write in the folder '{a}' "
            "(permission denied). Choose another folder, or ask for write access."
        )


def check_output_file(
    path: str | os.PathLike[str],
    what: str = "output file",
    keep: tuple[str | os.PathLike[str], ...] = (),
) -> Path:
    """Refuse, before any work, an output file that cannot be written: a folder, a device, a path
    under a file or in a folder Easel may not write, or one of the ``keep`` files (the input)."""
    p = Path(path)
    try:
        if p.is_dir():
            raise ParameterError(
                f"The {what} '{p}' is a folder. Give the name of a file to write (a new file, or "
                "one to replace)."
            )
        if p.exists() and not p.is_file():
            raise ParameterError(
                f"The {what} '{p}' is not a regular file (a device or a pipe), so Easel cannot "
                "replace it. Give the name of a file in a folder."
            )
        for k in keep:
            if os.fspath(k) and p.exists() and Path(k).exists() and p.samefile(k):
                raise ParameterError(
                    f"The {what} '{p}' is also the input; writing it would replace your data. "
                    "Choose another file name."
                )
    except OSError as exc:
        raise EaselError(os_error_message(exc, p)) from None
    _check_parent(p, what)
    return p


def check_output_folder(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Refuse, before any work, an output folder that cannot be written: a file, a path under a
    file, or a folder in a place Easel may not write."""
    p = Path(path)
    try:
        if p.exists() and not p.is_dir():
            raise ParameterError(
                f"The {what} '{p}' is a file. Give the name of a new folder (Easel writes a "
                "folder of files there)."
            )
    except OSError as exc:
        raise EaselError(os_error_message(exc, p)) from None
    _check_parent(p, what)
    return p


def check_folder(path: str | os.PathLike[str], what: str = "folder") -> Path:
    """Make the folder ``path`` (and its parents) if needed; a clear error when it cannot be."""
    p = Path(path)
    a = _nearest_existing(p)
    try:
        if a == p and not p.is_dir():
            raise ParameterError(
                f"The {what} '{p}' is a file, not a folder. Give the path of a folder (a new one "
                "is made if needed)."
            )
        if not a.is_dir():
            raise ParameterError(
                f"The {what} '{p}' cannot be made: '{a}' is a file, not a folder. Choose a path "
                "in a folder."
            )
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EaselError(os_error_message(exc, p)) from None
    return p
