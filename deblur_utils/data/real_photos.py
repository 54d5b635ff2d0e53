"""The second test set: real photographs, downscaled the way the course's frames were.

The embedded default trains and tests on a dozen photos from inside the scikit-image and
matplotlib wheels, several of them small and upsampled to 256x448. The course's frames were
cut from 720p video and downscaled. This set holds what the embedded one lacks: photographs of
1080p and more (shallow depth of field, dark and low-contrast interiors, sky and water, foliage,
fine texture, animals), each cut into ``frames_per_photo`` views of 256x448 and reduced with a
Lanczos filter (an antialiased reduction of 2x to 17x), then blurred with the three presets and
with 7x7 sigma 1.2, the blur between presets b and c that the course's graders used.

**It is a test set only.** None of its photos is used for training, validation or for tuning
anything: the Wiener filter's balance and Richardson-Lucy's iteration count come from the embedded
validation frames, as for the embedded test split. Photos of other packages serve the other roles:
``VAL_PHOTOS`` (validation: the no-harm gate's thresholds) and ``TRAIN_PHOTOS`` (added to the
embedded default's training split by ``write_training_sequences``, from a package no test or
validation photo comes from).

**Where the photos come from.** Debian packages of desktop wallpapers, community photographs under
Creative Commons and GPL licences (``PHOTOS`` names each file). ``fetch`` takes the packages'
``.deb`` files with ``apt-get download`` and unpacks them with ``dpkg-deb -x`` under
``data/external/debian/`` (nothing is installed system-wide; ``make`` runs it). Where there is no
apt-get (macOS, Windows) the photos are looked for in ``/usr/share/backgrounds`` and the report
says that the chapter is skipped when they are missing. Every frame's source (package, version,
file, licence, copyright line) goes into ``data/processed/real/manifest.json``, read from the
package's own ``copyright`` file.
"""
from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..runtime import paths
from ..runtime.atomic import write_text
from .blur import EVAL_BLURS, blur_uint8
from . import ladder
from .imageio import read_rgb, write_png_atomic


@dataclass(frozen=True)
class Photo:
    """One photograph: its Debian package, its path in the package, and what kind of scene it is."""

    name: str
    package: str
    file: str  # path inside the package
    kind: str


