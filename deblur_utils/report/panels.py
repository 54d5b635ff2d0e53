"""The report's image figures: frames side by side, each with its PSNR against the sharp frame written on
it and a zoom into the same box under it, an error map; the blur kernels; thumbnails."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..data.blur import gaussian_kernel_2d
from ..evaluation.metrics import psnr_db
from .plots import A4_WIDTH_IN, OKABE_ITO, styled


def _psnr_label(sharp, img) -> str:
    v = psnr_db(sharp, img)
    return "PSNR inf (identical)" if math.isinf(v) else f"PSNR {v:.2f} dB"


def _zoom_box(h, w, size, center=None):
    """Top-left corner of a (zh, zw) window (``size`` an int: square) around ``center``, inside the frame."""
    zh, zw = (size, size) if isinstance(size, int) else size
    cy, cx = center if center is not None else (h // 2, w // 2)
    y0 = int(np.clip(cy - zh // 2, 0, h - zh))
    x0 = int(np.clip(cx - zw // 2, 0, w - zw))
    return y0, x0


def busiest_point(sharp_uint8: np.ndarray, size) -> tuple[int, int]:
    """Centre of the window (``size``: side, or (height, width)) with the most gradient energy: where blur shows most."""
    zh, zw = (size, size) if isinstance(size, int) else size
    g = sharp_uint8.astype(np.float32).mean(-1)
    energy = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1]
    best, at = -1.0, (g.shape[0] // 2, g.shape[1] // 2)
    for y in range(0, energy.shape[0] - zh, max(1, zh // 2)):
        for x in range(0, energy.shape[1] - zw, max(1, zw // 2)):
            e = float(energy[y:y + zh, x:x + zw].sum())
            if e > best:
                best, at = e, (y + zh // 2, x + zw // 2)
    return at


ZOOM_COLOR = OKABE_ITO[1]


def _corner_label(ax, text, loc="upper left"):
    """Text on the image itself (white on a dark box), so a number cannot drift from its panel."""
    x, ha = (0.03, "left") if "left" in loc else (0.97, "right")
    y, va = (0.95, "top") if "upper" in loc else (0.05, "bottom")
    ax.text(x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=7.5, color="white",
            bbox=dict(boxstyle="round,pad=0.2", fc="black", ec="none", alpha=0.65))


@styled
def image_row(images: dict, sharp, zoom=64, center=None, title=None, error_of=None, max_cols=4):
    """Panels, each with its PSNR against ``sharp`` written on it and, under it, a zoom into the
    orange box; wrapped at ``max_cols`` per row.

    The zoom window is ``zoom`` pixels high and as wide as the frame's aspect ratio makes it, so the
    zoom fills the same space as the frame (magnified frame width / window width times).
    ``error_of``: the name of one panel whose absolute error against ``sharp`` is added as a map.
    """
    h, w = sharp.shape[:2]
    zh = min(zoom, h)
    zw = min(w, max(1, round(zh * w / h)))
    center = center or busiest_point(sharp, (zh, zw))
    y0, x0 = _zoom_box(h, w, (zh, zw), center)
    panels = [(name, img, False) for name, img in images.items()]
    if error_of:
        err = np.abs(images[error_of].astype(np.int16) - sharp.astype(np.int16)).max(-1)
        panels.append((f"error of {error_of}", err, True))
    cols = min(max_cols, len(panels))
    rows = -(-len(panels) // cols)
    col_in = A4_WIDTH_IN / cols
    img_in = col_in * h / w
    title_in, top_in = 0.34, (0.2 if title else 0.05)
    bottom_in = 0.45 if error_of else 0.05
    fig_h = rows * (2 * img_in + title_in + 0.06) + top_in + bottom_in
    fig = plt.figure(figsize=(A4_WIDTH_IN, fig_h))
    block_in = 2 * img_in + 0.06  # a frame and its zoom, 0.06 inch apart; title_in between blocks
    outer = fig.add_gridspec(rows, cols, left=0.005, right=0.995, wspace=0.04,
                             top=1 - (top_in + title_in) / fig_h, bottom=bottom_in / fig_h,
                             hspace=title_in / block_in)
    for k, (name, img, is_err) in enumerate(panels):
        r, c = divmod(k, cols)
        inner = outer[r, c].subgridspec(2, 1, hspace=0.06 / img_in)
        ax, axz = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
        crop = img[y0:y0 + zh, x0:x0 + zw]
        if is_err:
            vmax = max(8, int(np.percentile(img, 99.5)))
            im = ax.imshow(img, cmap="magma", vmin=0, vmax=vmax)
            axz.imshow(crop, cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            cax = axz.inset_axes([0.0, -0.13, 1.0, 0.07])
            fig.colorbar(im, cax=cax, orientation="horizontal")
            cax.tick_params(labelsize=6.5, length=2, pad=1)
            cax.set_xlabel("|output - sharp|, max over RGB (grey levels)", fontsize=6.5, labelpad=1)
            _corner_label(ax, f"max {int(img.max())}, mean {img.mean():.2f}", "lower left")
        else:
            ax.imshow(img)
            axz.imshow(crop, interpolation="nearest")
            _corner_label(ax, "reference" if img is sharp else _psnr_label(sharp, img), "lower left")
        ax.set_title(name, fontsize=8, pad=3)
        ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), zw, zh, fill=False, ec=ZOOM_COLOR, lw=1.3))
        for a in (ax, axz):
            a.set_xticks([]), a.set_yticks([])
            a.grid(False)
        for spine in axz.spines.values():
            spine.set_visible(True), spine.set_color(ZOOM_COLOR), spine.set_linewidth(1.3)
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(f"{title}   (below each frame: the orange box, {w / zw:.1f}x larger)", fontsize=9,
                     y=1 - 0.06 / fig_h, va="top")
    return fig


@styled
def kernels(presets: dict):
    """The blur kernels as images at one scale, with size and sigma."""
    fig, axes = plt.subplots(1, len(presets), figsize=(A4_WIDTH_IN * 0.6, 1.8))
    kmax = max(p.kernel_size for p in presets.values())
    for ax, (name, p) in zip(np.atleast_1d(axes), presets.items()):
        k = gaussian_kernel_2d(p.kernel_size, p.sigma)
        canvas = np.zeros((kmax, kmax))
        o = (kmax - p.kernel_size) // 2
        canvas[o:o + p.kernel_size, o:o + p.kernel_size] = k
        ax.imshow(canvas, cmap="viridis", interpolation="nearest")
        ax.set_title(f"{name}: {p.kernel_size}x{p.kernel_size}, sigma {p.sigma:g}\ncentre weight {k.max():.3f}")
        ax.set_axis_off()
    fig.tight_layout()
    return fig


@styled
def thumbnails(frames_uint8, cols: int = 6, title: str | None = None):
    """A grid of frames (N, H, W, 3), in order, without axes."""
    n = len(frames_uint8)
    rows = max(1, -(-n // cols))
    h, w = frames_uint8[0].shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(A4_WIDTH_IN, A4_WIDTH_IN / cols * h / w * rows + 0.3),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(frames_uint8[k])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(wspace=0.03, hspace=0.03, left=0, right=1, bottom=0, top=0.94 if title else 1)
    return fig
