"""Atomic writes: every file the workflow writes appears whole or not at all.

Write to a temporary file in the same folder, then ``os.replace`` it into place (atomic on
POSIX and Windows). The file gets the usual permissions (0666 minus the umask), not the
owner-only mode of a temporary file.
"""
from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
