"""Reading and writing frames: uint8 RGB (H, W, 3) in, atomic PNG out.

Every mode Pillow opens is converted to 8-bit RGB with a stated rule:
grey (L, I;16, I, F) is repeated on three channels, 16-bit values are scaled
to 8 bits (v / 257, rounded), alpha is dropped (the colour under it is kept),
palettes are expanded. Anything Pillow cannot decode raises ImageReadError
naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .atomic import replacing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageReadError(ValueError):
    """An image file that cannot be read; the message names the file and the fix."""


def is_image_name(path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def to_rgb_uint8(img: Image.Image) -> np.ndarray:
    """Convert any Pillow image to uint8 RGB (H, W, 3) by the rules in the module docstring."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(np.rint(arr * 255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode != "RGB":
        img = img.convert("RGBA").convert("RGB") if img.mode in ("P", "PA", "LA") else img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def read_rgb(path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); ImageReadError names the file when it cannot."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            return to_rgb_uint8(img)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(
            f"{path}: not a readable image ({err.__class__.__name__}: {err}). "
            "Replace or delete the file."
        ) from None


def write_png_atomic(path, image_uint8: np.ndarray) -> None:
    """Write a uint8 image as PNG via a temporary file and a rename: never a half-written PNG."""
    path = Path(path)
    if image_uint8.dtype != np.uint8:
        raise ValueError(f"{path}: PNG frames are uint8, got {image_uint8.dtype}")
    with replacing(path) as tmp:
        Image.fromarray(image_uint8).save(tmp, format="PNG", compress_level=1)


def list_images(folder, what="image folder") -> list[Path]:
    """Image files below ``folder`` (recursive, sorted, relative paths). Errors name the folder and the fix."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{what} {folder} does not exist: check the path (data folder parameter)")
    if not folder.is_dir():
        raise NotADirectoryError(f"{what} {folder} is a file, not a folder of images")
    files = sorted(
        p.relative_to(folder) for p in folder.rglob("*")
        if p.is_file() and is_image_name(p) and not p.name.startswith(".")
    )
    if not files:
        raise FileNotFoundError(
            f"{what} {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): "
            "point it at a folder of frames, flat or as <sequence>/<frame>.png"
        )
    return files