_LOMIRI = "/usr/share/backgrounds/"
_MATE = "/usr/share/backgrounds/mate/nature/"
PHOTOS = (
    Photo("bridge", "lomiri-wallpapers-16.04", _LOMIRI + "Bridge_by_Sander_Klootwijk.jpg", "sky and water, thin cables"),
    Photo("dragonfly", "lomiri-wallpapers-16.04", _LOMIRI + "Dragonfly_by_Bolly.jpg", "foliage against sky"),
    Photo("fig", "lomiri-wallpapers-16.04", _LOMIRI + "Picture_0B_by_freespace.jpg", "fine texture (concrete), object"),
    Photo("wine", "lomiri-wallpapers-16.04", _LOMIRI + "Wine_by_Jakkub_Mede.jpg", "dark interior, low contrast"),
    Photo("aitzgorri", "lomiri-wallpapers-16.04", _LOMIRI + "aitzgorri_by_Aitzol_Berasategi.jpg", "landscape, foliage"),
    Photo("analogpattern", "lomiri-wallpapers-16.04", _LOMIRI + "analogpattern_by_Peter_Nerlich.jpg", "fine texture"),
    Photo("free", "lomiri-wallpapers-16.04", _LOMIRI + "free_by_Peter_Nerlich.jpg", "low contrast, defocused lamps"),
    Photo("friends", "lomiri-wallpapers-16.04", _LOMIRI + "friends_by_Aitzol_Berasategi.jpg", "animals (dogs), wood"),
    Photo("greentock", "lomiri-wallpapers-16.04", _LOMIRI + "greentock_by_Peter_Nerlich.jpg",
          "shallow depth of field (clock)"),
    Photo("life", "lomiri-wallpapers-16.04", _LOMIRI + "life_by_Aitzol_Berasategi.jpg", "forest stream, foliage"),
    Photo("picos", "lomiri-wallpapers-16.04", _LOMIRI + "picosdeeuropa_by_Aitzol_Berasategi.jpg", "mountains, sky"),
    Photo("seeding", "lomiri-wallpapers-16.04", _LOMIRI + "seeding_by_Clements_Engelhardt.jpg",
          "shallow depth of field (dandelions)"),
    Photo("sunset", "lomiri-wallpapers-16.04", _LOMIRI + "sunset_by_Aitzol_Berasategi.jpg", "backlit sky, dark ground"),
    Photo("kleiber", "lomiri-wallpapers-20.04", _LOMIRI + "Kleiber_by_Lukas_Baubkus.jpg",
          "shallow depth of field (bird on bark)"),
    Photo("storm", "mate-backgrounds", _MATE + "Storm.jpg", "smooth stormy sky, road"),
    Photo("twowings", "mate-backgrounds", _MATE + "TwoWings.jpg", "shallow depth of field (seed)"),
    Photo("aqua", "mate-backgrounds", _MATE + "Aqua.jpg", "water drop, smooth gradients"),
    Photo("garden", "mate-backgrounds", _MATE + "Garden.jpg", "flower, defocused background"),
)
# Other photographs of the same packages, never graded: the real-photo *validation* set, on which the
# thresholds that no training sets (the no-harm gate's) are chosen (benchmarks/ablation.py gate).
VAL_PHOTOS = (
    Photo("blinds", "mate-backgrounds", _MATE + "Blinds.jpg", "leaf close-up"),
    Photo("ladybird", "mate-backgrounds", _MATE + "LadyBird.jpg", "shallow depth of field (insect)"),
    Photo("raindrops", "mate-backgrounds", _MATE + "RainDrops.jpg", "drops on a leaf"),
    Photo("wood", "mate-backgrounds", _MATE + "Wood.jpg", "fine texture, smooth"),
    Photo("yellowflower", "mate-backgrounds", _MATE + "YellowFlower.jpg", "flower, dark background"),
    Photo("freshflower", "mate-backgrounds", _MATE + "FreshFlower.jpg", "flower close-up"),
    Photo("brushes", "lomiri-wallpapers-16.04", _LOMIRI + "Picture_1A_by_freespace.jpg", "paint brushes, bokeh"),
)
SETS = {"test": PHOTOS, "val": VAL_PHOTOS}
# Photographs of another package, for *training*: added to the embedded default's training split
# (``training_photos``), so that the network sees what the dozen embedded photos lack (a defocused
# background, dark and misty low-contrast scenes, water, foliage) before it meets the real-photo
# sets, which come from other packages and are never trained on (benchmarks/ablation.py photos
# measures what they add). The package's other wallpapers are drawings and renders, left out.
_KDE = "/usr/share/wallpapers/"
TRAIN_PHOTOS = tuple(
    Photo(f"kde_{name.lower()}", "plasma-workspace-wallpapers", f"{_KDE}{name}/contents/images/2560x1600.jpg", kind)
    for name, kind in (("FallenLeaf", "shallow depth of field (leaf)"), ("Path", "forest, dark foliage"),
                       ("DarkestHour", "dark misty lake, low contrast"), ("EveningGlow", "boats at sunset, sky"),
                       ("Grey", "architecture, grey"), ("summer_1am", "lake at dusk, smooth sky"),
                       ("ColorfulCups", "cups, smooth shading"), ("OneStandsOut", "moss, fine texture"),
                       ("ColdRipple", "pier in fog, low contrast"), ("BytheWater", "planks, shallow depth of field")))
PACKAGES = tuple(dict.fromkeys(p.package for p in PHOTOS + VAL_PHOTOS + TRAIN_PHOTOS))
SYSTEM_ROOT = Path("/")  # where an installed package put its files


def external_dir() -> Path:
    """Unpacked packages: ``data/external/debian/<package>/`` under the project root (whatever the work
    directory: the test suite's work directories read the same unpacked packages)."""
    return paths.project_root() / "data" / "external" / "debian"


def real_dir(which: str = "test") -> Path:
    """``data/processed/real/`` (the test set; ``real_val/`` the validation set): sharp/<photo>/<k>.png,
    blur_<blur>/<photo>/<k>.png, manifest.json."""
    if which not in SETS:
        raise ValueError(f"the real-photo sets are {list(SETS)}, not {which!r}")
    return paths.processed_dir() / ("real" if which == "test" else f"real_{which}")


# --- fetching the packages ---------------------------------------------------------------------

