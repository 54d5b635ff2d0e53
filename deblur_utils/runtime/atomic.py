"""Atomic writes: every file the workflow writes appears whole or not at all.

Write to a temporary file in the same folder, then ``os.replace`` it into place (atomic on
POSIX and Windows). The file gets the usual permissions (0666 minus the umask), not the
owner-only mode of a temporary file.
"""
from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class DiskFullError(OSError):
    """The disk filled up while writing: the message names the folder, what it needed and what is free."""


def existing_folder(path) -> Path:
    """``path`` itself when it exists, else its nearest existing parent (a drive that is not there, which
    is its own parent, ends the walk): where a file would be written, as far as it exists yet."""
    folder = Path(path).absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def can_write(path) -> bool:
    """Whether files can be created where ``path`` (a folder, or a file to be) would be: its nearest
    existing folder is writable for this user."""
    folder = existing_folder(path)
    return os.access(folder if folder.is_dir() else folder.parent, os.W_OK)


def free_bytes(folder) -> int:
    """Bytes free on the disk that holds ``folder`` (or its nearest existing parent)."""
    return shutil.disk_usage(existing_folder(Path(folder).resolve())).free


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e7 else f"{n / 1e6:.1f} MB"


def check_space(folder, needed: int, what: str) -> None:
    """DiskFullError, before anything is written, when ``folder``'s disk has less than ``needed`` bytes free."""
    free = free_bytes(folder)
    if needed > free:
        raise DiskFullError(f"not enough space in {folder}: {what} needs about {gb(needed)}, {gb(free)} is free. "
                            "Free space (or set DEBLUR_WORKDIR to a larger disk) and rerun: finished files are kept.")


NAME_MAX = 255  # bytes in one file name (ext4, APFS, NTFS): a temporary name must fit too


def temporary_prefix(name: str, suffix: str) -> str:
    """".<name>." for a temporary file beside ``name``, cut so that the whole temporary name (with mkstemp's
    8 characters and ``suffix``) fits ``NAME_MAX`` bytes: a picture whose name is near the limit is written
    like any other."""
    room = NAME_MAX - 2 - 8 - len(os.fsencode(suffix))
    while len(os.fsencode(name)) > room:  # whole characters off the end: a name stays valid where it was
        name = name[:-1]
    return f".{name}."


@contextlib.contextmanager
def replacing(path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed (a
    full disk raises DiskFullError, naming the folder and the space free)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path.name, suffix), suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.errno == errno.ENOSPC and not isinstance(err, DiskFullError):
            raise DiskFullError(err.errno, f"the disk is full in {path.parent} (writing {path.name}; "
                                f"{gb(free_bytes(path.parent))} free): free space and rerun, finished files are "
                                "kept") from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temporaries(folder, pattern: str = ".*.tmp") -> int:
    """Delete the temporary files ``replacing`` left below ``folder`` when a kill (SIGKILL, a machine that
    died) skipped its cleanup; returns how many. Only where no other process writes into ``folder``."""
    folder = Path(folder)
    found = [p for p in folder.rglob(pattern) if p.is_file()] if folder.is_dir() else []
    for tmp in found:
        tmp.unlink(missing_ok=True)
    return len(found)


def remove_leftovers(path, suffix: str = ".tmp") -> list[Path]:
    """Delete the temporary files a killed writer of ``path`` left beside it (a SIGKILL skips cleanup).

    Call it only where no other process is writing ``path``: when a run resumes in its own folder.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    found = sorted(path.parent.glob(f".{glob.escape(path.name)}.*{suffix}"))
    for tmp in found:
        tmp.unlink(missing_ok=True)
    return found


def write_text(path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path, obj) -> None:
    """``obj`` as indented JSON, written atomically."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def json_safe(obj):
    """``obj`` with what JSON cannot hold made plain: non-finite floats as null (an identical frame's
    infinite PSNR), numpy scalars as Python numbers, tuples as lists."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
