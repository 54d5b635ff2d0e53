"""The report's charts, in one style: colour-blind-safe colours, units on axes, sizes legible on an A4
page (image panels with their PSNR written on them are ``panels``'). Each function returns the figure;
``save`` writes it to figures/<name>.png. No backend is forced, so figures show inline in notebooks
and survive export.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullFormatter

from ..runtime import paths
from ..runtime.atomic import replacing

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]
A4_WIDTH_IN = 7.0
STYLE = {
    "figure.dpi": 96, "savefig.dpi": 150, "savefig.bbox": "tight", "font.size": 9,
    "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8, "axes.grid": True,
    "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "axes.prop_cycle": plt.cycler(color=OKABE_ITO[1:] + OKABE_ITO[:1]),
}


def styled(fn):
    """Draw (or save) under the report's style, in a ``matplotlib.rc_context``: importing this module
    changes no global setting, and a figure the caller makes itself keeps the caller's style. In a
    Jupyter kernel the first figure also switches the inline format to retina (``_sharp_inline_figures``)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _sharp_inline_figures()
        with plt.rc_context(STYLE):
            out = fn(*args, **kwargs)
            if isinstance(out, Figure):  # ticks and grid lines are made at the first draw: make them here
                out.canvas.draw()
            return out
    return wrapper


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


