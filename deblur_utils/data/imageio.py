"""Reading and writing frames: uint8 RGB (H, W, 3) in, atomic PNG out.

Every mode Pillow opens is converted to 8-bit RGB with a stated rule:
grey (L, I;16, I, F) is repeated on three channels, 16-bit values are scaled
to 8 bits (v / 257, rounded; 16-bit colour, which Pillow reads as 8 bits, through
OpenCV for a PNG and tifffile for a TIFF), alpha is dropped (the colour under it
is kept), palettes are expanded. Anything Pillow cannot decode raises ImageReadError
naming the file.
"""
from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from ..runtime.atomic import replacing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".webp", ".gif")


class ImageReadError(ValueError):
    """An image file that cannot be read; the message names the file and the fix."""


class NeedsOpenCV(ImageReadError):
    """A 16-bit colour PNG met where OpenCV, which reads it at 16 bits, is not installed."""


def is_image_name(path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def apart(path: Path, source: Path) -> Path:
    """``path`` named apart after its source's suffix ("a.png" written from "a.gif": "a_gif.png"): the
    output of a second picture that would take another's name."""
    return path.with_name(f"{path.stem}_{Path(source).suffix.lstrip('.').lower()}{path.suffix}")


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


ORIENTATION = 0x0112  # the EXIF tag: how the stored pixels are to be turned to be seen


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """An array as EXIF orientation ``orientation`` (1-8) says the picture is to be seen."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 1)[::-1],
           8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(ops[orientation](array)) if orientation in ops else array


def read_rgb(path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3), as it is to be seen (its EXIF orientation applied, as
    ``deblur`` and OpenCV's reader apply it); ImageReadError names the file when it cannot."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            turn = img.getexif().get(ORIENTATION, 1)
            if deep_colour(img, path):  # Pillow would cut it to its high byte
                try:
                    deep = read_deep(path, img.format)
                except NeedsOpenCV as err:
                    warnings.warn(f"{err}; read at 8 bits meanwhile (the high byte of each value)", stacklevel=2)
                else:
                    grey = deep.ndim == 2 or deep.shape[2] == 2  # grey, or grey + alpha
                    colour = np.repeat((deep if deep.ndim == 2 else deep[..., 0])[..., None], 3, axis=2) if grey \
                        else deep[..., :3]
                    return orient(np.rint(colour / 257.0).astype(np.uint8), turn)
            img.load()
            return orient(to_rgb_uint8(img), turn)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"{path}: {err} The deblur, blur and evaluate commands read it; elsewhere, raise "
                             "PIL.Image.MAX_IMAGE_PIXELS first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(
            f"{path}: not a readable image ({err.__class__.__name__}: {err}). "
            "Replace or delete the file."
        ) from None


def png_header(path) -> tuple[int, int]:
    """A PNG's (bit depth, colour type: 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA), from its header:
    Pillow reads 16-bit colour PNGs as 8-bit RGB and 16-bit grey + alpha as RGBA, and does not say;
    (8, 2) for a file that is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(26)
    return (head[24], head[25]) if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 26 else (8, 2)


def deep_colour(img: Image.Image, path) -> bool:
    """Whether ``img`` (open in Pillow, from ``path``) holds 16 bits per channel that Pillow reads as 8: a
    16-bit RGB, RGBA or grey + alpha PNG, a TIFF of 16-bit samples other than plain grey."""
    if img.format == "PNG":
        return img.mode in ("RGB", "RGBA", "LA") and png_header(path)[0] == 16
    return img.format == "TIFF" and 16 in tuple(np.atleast_1d(img.tag_v2.get(258, (8,)))) and \
        not img.mode.startswith("I;16")


def read_deep(path, fmt: str) -> np.ndarray:
    """A ``deep_colour`` picture's first frame as stored, uint16 (H, W) grey, (H, W, 2) grey + alpha, (H, W, 3)
    RGB or (H, W, 4) RGBA: a TIFF through tifffile (16-bit CMYK refused, with the fix), a PNG through
    OpenCV (optional: requirements.txt and the package's extra "pictures" install it; without it,
    ``NeedsOpenCV`` says what to install)."""
    if fmt == "TIFF":
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.photometric == tifffile.PHOTOMETRIC.SEPARATED:
                raise ImageReadError(f"{path}: a 16-bit CMYK TIFF, which is not read here: save it as RGB (or as "
                                     "8-bit CMYK) first")
            return page.asarray().astype(np.uint16, copy=False)
    try:
        import cv2
    except ImportError:
        raise NeedsOpenCV(f"{path}: a 16-bit colour PNG, which needs OpenCV to be read at 16 bits: "
                          "pip install opencv-python-headless (the package's extra 'pictures')") from None
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageReadError(f"{path}: OpenCV could not read this 16-bit PNG. Replace or delete the file.")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = array[..., [2, 1, 0, 3][:array.shape[2]]]  # OpenCV's BGR(A)
    if png_header(path)[1] == 4 and array.ndim == 3 and array.shape[2] == 4:  # grey + alpha, read as RGBA
        array = array[..., [0, 3]]
    return array.astype(np.uint16, copy=False)


_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type: grey, grey + alpha, RGB, RGBA


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(image: np.ndarray, icc_profile: bytes | None = None, dpi=None, exif: bytes | None = None) -> bytes:
    """A lossless PNG of an (H, W) or (H, W, C) uint8 or uint16 array (C: 1 grey, 2 grey + alpha, 3 RGB,
    4 RGBA; 8 or 16 bits per channel), tagged with ``icc_profile`` (an iCCP chunk), ``dpi`` (x, y: a pHYs
    chunk) and ``exif`` (Pillow's ``Exif.tobytes()``: an eXIf chunk) when they are given.

    Written for speed, since notebook 01 writes four PNGs per frame of the course's 24,000: every
    row takes PNG's "Up" filter (the difference from the row above, one numpy subtraction) and zlib
    codes the result with Huffman codes only. That is half the CPU time of Pillow's fastest setting
    (which tries five filters per row) for files about 8% larger; any PNG reader decodes it.
    """
    image = np.ascontiguousarray(image)
    if image.ndim == 2:
        image = image[..., None]
    height, width, channels = image.shape
    depth = 16 if image.dtype == np.uint16 else 8
    rows = (image.astype(">u2") if depth == 16 else image).view(np.uint8).reshape(height, -1)  # PNG is big-endian
    filtered = np.empty((height, 1 + rows.shape[1]), np.uint8)
    filtered[:, 0] = 2  # filter type Up
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    header = struct.pack(">IIBBBBB", width, height, depth, _PNG_COLOUR_TYPE[channels], 0, 0, 0)
    profile = _png_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc_profile)) if icc_profile else b""
    if dpi:  # pixels per metre, unit 1 (the metre)
        profile += _png_chunk(b"pHYs", struct.pack(">IIB", *(round(d / 0.0254) for d in dpi[:2]), 1))
    if exif:
        profile += _png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    return b"".join((b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header), profile,
                     _png_chunk(b"IDAT", packer.compress(filtered.tobytes()) + packer.flush()),
                     _png_chunk(b"IEND", b"")))


