"""The embedded default dataset: short "video sequences" cut from photos shipped inside wheels.

No download: the photos come with scikit-image and matplotlib. Each validation and test photo
becomes one sequence whose frames slowly zoom and pan across it, so that consecutive frames are
near-duplicates, as in the course's video frames. A training photo's frames are reduced from it,
never enlarged, over a spread of downscale factors (``ladder.spread``): the blur estimate learns
what "sharp" looks like from them, and the course's frames are video reduced 2.86 times. A training
photo smaller than one frame is left out (the manifest says so). The split is fixed by photo: test
frames come from photos never used for training. Notebook 01 adds real photographs from a Debian
package to the training split (``real_photos.TRAIN_PHOTOS``, parameter ``training_photos``).
"""
from __future__ import annotations

import shutil
from importlib.metadata import version
from pathlib import Path

import numpy as np
from PIL import Image

from ..runtime.atomic import write_text
from . import ladder
from .imageio import read_rgb, write_png_atomic

# sequence name -> (package, file inside the package's data folder). Grey photos become RGB.
PHOTOS = {
    "motorcycle_left": ("skimage", "motorcycle_left.png"),
    "motorcycle_right": ("skimage", "motorcycle_right.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "hubble": ("skimage", "hubble_deep_field.jpg"),
    "ihc": ("skimage", "ihc.png"),
    "retina": ("skimage", "retina.jpg"),
    "brick": ("skimage", "brick.png"),
    "camera": ("skimage", "camera.png"),
    "grass": ("skimage", "grass.png"),
    "moon": ("skimage", "moon.png"),
    "coins": ("skimage", "coins.png"),
    "cell": ("skimage", "cell.png"),
    "gravel": ("skimage", "gravel.png"),
    "chelsea": ("skimage", "chelsea.png"),
    "astronaut": ("skimage", "astronaut.png"),
    "coffee": ("skimage", "coffee.png"),
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),
}
# The licence of each photo, as the package's own documentation states it (scikit-image's data
# docstrings, matplotlib's sample data).
LICENCES = {
    "motorcycle_left": "Middlebury 2014 stereo benchmark (Scharstein et al.), as shipped by scikit-image",
    "motorcycle_right": "Middlebury 2014 stereo benchmark (Scharstein et al.), as shipped by scikit-image",
    "rocket": "public domain (SpaceX)",
    "hubble": "public domain (NASA)",
    "ihc": "no known copyright restrictions",
    "retina": "CC0-1.0",
    "brick": "CC0-1.0 (CC0Textures)",
    "camera": "CC0-1.0 (Lav Varshney)",
    "grass": "CC0-1.0 (CC0Textures)",
    "moon": "no licence stated (scikit-image sample data)",
    "coins": "no known copyright restrictions (Brooklyn Museum)",
    "cell": "CC0-1.0",
    "gravel": "CC0-1.0 (CC0Textures)",
    "chelsea": "CC0-1.0 (Stefan van der Walt)",
    "astronaut": "public domain (NASA)",
    "coffee": "CC0-1.0 (Rachel Michetti)",
    "grace_hopper": "public domain (US Navy)",
}
# Fixed by photo: consecutive frames of one sequence are near-duplicates.
SPLITS = {
    "val": ["gravel", "rocket"],
    "test": ["astronaut", "coffee", "grace_hopper", "chelsea"],
}
SPLITS["train"] = [s for s in PHOTOS if s not in SPLITS["val"] + SPLITS["test"]]
# How the frames are cut, stamped in the raw folder (``.recipe``) and in the processed folder's
# settings: frames of another recipe are rebuilt, never mixed.
RECIPE = "training frames reduced over a ladder, never enlarged (2026-12-05)"


def photo_path(package: str, filename: str) -> Path:
    """The file inside an installed wheel; never fetched from the network. (Each package is imported
    here, where its photo is asked for: matplotlib costs a second to import, and notebook 01's worker
    processes import this module without needing it.)"""
    if package == "skimage":
        import skimage

        return Path(skimage.__file__).parent / "data" / filename
    if package == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data" / filename
    raise ValueError(f"unknown photo package {package!r}")


