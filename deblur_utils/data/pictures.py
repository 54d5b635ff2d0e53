"""Pictures as people have them, read and written back in kind: grey, RGB or RGBA, 8 or 16 bits per
channel, PNG, JPEG, TIFF, BMP, WebP, GIF; any size; the EXIF orientation applied.

``read_picture`` gives the colour as RGB (a grey picture's one channel three times), the alpha
channel apart (never deblurred), the bit depth and the format; ``write_picture`` writes the deblurred
colour back as the source was: grey as grey, the alpha untouched, 16 bits as 16 bits, a JPEG as a
JPEG (quality 95, no chroma subsampling), a lossless WebP as a lossless WebP, the colour profile
kept in every format. What cannot be kept (a palette, CMYK, a GIF's format, the frames after the
first, a 16-bit picture asked for as JPEG) is said once per picture, in its ``notes``. The frames of Set A and Set B are 8-bit RGB PNG (``imageio``); this module serves the
command line's ``deblur``.

16-bit colour PNGs are read with OpenCV (Pillow reads them as 8 bits), imported where such a file is
met: requirements.txt installs it, the package alone does not require it. TIFFs of 16 bits go through
tifffile (a dependency of scikit-image).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from ..runtime.atomic import replacing
from .imageio import ORIENTATION, ImageReadError, deep_colour, encode_png, orient, read_deep

FORMATS = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp", "WEBP": ".webp"}  # written as read
SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP",
            ".webp": "WEBP"}
JPEG_QUALITY = 95


@dataclass
class Picture:
    """One picture: ``rgb`` (H, W, 3) uint8 or uint16 with the orientation applied, ``alpha`` (H, W) of the
    same type or None, whether it was ``grey``, its ``format`` (Pillow's name), its colour profile,
    and ``notes``: what cannot be written back as it was read."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    grey: bool
    format: str
    icc_profile: bytes | None = None
    notes: list = field(default_factory=list)
    exif: bytes | None = None  # the source's EXIF, its orientation set to 1 (applied to the pixels)
    oriented: bool = False  # whether an EXIF orientation other than 1 was applied to the pixels
    lossless: bool = False  # a WebP stored losslessly, written back so
    dpi: tuple | None = None  # the resolution the file states (x, y), as seen (after the orientation), kept

    @property
    def bits(self) -> int:
        return 16 if self.rgb.dtype == np.uint16 else 8

    @property
    def top(self) -> float:
        return 65535.0 if self.bits == 16 else 255.0

    def as_float(self) -> np.ndarray:
        """The colour as float32 (H, W, 3) in [0, 1]."""
        return self.rgb.astype(np.float32) / np.float32(self.top)

    def as_read(self) -> np.ndarray:
        """The colour as the blur estimate reads it, float32 (H, W, 3) in [0, 1]: an 8-bit picture as it is, a
        16-bit one rounded to 8 bits (v / 257). The estimate learned blur from 8-bit frames, whose rounding
        leaves a flat floor in the spectrum; a 16-bit picture without noise has none, and its spectrum,
        falling on below that floor, reads as a stronger blur (sigma 1.55 for a blur of 1.0). The 16 bits
        themselves are deblurred (``as_float``)."""
        if self.bits == 8:
            return self.as_float()
        return (np.rint(self.rgb / 257.0) / 255.0).astype(np.float32)

    def from_float(self, rgb: np.ndarray) -> np.ndarray:
        """float (H, W, 3) in [0, 1] back to this picture's type, rounded once."""
        out = np.rint(np.clip(rgb, 0, 1) * np.float32(self.top))
        return out.astype(self.rgb.dtype)

    def describe(self) -> str:
        kind = ("grey" if self.grey else "RGB") + ("A" if self.alpha is not None and not self.grey else
                                                  " + alpha" if self.alpha is not None else "")
        return f"{self.rgb.shape[1]}x{self.rgb.shape[0]} {kind}, {self.bits}-bit {self.format}"


def _webp_lossless(path: Path) -> bool:
    """Whether a WebP file holds a lossless image (a VP8L chunk; lossy ones hold VP8), from its RIFF chunks."""
    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WEBP":
            return False
        while len(head := f.read(8)) == 8:
            tag, size = head[:4], int.from_bytes(head[4:], "little")
            if tag in (b"VP8L", b"VP8 "):
                return tag == b"VP8L"
            if tag == b"ANMF":  # an animation's frame: 16 bytes of its own, then the frame's chunks
                f.seek(16, 1)
                continue
            f.seek(size + (size & 1), 1)  # chunks are padded to an even size
    return False


def _split(array: np.ndarray, grey: bool, notes: list, fmt: str, icc) -> Picture:
    """A Picture from an (H, W), (H, W, 2), (H, W, 3) or (H, W, 4) array (grey, grey + alpha, RGB, RGBA)."""
    if array.ndim == 2:
        return Picture(np.repeat(array[..., None], 3, axis=2), None, True, fmt, icc, notes)
    if array.shape[2] == 2:
        return Picture(np.repeat(array[..., :1], 3, axis=2), array[..., 1].copy(), True, fmt, icc, notes)
    alpha = array[..., 3].copy() if array.shape[2] == 4 else None
    return Picture(np.ascontiguousarray(array[..., :3]), alpha, grey, fmt, icc, notes)


_ORIENTED = range(2, 9)  # EXIF orientations that turn or flip the pixels


def _read_16bit(path: Path, fmt: str, orientation: int, icc) -> Picture:
    """A 16-bit colour PNG (OpenCV) or 16-bit TIFF (tifffile), as it is stored."""
    array = read_deep(path, fmt)
    return _split(orient(array, orientation), array.ndim == 2, [], fmt, icc)


def read_picture(path) -> Picture:
    """Read a picture file (see the module's docstring); ImageReadError names a file that cannot be read."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            fmt, mode, icc, exif = img.format or "PNG", img.mode, img.info.get("icc_profile"), img.getexif()
            orientation = exif.get(ORIENTATION, 1)
            frames = getattr(img, "n_frames", 1)
            if fmt == "MPO":  # a phone's JPEG that carries further images (MPF): a JPEG, its first image
                fmt, frames = "JPEG", 1
            dpi, dropped = img.info.get("dpi"), _dropped(img)
            if deep_colour(img, path):
                picture = _read_16bit(path, fmt, orientation, icc)
            else:
                img = ImageOps.exif_transpose(img)
                picture = _from_pillow(img, mode, fmt, icc, path)
                picture.lossless = fmt == "WEBP" and _webp_lossless(path)
            if len(exif) and fmt != "TIFF":  # a TIFF's own tags describe its layout: not EXIF to carry over
                exif[ORIENTATION] = 1
                picture.exif = exif.tobytes()
            picture.oriented = orientation in _ORIENTED
            if dpi and all(d and 0 < d < 1e5 for d in dpi[:2]):  # a corrupt value is not carried over
                picture.dpi = tuple(dpi[1::-1]) if orientation in (5, 6, 7, 8) else tuple(dpi[:2])
            picture.notes.extend(dropped)
            if frames > 1:
                picture.notes.append(f"only the first of its {frames} frames is deblurred and written")
            return picture
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"{path}: {err} The deblur command reads it; elsewhere, raise "
                             "PIL.Image.MAX_IMAGE_PIXELS first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: not a readable image ({err.__class__.__name__}: {err}). "
                             "Replace or delete the file.") from None


_TIFF_TAGS = {270: "ImageDescription", 271: "Make", 272: "Model", 305: "Software", 306: "DateTime", 315: "Artist",
              33432: "Copyright"}  # what a TIFF states about itself, beyond pixels, profile and resolution


def _ours(tag: int, value) -> bool:
    """Whether a TIFF tag is what tifffile writes by itself (a 16-bit TIFF written back here), not the picture's."""
    return (tag == 305 and value == "tifffile.py") or (tag == 270 and str(value).startswith('{"shape"'))


def _dropped(img: Image.Image) -> list:
    """Notes on what a picture states that is not written back: a PNG's text chunks, a TIFF's descriptive tags
    and whatever EXIF it holds (a JPEG's, WebP's or PNG's EXIF is kept, in those formats; every picture's
    colour profile and resolution)."""
    notes = []
    text = getattr(img, "text", None) if img.format == "PNG" else None
    if text:
        notes.append(f"its PNG text ({', '.join(sorted(text))}) is not kept")
    if img.format == "TIFF":
        tags = [name for tag, name in _TIFF_TAGS.items() if tag in img.tag_v2 and not _ours(tag, img.tag_v2[tag])]
        tags += ["EXIF"] if 0x8769 in img.tag_v2 or 0x8825 in img.tag_v2 else []  # its camera and GPS sections
        if tags:
            notes.append(f"its TIFF tags {', '.join(tags)} are not kept")
    return notes


def _from_pillow(img: Image.Image, mode: str, fmt: str, icc, path: Path) -> Picture:
    notes = []
    if fmt not in FORMATS:
        notes.append(f"{fmt} is written as PNG")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return _split(np.asarray(img).astype(np.uint16), True, notes, fmt, icc)
    if mode in ("I", "F"):
        array = np.asarray(img, dtype=np.float64)
        if mode == "F" or array.max() > 65535 or array.min() < 0:
            notes.append(f"{mode} (32-bit) grey is written as 16-bit grey, scaled to its range")
            array = (array - array.min()) / max(array.max() - array.min(), 1e-12) * 65535
        return _split(np.rint(array).astype(np.uint16), True, notes, fmt, icc)
    if mode in ("L", "LA"):
        return _split(np.asarray(img).copy(), True, notes, fmt, icc)
    if mode == "1":
        notes.append("1-bit black and white is written as 8-bit grey")
        return _split(np.asarray(img.convert("L")).copy(), True, notes, fmt, icc)
    if mode in ("P", "PA"):
        transparent = mode == "PA" or "transparency" in img.info
        notes.append("a palette picture is written as " + ("RGBA" if transparent else "RGB"))
        return _split(np.asarray(img.convert("RGBA" if transparent else "RGB")).copy(), False, notes, fmt, icc)
    if mode == "CMYK":
        img, how = _cmyk_to_srgb(img, icc)
        notes.append(f"CMYK is written as RGB, {how}")
        return _split(np.asarray(img).copy(), False, notes, fmt, None)
    if mode not in ("RGB", "RGBA"):
        notes.append(f"{mode} is written as RGB")
        img = img.convert("RGBA" if "A" in mode else "RGB")
    return _split(np.asarray(img).copy(), False, notes, fmt, icc)


def _cmyk_to_srgb(img: Image.Image, icc) -> tuple[Image.Image, str]:
    """A CMYK picture as sRGB, and how: through its own colour profile where it has one that converts,
    else Pillow's plain conversion. Either way the CMYK profile is gone: it must not tag RGB."""
    if not icc:
        return img.convert("RGB"), "without a colour profile to convert it through"
    try:
        return ImageCms.profileToProfile(img, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                         ImageCms.createProfile("sRGB"), outputMode="RGB"), \
            "converted to sRGB through its colour profile"
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img.convert("RGB"), "its colour profile unusable (dropped)"


def output_format(picture: Picture, suffix: str, ask: str = "same") -> tuple[str, str]:
    """(format, suffix) to write ``picture`` as: ``ask`` "same" keeps the source's format and suffix where
    it can (else PNG), "png" asks for PNG. A 16-bit picture asked for as JPEG, BMP or WebP becomes a PNG,
    with a note."""
    if ask == "png":
        return "PNG", ".png"
    fmt = picture.format if picture.format in FORMATS else "PNG"
    if picture.bits == 16 and fmt not in ("PNG", "TIFF"):
        picture.notes.append(f"16 bits cannot be written as {fmt}: written as PNG")
        fmt = "PNG"
    keep = suffix if SUFFIXES.get(suffix.lower()) == fmt else FORMATS[fmt]
    return fmt, keep


def write_picture(path, picture: Picture, rgb: np.ndarray, fmt: str = "PNG") -> Path:
    """Write ``rgb`` (the picture's type, (H, W, 3)) as ``picture`` was: grey as one channel, its alpha
    put back, in ``fmt``; atomically (a temporary file renamed into place)."""
    path = Path(path)
    array = rgb.mean(axis=2).round().astype(rgb.dtype) if picture.grey else rgb
    if picture.alpha is not None:
        array = np.dstack([array, picture.alpha])
    with replacing(path, suffix=path.suffix or ".tmp") as tmp:
        if fmt == "PNG":
            tmp.write_bytes(encode_png(array, picture.icc_profile, picture.dpi, picture.exif))
        elif fmt == "TIFF" and array.dtype == np.uint16:
            where = {"resolution": picture.dpi, "resolutionunit": tifffile.RESUNIT.INCH} if picture.dpi else {}
            tifffile.imwrite(tmp, array, photometric="minisblack" if array.ndim == 2 or array.shape[2] == 2 else "rgb",
                             compression="zlib", iccprofile=picture.icc_profile or None, metadata=None, **where)
        else:
            img = Image.fromarray(array)
            webp = {"lossless": True} if picture.lossless else {"quality": JPEG_QUALITY}
            options = {"JPEG": {"quality": JPEG_QUALITY, "subsampling": 0},
                       "WEBP": {**webp, "exact": True}, "TIFF": {"compression": "tiff_deflate"}}.get(fmt, {})
            if picture.icc_profile:
                options["icc_profile"] = picture.icc_profile
            if picture.exif and fmt in ("JPEG", "WEBP"):
                options["exif"] = picture.exif
            if picture.dpi and fmt in ("JPEG", "TIFF", "BMP"):
                options["dpi"] = tuple(round(d) for d in picture.dpi)
            img.save(tmp, format=fmt, **options)
    return path