def write_png_atomic(path, image_uint8: np.ndarray) -> None:
    """Write a uint8 image as PNG via a temporary file and a rename: never a half-written PNG."""
    path = Path(path)
    if image_uint8.dtype != np.uint8:
        raise ValueError(f"{path}: PNG frames are uint8, got {image_uint8.dtype}")
    if image_uint8.ndim not in (2, 3) or (image_uint8.ndim == 3 and image_uint8.shape[2] not in _PNG_COLOUR_TYPE) \
            or 0 in image_uint8.shape:
        raise ValueError(f"{path}: a PNG frame is (H, W) or (H, W, 1|2|3|4) and not empty, got shape {image_uint8.shape}")
    data = encode_png(image_uint8)
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def scan_folder(folder) -> tuple[list[Path], list[Path]]:
    """(image files, other files) below ``folder``, recursively, as sorted relative paths. Folders given as
    symbolic links are followed (a read-only dataset linked in, as /kaggle/input), each real folder once;
    hidden files (a name starting with a dot: a temporary file, .DS_Store) are neither."""
    folder = Path(folder)
    images, others, seen = [], [], set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            rel = (Path(root) / name).relative_to(folder)
            (images if is_image_name(name) else others).append(rel)
    return sorted(images), sorted(others)


def list_images(folder, what="image folder") -> list[Path]:
    """Image files below ``folder`` (``scan_folder``'s). Errors name the folder and the fix."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{what} {folder} does not exist: check the path (data folder parameter)")
    if not folder.is_dir():
        raise NotADirectoryError(f"{what} {folder} is a file, not a folder of images")
    files, _ = scan_folder(folder)
    if not files:
        raise FileNotFoundError(
            f"{what} {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}): "
            "point it at a folder of frames, flat or as <sequence>/<frame>.png"
        )
    return files
