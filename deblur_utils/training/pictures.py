"""One picture of any size deblurred in bounded memory: read whole, deblurred in overlapping tiles.

A blind Wiener network decides from the whole picture (``picture_reading``): its sigma estimate and
the no-harm gate read quantiles of its 192x192 tiles (the same on a 256x448 frame and on 24
megapixels), and whether the picture is a fixed point of preset a's blur is found strip by strip.
The deconvolution and the refiner then run on overlapping tiles that share that reading, each
keeping its centre, so a tiled picture comes out as the whole would (within a grey level; ``overlap``
pixels of context on each side). The tile's side follows from the free memory of the device
(``tile_side``); a picture that fits one tile goes through whole, exactly as ``predict_uint8`` does.

Pictures are float32 (H, W, 3) arrays in [0, 1]: 8-bit and 16-bit sources alike, deblurred without
rounding on the way.
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.blur import kernel_size_for_sigma
from ..data.blur_torch import blur_valid_q8
from ..data.sampling import reflect101
from ..networks.blind import BlindWienerNet, GivenSigma, Reading
from ..networks.estimator import CHUNK_TILES, tile_quantile
from ..runtime import accel

OVERLAP = 64                 # pixels of context on each side of a tile, discarded
CPU_BUDGET = 384 << 20       # at most this much working memory per tile on the CPU (bytes) ...
#   (tiles of about 800x800 at width 24: a 24-megapixel picture in 1.7 GB, no slower than larger tiles)
MEMORY_FRACTION = 0.25       # ... and at most this fraction of what the device has free
MIN_TILE = 256


def free_memory(device) -> int:
    """Bytes the device has free now: CUDA's own count; on the CPU, the kernel's MemAvailable."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def bytes_per_pixel(model) -> int:
    """Working memory of one forward pass per pixel, from the widest convolution: four float32 maps of
    its width live at once, and about 60 more floats a pixel for the input, the Wiener layer's
    spectra and its deconvolutions (measured on the CPU: 570-620 bytes at width 24, 1-2 megapixels)."""
    widest = max((m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)), default=8)
    return 4 * (4 * widest + 60)


def tile_side(model, device, budget: int | None = None) -> int:
    """The side of a square tile whose forward pass fits ``budget`` bytes (default: the smaller of
    ``CPU_BUDGET`` on the CPU and ``MEMORY_FRACTION`` of the device's free memory)."""
    device = torch.device(device)
    if budget is None:
        budget = int(free_memory(device) * MEMORY_FRACTION)
        if device.type != "cuda":
            budget = min(budget, CPU_BUDGET)
    return max(MIN_TILE, int(math.sqrt(budget / bytes_per_pixel(model))))


def to_tensor(picture: np.ndarray, device) -> torch.Tensor:
    """float (H, W, 3) -> float32 (1, 3, H, W) on the device, laid out as ``inference.to_tensor`` lays a
    frame out (channels last in memory): the estimator's sums follow the layout."""
    array = np.ascontiguousarray(picture, dtype=np.float32)
    return torch.from_numpy(array.reshape(1, *array.shape)).permute(0, 3, 1, 2).to(device)


@torch.inference_mode()
def fixed_point(model: BlindWienerNet, picture: np.ndarray, device, rows: int = 512) -> bool:
    """Whether preset a's 8-bit blur leaves the picture (float, [0, 1]) unchanged, read ``rows`` rows at a
    time with the blur's margin around each strip (reflect-101 at the picture's borders, as the blur)."""
    h, w = picture.shape[:2]
    k = kernel_size_for_sigma(model.floor_sigma) // 2
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        strip = picture[reflect101(np.arange(r0 - k, r1 + k), h)]
        q = (to_tensor(strip, device) * 255.0).round()
        q = torch.nn.functional.pad(q, (k, k, 0, 0), mode="reflect")
        again = blur_valid_q8(q, [model.floor_sigma])
        if not bool((again == q[..., k:-k, k:-k]).all()):
            return False
    return True


@torch.inference_mode()
def tile_log_sigmas(model: BlindWienerNet, picture: np.ndarray, device) -> torch.Tensor:
    """The estimator's log sigma of every tile of the picture, (1, tiles): a band of tile rows at a time
    becomes a tensor, its tiles go through the MLPs ``CHUNK_TILES`` at a time (the whole picture never
    becomes one tensor). Each tile is a slice of its band stacked as ``SpectralSigma.tile_log_sigma``
    stacks the slices of a frame: the same memory layout, so the same sums and the same numbers."""
    est, (h, w) = model.estimator, picture.shape[:2]
    if est.whole(h, w):
        return est.tile_log_sigma(to_tensor(picture, device))
    t = est.tile
    bands: dict = {}
    for y, x in est.tile_boxes(h, w):
        bands.setdefault(y, []).append(x)
    tiles, out = [], []

    def flush():
        stacked = torch.stack(tiles, 1).reshape(-1, 3, t, t)
        with torch.autocast(stacked.device.type, enabled=False):
            out.append(est.head_log_sigma(stacked).mean(1))
        tiles.clear()

    for y, xs in bands.items():
        band = to_tensor(picture[y:y + t], device)
        for x in xs:
            tiles.append(band[..., x:x + t])
            if len(tiles) == CHUNK_TILES:
                flush()
    if tiles:
        flush()
    return torch.cat(out)[None]


