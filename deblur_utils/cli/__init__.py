"""``python -m deblur_utils <command>`` (or ``deblur <command>``): the same functions the notebooks call.

    evaluate PRED_DIR SHARP_DIR                grade like the course script
    deblur --checkpoint CKPT IN OUT            deblur a picture or a folder of them, each written back
                                               in kind (grey, alpha, 16 bits, JPEG) under the same name
                                               (--one-blur: one sigma for the whole folder;
                                               --views 8: the refiner's flipped views averaged)
    blur --preset P IN_DIR OUT_DIR             blur a folder of images with a preset
    prepare [--raw-dir DIR] [--workers N]      build Set A / Set B and the split (notebook 01)
    fetch-real-photos                          unpack the Debian packages of the real photos (test,
                                               validation and training photos)
    train [--recipe ours ...]                  train one model (a recipe of the parameter set); under
                                               torchrun, data-parallel over the processes it starts
    sweep --widths 64 256 ...                  notebooks 02 and 04 once per width, then the comparison
    plan [--params full --frames 24000]        minutes per notebook on one GPU (FLOP estimate); fits 9 h?
    report [--params default]                  run notebooks 01-05; write reports/report.html and .pdf
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from ..runtime.atomic import can_write, existing_folder


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def _tile(value: str):
    """--tile: "auto" or a whole number of pixels (0: whole)."""
    if value == "auto":
        return value
    try:
        side = int(value)
    except ValueError:
        side = -1
    if side < 0:
        raise argparse.ArgumentTypeError(f"auto, 0 (whole) or a tile's side in pixels, got {value!r}")
    return side


def _json_file(value: str) -> str:
    """--report, --json: a file to write JSON into. It must end in .json, so that no picture, checkpoint or
    other file is ever written over by a slip of the arguments, and its folder must be writable (said
    before any picture is read, not after the last)."""
    path = Path(value)
    try:
        return _checked_json(path, value)
    except OSError as err:  # a name too long, a folder that cannot be searched
        raise argparse.ArgumentTypeError(f"{value}: {err.strerror or err}") from None


def _checked_json(path: Path, value: str) -> str:
    if path.suffix.lower() != ".json":
        raise argparse.ArgumentTypeError(f"{value!r} does not end in .json: name a JSON file, e.g. report.json "
                                         "(nothing but a .json file is written there)")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a folder: name a JSON file in it, e.g. {path / 'report.json'}")
    if not can_write(path):
        raise argparse.ArgumentTypeError(f"{value}: {existing_folder(path.absolute().parent)} cannot be written: "
                                         "name a file in a folder you can write")
    return value


def _image_commands(sub) -> None:
    """evaluate, deblur, blur: the commands on folders of images."""
    e = sub.add_parser("evaluate", help="average PSNR of deblurred images against sharp ones, like the course script",
                       description="Pairs files by relative path (extension ignored), computes skimage's PSNR per "
                                   "uint8 image and prints the count and the course's line. Exits 2 on missing or "
                                   "mismatched files.")
    e.add_argument("pred_dir", help="folder of deblurred images")
    e.add_argument("sharp_dir", help="folder of sharp originals, same relative names")
    e.add_argument("--no-ssim", action="store_true", help="skip SSIM (faster)")
    e.add_argument("--json", type=_json_file, help="also write per-image PSNRs and the summary to this JSON file "
                                                   "(a name ending in .json)")
    e.set_defaults(fn=("images", "cmd_evaluate"))

    d = sub.add_parser("deblur", help="deblur a picture, or every picture below a folder, with a checkpoint; each "
                                      "written back in kind (grey, alpha, 16 bits, JPEG as JPEG)",
                       description="IN is a picture or a folder (its pictures, recursively, to the same names under "
                                   "OUT). OUT is a picture's path or a folder. Grey comes back grey, an alpha channel "
                                   "untouched, 16 bits as 16 bits (deblurred in floating point), the EXIF orientation "
                                   "applied, a JPEG as a JPEG of quality 95; what cannot be kept is said once per "
                                   "picture. Large pictures go through in overlapping tiles that fit the device's "
                                   "memory. Each picture's sigma and outcome are counted and, with --report, written.")
    d.add_argument("--checkpoint", required=True, help="a best.pt or last.pt written by training")
    d.add_argument("in_dir", metavar="IN", help="a picture, or a folder of pictures")
    d.add_argument("out_dir", metavar="OUT", help="the deblurred picture's path, or a folder")
    d.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    d.add_argument("--format", default="same", choices=["same", "png"],
                   help="same (default): each picture in its own format where it can be (PNG, JPEG, TIFF, BMP, "
                        "WebP; anything else as PNG); png: every picture as PNG")
    d.add_argument("--tile", default="auto", type=_tile,
                   help="auto (default): pictures larger than the device's free memory allows go through in "
                        "overlapping tiles of the side it allows; a number: tiles of that side; 0: always whole")
    d.add_argument("--report", type=_json_file,
                   help="write what was done to each picture (sigma read, deblurred or unchanged and why, notes) "
                        "to this JSON file (a name ending in .json)")
    d.add_argument("--amp", default="off", choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision (auto: bf16/fp16 on CUDA, bf16 on a CPU with native bf16 such as "
                        "AVX512-BF16 once oneDNN may use it: ONEDNN_MAX_CPU_ISA=ALL, see "
                        "deblur_utils/runtime/numerics.py); off (default) is exact float32, as grading uses")
    given = d.add_mutually_exclusive_group()
    given.add_argument("--one-blur", action="store_true",
                       help="the pictures of each folder share one blur (as each preset's folder): deblur them all "
                            "with one sigma, the median of the blind model's per-picture estimates")
    given.add_argument("--sigma", type=float,
                       help="the blur is known: deblur with this sigma (pixels), the blind model's estimate bypassed")
    d.add_argument("--views", type=int, default=1, choices=[1, 2, 4, 8],
                   help="blind Wiener network: average the refiner's corrections of this many flipped and "
                        "transposed views of each picture (N times its cost; 8 gains ~0.1-0.2 dB at b, "
                        "benchmarks/ablation.py views); 1 (default): one view, as the report grades")
    d.set_defaults(fn=("deblur", "cmd_deblur"))

    b = sub.add_parser("blur", help="blur every image in IN_DIR into OUT_DIR (8-bit RGB PNG as Set B, same names)",
                       description="Blurs every picture below IN_DIR (recursively; its EXIF orientation applied) "
                                   "with one Gaussian, quantised as the course's Set B, into an 8-bit RGB PNG of the "
                                   "same relative name under OUT_DIR.")
    b.add_argument("--preset", default="b", help="a, b or c (default b)")
    b.add_argument("--kernel-size", type=int, help="custom blur: odd kernel size (with --sigma)")
    b.add_argument("--sigma", type=float, help="custom blur: sigma in pixels (kernel size defaults to 2*ceil(3 sigma)+1)")
    b.add_argument("in_dir", metavar="IN_DIR", help="a folder of sharp pictures, or one picture")
    b.add_argument("out_dir", metavar="OUT_DIR", help="the folder the blurred PNGs go to (not inside IN_DIR)")
    b.set_defaults(fn=("images", "cmd_blur"))

def _data_commands(sub) -> None:
    """prepare, fetch-real-photos: notebook 01's data."""
    pr = sub.add_parser("prepare", help="build Set A, Set B and the split (notebook 01)")
    pr.add_argument("--params", default="default", help="parameter set (default, ci, full) or YAML path")
    pr.add_argument("--raw-dir", help="folder of sharp frames (default: the embedded photos)")
    pr.add_argument("--workers", type=int, help="processes writing Set A/B (default: every core)")
    pr.set_defaults(fn=("commands", "cmd_prepare"))

    fr = sub.add_parser("fetch-real-photos", help="unpack the Debian packages of the real photos (test, validation, "
                                                  "training) under data/external/debian/ "
                                                  "(apt-get download + dpkg-deb -x)")
    fr.add_argument("--dest", help="where to unpack (default data/external/debian)")
    fr.add_argument("--strict", action="store_true", help="exit 1 when a package could not be had")
    fr.set_defaults(fn=("commands", "cmd_fetch_real_photos"))

