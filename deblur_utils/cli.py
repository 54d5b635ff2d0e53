"""``python -m deblur_utils <command>``: the same functions the notebooks call.

    evaluate PRED_DIR SHARP_DIR                grade like the course script
    deblur --checkpoint CKPT IN_DIR OUT_DIR    deblur a folder of images to PNGs of the same names
    blur --preset P IN_DIR OUT_DIR             blur a folder of images with a preset
    prepare [--raw-dir DIR]                    build Set A / Set B and the split (notebook 01)
    train [--model srcnn ...]                  train one model (notebook 02's parameters)
    report [--params default]                  run notebooks 01-05 and export HTML
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def cmd_evaluate(args) -> int:
    from .metrics import COURSE_LINE, describe, evaluate_dirs

    result = evaluate_dirs(args.pred_dir, args.sharp_dir, with_ssim=not args.no_ssim)
    print(result["n_images"])
    psnrs = list(result["per_image"].values())
    print(COURSE_LINE.format(sum(psnrs) / len(psnrs)))  # the course's plain mean (inf if any image is identical)
    print(f"# finite mean: {describe(result)}" + (f"; mean SSIM {result['ssim']:.4f}" if result["ssim"] else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({k: v for k, v in result.items()}, indent=2, default=str) + "\n")
    return 0


def _image_pairs(in_dir: Path, out_dir: Path):
    from .imageio import list_images

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if out_dir.resolve() == in_dir.resolve():
        raise ValueError(f"OUT_DIR must differ from IN_DIR ({in_dir}): outputs would overwrite the inputs")
    return [(in_dir / rel, out_dir / rel.with_suffix(".png")) for rel in list_images(in_dir, "input folder")]


def _map_folder(in_dir, out_dir, fn, desc) -> int:
    """Apply fn(uint8 image) -> uint8 image to every image below in_dir; unreadable files are listed."""
    from tqdm.auto import tqdm

    from .imageio import ImageReadError, read_rgb, write_png_atomic

    skipped = []
    pairs = _image_pairs(in_dir, out_dir)
    for src, dst in tqdm(pairs, desc=desc, unit="image"):
        try:
            img = read_rgb(src)
        except ImageReadError as err:
            skipped.append(str(err))
            continue
        write_png_atomic(dst, fn(img))
    print(f"{len(pairs) - len(skipped)} image(s) written to {out_dir}")
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    return 1 if skipped else 0


def cmd_blur(args) -> int:
    from .blur import blur_uint8, get_preset

    preset = get_preset(args.preset if args.sigma is None else (args.kernel_size, args.sigma))
    return _map_folder(args.in_dir, args.out_dir, lambda img: blur_uint8(img, preset), f"blur {preset.name}")


def cmd_deblur(args) -> int:
    from .train import model_from_checkpoint, pick_device, predict_uint8

    device = pick_device(args.device)
    model, ckpt = model_from_checkpoint(args.checkpoint, device)
    print(f"{ckpt['model']} {ckpt['model_kwargs']} ({ckpt['parameters']:,} parameters) on {device}")
    return _map_folder(args.in_dir, args.out_dir, lambda img: predict_uint8(model, img, device), "deblur")


def cmd_prepare(args) -> int:
    from . import config, workflow

    P = config.load_params(args.params, raw_dir=args.raw_dir)
    result = workflow.prepare(P)
    print(result["summary"])
    print(json.dumps(result["splits"], indent=1))
    return 0


def cmd_train(args) -> int:
    from . import config, paths
    from .train import TrainConfig, train

    P = config.load_params(args.params)
    cfg = {"model": args.model, "model_kwargs": {"width": args.width if args.width else P["width"]},
           "presets": args.presets or P["presets"], "epochs": args.epochs or P["epochs"],
           "batch_size": args.batch_size or P["batch_size"], "lr": args.lr or P["lr"],
           "crop_size": args.crop_size if args.crop_size else P["crop_size"],
           "max_minutes": args.max_minutes or P["max_minutes"], "device": args.device or P["device"],
           "train_max_frames": args.train_max_frames or P["train_max_frames"],
           "val_max_frames": args.val_max_frames or P["val_max_frames"], "seed": args.seed, "resume": args.resume}
    if args.blocks:
        cfg["model_kwargs"]["blocks"] = args.blocks
    for key in ("loss", "optimizer", "ema_decay", "grad_clip", "warmup_steps", "epoch_samples"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.cosine:
        cfg["cosine"] = True
    tc = TrainConfig.from_dict(cfg)
    data = Path(args.data_dir) if args.data_dir else paths.processed_dir()
    out = Path(args.out_dir) if args.out_dir else paths.runs_dir() / "cli"
    summary = train(tc, data, out)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1, default=str))
    print(f"checkpoint: {out / 'best.pt'}")
    return 0


def cmd_report(args) -> int:
    from .report import run_report

    import yaml

    from .report import NOTEBOOKS

    parameters = {key: yaml.safe_load(value) for key, value in args.parameter or []}
    chosen = [n for n in NOTEBOOKS if not args.only or any(n.startswith(o) for o in args.only)]
    if not chosen:
        raise ValueError(f"--only {args.only} matches none of {list(NOTEBOOKS)}")
    run_report(args.params, parameters, notebooks=chosen, html=not args.no_html)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m deblur_utils", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("evaluate", help="average PSNR of deblurred images against sharp ones, like the course script",
                       description="Pairs files by relative path (extension ignored), computes skimage's PSNR per "
                                   "uint8 image and prints the count and the course's line. Exits 2 on missing or "
                                   "mismatched files.")
    e.add_argument("pred_dir", help="folder of deblurred images")
    e.add_argument("sharp_dir", help="folder of sharp originals, same relative names")
    e.add_argument("--no-ssim", action="store_true", help="skip SSIM (faster)")
    e.add_argument("--json", help="also write per-image PSNRs and the summary to this JSON file")
    e.set_defaults(fn=cmd_evaluate)

    d = sub.add_parser("deblur", help="deblur every image in IN_DIR with a checkpoint into OUT_DIR (PNG, same names)")
    d.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by training")
    d.add_argument("in_dir"), d.add_argument("out_dir")
    d.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    d.set_defaults(fn=cmd_deblur)

    b = sub.add_parser("blur", help="blur every image in IN_DIR into OUT_DIR (PNG, same names)")
    b.add_argument("--preset", default="b", help="a, b or c (default b)")
    b.add_argument("--kernel-size", type=int, help="custom blur: odd kernel size (with --sigma)")
    b.add_argument("--sigma", type=float, help="custom blur: sigma in pixels (with --kernel-size)")
    b.add_argument("in_dir"), b.add_argument("out_dir")
    b.set_defaults(fn=cmd_blur)

    pr = sub.add_parser("prepare", help="build Set A, Set B and the split (notebook 01)")
    pr.add_argument("--params", default="default", help="parameter set (default, ci, full) or YAML path")
    pr.add_argument("--raw-dir", help="folder of sharp frames (default: the embedded photos)")
    pr.set_defaults(fn=cmd_prepare)

    t = sub.add_parser("train", help="train one model on a prepared Set A / Set B folder")
    t.add_argument("--params", default="default", help="parameter set whose values fill what is not given")
    t.add_argument("--data-dir", help="the processed folder (holds sharp/, blur_*/ and splits.json)")
    t.add_argument("--out-dir", help="run folder for checkpoints and history (default runs/cli)")
    t.add_argument("--model", default="srcnn", help="srcnn (faithful), residual_srcnn or resnet")
    t.add_argument("--width", type=int), t.add_argument("--blocks", type=int, help="resnet only")
    t.add_argument("--presets", nargs="+"), t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int), t.add_argument("--lr", type=float)
    t.add_argument("--crop-size", type=int, help="patch size (default: the set's; none = whole frames)")
    t.add_argument("--max-minutes", type=float, help="time budget; stops cleanly and saves before it")
    t.add_argument("--device"), t.add_argument("--seed", type=int, default=0)
    t.add_argument("--train-max-frames", type=int), t.add_argument("--val-max-frames", type=int)
    t.add_argument("--loss", choices=["mse", "l1", "charbonnier"]), t.add_argument("--optimizer", choices=["adam", "adamw"])
    t.add_argument("--ema-decay", type=float), t.add_argument("--grad-clip", type=float)
    t.add_argument("--warmup-steps", type=int), t.add_argument("--epoch-samples", type=int)
    t.add_argument("--cosine", action="store_true", help="cosine learning-rate decay over the budget")
    t.add_argument("--resume", action="store_true", help="continue from OUT_DIR/last.pt")
    t.set_defaults(fn=cmd_train)

    r = sub.add_parser("report", help="run notebooks 01-05 with papermill into reports/ (+ HTML)")
    r.add_argument("--params", default="default", help="parameter set: default, ci, full, or a YAML path")
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override one notebook parameter in every notebook that has it (value read as YAML), "
                        "e.g. -p raw_dir /kaggle/input/reds/train_sharp -p width 2048")
    r.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks, by number prefix, e.g. --only 02 04")
    r.add_argument("--no-html", action="store_true", help="skip the HTML export")
    r.set_defaults(fn=cmd_report)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, RuntimeError) as err:
        return _err(str(err))
    except KeyboardInterrupt:
        return _err("interrupted; finished files are kept, rerun to continue")
