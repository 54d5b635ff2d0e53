"""Pictures of any size through `deblur`: whether a picture's size changes what the model reads, and what a
large one costs in memory and time, whole and in tiles.

    python benchmarks/pictures.py [--mosaics 1 2 4 8 14] [--megapixels 3 12 24] [--untiled-up-to 24]
                                  [--real 6] [--jpeg-frames 32] [--json PATH]

Notebook 02's checkpoint of ours (the last `make report`) throughout:

- **mosaics**: n x n sharp frames of the embedded test split side by side, blurred at b (7x7, sigma
  1.0), deblurred in one piece with tiles as the memory allows: the course PSNR of the blurred and of
  the deblurred mosaic, the sigma read, what the gate read and how far it opened;
- **megapixels**: a real test photo resized to about 3, 12 and 24 megapixels, blurred at b, each
  deblurred by `python -m deblur_utils deblur` in a process of its own, tiled (``--tile auto``) and
  whole (``--tile 0``, up to ``--untiled-up-to`` megapixels): its peak memory (VmHWM), seconds,
  and the largest difference between the tiled and the whole output in grey levels;
- **real**: the first ``--real`` photos of the real-photo test set at their full resolution, blurred
  at b: PSNR blurred and deblurred, the sigma read and the gate;
- **jpeg**: ``--jpeg-frames`` test frames blurred at b and saved as PNG or JPEG (quality 95 and 85)
  before they are deblurred: the median sigma read, the mean gain, the worst frame, how many came
  back unchanged; and the same checkpoint told the true sigma (``deblur --sigma 1.0``).
"""
from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import common  # noqa: E402
from deblur_utils.data import real_photos  # noqa: E402
from deblur_utils.data.blur import blur_uint8  # noqa: E402
from deblur_utils.data.cache import load_cached  # noqa: E402
from deblur_utils.data.imageio import read_rgb, write_png_atomic  # noqa: E402
from deblur_utils.evaluation.metrics import psnr_db  # noqa: E402
from deblur_utils.networks.blind import GivenSigma  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.runtime import paths  # noqa: E402
from deblur_utils.training.checkpoint import model_from_checkpoint  # noqa: E402
from deblur_utils.training.config import pick_device  # noqa: E402
from deblur_utils.training.pictures import deblur_picture  # noqa: E402


def _to_uint8(y: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(y, 0, 1) * np.float32(255)).astype(np.uint8)


def graded(model, device, sharp: np.ndarray, saved=None) -> dict:
    """``sharp`` blurred at b (then through ``saved``, a lossy save, if given) and deblurred in one piece
    (tiles as the memory allows): PSNRs, the reading."""
    blurred = blur_uint8(sharp, "b")
    if saved is not None:
        blurred = saved(blurred)
    t0 = time.perf_counter()
    out, reading = deblur_picture(model, blurred.astype(np.float32) / np.float32(255), device, progress=False)
    seconds = time.perf_counter() - t0
    net = model.model if isinstance(model, GivenSigma) else model
    gate = float(net.opening(reading)[0]) if hasattr(net, "opening") else 1.0
    return {"size": f"{sharp.shape[1]}x{sharp.shape[0]}", "megapixels": sharp.shape[0] * sharp.shape[1] / 1e6,
            "blurred_psnr_db": psnr_db(sharp, blurred), "deblurred_psnr_db": psnr_db(sharp, _to_uint8(out)),
            "sigma": float(reading.sigma[0]), "gate_reads": float(reading.gate_sigma[0]), "gate": gate,
            "kept": bool(reading.keep[0]) if reading.keep is not None else False, "seconds": seconds}


def mosaics(model, device, sizes) -> list[dict]:
    frames = np.asarray(load_cached(paths.processed_dir(), "test", ("b",))["sharp"])
    out = []
    for n in sizes:
        pick = [frames[k % len(frames)] for k in range(n * n)]
        sharp = np.concatenate([np.concatenate(pick[r * n:(r + 1) * n], 1) for r in range(n)], 0)
        out.append({"mosaic": f"{n}x{n}", **graded(model, device, sharp)})
        print(f"mosaic {n}x{n}: done", flush=True)
    return out