@torch.inference_mode()
def picture_estimate(model: BlindWienerNet, picture: np.ndarray, device, quantile: float) -> float:
    """A blind Wiener network's estimate of a picture's blur: its tiles' ``quantile`` (``estimate_sigmas``'
    number for a frame, read here on a picture of any size)."""
    return float(tile_quantile(tile_log_sigmas(model, picture, device), quantile).exp()[0])


def picture_reading(model, picture: np.ndarray, device) -> Reading | None:
    """What a blind Wiener network (or one given its sigma, ``GivenSigma``) reads from the whole picture
    (float, [0, 1], on the 8-bit grid: ``Picture.as_read``); None for a network that reads nothing (SRCNN
    and the others)."""
    net = model.model if isinstance(model, GivenSigma) else model
    if not isinstance(net, BlindWienerNet):
        return None
    fixed = None
    if net.use_gate and net.keep_fixed:
        fixed = torch.tensor([fixed_point(net, picture, device)], device=device)
    x_small = torch.zeros(1, 1, 1, 1, device=device)  # the reading's batch of one; no pixels needed
    if isinstance(model, GivenSigma):
        return model.read(x_small, fixed)
    if net.fixed_sigma is not None:
        return net.read(x_small)
    log_sigma = tile_log_sigmas(net, picture, device)
    sigma = tile_quantile(log_sigma, net.sigma_quantile).exp()
    gate = tile_quantile(log_sigma, net.gate_quantile).exp() if net.gate_on == "sharpest_tile" else sigma
    return net.reading(sigma, gate, x_small, fixed)


def check_tile(side: int, overlap: int = OVERLAP, name: str = "tile") -> None:
    """ValueError, with the fix, for a tile too small to keep a centre with ``overlap`` pixels of context
    each side (``name``: what the user called it)."""
    if side <= 2 * overlap + 16:
        raise ValueError(f"{name} {side} leaves no centre with an overlap of {overlap} px: use 0 (whole), auto or a "
                         f"tile > {2 * overlap + 16}")


def _windows(h: int, w: int, side: int, overlap: int):
    """(centre box, box with context) of every tile: centres of ``side - 2 overlap`` pixels cover the picture."""
    step = side - 2 * overlap
    for y0 in range(0, h, step):
        for x0 in range(0, w, step):
            y1, x1 = min(y0 + step, h), min(x0 + step, w)
            yield (y0, y1, x0, x1), (max(0, y0 - overlap), min(h, y1 + overlap), max(0, x0 - overlap),
                                     min(w, x1 + overlap))


@torch.inference_mode()
def deblur_picture(model, picture: np.ndarray, device, tile: int | None = None, overlap: int = OVERLAP,
                   progress: bool = True, amp: str = "off", read_from: np.ndarray | None = None
                   ) -> tuple[np.ndarray, Reading | None]:
    """Deblur one picture, float32 (H, W, 3) in [0, 1], in tiles of at most ``tile`` x ``tile`` pixels
    (None: ``tile_side``'s, from the device's free memory; 0: whole); returns (the picture deblurred,
    float32 in [0, 1], unrounded; the reading it was deblurred with). ``read_from``: the picture as the
    blur is read from it when that is not the picture itself (a 16-bit picture rounded to 8 bits,
    ``Picture.as_read``). A picture no larger than a tile goes through whole: a 256x448 frame comes out
    as ``predict_uint8`` deblurs it."""
    device = torch.device(device)
    h, w = picture.shape[:2]
    side = tile_side(model, device) if tile is None else (tile or max(h, w))
    if h > side or w > side:
        check_tile(side, overlap)
    speed = accel.resolve(device, amp, channels_last="on", inference=True)
    model.eval()
    if speed.channels_last:  # the weights only, as predict_uint8 (the FFTs keep their NCHW input)
        model.to(memory_format=torch.channels_last)
    reading = picture_reading(model, picture if read_from is None else read_from, device)
    out = np.empty((h, w, 3), np.float32)
    windows = [((0, h, 0, w), (0, h, 0, w))] if h <= side and w <= side else list(_windows(h, w, side, overlap))
    for (y0, y1, x0, x1), (ya, yb, xa, xb) in tqdm(windows, desc=f"{w}x{h} in tiles", unit="tile",
                                                   disable=not progress or len(windows) == 1, leave=False):
        x = to_tensor(picture[ya:yb, xa:xb], device)
        with speed.autocast():
            y = model(x) if reading is None else model(x, reading=reading)
        out[y0:y1, x0:x1] = y.float().clamp(0, 1)[0, :, y0 - ya:y1 - ya, x0 - xa:x1 - xa].permute(1, 2, 0).cpu().numpy()
    return out, reading