def _train_command(sub) -> None:
    """train: one run, a recipe of the parameter set with flags on top."""
    t = sub.add_parser("train", help="train one model on a prepared Set A / Set B folder")
    t.add_argument("--params", default="default", help="parameter set whose values fill what is not given")
    t.add_argument("--data-dir", help="the processed folder (holds sharp/, blur_*/ and splits.json)")
    t.add_argument("--out-dir", help="run folder for checkpoints and history (default runs/cli)")
    t.add_argument("--recipe", choices=["faithful", "residual", "ours", "small"], default="faithful",
                   help="the parameter set's recipe to start from (faithful: the report's, the default; ours: the "
                        "blind Wiener network on the blur continuum; residual, small); flags override it")
    t.add_argument("--model", help="srcnn (faithful, the default), residual_srcnn, resnet, unet or blind_wiener")
    t.add_argument("--width", type=int), t.add_argument("--blocks", type=int, help="resnet and unet only")
    t.add_argument("--presets", nargs="+"), t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int), t.add_argument("--lr", type=float)
    t.add_argument("--crop-size", help="patch side in pixels, or none for whole frames (default: the set's)")
    t.add_argument("--max-minutes", help="safety cap in minutes, or none; stops cleanly and saves before it "
                                         "(the recipe itself is epochs x steps per epoch)")
    t.add_argument("--device"), t.add_argument("--seed", type=int, help="default: the set's (0)")
    t.add_argument("--cpu-threads", help="threads of a CPU run, or 0 for every core (default: the set's, 2: "
                                         "the same model on any x86 CPU, see deblur_utils/numerics.py)")
    t.add_argument("--train-max-frames", type=int), t.add_argument("--val-max-frames", type=int)
    t.add_argument("--loss", choices=["mse", "l1", "charbonnier", "psnr"]), t.add_argument("--optimizer", choices=["adam", "adamw"])
    t.add_argument("--ema-decay", type=float), t.add_argument("--grad-clip", type=float)
    t.add_argument("--warmup-steps", type=int)
    t.add_argument("--epoch-samples", help="(frame, preset) pairs between validations, or none for all")
    t.add_argument("--select-on", choices=["val_psnr_db", "val_loss", "last"],
                   help="what picks best.pt (last: the final weights)")
    t.add_argument("--checkpoint-every-steps", type=int, help="also write last.pt mid-epoch every N steps")
    t.add_argument("--checkpoint-every-minutes",
                   help="also write last.pt mid-epoch every M minutes (default 10), or none")
    t.add_argument("--cosine", action="store_true", default=None, help="cosine learning-rate decay over the recipe's steps")
    t.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision (auto, the default: bf16, else fp16 with loss scaling, on CUDA; off on CPU)")
    t.add_argument("--channels-last", choices=["auto", "on", "off"], help="NHWC layout (auto: on for CUDA)")
    t.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT_DIR/last.pt, or from last.prev.pt when last.pt is unreadable; "
                        "without it an earlier run in OUT_DIR is moved to OUT_DIR/replaced-<time>/")
    t.add_argument("--config", help="a JSON file with every training parameter (dataclasses.asdict of a "
                                    "TrainConfig, as steps.runs.train_run writes it for torchrun); no recipe flags")
    t.set_defaults(fn=("commands", "cmd_train"))