JPEG_SAVES = {"PNG (lossless)": None, "JPEG q95 4:4:4 (what deblur writes)": (95, 0), "JPEG q95 4:2:0": (95, 2),
              "JPEG q85 4:2:0 (a phone's)": (85, 2)}


def _jpeg(quality: int, subsampling: int):
    def save(image: np.ndarray) -> np.ndarray:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=quality, subsampling=subsampling)
        return np.asarray(Image.open(buf).convert("RGB"))
    return save


def jpeg(model, device, count: int) -> list[dict]:
    """``count`` test frames blurred at b and saved as PNG or JPEG before ``deblur`` reads them: what the
    compression does to the sigma read and the gain (the estimator trained on lossless frames)."""
    frames = np.asarray(load_cached(paths.processed_dir(), "test", ("b",))["sharp"])
    pick = frames[np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)]
    told = GivenSigma(model, 1.0).eval()
    out = []
    for name, how in JPEG_SAVES.items():
        saved = None if how is None else _jpeg(*how)
        rows = [graded(model, device, f, saved) for f in pick]
        gains = [r["deblurred_psnr_db"] - r["blurred_psnr_db"] for r in rows]
        told_gains = [r["deblurred_psnr_db"] - r["blurred_psnr_db"] for r in (graded(told, device, f, saved) for f in pick)]
        out.append({"saved as": name, "frames": len(rows), "sigma_median": float(np.median([r["sigma"] for r in rows])),
                    "gain_db": float(np.mean(gains)), "worst_gain_db": float(min(gains)),
                    "unchanged": sum(r["kept"] for r in rows), "told_gain_db": float(np.mean(told_gains)),
                    "told_worst_gain_db": float(min(told_gains))})
    return out


def real_full(model, device, count: int) -> list[dict]:
    out = []
    for photo in real_photos.PHOTOS[:count]:
        where = real_photos.locate(photo)
        if where is None:
            continue
        out.append({"photo": photo.name, **graded(model, device, read_rgb(where[0]))})
        print(f"real photo {photo.name}: done", flush=True)
    return out


CHILD = """import sys
from deblur_utils.cli import main
code = main(sys.argv[1:])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("peak_kib", int(hwm.split()[1]))
sys.exit(code)
"""


def run_deblur(ckpt: Path, src: Path, dst: Path, tile: str) -> dict:
    """``deblur`` on one picture in a fresh process, as ``python -m deblur_utils deblur`` runs it: its exit
    status, seconds and peak memory. The peak is the process's own VmHWM, read as it ends: ru_maxrss
    would count the memory of this process, which it is forked from, as the child's."""
    cmd = [sys.executable, "-c", CHILD, "deblur", "--checkpoint", str(ckpt), str(src), str(dst), "--tile", tile]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    peak = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("peak_kib ")]
    if done.returncode != 0 or not peak:
        return {"exit": done.returncode, "error": (done.stderr or "killed")[-300:]}
    return {"exit": done.returncode, "seconds": seconds, "peak_rss_gb": int(peak[0]) / 2**20}


def megapixels(ckpt: Path, targets, untiled_up_to: float, work: Path) -> list[dict]:
    """The largest real test photo resized to each target (Lanczos), blurred at b, deblurred tiled and whole."""
    photos = [real_photos.locate(p) for p in real_photos.PHOTOS]
    source = max((w[0] for w in photos if w is not None), key=lambda p: np.prod(Image.open(p).size), default=None)
    if source is None:
        raise SystemExit("no real photo here: `make real-photos` first")
    image = Image.open(source).convert("RGB")
    out = []
    for mp in targets:
        w = int(round((mp * 1e6 * image.width / image.height) ** 0.5))
        h = int(round(mp * 1e6 / w))
        src = work / f"b_{mp:g}mp.png"
        if not src.exists():
            write_png_atomic(src, blur_uint8(np.asarray(image.resize((w, h), Image.Resampling.LANCZOS)), "b"))
        row = {"megapixels": w * h / 1e6, "size": f"{w}x{h}", "source": source.name}
        row["tiled"] = run_deblur(ckpt, src, work / f"tiled_{mp:g}", "auto")
        if mp <= untiled_up_to:
            row["whole"] = run_deblur(ckpt, src, work / f"whole_{mp:g}", "0")
            if row["whole"].get("exit") == 0 and row["tiled"].get("exit") == 0:
                a = read_rgb(work / f"tiled_{mp:g}" / src.name).astype(np.int16)
                b = read_rgb(work / f"whole_{mp:g}" / src.name).astype(np.int16)
                row["tile_vs_whole_max_grey_levels"] = int(np.abs(a - b).max())
                row["tile_vs_whole_pixels_differing"] = float((a != b).any(-1).mean())
        out.append(row)
        print(f"{mp:g} megapixels: done", flush=True)
    return out