def manifest() -> list[dict]:
    """Where every embedded photo comes from: sequence, split, package, version, file, licence."""
    dist = {"skimage": "scikit-image", "matplotlib": "matplotlib"}
    split_of = {seq: name for name, seqs in SPLITS.items() for seq in seqs}
    return [{"sequence": seq, "split": split_of[seq] if _usable(seq) else "unused: smaller than one frame",
             "package": dist[package], "version": version(dist[package]),
             "file": str(photo_path(package, filename).relative_to(photo_path(package, filename).parents[2])),
             "licence": LICENCES[seq]}
            for seq, (package, filename) in PHOTOS.items()]


def frames_from_photo(photo_uint8: np.ndarray, n_frames: int, height: int, width: int) -> list[np.ndarray]:
    """``n_frames`` crops of height x width that zoom in (x1 to x1.35) and pan across the photo."""
    h, w = photo_uint8.shape[:2]
    base = max(height / h, width / w)
    img = Image.fromarray(photo_uint8)
    frames = []
    for k in range(n_frames):
        t = k / max(1, n_frames - 1)
        scale = base * (1.0 + 0.35 * t)
        sh, sw = max(height, round(h * scale)), max(width, round(w * scale))
        resized = np.asarray(img.resize((sw, sh), Image.Resampling.LANCZOS))
        y0 = round((sh - height) * (0.5 + 0.5 * np.sin(2.1 * t + 0.3) * (1 if k % 2 else 0.6)) * 0.999)
        x0 = round((sw - width) * t)
        y0 = min(max(0, y0), sh - height)
        frames.append(np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width]))
    return frames


def _training_boxes(seq: str, n: int, height: int, width: int) -> list:
    """A training photo's ``n`` crop boxes: ``ladder.spread`` of its size (reduced from 1x to the whole
    photo, never enlarged; [] for a photo smaller than one frame)."""
    w, h = Image.open(photo_path(*PHOTOS[seq])).size
    return ladder.spread((h, w), n, height, width)


def _usable(seq: str, height: int = 256, width: int = 448) -> bool:
    """Whether a photo gives frames: a training photo smaller than one frame does not (it is never enlarged)."""
    return seq not in SPLITS["train"] or bool(_training_boxes(seq, 1, height, width))


def build_embedded_raw(out_dir: Path, frames_per_sequence: int, height: int, width: int,
                       sequences=None) -> list[Path]:
    """Write ``out_dir/<sequence>/<frame>.png`` for each photo (training photos: ``_training_boxes``;
    the others: ``frames_from_photo``); skips frames already written with this ``RECIPE``, rebuilds the
    folder when it holds another's."""
    if frames_per_sequence < 1:
        raise ValueError(f"frames_per_sequence must be >= 1, got {frames_per_sequence}")
    out_dir = Path(out_dir)
    stamp = out_dir / ".recipe"
    if out_dir.exists() and (not stamp.exists() or stamp.read_text().strip() != RECIPE):
        shutil.rmtree(out_dir)  # frames this module generated (and the training photos'), nothing of the user's
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(stamp, RECIPE + "\n")
    written = []
    for seq in sequences or PHOTOS:
        package, filename = PHOTOS[seq]
        path = photo_path(package, filename)
        train = seq in SPLITS["train"]
        boxes = _training_boxes(seq, frames_per_sequence, height, width) if train else [None] * frames_per_sequence
        targets = [out_dir / seq / f"{k:08d}.png" for k in range(len(boxes))]
        if all(t.exists() for t in targets):
            continue
        photo = read_rgb(path)
        if train:
            frames = [ladder.reduce(photo, box, height, width) for box in boxes]
        else:
            frames = frames_from_photo(photo, frames_per_sequence, height, width)
        for target, frame in zip(targets, frames):
            if not target.exists():
                write_png_atomic(target, frame)
                written.append(target)
    return written
