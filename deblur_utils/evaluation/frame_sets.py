"""What a method is graded on: frames of one blur, sharp and blurred, with the validation frames a
classical method tunes its knob on.

A ``FrameSet`` is one blur of one set of frames: each preset of the test split, each sigma of the
sweep, each blur of the real-photo test set. The grading loop (``grading.grade``) takes any list of
them; the functions below build the report's:

- ``test_split``: the test split per preset, Set B as notebook 01 wrote it (graded from PNGs, as
  the course grades, when ``save_to`` is given: notebook 05 shows those very files);
- ``sweep``: the test frames blurred with the 8-bit Gaussian of each sigma of ``sweep_sigmas``;
- ``real_photos``: the real-photo test set (or its validation set) at presets a, b, c and sigma 1.2;
- ``embedded``: one split of the embedded data per preset, for the benchmarks' choices and records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import real_photos
from ..data.blur import EVAL_BLURS, PRESETS, BlurPreset, blur_uint8, get_preset, kernel_size_for_sigma
from ..data.cache import load_cached
from ..data.imageio import write_png_atomic
from ..runtime import paths


class ValidationFrames:
    """Validation frames (sharp) and their blurred versions: Set B for a preset, blurred here for any
    other blur (the same 8-bit blur Set B was made with), each made once."""

    def __init__(self, sharp: np.ndarray, presets: dict | None = None):
        self.sharp = np.asarray(sharp)
        self._blurred = {get_preset(p).name: np.asarray(a) for p, a in (presets or {}).items()}

    def blurred(self, kernel: BlurPreset) -> np.ndarray:
        key = kernel.name if PRESETS.get(kernel.name) == kernel else (kernel.kernel_size, kernel.sigma)
        if key not in self._blurred:
            self._blurred[key] = np.stack([blur_uint8(s, kernel) for s in self.sharp])
        return self._blurred[key]


@dataclass
class FrameSet:
    """Frames of one blur: ``sharp`` and ``blurred`` uint8 (N, H, W, 3), named ``files``.

    ``name``: the set ("test", "sweep", "real"...); ``blur``: the key rows carry (a preset's name,
    "s1.2", a sigma); ``kernel``: the true blur, what a classical method is told; ``val``: validation
    frames for methods that tune a knob; ``stand_in``: a model trained per preset may be graded here
    with its nearest preset's checkpoint, as one would have to use it (the real photos at sigma 1.2);
    ``save_to``: predictions are written as PNGs under ``save_to/<method>/<blur>/`` and graded back
    from the files, as the course grades (the test split); ``ssim``: grade SSIM too."""

    name: str
    blur: str
    kernel: BlurPreset
    sharp: np.ndarray
    blurred: np.ndarray
    files: list
    val: ValidationFrames | None = None
    stand_in: bool = False
    save_to: Path | None = None
    ssim: bool = True
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sharp)


def nearest_preset(sigma: float, presets=None) -> BlurPreset:
    """The preset (of ``presets``, default all three) whose sigma is nearest ``sigma``."""
    chosen = [get_preset(p) for p in (presets or PRESETS)]
    return min(chosen, key=lambda p: abs(p.sigma - sigma))


def _validation(P, presets) -> ValidationFrames:
    val = load_cached(paths.processed_dir(), "val", presets, P.tune_max_frames)
    return ValidationFrames(val["sharp"], {p: val[p] for p in presets})


def test_split(P, presets=None, save_to: Path | None = None) -> list[FrameSet]:
    """The test split per preset (``test_max_frames``), with the validation frames (``tune_max_frames``).
    With ``save_to`` the sharp frames are written to ``save_to/_sharp/`` to grade PNGs against."""
    presets = [get_preset(p).name for p in (presets or P.presets)]
    test = load_cached(paths.processed_dir(), "test", presets, P.test_max_frames)
    val = _validation(P, presets)
    files = [str(f) for f in test["files"]]
    if save_to is not None:
        for rel, frame in zip(test["files"], test["sharp"]):
            write_png_atomic(Path(save_to) / "_sharp" / rel, frame)
    sharp = np.asarray(test["sharp"])
    return [FrameSet("test", p, get_preset(p), sharp, np.asarray(test[p]), files, val, save_to=save_to)
            for p in presets]


def blurred_at(sharp: np.ndarray, sigma: float) -> tuple[BlurPreset, np.ndarray]:
    """(the kernel, ``sharp`` blurred with it): the 8-bit Gaussian of ``sigma``, kernel ``kernel_size_for_sigma``,
    uint8 like Set B."""
    kernel = get_preset((kernel_size_for_sigma(sigma), float(sigma)))
    return kernel, np.stack([blur_uint8(s, kernel) for s in sharp])


def sweep(P) -> list[FrameSet]:
    """The test frames (``sweep_max_frames``, else ``test_max_frames``) blurred with the 8-bit Gaussian of
    each sigma of ``sweep_sigmas`` (kernel ``kernel_size_for_sigma``, uint8 like Set B); PSNR only."""
    n_test = P.sweep_max_frames or P.test_max_frames
    test = load_cached(paths.processed_dir(), "test", P.presets, n_test)
    val = _validation(P, P.presets)
    sharp, files = np.asarray(test["sharp"]), [str(f) for f in test["files"]]
    out = []
    for sigma in P.sweep_sigmas:
        kernel, blurred = blurred_at(sharp, sigma)
        out.append(FrameSet("sweep", f"{float(sigma):g}", kernel, sharp, blurred, files, val, ssim=False,
                            extra={"sigma": float(sigma)}))
    return out


def real_photos_sets(P, which: str = "test", blurs=tuple(EVAL_BLURS)) -> list[FrameSet] | None:
    """The real-photo test set (``which="val"``: its validation set) at each blur of ``blurs`` (presets
    a, b, c and 7x7 sigma 1.2); None when notebook 01 has not built it. The classical methods tune on
    the embedded validation frames: nothing is tuned on these photos."""
    real = real_photos.load(blurs, which=which)
    if real is None:
        return None
    val = _validation(P, P.presets)
    files = [str(f) for f in real["files"]]
    return [FrameSet(f"real {which}" if which != "test" else "real", b, EVAL_BLURS[b], real["sharp"], real[b],
                     files, val, stand_in=True, extra={"photos": real["manifest"]["photos"]})
            for b in blurs]


def embedded(P, split: str = "val", presets=("b", "c"), max_frames: int | None = None) -> list[FrameSet]:
    """One split of the embedded data per preset (``max_frames``: the first frames only; None: all), for
    the benchmarks' choices (the validation split) and their records (the test split)."""
    presets = [get_preset(p).name for p in presets]
    frames = load_cached(paths.processed_dir(), split, presets, max_frames)
    sharp, files = np.asarray(frames["sharp"]), [str(f) for f in frames["files"]]
    return [FrameSet(f"embedded {split}", p, get_preset(p), sharp, np.asarray(frames[p]), files) for p in presets]
