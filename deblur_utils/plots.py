"""Every figure of the report, in one style: colour-blind-safe colours, units on axes,
PSNR on every image panel, sizes legible on an A4 page. Each function returns the
figure; ``save`` writes it to figures/<name>.png. No backend is forced, so figures
show inline in notebooks and survive export.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import paths
from .atomic import replacing
from .metrics import psnr_db

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]
A4_WIDTH_IN = 7.0
STYLE = {
    "figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight", "font.size": 9,
    "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8, "axes.grid": True,
    "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "axes.prop_cycle": plt.cycler(color=OKABE_ITO[1:] + OKABE_ITO[:1]),
}
plt.rcParams.update(STYLE)


def method_colors(names) -> dict:
    """One fixed colour per method; doing nothing is always black."""
    out, k = {}, 0
    for n in names:
        if n == "identity":
            out[n] = OKABE_ITO[0]
        else:
            out[n] = OKABE_ITO[1 + k % (len(OKABE_ITO) - 1)]
            k += 1
    return out


def save(fig, name: str) -> Path:
    """Write figures/<name>.png (the work directory's) and return its path."""
    out = paths.figures_dir() / f"{name}.png"
    with replacing(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return out


def _psnr_label(sharp, img) -> str:
    v = psnr_db(sharp, img)
    return "PSNR inf (identical)" if math.isinf(v) else f"PSNR {v:.2f} dB"


def _zoom_box(h, w, size, center=None):
    cy, cx = center if center is not None else (h // 2, w // 2)
    y0 = int(np.clip(cy - size // 2, 0, h - size))
    x0 = int(np.clip(cx - size // 2, 0, w - size))
    return y0, x0


def busiest_point(sharp_uint8: np.ndarray, size: int) -> tuple[int, int]:
    """Centre of the size x size window with the most gradient energy: where blur shows most."""
    g = sharp_uint8.astype(np.float32).mean(-1)
    energy = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1]
    step = max(1, size // 2)
    best, at = -1.0, (g.shape[0] // 2, g.shape[1] // 2)
    for y in range(0, energy.shape[0] - size, step):
        for x in range(0, energy.shape[1] - size, step):
            e = float(energy[y:y + size, x:x + size].sum())
            if e > best:
                best, at = e, (y + size // 2, x + size // 2)
    return at


def image_row(images: dict, sharp, zoom=64, center=None, title=None, error_of=None, max_cols=4):
    """Panels, each with its PSNR against ``sharp`` and a zoomed crop under it, wrapped at ``max_cols``.

    ``error_of``: the name of one panel whose absolute error against ``sharp`` is added as a map.
    """
    h, w = sharp.shape[:2]
    center = center or busiest_point(sharp, zoom)
    y0, x0 = _zoom_box(h, w, zoom, center)
    panels = [(name, img, False) for name, img in images.items()]
    if error_of:
        err = np.abs(images[error_of].astype(np.int16) - sharp.astype(np.int16)).max(-1)
        panels.append((f"|{error_of} - sharp|\nmax over RGB, grey levels", err, True))
    cols = min(max_cols, len(panels))
    blocks = -(-len(panels) // cols)
    col_in = A4_WIDTH_IN / cols
    fig, axes = plt.subplots(2 * blocks, cols, figsize=(A4_WIDTH_IN, blocks * col_in * (h / w + 0.62) + 0.9 * blocks),
                             gridspec_kw={"height_ratios": [h / w, 0.62] * blocks}, squeeze=False)
    vmax = None
    for k, (name, img, is_err) in enumerate(panels):
        ax, axz = axes[2 * (k // cols), k % cols], axes[2 * (k // cols) + 1, k % cols]
        if is_err:
            vmax = max(8, int(np.percentile(img, 99.5)))
            im = ax.imshow(img, cmap="magma", vmin=0, vmax=vmax)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            axz.imshow(img[y0:y0 + zoom, x0:x0 + zoom], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            ax.set_title(name, fontsize=7)
        else:
            ax.imshow(img)
            label = "reference" if img is sharp else _psnr_label(sharp, img)
            ax.set_title(f"{name}\n{label}", fontsize=8)
            axz.imshow(img[y0:y0 + zoom, x0:x0 + zoom], interpolation="nearest")
        ax.add_patch(plt.Rectangle((x0, y0), zoom, zoom, fill=False, ec="#E69F00", lw=1.5))
        axz.set_title(f"zoom {zoom}x{zoom}", fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def kernels(presets: dict):
    """The blur kernels as images at one scale, with size and sigma."""
    from .blur import gaussian_kernel_2d

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


def training_curves(histories: dict, title=None, psnr_title="validation PSNR, all presets"):
    """Train loss and validation PSNR against wall minutes, one line per run."""
    fig, (ax_l, ax_p) = plt.subplots(1, 2, figsize=(A4_WIDTH_IN, 2.6))
    # The psnr loss is minus dB (negative): such runs get their own axis on the right.
    negative = {n for n, hist in histories.items() if hist and any(h["train_loss"] < 0 for h in hist)}
    every = negative == {n for n, hist in histories.items() if hist}
    ax_db = ax_l if every else (ax_l.twinx() if negative else None)
    colors = iter(OKABE_ITO[1:] + OKABE_ITO[:1])
    for name, hist in histories.items():
        if not hist:
            continue
        m = [h["minutes"] for h in hist]
        ax, color = (ax_db if name in negative else ax_l), next(colors)
        ax.plot(m, [h["train_loss"] for h in hist], "-o", ms=2.5, color=color,
                label=f"{name} train" + (" (right axis)" if name in negative and not every else ""))
        ax.plot(m, [h["val_loss"] for h in hist], "--s", ms=2.5, color=color, label=f"{name} val")
        ax_p.plot(m, [h["val_psnr_db"] for h in hist], "-o", ms=2.5, color=color, label=name)
    positive = all(h["train_loss"] > 0 and h["val_loss"] > 0 for n, hist in histories.items()
                   if n not in negative for h in hist)
    ax_l.set(xlabel="training time (minutes)", ylabel="loss (per pixel, [0,1] scale)",
             yscale="log" if positive and not every else "linear",
             title="loss: train (solid) and validation (dashed)")
    if ax_db is ax_l:
        ax_l.set_ylabel("psnr loss (minus dB)")
    elif ax_db is not None:
        ax_db.set_ylabel("psnr loss (minus dB)")
        ax_db.grid(False)
        ax_db.spines["right"].set_visible(True)
        ax_db.legend(fontsize=6, loc="center right")
    ax_p.set(xlabel="training time (minutes)", ylabel="validation PSNR (dB)", title=psnr_title)
    ax_l.legend(fontsize=6), ax_p.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def psnr_bars(metrics: dict, baseline="identity"):
    """Mean PSNR per preset, one bar per method, values written on the bars; doing nothing in black."""
    methods = metrics["methods"]
    presets = list(metrics["presets"])
    names = list(methods)
    colors = method_colors(names)
    fig, axes = plt.subplots(1, len(presets), figsize=(A4_WIDTH_IN, 3.0), sharey=False)
    for ax, preset in zip(np.atleast_1d(axes), presets):
        vals = [methods[n].get(preset, {}).get("psnr_db") for n in names]
        xs = np.arange(len(names))
        shown = [v if v is not None else np.nan for v in vals]
        bars = ax.bar(xs, shown, color=[colors[n] for n in names])
        finite = [v for v in vals if v is not None]
        lo = min(finite) - 2 if finite else 0
        ax.set_ylim(max(0, lo), (max(finite) + 1.5) if finite else 1)
        for b, v, n in zip(bars, vals, names):
            txt = "n/a" if v is None else f"{v:.1f}"
            inf = methods[n].get(preset, {}).get("n_infinite", 0)
            if inf:
                txt += f"\n({inf} inf)"
            ax.text(b.get_x() + b.get_width() / 2, (v if v is not None else ax.get_ylim()[0]),
                    txt, ha="center", va="bottom", fontsize=6)
        ax.set_xticks(xs, names, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"preset {preset}")
        ax.set_ylabel("mean PSNR (dB)")
        ax.grid(axis="x", visible=False)
    fig.suptitle(f"test split: PSNR per preset (course metric, uint8 PNGs); {baseline} = blurred input")
    fig.tight_layout()
    return fig


def psnr_vs_sigma(sweep: dict, presets: dict | None = None):
    """Left: mean PSNR against the blur's sigma; right: the gain over doing nothing. Presets marked."""
    rows = sweep["rows"]
    sig = [r["sigma"] for r in rows]
    names = sweep["methods"]
    colors = method_colors(names)
    styles = {"identity": ":", "wiener_true_kernel": "--", "wiener_nearest_preset": "-."}
    fig, (ax_p, ax_g) = plt.subplots(1, 2, figsize=(A4_WIDTH_IN, 2.9))
    for n in names:
        vals = np.array([np.nan if r.get(n) is None else r[n] for r in rows], float)
        base = np.array([np.nan if r.get("identity") is None else r["identity"] for r in rows], float)
        kw = dict(color=colors[n], ls=styles.get(n, "-"), marker="o", ms=2.5, lw=1.4, label=n)
        ax_p.plot(sig, vals, **kw)
        if n != "identity":
            ax_g.plot(sig, vals - base, **kw)
    for ax in (ax_p, ax_g):
        for name, p in (presets or {}).items():
            ax.axvline(p.sigma, color="0.6", lw=0.8, zorder=0)
            ax.text(p.sigma, 1.0, f" {name}", transform=ax.get_xaxis_transform(), fontsize=7, color="0.4",
                    va="top")
        ax.set_xlabel("Gaussian blur sigma (pixels; kernel grows with sigma)")
    ax_g.axhline(0, color="black", lw=0.8)
    lo, hi = ax_g.get_ylim()
    if lo < -6:  # a model far below doing nothing would flatten the curves that compete
        ax_g.set_ylim(-6, hi)
        ax_g.text(0.99, 0.02, "curves below -6 dB are cut off", transform=ax_g.transAxes, ha="right",
                  fontsize=6, color="0.4")
    ax_p.set(ylabel="mean PSNR (dB)", title=f"PSNR against blur ({sweep['frames']} test frames)")
    ax_g.set(ylabel="gain over doing nothing (dB)", title="gain over the blurred input")
    ax_p.legend(fontsize=6)
    fig.tight_layout()
    return fig


def _count_label(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}K" if n >= 1e3 else f"{n:.0f}"


def sweep_comparison(rows: list, presets):
    """A width sweep: test PSNR against parameter count (top row) and training minutes (bottom row),
    one panel per preset (each its own dB range), one line per model; dotted black: the blurred input.

    ``rows``: sweep.py's, each with model, width, parameters, train_minutes, psnr_db and identity_psnr_db.
    """
    from matplotlib.ticker import FixedLocator, NullFormatter

    models = list(dict.fromkeys(r["model"] for r in rows))
    colors = method_colors(models)
    fig, axes = plt.subplots(2, len(presets), figsize=(A4_WIDTH_IN, 4.4), squeeze=False)
    counts = []  # tick at each model size, leaving out one too close (on the log axis) to the previous
    all_counts = sorted({r["parameters"] for r in rows})
    span = math.log10(all_counts[-1] / all_counts[0]) if all_counts[0] > 0 else 0
    for c in all_counts:
        if not counts or math.log10(c / counts[-1]) > 0.15 * span:
            counts.append(c)
    minutes = [r["train_minutes"] for r in rows if r["train_minutes"]]
    wide = bool(minutes) and max(minutes) / max(min(minutes), 1e-9) > 10
    for k, p in enumerate(presets):
        ax_n, ax_t = axes[0, k], axes[1, k]
        for model in models:
            rs = sorted((r for r in rows if r["model"] == model), key=lambda r: r["parameters"])
            y = [np.nan if r["psnr_db"].get(p) is None else r["psnr_db"][p] for r in rs]
            kw = dict(color=colors[model], marker="o", ms=3.5, lw=1.3, label=model)
            ax_n.plot([r["parameters"] for r in rs], y, **kw)
            ax_t.plot([r["train_minutes"] for r in rs], y, **kw)
            for r, v in zip(rs, y):
                ax_n.annotate(f"w{r['width']}", (r["parameters"], v), textcoords="offset points", xytext=(0, 4),
                              ha="center", fontsize=6, color="0.3")
        base = next((r["identity_psnr_db"].get(p) for r in rows if r["identity_psnr_db"].get(p) is not None), None)
        for ax in (ax_n, ax_t):
            if base is not None:
                ax.axhline(base, color="black", ls=":", lw=0.9, label="blurred input")
            ax.set_title(f"preset {p}")
        ax_n.set_xscale("log")
        ax_n.xaxis.set_major_locator(FixedLocator(counts))
        ax_n.set_xticks(counts, [_count_label(c) for c in counts], fontsize=7)
        ax_n.xaxis.set_minor_formatter(NullFormatter())
        ax_n.set_xlabel("parameters (log scale)")
        ax_t.set_xscale("log" if wide else "linear")
        ax_t.xaxis.set_minor_formatter(NullFormatter())
        ax_t.set_xlabel("training time (minutes" + (", log scale)" if wide else ")"))
    for row in axes:
        row[0].set_ylabel("test PSNR (dB)")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle("width sweep: test PSNR (course metric) against model size and training time")
    fig.tight_layout()
    return fig
