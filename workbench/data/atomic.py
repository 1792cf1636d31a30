"""Atomic outputs: write to a temporary sibling, then rename over the target.

A stage killed half-way leaves either the previous output or none, never a truncated file that
DVC or the next stage would take for a result. The temporary sibling is a dot file named after
the target, its writer's pid and host (``.train.json.w4242-1a2b3c.k3j2h1.tmp``); a kill -9 leaves
it behind, and the next atomic write into that directory on the same host removes the leftovers
of writers that are no longer alive.

A write that fails for lack of room (the file system is full, or the process's file-size limit,
``ulimit -f``, is reached) is raised as an ``OSError`` with errno ENOSPC / EFBIG and the target's
name, whichever library did the writing (torch, safetensors and libsndfile report it as their own
errors, often without the file's name).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import resource
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # errnos of "the output does not fit"
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
_TEMPORARY = re.compile(r"\..+\.w(\d+)-([0-9a-f]{6})\.\w+\.tmp")
_swept: set[Path] = set()  # directories already cleared of dead writers' leftovers by this process


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary files and directories that writers killed mid-write left in
    ``directory`` (same host, pid no longer alive); returns what was removed."""
    removed = []
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            match = _TEMPORARY.fullmatch(entry.name)
            if match and match[2] == _HOST and int(match[1]) != os.getpid() and not _writer_alive(int(match[1])):
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _temporary_prefix(target: Path) -> str:
    directory = target.parent.resolve()
    if directory not in _swept:
        remove_stale_temporaries(directory)
        _swept.add(directory)
    return f".{target.name}.w{os.getpid()}-{_HOST}."


def _out_of_room(written: Path) -> int | None:
    """ENOSPC or EFBIG when a failed write of ``written`` (a file or a directory of files) ran out
    of room: a file reached the file-size limit, or the file system has no free block or inode."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        files = [written] if written.is_file() else [p for p in written.rglob("*") if p.is_file()]
        if any(p.stat().st_size >= limit for p in files):
            return errno.EFBIG
    stats = os.statvfs(written.parent)
    free_blocks = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail  # root may use the reserved blocks
    # (file systems without fixed counts, btrfs' inodes say, report 0 of 0: not full)
    if (stats.f_blocks and free_blocks == 0) or (stats.f_files and stats.f_favail == 0):
        return errno.ENOSPC
    return None


def _no_room_error(error: BaseException, written: Path, target: Path) -> OSError | None:
    """The OSError to raise instead of ``error`` when it means the output did not fit."""
    if isinstance(error, OSError) and error.errno in NO_ROOM:
        if error.filename:
            return None  # already names the file that did not fit
        code = error.errno
    elif isinstance(error, (ValueError, LookupError, TypeError)):
        return None  # the stage's own complaint (a bad manifest, a missing key): keep it
    else:
        code = _out_of_room(written) if written.exists() else None
    if code is None:
        return None
    hint = ("the disk is full" if code != errno.EFBIG
            else f"the file-size limit (ulimit -f) is {resource.getrlimit(resource.RLIMIT_FSIZE)[0]} bytes")
    return OSError(code, f"{os.strerror(code)} ({hint}); nothing was written", str(target))


@contextlib.contextmanager
def _whole_or_nothing(tmp: Path, target: Path, remove: Callable[[Path], None]) -> Iterator[None]:
    """Around writing ``tmp`` and renaming it onto ``target``: an error that means the output did
    not fit names ``target``; ``tmp`` is removed whatever happened (once renamed it is gone)."""
    try:
        yield
    except Exception as error:
        no_room = _no_room_error(error, tmp, target)
        if no_room is not None:
            raise no_room from error
        raise
    finally:
        if tmp.exists():
            remove(tmp)


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto the target on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    with _whole_or_nothing(tmp, target, Path.unlink):
        yield tmp
        os.replace(tmp, target)


@contextlib.contextmanager
def atomic_directory(target: Path | str) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces the target directory."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_temporary_prefix(target), suffix=".tmp", dir=target.parent))
    with _whole_or_nothing(tmp, target, lambda path: shutil.rmtree(path, ignore_errors=True)):
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)


def write_text_atomic(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(target: Path | str, payload: object) -> None:
    write_text_atomic(target, json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
