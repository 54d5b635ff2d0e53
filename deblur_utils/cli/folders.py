"""What the commands on folders of pictures (``deblur``, ``blur``, ``evaluate``) set and check before they start
and say when they end: pictures of any size, whether OUT can be written at all, and which files of IN are
not pictures read here. No torch here:
``blur`` and ``evaluate`` answer without importing it."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from PIL import Image

from ..data.imageio import scan_folder
from ..runtime.atomic import can_write, existing_folder


def lift_pixel_guard() -> None:
    """Read pictures of any number of pixels: they are the user's own, named on the command line, and
    Pillow's guard against decompression bombs (a picture over 179 megapixels refused) would stop a
    panorama; large ones go through in tiles."""
    Image.MAX_IMAGE_PIXELS = None


def writable(out: Path, name: str = "OUT") -> None:
    """ValueError, with the fix, when nothing can be written at ``out`` (its nearest existing folder is
    read-only): said before any picture is read, not at the first one written."""
    if not can_write(out):
        raise ValueError(f"{name} ({out}) cannot be written: {existing_folder(out)} is read-only for you; give a "
                         "folder you can write")


def left_out(src: Path) -> list[Path]:
    """The files below a folder IN that are not pictures this reads (a phone's HEIC, a camera's raw file, a
    video), each by its path: named at the end of the run, never passed over in silence."""
    return [src / rel for rel in scan_folder(src)[1]] if src.is_dir() else []


def by_suffix(files: list[Path]) -> str:
    """"3 .heic, 1 .txt": how many files of each suffix."""
    counts = Counter(f.suffix.lower() or "(no suffix)" for f in files)
    return ", ".join(f"{n} {suffix}" for suffix, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
