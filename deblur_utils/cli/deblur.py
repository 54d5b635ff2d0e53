"""``deblur``: a checkpoint over one picture or a folder of them (recursively), each written back in kind.

Every picture is read as it is (grey, RGB or RGBA; 8 or 16 bits; its EXIF orientation applied;
``data.pictures``), deblurred in floating point (large ones in overlapping tiles that fit the
device's memory, ``training.pictures``) and written as it was read: grey as grey, the alpha untouched,
16 bits as 16 bits, a JPEG as a JPEG of quality 95 (``--format png``: PNG). For each picture the
command says what the model read and did (its sigma; deblurred, only preset a's inverse because it
read the picture as sharp, or returned unchanged, and why), in ``--report`` and, in short, on the
terminal with a line per folder and the counts.
"""
from __future__ import annotations

import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.imageio import IMAGE_SUFFIXES, ImageReadError, apart, list_images
from ..data.pictures import Picture, output_format, read_picture, write_picture
from ..networks.blind import BlindWienerNet, GivenSigma, one_sigma
from ..runtime.atomic import DiskFullError, json_safe, replacing, write_json_atomic
from ..training.checkpoint import model_from_checkpoint
from ..training.config import pick_device
from ..training.pictures import check_tile, deblur_picture, picture_estimate
from .folders import by_suffix, left_out, lift_pixel_guard, writable

MIN_SIDE = 16  # a picture narrower than this holds less than a blur kernel's worth of context: returned as it was


def pairs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(input, output) of every picture: a file to a file or into a folder, a folder's pictures
    (recursively) to the same relative names under ``dst``. The output's suffix is replaced by the
    format it is written in (``with_format``); only the suffix: "a.v2.png" stays "a.v2"."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise FileNotFoundError(f"input {src} does not exist: give a picture or a folder of pictures")
    if src.is_file():
        target = dst if dst.suffix.lower() in IMAGE_SUFFIXES else dst / src.name
        if _stem(target).resolve() == _stem(src).resolve():
            raise ValueError(f"OUT ({dst}) would overwrite the input {src}: give another file or folder")
        return [(src, target)]
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise ValueError(f"OUT ({dst}) must not be IN ({src}) or a folder inside it: the outputs would mix with "
                         "the inputs")
    if dst.exists() and not dst.is_dir():
        raise ValueError(f"OUT ({dst}) is a file and IN ({src}) a folder: give a folder for OUT")
    jobs = [(src / rel, dst / rel) for rel in list_images(src, "input folder")]
    inside = src.resolve()
    for s, d in jobs:  # OUT above IN: IN/x/a.png would be written into IN, over IN/a.png or beside it
        if inside in d.resolve().parents:
            raise ValueError(f"OUT ({dst}) would write the picture deblurred from {s} into IN, as {d}: give an OUT "
                             "folder outside IN")
    return jobs


def _stem(path: Path) -> Path:
    return path.parent / path.stem


def with_format(path: Path, suffix: str) -> Path:
    """``path`` with its suffix (the input's, or the one OUT names) replaced by ``suffix``."""
    return path.with_name(path.stem + suffix)


def load(args):
    """The checkpoint's network, with ``--views``, and the device."""
    device = pick_device(args.device)
    model, ckpt = model_from_checkpoint(args.checkpoint, device)
    print(f"{ckpt['model']} {ckpt['model_kwargs']} ({ckpt['parameters']:,} parameters) on {device}")
    blind = isinstance(model, BlindWienerNet) and model.blind
    if (args.views != 1 or args.one_blur or args.sigma is not None) and not blind:
        flag = "--views" if args.views != 1 else "--one-blur" if args.one_blur else "--sigma"
        raise ValueError(f"{flag} needs a checkpoint of the blind Wiener network (model blind_wiener, no fixed_sigma); "
                         f"{args.checkpoint} holds {ckpt['model']}: drop {flag}")
    if args.one_blur and args.sigma is not None:
        raise ValueError("--one-blur reads one sigma per folder, --sigma gives it: choose one")
    if args.sigma is not None and not (math.isfinite(args.sigma) and args.sigma > 0):
        raise ValueError(f"--sigma must be a positive number of pixels, got {args.sigma}")
    if blind:
        model.views = args.views
    trained_up_to = (ckpt.get("config") or {}).get("sigma_range", [None, None])[1]
    return model, device, trained_up_to