def _report_commands(sub) -> None:
    """sweep, plan, report: the notebooks through papermill, and what a parameter set costs."""
    sw = sub.add_parser("sweep", help="notebooks 02 and 04 once per model width, each into its own folder; "
                                      "then PSNR per preset vs parameters and vs training time",
                        description="Runs notebook 02 (training only the swept model) and 04 with papermill for "
                                    "every (model, width) into reports/sweep/<model>_width<W>/, skips finished "
                                    "ones, goes on past a failed one and exits 1 naming it. Notebook 01 runs "
                                    "first when the data is not prepared yet.")
    sw.add_argument("--widths", type=int, nargs="+", required=True, help="channel widths, e.g. 64 256 1024 2048")
    sw.add_argument("--models", nargs="+", default=["srcnn"], choices=["srcnn", "residual_srcnn", "ours"],
                    help="whose width is swept: srcnn (the faithful SRCNN, default), residual_srcnn, ours")
    sw.add_argument("--params", default="default", help="parameter set: default, ci, full, or a YAML path")
    sw.add_argument("--nproc", type=int, help="processes per training run (>1: torchrun, e.g. one per GPU)")
    sw.set_defaults(fn=("commands", "cmd_sweep"))

    pl = sub.add_parser("plan", help="minutes per notebook and per training run of a parameter set on one GPU "
                                     "(FLOP estimate), and whether it fits one session")
    pl.add_argument("--params", default="full", help="parameter set: default, ci, full, or a YAML path")
    pl.add_argument("--frames", type=int, default=24_000, help="raw frames in the data folder (course: 24,000)")
    pl.add_argument("--cores", type=int, default=2, help="CPU cores for notebook 01 and the classical baselines")
    pl.set_defaults(fn=("commands", "cmd_plan"))

    r = sub.add_parser("report", help="run notebooks 01-05 with papermill into reports/, then write "
                                      "reports/report.html and report.pdf")
    r.add_argument("--params", default="default", help="parameter set: default, ci, full, or a YAML path")
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override one notebook parameter in every notebook that has it (value read as YAML), "
                        "e.g. -p raw_dir /kaggle/input/reds/train_sharp -p faithful '{model_kwargs: {width: 2048}}'")
    r.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks, by number prefix, e.g. --only 02 04")
    r.add_argument("--no-html", action="store_true", help="skip the combined report (HTML and PDF)")
    r.add_argument("--no-pdf", action="store_true", help="write reports/report.html only (no Chromium needed)")
    r.add_argument("--show-code", action="store_true",
                   help="show the code cells: writes reports/report_with_code.html/.pdf instead")
    r.add_argument("--build-only", action="store_true",
                   help="run no notebook: build the report from the executed notebooks already in reports/")
    r.set_defaults(fn=("commands", "cmd_report"))


def build_parser() -> argparse.ArgumentParser:
    prog = "deblur" if Path(sys.argv[0]).name == "deblur" else "python -m deblur_utils"  # the console script's name
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_image_commands, _data_commands, _train_command, _report_commands):
        add(sub)
    return p


# What an interrupted command leaves, and what its rerun does.
_INTERRUPTED = {"deblur": "interrupted; the pictures written so far are whole (each file is written at once); "
                          "a rerun does every picture again",
                "blur": "interrupted; the pictures written so far are whole; a rerun blurs every picture again",
                "evaluate": "interrupted; nothing was written"}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    module, name = args.fn
    try:
        # The command's module is imported once it is chosen: --help and a mistyped flag answer at once,
        # without importing torch, papermill and nbconvert (seconds).
        return getattr(importlib.import_module(f".{module}", __name__), name)(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, RuntimeError) as err:
        return _err(str(err))
    except OSError as err:  # a full disk (runtime.atomic.DiskFullError) and the like: what happened, where
        return _err(str(err))
    except KeyboardInterrupt:
        return _err(_INTERRUPTED.get(args.command, "interrupted; finished files are kept, rerun to continue"))