def _run(cmd, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def fetch(dest: Path | None = None, packages=PACKAGES, log=print) -> dict:
    """Unpack each package's .deb under ``dest`` (``apt-get download`` + ``dpkg-deb -x``); returns
    {package: version or None}. Already unpacked packages are kept. Says what it could not do."""
    dest = Path(dest or external_dir())
    versions = {}
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        log("note: real-photo test set skipped: apt-get and dpkg-deb are not here (Debian/Ubuntu only). "
            f"Install {' '.join(packages)} by other means and unpack them under {dest}, or do without that chapter.")
        return {p: _version(dest / p) for p in packages}
    for package in packages:
        root = dest / package
        if _version(root):
            versions[package] = _version(root)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            got = _run(["apt-get", "download", package], cwd=tmp)
            if got.returncode != 0 and _is_root():  # a fresh machine has no package lists yet
                _run(["apt-get", "update", "-qq"])
                got = _run(["apt-get", "download", package], cwd=tmp)
            debs = sorted(Path(tmp).glob(f"{package}_*.deb"))
            if got.returncode != 0 or not debs:
                log(f"note: could not download the Debian package {package} "
                    f"({(got.stderr.strip().splitlines() or ['no .deb'])[-1]}); its photos are left out")
                versions[package] = None
                continue
            version = _run(["dpkg-deb", "-f", str(debs[0]), "Version"]).stdout.strip()
            staging = dest / f".{package}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            unpacked = _run(["dpkg-deb", "-x", str(debs[0]), str(staging)])
            if unpacked.returncode != 0:
                log(f"note: dpkg-deb could not unpack {debs[0].name}: {unpacked.stderr.strip()}")
                shutil.rmtree(staging, ignore_errors=True)
                versions[package] = None
                continue
            write_text(staging / "VERSION", version + "\n")
            shutil.rmtree(root, ignore_errors=True)
            staging.rename(root)  # complete or absent: never half unpacked
            versions[package] = version
            log(f"real photos: {package} {version} unpacked under {root}")
    return versions


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _version(root: Path) -> str | None:
    f = root / "VERSION"
    return f.read_text().strip() if f.exists() else None


def _installed_version(package: str) -> str | None:
    if not shutil.which("dpkg-query"):
        return None
    out = _run(["dpkg-query", "-W", "-f=${Version}", package])
    return out.stdout.strip() or None if out.returncode == 0 else None


def locate(photo: Photo, dest: Path | None = None) -> tuple[Path, Path, str] | None:
    """(image file, the package's root, version) from the unpacked package, else from an installed one."""
    dest = Path(dest or external_dir())
    root = dest / photo.package
    if (root / photo.file.lstrip("/")).exists():
        return root / photo.file.lstrip("/"), root, _version(root) or "unknown"
    installed = SYSTEM_ROOT / photo.file.lstrip("/")
    if installed.exists():
        return installed, SYSTEM_ROOT, _installed_version(photo.package) or "installed"
    return None


def licence_of(package_root: Path, package: str, file: str) -> dict:
    """{"licence", "copyright"} for ``file`` from the package's Debian copyright file (DEP-5 stanzas).

    The last stanza whose ``Files:`` pattern matches the file's path or its tail wins, as DEP-5 says.
    """
    path = package_root / "usr" / "share" / "doc" / package / "copyright"
    if not path.exists():
        return {"licence": "unknown (no copyright file)", "copyright": ""}
    found = {"licence": "see the package's copyright file", "copyright": ""}
    for stanza in path.read_text(errors="replace").split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        patterns = fields.get("Files", "").split()
        if any(_matches(file, pat) for pat in patterns):
            found = {"licence": fields.get("License", "").split()[0] if fields.get("License") else "unknown",
                     "copyright": re.sub(r"\s*<[^>]*>", "", fields.get("Copyright", "")).strip(" ´")}
    return found


def _matches(file: str, pattern: str) -> bool:
    """A DEP-5 pattern names a path of the source tree, which the binary package may have moved
    (``16.04/x.jpg`` installed as ``/usr/share/backgrounds/x.jpg``): a tail of the path, or the file
    name against a pattern's own file name, matches."""
    parts = file.strip("/").split("/")
    if any(fnmatch.fnmatch("/".join(parts[i:]), pattern) for i in range(len(parts))):
        return True
    name = pattern.rsplit("/", 1)[-1]
    return "/" in pattern and not any(ch in name for ch in "*?[") and name == parts[-1]


# --- frames ------------------------------------------------------------------------------------

def views(photo_uint8: np.ndarray, n: int, height: int, width: int) -> list[tuple[int, int, int, int]]:
    """``n`` crop boxes (top, left, crop height, crop width) of the frame's aspect ratio: the whole
    photo first, then views twice as close, spread over the photo (deterministic)."""
    h, w = photo_uint8.shape[:2]
    aspect = width / height
    ch, cw = (h, round(h * aspect)) if w / h >= aspect else (round(w / aspect), w)
    boxes = [((h - ch) // 2, (w - cw) // 2, ch, cw)]
    for k in range(1, n):
        zh, zw = ch // 2, cw // 2
        fy, fx = (0.3, 0.7, 0.5, 0.3, 0.7)[(k - 1) % 5], (0.35, 0.65, 0.5, 0.7, 0.3)[(k - 1) % 5]
        boxes.append((round((h - zh) * fy), round((w - zw) * fx), zh, zw))
    return boxes


downscale = ladder.reduce  # the crop ``box`` reduced to height x width with Lanczos (antialiased), uint8


def build(frames_per_photo: int = 2, height: int = 256, width: int = 448, blurs=tuple(EVAL_BLURS),
          max_photos: int | None = None, source: Path | None = None, progress: bool = True,
          which: str = "test") -> dict | None:
    """Write the sharp frames, their blurred versions and the manifest of set ``which`` (test or val);
    None when no photo is found.

    Idempotent: frames already written with the same settings are kept.
    """
    out = real_dir(which)
    settings = {"frames_per_photo": frames_per_photo, "height": height, "width": width, "blurs": list(blurs)}
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("settings") != settings:
            shutil.rmtree(out)
    entries, missing = [], []
    chosen = SETS[which][:max_photos] if max_photos else SETS[which]
    for photo in tqdm(chosen, desc=f"real photos ({which})", disable=not progress):
        where = locate(photo, source)
        if where is None:
            missing.append(photo.name)
            continue
        path, root, version = where
        image = None
        targets = [Path(photo.name) / f"{k:08d}.png" for k in range(frames_per_photo)]
        if not all((out / "sharp" / t).exists() and all((out / f"blur_{b}" / t).exists() for b in blurs)
                   for t in targets):
            image = read_rgb(path)
            for t, box in zip(targets, views(image, frames_per_photo, height, width)):
                frame = downscale(image, box, height, width)
                write_png_atomic(out / "sharp" / t, frame)
                for b in blurs:
                    write_png_atomic(out / f"blur_{b}" / t, blur_uint8(frame, EVAL_BLURS[b]))
        size = Image.open(path).size
        boxes = views(np.empty((size[1], size[0], 0)), frames_per_photo, height, width)
        entries.append({"photo": photo.name, "kind": photo.kind, "package": photo.package, "version": version,
                        "file": photo.file, "original_size": [size[1], size[0]],
                        **licence_of(root, photo.package, photo.file),
                        "frames": [{"file": str(t), "crop": list(map(int, box)),
                                    "reduction": round(box[2] / height, 2)} for t, box in zip(targets, boxes)]})
    if not entries:
        return None
    note = ("test only: never used for training, validation or tuning" if which == "test" else
            "validation only: chooses the no-harm gate's thresholds; never trained on, never graded")
    manifest = {"settings": settings, "photos": entries, "missing": missing, "note": note}
    write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")
    return manifest


def write_training_sequences(raw_dir: Path, views_per_photo: int = 4, height: int = 256, width: int = 448,
                             source: Path | None = None, photos=None) -> dict:
    """Write ``raw_dir/<photo>/<k>.png``: ``views_per_photo`` views of each training photo (``TRAIN_PHOTOS``)
    reduced to height x width over a spread of downscale factors (``ladder.spread``: from the photo's own
    pixels to the whole photo, never enlarged), one sequence per photo, for notebook 01 to blur like
    every other frame of the training split. The raw folder's ``.recipe`` (``embedded.RECIPE``) says
    which way they were cut; ``build_embedded_raw`` clears frames of another.

    Returns {"photos": manifest rows (sequence, split, package, version, file, licence, copyright),
    "missing": names not found}. Frames already written are kept (a rerun reads no photo).
    """
    if views_per_photo < 1:
        raise ValueError(f"training_views_per_photo must be >= 1, got {views_per_photo!r}")
    raw_dir = Path(raw_dir)
    rows, missing = [], []
    for photo in TRAIN_PHOTOS if photos is None else photos:
        where = locate(photo, source)
        if where is None:
            missing.append(photo.name)
            continue
        path, root, version = where
        targets = [raw_dir / photo.name / f"{k:08d}.png" for k in range(views_per_photo)]
        if not all(t.exists() for t in targets):
            image = read_rgb(path)
            for t, box in zip(targets, ladder.spread(image.shape, views_per_photo, height, width)):
                if not t.exists():
                    write_png_atomic(t, downscale(image, box, height, width))
        rows.append({"sequence": photo.name, "split": "train", "package": photo.package, "version": version,
                     "file": photo.file, "kind": photo.kind, **licence_of(root, photo.package, photo.file)})
    return {"photos": rows, "missing": missing}


def load(blurs=tuple(EVAL_BLURS), which: str = "test") -> dict | None:
    """{"files", "sharp", <blur>: frames} as uint8 arrays (N, H, W, 3), and the manifest; None when absent."""
    manifest_path = real_dir(which) / "manifest.json"
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text())
    files = [Path(f["file"]) for e in manifest["photos"] for f in e["frames"]]
    root = real_dir(which)
    out = {"files": files, "manifest": manifest, "sharp": np.stack([read_rgb(root / "sharp" / f) for f in files])}
    for b in blurs:
        out[b] = np.stack([read_rgb(root / f"blur_{b}" / f) for f in files])
    return out
