"""The commands on folders of frames: ``evaluate`` (the course's grading) and ``blur`` (a preset over a
folder). ``deblur`` is ``cli.deblur``'s."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from tqdm.auto import tqdm

from ..data.blur import blur_uint8, get_preset, kernel_size_for_sigma
from ..data.imageio import ImageReadError, apart, list_images, read_rgb, write_png_atomic
from ..evaluation.metrics import COURSE_LINE, describe, evaluate_dirs
from ..runtime.atomic import DiskFullError, write_text
from .folders import by_suffix, left_out, lift_pixel_guard, writable


def cmd_evaluate(args) -> int:
    lift_pixel_guard()
    result = evaluate_dirs(args.pred_dir, args.sharp_dir, with_ssim=not args.no_ssim)
    print(result["n_images"])
    psnrs = list(result["per_image"].values())
    print(COURSE_LINE.format(sum(psnrs) / len(psnrs)))  # the course's plain mean (inf if any image is identical)
    print(f"# finite mean: {describe(result)}" + (f"; mean SSIM {result['ssim']:.4f}" if result["ssim"] else ""))
    for note in result["notes"]:
        print(f"# note: {note}")
    if args.json:
        finite = {k: (v if v is None or math.isfinite(v) else None) for k, v in result["per_image"].items()}
        write_text(args.json, json.dumps({**result, "per_image": finite}, indent=2) + "\n")
    return 0


def _image_pairs(in_dir: Path, out_dir: Path):
    """(input, output PNG) per image below ``in_dir``; of two inputs that would share an output ("a.png" and
    "a.tif"), the second is written as "a_tif.png", said on the terminal."""
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if in_dir.is_file():  # one picture, into the folder OUT_DIR
        if out_dir.resolve() == in_dir.parent.resolve():
            raise ValueError(f"OUT_DIR ({out_dir}) is the folder of {in_dir}: the blurred PNG would take the place of "
                             "a picture of that name there; give another folder")
        return [(in_dir, out_dir / in_dir.with_suffix(".png").name)]
    if out_dir.resolve() == in_dir.resolve() or in_dir.resolve() in out_dir.resolve().parents:
        raise ValueError(f"OUT_DIR ({out_dir}) must not be IN_DIR ({in_dir}) or a folder inside it: a rerun would "
                         "blur its own outputs")
    rels = list_images(in_dir, "input folder")
    pairs, taken = [], set()
    for rel in rels:
        dst = out_dir / rel.with_suffix(".png")
        if dst in taken:
            dst = apart(dst, rel)
            print(f"note: {in_dir / rel} is written as {dst.name}: {rel.with_suffix('.png').name} is another image's")
        if in_dir.resolve() in dst.resolve().parents:  # OUT_DIR above IN_DIR: IN_DIR/x/a.png into IN_DIR
            raise ValueError(f"OUT_DIR ({out_dir}) would write {in_dir / rel} blurred into IN_DIR, as {dst}: give "
                             "an OUT_DIR outside IN_DIR")
        taken.add(dst)
        pairs.append((in_dir / rel, dst))
    return pairs


def _map_folder(in_dir, out_dir, fn, desc, batch: int = 1) -> int:
    """Apply fn(list of uint8 images of one size) -> list of uint8 images to every image below in_dir,
    ``batch`` at a time; unreadable files are listed on stderr (exit code 1)."""
    skipped, pending = [], []

    def flush():
        for ((src, dst), _), img in zip(pending, fn([img for _, img in pending])):
            try:
                write_png_atomic(dst, img)
            except DiskFullError:
                raise
            except OSError as err:  # this picture's output only (a name too long, a folder of another owner)
                skipped.append(f"{src}: its output {dst} could not be written ({err.strerror or err})")
        pending.clear()

    pairs = _image_pairs(in_dir, out_dir)
    writable(Path(out_dir), "OUT_DIR")
    for src, dst in tqdm(pairs, desc=desc, unit="image"):
        try:
            img = read_rgb(src)
        except ImageReadError as err:
            skipped.append(str(err))
            continue
        if pending and (len(pending) >= batch or pending[0][1].shape != img.shape):
            flush()
        pending.append(((src, dst), img))
    flush()
    print(f"{len(pairs) - len(skipped)} image(s) written to {out_dir}")
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    others = left_out(Path(in_dir))
    if others:
        print(f"note: {len(others)} file(s) below {in_dir} are not pictures read here and were left out "
              f"({by_suffix(others)})")
    return 1 if skipped else 0


def cmd_blur(args) -> int:
    lift_pixel_guard()
    if args.kernel_size is not None and args.sigma is None:
        raise ValueError("--kernel-size needs --sigma too (a custom blur is a kernel size and a sigma)")
    if args.sigma is not None:
        k = args.kernel_size if args.kernel_size is not None else kernel_size_for_sigma(args.sigma)
        preset = get_preset((k, args.sigma))
    else:
        try:
            preset = get_preset(args.preset)
        except ValueError:
            raise ValueError(f"--preset {args.preset}: choose a, b or c, or give the blur itself with --sigma S "
                             "(and --kernel-size K)") from None
    return _map_folder(args.in_dir, args.out_dir, lambda imgs: [blur_uint8(i, preset) for i in imgs],
                       f"blur {preset.name}")