@styled
def save(fig, name: str) -> Path:
    """Write figures/<name>.png (the work directory's) and return its path."""
    out = paths.figures_dir() / f"{name}.png"
    with replacing(out, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return out


def _legend_below(fig, handles, labels, ncol):
    """One legend under all panels (never on top of a curve); the panels make room for it."""
    rows = -(-len(handles) // ncol)
    height_in = fig.get_figheight()
    legend_in = 0.08 + 0.19 * rows
    fig.tight_layout(rect=(0, legend_in / height_in, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, fontsize=7.5,
               bbox_to_anchor=(0.5, 0.0), handlelength=2.6, columnspacing=1.6)


@styled
def training_curves(histories: dict, title=None, psnr_title="validation PSNR, all presets"):
    """Train loss and validation PSNR against wall minutes, one colour per run, one legend under both panels."""
    runs = {n: hist for n, hist in histories.items() if hist}
    fig, (ax_l, ax_p) = plt.subplots(1, 2, figsize=(A4_WIDTH_IN, 2.9))
    # The psnr loss is minus dB (negative): such runs get their own axis on the right.
    negative = {n for n, hist in runs.items() if any(h["train_loss"] < 0 for h in hist)}
    every = bool(runs) and negative == set(runs)
    ax_db = ax_l if every else (ax_l.twinx() if negative else None)
    colors = dict(zip(runs, OKABE_ITO[1:] + OKABE_ITO[:1]))
    handles, labels = [], []
    for name, hist in runs.items():
        m = [h["minutes"] for h in hist]
        ax, color = (ax_db if name in negative else ax_l), colors[name]
        ax.plot(m, [h["train_loss"] for h in hist], "-o", ms=2.5, color=color)
        ax.plot(m, [h["val_loss"] for h in hist], "--s", ms=2.5, color=color)
        ax_p.plot(m, [h["val_psnr_db"] for h in hist], "-o", ms=2.5, color=color)
        handles.append(Line2D([], [], color=color, marker="o", ms=3))
        labels.append(name + (" (loss on the right axis)" if name in negative and not every else ""))
    positive = all(h["train_loss"] > 0 and h["val_loss"] > 0 for n, hist in runs.items()
                   if n not in negative for h in hist)
    ax_l.set(xlabel="training time (minutes)", ylabel="loss (per pixel, [0,1] scale)",
             yscale="log" if positive and not every else "linear",
             title="loss: train (solid), validation (dashed)")
    if ax_db is ax_l:
        ax_l.set_ylabel("psnr loss (minus dB)")
    elif ax_db is not None:
        ax_db.set_ylabel("psnr loss (minus dB)")
        ax_db.grid(False)
        ax_db.spines["right"].set_visible(True)
    ax_p.set(xlabel="training time (minutes)", ylabel="validation PSNR (dB)", title=psnr_title)
    if title:
        fig.suptitle(title)
    _legend_below(fig, handles, labels, ncol=min(3, max(1, len(handles))))
    return fig


@styled
def psnr_bars(metrics: dict, baseline="identity"):
    """Mean PSNR per preset, one row per method: a dot at its PSNR joined to the dotted line of doing
    nothing, green where it helps and red where it harms; the value written beside it."""
    methods = metrics["methods"]
    presets = list(metrics["presets"])
    names = list(methods)
    colors = method_colors(names)
    ys = np.arange(len(names))
    fig, axes = plt.subplots(1, len(presets), figsize=(A4_WIDTH_IN, 0.9 + 0.26 * len(names)), sharey=True,
                             squeeze=False)
    for ax, preset in zip(axes[0], presets):
        vals = [methods[n].get(preset, {}).get("psnr_db") for n in names]
        base = methods.get(baseline, {}).get(preset, {}).get("psnr_db")
        finite = [v for v in vals if v is not None]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        pad = max(1.0, 0.08 * (hi - lo))
        ax.set_xlim(lo - (3.2 * pad if base is not None and lo < base else pad), hi + 3.2 * pad)
        if base is not None:
            ax.axvline(base, color=OKABE_ITO[0], ls=":", lw=1)
        for y, n, v in zip(ys, names, vals):
            if v is None:
                ax.text(lo, y, "n/a", va="center", fontsize=6.5, color="0.4")
                continue
            if base is not None and n != baseline:
                ax.plot([base, v], [y, y], color=OKABE_ITO[3] if v >= base else OKABE_ITO[6], lw=2.2,
                        solid_capstyle="butt", zorder=1)
            ax.plot(v, y, "o", color=colors[n], ms=5.5, mec="black", mew=0.4, zorder=2)
            inf = methods[n].get(preset, {}).get("n_infinite", 0)
            left = base is not None and v < base  # the label on the far side of the line, never on it
            ax.text(v - 0.45 * pad if left else v + 0.45 * pad, y, f"{v:.1f}" + (f" ({inf} inf)" if inf else ""),
                    va="center", ha="right" if left else "left", fontsize=6.5)
        ax.set_title(f"preset {preset}")
        ax.set_xlabel("mean PSNR (dB)")
        ax.grid(axis="y", visible=False)
    axes[0, 0].set_yticks(ys, names, fontsize=7.5)
    axes[0, 0].invert_yaxis()
    fig.suptitle(f"test split, course PSNR: dotted line = {baseline} (the blurred input); "
                 "green helps, red harms", fontsize=8.5)
    fig.tight_layout()
    return fig


@styled
def psnr_vs_sigma(sweep: dict, presets: dict | None = None):
    """Left: mean PSNR against the blur's sigma; right: the gain over doing nothing. Presets marked."""
    rows = sweep["rows"]
    sig = [r["sigma"] for r in rows]
    names = sweep["methods"]
    colors = method_colors(names)
    styles = {"identity": ":", "wiener_true_kernel": "--", "wiener_nearest_preset": "-."}
    fig, (ax_p, ax_g) = plt.subplots(1, 2, figsize=(A4_WIDTH_IN, 3.0))
    handles = []
    for n in names:
        vals = np.array([np.nan if r.get(n) is None else r[n] for r in rows], float)
        base = np.array([np.nan if r.get("identity") is None else r["identity"] for r in rows], float)
        kw = dict(color=colors[n], ls=styles.get(n, (0, (5, 1)) if n.endswith("_true_sigma") else "-"), marker="o",
                  ms=2.5, lw=1.4)
        ax_p.plot(sig, vals, **kw)
        if n != "identity":
            ax_g.plot(sig, vals - base, **kw)
        handles.append(Line2D([], [], **kw))
    for ax in (ax_p, ax_g):
        for name, p in (presets or {}).items():
            ax.axvline(p.sigma, color="0.6", lw=0.8, zorder=0)
            ax.text(p.sigma, 1.0, f" {name}", transform=ax.get_xaxis_transform(), fontsize=7, color="0.4",
                    va="top")
        ax.set_xlabel("blur sigma (pixels)")
    ax_g.axhline(0, color="black", lw=0.8)
    lo, hi = ax_g.get_ylim()
    if lo < -6:  # a model far below doing nothing would flatten the curves that compete
        ax_g.set_ylim(-6, hi)
        ax_g.text(0.99, 0.02, "curves below -6 dB are cut off", transform=ax_g.transAxes, ha="right",
                  fontsize=6.5, color="0.4")
    ax_p.set(ylabel="mean PSNR (dB)", title=f"PSNR against blur ({sweep['frames']} test frames)")
    ax_g.set(ylabel="gain over doing nothing (dB)", title="gain over the blurred input")
    _legend_below(fig, handles, names, ncol=3)
    return fig


@styled
def gain_per_frame(real: dict, methods=None, highlight: str | None = None, floor_db: float = -6.0):
    """One panel per blur: each frame's gain over doing nothing, sorted from worst to best, per method
    (identical frames count as ``real["psnr_cap_db"]``). A harmed frame is a point below zero; the grey
    band marks the 0.5 dB a frame may lose. ``highlight`` (the best model) is drawn thicker, on top;
    methods whose median frame lies below ``floor_db`` at every blur are named, not drawn."""
    blurs = real["blurs"]
    cap = real.get("psnr_cap_db", 100.0)
    names = [n for n in (methods or real["per_frame"]) if n != "identity"]
    colors = method_colors(["identity"] + names)

    def capped(values):  # JSON keeps an identical frame's infinite PSNR as null
        return np.array([cap if v is None else min(float(v), cap) for v in values])

    def gains(n, b):
        return np.sort(capped(real["per_frame"][n][b]) - capped(real["per_frame"]["identity"][b]))

    far = [n for n in names if all(np.median(gains(n, b)) < floor_db for b in blurs if b in real["per_frame"][n])]
    names = [n for n in names if n not in far]
    fig, axes = plt.subplots(1, len(blurs), figsize=(A4_WIDTH_IN, 2.9))
    for ax, b in zip(np.atleast_1d(axes), blurs):
        lowest = 0.0
        for n in sorted(names, key=lambda n: n == highlight):
            if b not in real["per_frame"].get(n, {}):
                continue
            g = gains(n, b)
            lowest = min(lowest, g[0])
            ax.plot(np.arange(1, len(g) + 1), g, color=colors[n], marker="o", ms=2 if n != highlight else 3,
                    lw=2.2 if n == highlight else 1.0, zorder=3 if n == highlight else 2)
        ax.axhspan(-0.5, 0, color="0.85", zorder=0)
        ax.axhline(0, color="black", lw=0.8)
        lo, hi = ax.get_ylim()
        if lowest < floor_db:
            ax.set_ylim(floor_db, hi)
            ax.text(0.98, 0.02, f"lowest {lowest:+.1f} dB, cut off", transform=ax.transAxes, ha="right",
                    fontsize=6, color="0.3")
        ax.set(title=f"blur {b}", xlabel="frame (sorted)")
    np.atleast_1d(axes)[0].set_ylabel("gain over doing nothing (dB)")
    handles = [Line2D([], [], color=colors[n], marker="o", ms=2, lw=2.2 if n == highlight else 1.0) for n in names]
    _legend_below(fig, handles, names, ncol=3)
    if far:
        fig.text(0.5, -0.02, "not drawn, far below doing nothing: " + ", ".join(far), ha="center", fontsize=7,
                 color="0.3")
    return fig


def _count_label(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}K" if n >= 1e3 else f"{n:.0f}"


@styled
def sweep_comparison(rows: list, presets):
    """A width sweep: test PSNR against parameter count (top row) and training minutes (bottom row),
    one panel per preset (each its own dB range), one line per model; dotted black: the blurred input.

    ``rows``: sweep.py's, each with model, width, parameters, train_minutes, psnr_db and identity_psnr_db.
    """
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


_INLINE_SET = []


def _sharp_inline_figures() -> None:
    """In a Jupyter kernel with the inline backend, send each figure as a PNG of twice the resolution,
    shown at its size in inches: crisp on screen and in the printed report. This picks the inline
    image format only (once); the backend stays whatever Jupyter chose."""
    if _INLINE_SET:
        return
    _INLINE_SET.append(True)
    try:  # IPython is there only in a Jupyter kernel; elsewhere there is nothing to set
        from IPython import get_ipython
    except ImportError:
        return
    if get_ipython() is None or "inline" not in str(plt.get_backend()):
        return
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("retina")