def reading_table(key: str, rows: list[dict], seconds: str) -> str:
    """One row per picture: its size, the PSNRs blurred and deblurred, the reading, the seconds."""
    return markdown_table([key, "size", "blurred (dB)", "deblurred (dB)", "sigma read", "gate reads", "gate", "seconds"],
                          [[r[key], r["size"], f"{r['blurred_psnr_db']:.2f}", f"{r['deblurred_psnr_db']:.2f}",
                            f"{r['sigma']:.3f}", f"{r['gate_reads']:.3f}", f"{r['gate']:.2f}",
                            seconds.format(r["seconds"])] for r in rows])


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--mosaics", type=int, nargs="*", default=[1, 2, 4, 8, 14])
    ap.add_argument("--megapixels", type=float, nargs="*", default=[3, 12, 24])
    ap.add_argument("--untiled-up-to", type=float, default=24, help="deblur whole only pictures up to this size")
    ap.add_argument("--real", type=int, default=6, help="real test photos at full resolution")
    ap.add_argument("--jpeg-frames", type=int, default=32, help="test frames saved as JPEG before deblurring")
    ap.add_argument("--work", type=Path, default=None, help="folder for the pictures (default runs/benchmarks/pictures)")
    args = ap.parse_args(argv)
    P = common.load(args)
    ckpt = common.notebook_checkpoint(P, ap)
    device = pick_device(P.device)
    model, _ = model_from_checkpoint(ckpt, device)
    work = args.work or paths.runs_dir() / "benchmarks" / "pictures"
    work.mkdir(parents=True, exist_ok=True)
    out = {**common.stamp(P), "checkpoint": str(ckpt)}
    out["mosaics"] = mosaics(model, device, args.mosaics)
    print("\n## mosaics of sharp test frames, blurred at b\n")
    print(reading_table("mosaic", out["mosaics"], "{:.1f}"))
    out["megapixels"] = megapixels(ckpt, args.megapixels, args.untiled_up_to, work)
    rows = []
    for r in out["megapixels"]:
        for how in ("tiled", "whole"):
            m = r.get(how)
            if m:
                rows.append([r["size"], how, f"{m['peak_rss_gb']:.2f}" if "peak_rss_gb" in m else m.get("error", ""),
                             f"{m['seconds']:.0f}" if "seconds" in m else "",
                             r.get("tile_vs_whole_max_grey_levels", "") if how == "tiled" else ""])
    print("\n## one picture through `deblur`, in a process of its own\n")
    print(markdown_table(["picture", "", "peak memory (GB)", "seconds", "tiled vs whole: largest difference"], rows))
    out["real"] = real_full(model, device, args.real)
    print("\n## real test photos at full resolution, blurred at b\n")
    print(reading_table("photo", out["real"], "{:.0f}"))
    out["jpeg"] = jpeg(model, device, args.jpeg_frames)
    print("\n## test frames blurred at b, saved lossless or as JPEG, then deblurred\n")
    print(markdown_table(["saved as", "frames", "sigma read (median)", "gain (dB)", "worst frame (dB)", "returned unchanged",
                          "told sigma 1.0: gain", "worst frame"],
                         [[r["saved as"], r["frames"], f"{r['sigma_median']:.3f}", f"{r['gain_db']:+.2f}",
                           f"{r['worst_gain_db']:+.2f}", r["unchanged"], f"{r['told_gain_db']:+.2f}",
                           f"{r['told_worst_gain_db']:+.2f}"] for r in out["jpeg"]]))
    return common.finish(out, args.json)


if __name__ == "__main__":
    main()
