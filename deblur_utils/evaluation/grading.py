"""The one grading loop: any methods on any frame sets, rows of one shape.

``grade(methods, frame_sets)`` runs every method on every set it covers (``Method.covers``) and
returns one ``Row`` per (method, set): every frame's course PSNR (uint8, scikit-image) and SSIM,
what the method did there (``notes``) and the seconds it took. A set with ``save_to`` is graded from
the PNGs written there, as the course's script grades. Tables, plots, metrics.json and the
benchmarks all read these rows: ``summary`` (the mean over finite PSNRs, the count of identical
frames), ``pool`` (several blurs together), ``worst_frame`` (the frame a method harmed most against
doing nothing).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.imageio import write_png_atomic
from .frame_sets import FrameSet
from .methods import NotGraded
from .metrics import evaluate_dirs, grade_arrays, summarize

PSNR_CAP_DB = 100.0  # an identical frame's infinite PSNR, for per-frame gains (as tune_classical counts it)
HARM_DB = 0.5        # a frame more than this below doing nothing is harmed


@dataclass
class Row:
    """One method on one frame set: per-frame PSNR (dB; inf where identical) and SSIM (None when the set
    grades PSNR only) in the order of ``files``, the method's notes there, and the seconds it took."""

    method: str
    kind: str
    set: str
    blur: str
    files: list
    psnr_db: list
    ssim: list | None
    notes: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def summary(self) -> dict:
        """{"psnr_db", "ssim", "n_images", "n_infinite"}: the course's mean over the finite PSNRs."""
        return summarize(self.psnr_db, self.ssim)


def _score(frames: FrameSet, method: str, out: np.ndarray) -> tuple[list, list, list | None]:
    """(files, per-frame PSNR, per-frame SSIM) of ``out`` on ``frames``: from PNGs written under
    ``frames.save_to`` and read back (the course's way), else from the arrays (the same numbers)."""
    if frames.save_to is None:
        psnrs, ssims = grade_arrays(frames.sharp, out, with_ssim=frames.ssim)
        return list(frames.files), psnrs, ssims
    out_dir = Path(frames.save_to) / method / frames.blur
    for rel, frame in zip(frames.files, out):
        write_png_atomic(out_dir / rel, frame)
    result = evaluate_dirs(out_dir, Path(frames.save_to) / "_sharp", with_ssim=frames.ssim)
    files = list(result["per_image"])
    return files, list(result["per_image"].values()), (list(result["per_image_ssim"].values()) if frames.ssim
                                                      else None)


def grade(methods, frame_sets, progress: bool = True, desc: str = "grade", skipped: dict | None = None) -> list[Row]:
    """Every method of ``methods`` on every frame set of ``frame_sets`` it covers, method by method.

    ``skipped``, when given, collects {method: reason} for a method that cannot deblur a set
    (``NotGraded``): it gets no row there."""
    methods, frame_sets = list(methods), list(frame_sets)
    steps = [(m, f) for m in methods for f in frame_sets if m.covers(f)]
    rows = []
    for method, frames in tqdm(steps, desc=desc, disable=not progress):
        t = time.monotonic()
        try:
            out, notes = method.deblur(frames)
        except NotGraded as why:
            if skipped is not None:
                skipped[method.name] = str(why)
            continue
        files, psnrs, ssims = _score(frames, method.name, out)
        rows.append(Row(method.name, method.kind, frames.name, frames.blur, files, psnrs, ssims, notes,
                        time.monotonic() - t))
    return rows


def by_method(rows) -> dict:
    """{method: {blur: row}}, in the order the rows came."""
    out: dict = {}
    for r in rows:
        out.setdefault(r.method, {})[r.blur] = r
    return out


def pool(summaries) -> dict:
    """Several blurs together: the mean over every finite per-image PSNR (weights by image count), SSIM
    weighted the same way, the counts summed."""
    summaries = list(summaries)
    n = sum(r["n_images"] for r in summaries)
    n_inf = sum(r["n_infinite"] for r in summaries)
    finite = [(r["psnr_db"], r["n_images"] - r["n_infinite"]) for r in summaries if r["psnr_db"] is not None]
    total = sum(k for _, k in finite)
    return {"psnr_db": sum(v * k for v, k in finite) / total if total else None,
            "ssim": sum(r["ssim"] * r["n_images"] for r in summaries) / n if n and None not in
            [r["ssim"] for r in summaries] else None,
            "n_images": n, "n_infinite": n_inf}


def capped(psnr_db: float) -> float:
    """A PSNR with an identical frame's infinity counted as ``PSNR_CAP_DB``."""
    return min(float(psnr_db), PSNR_CAP_DB)


def worst_frame(files, psnrs, identity_psnrs) -> dict:
    """{"worst_gain_db", "worst_frame", "frames_harmed"}: the frame a method made worst against doing
    nothing, and how many it made more than ``HARM_DB`` worse (an identical frame counts as 100 dB)."""
    gains = [capped(v) - capped(i) for v, i in zip(psnrs, identity_psnrs)]
    k = int(np.argmin(gains))
    return {"worst_gain_db": gains[k], "worst_frame": str(files[k]),
            "frames_harmed": int(sum(g < -HARM_DB for g in gains))}


def worst_frames(rows, identity: str = "identity") -> dict:
    """{method: {blur: worst_frame(...)}} against the ``identity`` row of the same set and blur."""
    ident = {(r.set, r.blur): dict(zip(r.files, r.psnr_db)) for r in rows if r.method == identity}
    out: dict = {}
    for r in rows:
        base = ident.get((r.set, r.blur))
        if base is not None:
            out.setdefault(r.method, {})[r.blur] = worst_frame(r.files, r.psnr_db, [base[f] for f in r.files])
    return out