def outcome(model, reading, trained_up_to) -> tuple[str, str, dict]:
    """(status, reason, figures) of one picture from its reading: deblurred (with ``--sigma`` below the gate:
    by that blur's Wiener inverse); "sharp" (the gate read no blur beyond preset a's: only preset a's
    inverse was applied); unchanged (a fixed point of preset a's blur)."""
    if reading is None:
        return "deblurred", "", {}
    net = model.model if isinstance(model, GivenSigma) else model
    sigma, gate_sigma = float(reading.sigma[0]), float(reading.gate_sigma[0])
    figures = {"sigma": sigma, "gate_sigma": gate_sigma}
    if not net.use_gate:
        return "deblurred", f"sigma {sigma:.2f}", figures
    gate = float(net.opening(reading)[0])
    figures["gate"] = gate
    if reading.keep is not None and bool(reading.keep[0]):
        return "unchanged", (f"preset a's blur leaves it unchanged and the blur read ({gate_sigma:.2f}) is below "
                             f"{net.keep_below:g}: returned as it was"), figures
    if gate <= 0 and reading.floor is not None:  # told a mild blur: its own inverse
        return "deblurred", (f"sigma {sigma:.2f} given, below {net.gate_lo + net.gate_width:g}: that blur's Wiener "
                             "inverse (the refiner's output blends in above)"), figures
    if gate <= 0:
        return "sharp", (f"read as sharp (sigma {gate_sigma:.2f} below the gate's {net.gate_lo:g}): only preset a's "
                         "own 3x3 blur undone"), figures
    if reading.floor is not None:  # told: the gate opens over that blur's own inverse
        reason = f"sigma {sigma:.2f} given" + ("" if gate >= 1 else f", the gate {gate:.0%} open over its Wiener inverse")
    else:
        reason = f"sigma {sigma:.2f}" + ("" if gate >= 1 else f", the gate {gate:.0%} open (it read {gate_sigma:.2f})")
    if trained_up_to and sigma > trained_up_to:
        reason += f"; beyond the blurs it trained on (sigma up to {trained_up_to:g}): check the output"
    return "deblurred", reason, figures


def folder_models(model, jobs, device, one_blur: bool, sigma: float | None) -> dict:
    """The network each folder's pictures go through: the model itself; ``--sigma``: given that sigma;
    ``--one-blur``: given the median of the folder's own estimates (each its tiles' ``set_quantile``)."""
    folders = sorted({src.parent for src, _ in jobs})
    if sigma is not None:
        return {f: GivenSigma(model, sigma, model.views) for f in folders}
    if not one_blur:
        return {f: model for f in folders}
    out = {}
    for folder in folders:
        estimates = []
        for src, _ in tqdm([j for j in jobs if j[0].parent == folder], desc=f"estimate the blur ({folder.name})",
                           unit="picture", leave=False):
            try:
                picture = read_picture(src)
            except ImageReadError:  # the deblurring pass names it
                continue
            if not too_small(picture):  # returned as it was, and said so, by the deblurring pass
                estimates.append(picture_estimate(model, picture.as_read(), device, model.set_quantile))
        if estimates:
            told = one_sigma(estimates)
            print(f"{folder}: one blur, sigma {told:.3f} (the median of {len(estimates)} pictures' estimates)")
            out[folder] = GivenSigma(model, told, model.views, known=False)
    return out


def cmd_deblur(args) -> int:
    lift_pixel_guard()
    model, device, trained_up_to = load(args)
    jobs = pairs(args.in_dir, args.out_dir)
    writable(Path(args.out_dir))
    nets = folder_models(model, jobs, device, args.one_blur, args.sigma)
    tile = None if args.tile == "auto" else args.tile
    if tile:
        check_tile(tile, name="--tile")  # before any picture, not at the first large one
    records, written = [], set()
    for src, dst in tqdm(jobs, desc="deblur", unit="picture", disable=len(jobs) == 1):
        t0 = time.monotonic()
        try:
            picture = read_picture(src)
        except ImageReadError as err:
            records.append({"input": str(src), "status": "skipped", "reason": str(err)})
            continue
        net = nets.get(src.parent, model)
        if too_small(picture):
            deblurred, status, figures = None, "unchanged", {}
            reason = (f"too small to deblur ({picture.rgb.shape[1]}x{picture.rgb.shape[0]}: a side under {MIN_SIDE} "
                      "pixels): returned as it was")
        else:
            deblurred, reading = deblur_picture(net, picture.as_float(), device, tile=tile, amp=args.amp,
                                                read_from=None if picture.bits == 8 else picture.as_read())
            status, reason, figures = outcome(net, reading, trained_up_to)
        fmt, suffix = output_format(picture, src.suffix, args.format)
        path, named = with_format(dst, suffix), []
        if path.suffix != dst.suffix and Path(args.out_dir) == dst:  # OUT named a file of another format
            named.append(f"written as {path.name}: {fmt}, as {'asked' if args.format == 'png' else 'its source'}"
                         f" (--format), not as OUT's {dst.suffix}")
        if path in written:  # "a.png" and "a.gif" side by side, both written as PNG
            path = apart(path, src)
            named.append(f"written as {path.name}: {with_format(dst, suffix).name} is another picture's")
        written.add(path)
        replaced = os.path.lexists(path)  # never raises (a name too long, a folder not searchable)
        try:
            if status == "unchanged" and fmt == picture.format and not picture.oriented:
                out = copy_unchanged(src, path, picture)
            else:
                out = write_picture(path, picture, _result(picture, deblurred, status), fmt)
        except DiskFullError:
            raise
        except OSError as err:  # this picture's output only (a name too long, a folder of another owner)
            records.append({"input": str(src), "status": "skipped",
                            "reason": f"{src}: its output {path} could not be written ({err.strerror or err})"})
            continue
        picture.notes.extend(named)
        records.append({"input": str(src), "output": str(out), "status": status, "reason": reason, **figures,
                        "picture": picture.describe(), "notes": picture.notes, "replaced": replaced,
                        "seconds": round(time.monotonic() - t0, 3)})
    return finish(records, args, jobs, left_out(Path(args.in_dir)))


def too_small(picture: Picture) -> bool:
    return min(picture.rgb.shape[:2]) < MIN_SIDE


def copy_unchanged(src: Path, path: Path, picture: Picture) -> Path:
    """A picture returned unchanged, in its own format and orientation: the file itself, copied (atomically),
    so that a JPEG is not encoded again and every chunk of the file (a colour profile, metadata) is kept."""
    with replacing(path, suffix=path.suffix or ".tmp") as tmp:
        shutil.copyfile(src, tmp)
    picture.notes.clear()  # nothing was converted (nor dropped: every frame of the file is there)
    return path


def _result(picture: Picture, deblurred: np.ndarray | None, status: str) -> np.ndarray:
    """The deblurred colour in the picture's type; a picture returned unchanged, bit for bit itself (the
    model returns its input, which a 16-bit picture must not lose to the float round trip)."""
    return picture.rgb if status == "unchanged" else picture.from_float(deblurred)


def finish(records: list, args, jobs, others: list | None = None) -> int:
    """Say what was done: each note and skipped picture by name, each folder's sigmas, the counts, the files
    already in OUT that were replaced and the files of IN that are not pictures read here; write
    ``--report``. Exit status 1 when a picture was skipped."""
    others = others or []
    for r in records:
        for note in r.get("notes", []):
            print(f"note: {r['input']}: {note}")
        if r["status"] == "skipped":
            print(f"skipped: {r['reason']}", file=sys.stderr)
        elif len(records) == 1:
            print(f"{r['input']} -> {r['output']}: {r['status']}" + (f" ({r['reason']})" if r["reason"] else ""))
    by_folder: dict = {}
    for r in records:
        if "sigma" in r:
            by_folder.setdefault(str(Path(r["input"]).parent), []).append(r["sigma"])
    frame_by_frame = len(records) > 1 and not args.one_blur and args.sigma is None
    for folder, sigmas in by_folder.items():
        if frame_by_frame:
            print(f"{folder}: sigma read {float(np.median(sigmas)):.3f} (median of {len(sigmas)}; "
                  f"{min(sigmas):.2f}-{max(sigmas):.2f})")
    if frame_by_frame and any(len(s) > 1 for s in by_folder.values()):
        print("each picture was read on its own; where a folder's pictures share one blur (as each of the "
              "course's folders does), --one-blur reads it from all of them, which errs less than a "
              "single picture's reading (docs/running.md)")
    counts = {k: sum(r["status"] == k for r in records) for k in ("deblurred", "sharp", "unchanged", "skipped")}
    print(f"{counts['deblurred'] + counts['sharp']} deblurred ({counts['sharp']} of them read as sharp: only preset "
          f"a's blur undone), {counts['unchanged']} unchanged, {counts['skipped']} skipped -> "
          f"{records[0]['output'] if len(records) == 1 and 'output' in records[0] else args.out_dir}")
    replaced = [r["output"] for r in records if r.get("replaced")]
    if replaced:
        print(f"note: {len(replaced)} file(s) already in OUT were replaced by this run's output"
              + (f" (as {replaced[0]})" if len(replaced) == 1 else "") + " (--report lists them)")
    if others:
        print(f"note: {len(others)} file(s) below IN are not pictures read here and were left out ({by_suffix(others)}; "
              f"read: {', '.join(IMAGE_SUFFIXES)}): convert them (a phone's HEIC, a camera's raw file) to PNG, "
              "TIFF or JPEG first" + ("" if args.report else "; --report lists them"))
    if args.report:
        write_json_atomic(args.report, json_safe({"checkpoint": str(args.checkpoint), "counts": counts,
                                                  "pictures": records, "left_out": [str(f) for f in others]}))
        print(f"report: {args.report}")
    return 1 if counts["skipped"] else 0

