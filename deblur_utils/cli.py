"""``python -m deblur_utils <command>``: the same functions the notebooks call.

    evaluate PRED_DIR SHARP_DIR                grade like the course script
    deblur --checkpoint CKPT IN_DIR OUT_DIR    deblur a folder of images to PNGs of the same names
                                               (--one-blur: one sigma for the whole folder;
                                               --views 8: the refiner's flipped views averaged)
    blur --preset P IN_DIR OUT_DIR             blur a folder of images with a preset
    prepare [--raw-dir DIR] [--workers N]      build Set A / Set B and the split (notebook 01)
    fetch-real-photos                          unpack the Debian packages of the real photos (test,
                                               validation and training photos)
    train [--model srcnn ...]                  train one model (notebook 02's parameters); under
                                               torchrun, data-parallel over the processes it starts
    sweep --widths 64 256 ...                  notebooks 02 and 04 once per width, then the comparison
    plan [--params full --frames 24000]        minutes per notebook on one GPU (FLOP estimate); fits 9 h?
    report [--params default]                  run notebooks 01-05; write reports/report.html and .pdf
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

from .atomic import write_text


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
        finite = {k: (v if v is None or math.isfinite(v) else None) for k, v in result["per_image"].items()}
        write_text(args.json, json.dumps({**result, "per_image": finite}, indent=2) + "\n")
    return 0


def _image_pairs(in_dir: Path, out_dir: Path):
    from .imageio import list_images

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    if out_dir.resolve() == in_dir.resolve():
        raise ValueError(f"OUT_DIR must differ from IN_DIR ({in_dir}): outputs would overwrite the inputs")
    return [(in_dir / rel, out_dir / rel.with_suffix(".png")) for rel in list_images(in_dir, "input folder")]


def _map_folder(in_dir, out_dir, fn, desc, batch: int = 1) -> int:
    """Apply fn(list of uint8 images of one size) -> list of uint8 images to every image below in_dir,
    ``batch`` at a time; unreadable files are listed on stderr (exit code 1)."""
    from tqdm.auto import tqdm

    from .imageio import ImageReadError, read_rgb, write_png_atomic

    skipped, pending = [], []

    def flush():
        for ((_, dst), _), img in zip(pending, fn([img for _, img in pending])):
            write_png_atomic(dst, img)
        pending.clear()

    pairs = _image_pairs(in_dir, out_dir)
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
    return 1 if skipped else 0


def cmd_blur(args) -> int:
    from .blur import blur_uint8, get_preset, kernel_size_for_sigma

    if args.kernel_size is not None and args.sigma is None:
        raise ValueError("--kernel-size needs --sigma too (a custom blur is a kernel size and a sigma)")
    if args.sigma is not None:
        k = args.kernel_size if args.kernel_size is not None else kernel_size_for_sigma(args.sigma)
        preset = get_preset((k, args.sigma))
    else:
        preset = get_preset(args.preset)
    return _map_folder(args.in_dir, args.out_dir, lambda imgs: [blur_uint8(i, preset) for i in imgs],
                       f"blur {preset.name}")


def cmd_deblur(args) -> int:
    import torch

    from .train import model_from_checkpoint, pick_device, predict_uint8

    device = pick_device(args.device)
    model, ckpt = model_from_checkpoint(args.checkpoint, device)
    print(f"{ckpt['model']} {ckpt['model_kwargs']} ({ckpt['parameters']:,} parameters) on {device}")
    import numpy as np

    if args.views != 1:
        if not hasattr(model, "views"):
            raise ValueError(f"--views needs a checkpoint of the blind Wiener network (model blind_wiener); "
                             f"{args.checkpoint} holds {ckpt['model']}: drop --views")
        model.views = args.views
    if args.one_blur:
        model = _one_blur(model, args, device)

    def deblur(imgs):
        return list(predict_uint8(model, np.stack(imgs), device, batch_size=batch, tile=args.tile,
                                  amp=args.amp))

    batch = args.batch_size or (2 if torch.device(device).type == "cpu" else 8)
    return _map_folder(args.in_dir, args.out_dir, deblur, "deblur", batch=batch)


def _one_blur(model, args, device):
    """``model`` given one sigma for the whole folder: the median of its own per-image estimates (every
    image of the folder blurred with the same kernel, as each of the course's folders)."""
    from tqdm.auto import tqdm

    from .blind import GivenSigma, one_sigma
    from .imageio import ImageReadError, read_rgb
    from .train import estimate_sigmas

    if not getattr(model, "blind", False):
        raise ValueError(f"--one-blur needs a checkpoint of the blind Wiener network (model blind_wiener, no "
                         f"fixed_sigma); {args.checkpoint} is not one: drop --one-blur")
    estimates = []
    for src, _ in tqdm(_image_pairs(args.in_dir, args.out_dir), desc="estimate the blur", unit="image"):
        try:
            estimates.extend(estimate_sigmas(model, read_rgb(src)[None], device, quantile=model.set_quantile))
        except ImageReadError:  # the deblur pass lists it
            continue
    sigma = one_sigma(estimates)
    print(f"one blur for the folder: sigma {sigma:.3f} (median of {len(estimates)} images' estimates)")
    return GivenSigma(model, sigma)


def cmd_prepare(args) -> int:
    from . import config, workflow

    P = config.load_params(_set_path(args.params), raw_dir=str(Path(args.raw_dir).resolve()) if args.raw_dir else None,
                           prepare_workers=args.workers)
    result = workflow.prepare(P)
    print(result["summary"])
    print(json.dumps(result["splits"], indent=1))
    return 0


def cmd_fetch_real_photos(args) -> int:
    from . import real_photos

    versions = real_photos.fetch(Path(args.dest) if args.dest else None)
    missing = [p for p, v in versions.items() if v is None]
    print("real photos:", ", ".join(f"{p} {v}" for p, v in versions.items() if v) or "nothing unpacked")
    return 1 if missing and args.strict else 0


def cmd_train(args) -> int:
    from . import config, paths
    from .train import TrainConfig, train

    if args.config:  # a whole TrainConfig (what workflow.train_run writes for torchrun); --resume still counts
        cfg = _config_file(args.config, t_flags_given(args))
        cfg["resume"] = bool(args.resume or cfg.get("resume"))
        tc = TrainConfig.from_dict(cfg)
    else:
        tc = train_config(config.load_params(_set_path(args.params)), args)
    data = Path(args.data_dir).resolve() if args.data_dir else paths.processed_dir()
    out = Path(args.out_dir) if args.out_dir else paths.runs_dir() / "cli"
    summary = train(tc, data, out)
    if summary.get("rank", 0):  # under torchrun only rank 0 reports
        return 0
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1, default=str))
    print(f"checkpoint: {out / 'best.pt'}")
    return 0


# Flags that may say "none" to switch a limit off, and the number they take otherwise.
_NONE_OK = {"crop_size": int, "epoch_samples": int, "max_minutes": float, "checkpoint_every_minutes": float,
            "cpu_threads": int}


def recipe_flags(args) -> dict:
    """The recipe flags given on the command line: every ``train`` option named like a TrainConfig field
    (``width`` and ``blocks`` go into model_kwargs), converted; what is not given is absent."""
    from .train import TrainConfig

    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"resume", "model_kwargs"} | {"width", "blocks"}
    given = {k: getattr(args, k) for k in sorted(names) if getattr(args, k, None) is not None}
    return {k: _none_or(_NONE_OK[k], v) if k in _NONE_OK else v for k, v in given.items()}


def train_config(P: dict, args):
    """The TrainConfig of ``train``: the notebooks' own (``workflow.faithful_config`` or ``ours_config``
    of the parameter set), then every flag given on top of it. One path from parameters to a recipe."""
    from .train import TrainConfig
    from .workflow import faithful_config, ours_config

    cfg = dataclasses.asdict(ours_config(P) if args.recipe == "ours" else faithful_config(P))
    for key, value in recipe_flags(args).items():
        if key in ("width", "blocks"):
            cfg["model_kwargs"][key] = value
        else:
            cfg[key] = value
    cfg["resume"] = bool(args.resume)
    return TrainConfig.from_dict(cfg)


def t_flags_given(args) -> list:
    """The recipe flags given on the command line (``--config`` takes the whole recipe from its file)."""
    return list(recipe_flags(args)) + (["recipe"] if args.recipe != "faithful" else [])


def _config_file(path, given) -> dict:
    if given:
        raise ValueError(f"--config {path} holds the whole recipe; drop --{' --'.join(g.replace('_', '-') for g in given)} "
                         "or edit the file")
    try:
        cfg = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"--config {path}: not a readable JSON TrainConfig ({err})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"--config {path}: a JSON object of training parameters is needed")
    return cfg


def _none_or(kind, text: str):
    """'none' / 'null' -> None, otherwise the number: lets a flag switch a limit off."""
    return None if str(text).lower() in ("none", "null") else kind(text)


def _set_path(params: str) -> str:
    """A YAML path relative to where the user is (the notebooks run in notebooks/), or a set name."""
    return str(Path(params).resolve()) if params.endswith((".yaml", ".yml")) else params


def _parse_value(text: str):
    """A -p value as YAML, with numbers YAML 1.1 reads as text (1e-4) turned into numbers."""
    import yaml

    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def cmd_report(args) -> int:
    from .report import run_report

    import os

    from .config import ENV_VAR
    from .report import NOTEBOOKS, notebook_parameters

    parameters = {key: _parse_value(value) for key, value in args.parameter or []}
    known = set().union(*notebook_parameters().values())
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(f"no notebook takes parameter(s) {unknown}; they take: {sorted(known)}")
    if os.environ.get(ENV_VAR):
        print(f"note: {ENV_VAR}={os.environ[ENV_VAR]} is set and replaces --params {args.params}", file=sys.stderr)
    chosen = [n for n in NOTEBOOKS if not args.only or any(n.startswith(o) for o in args.only)]
    if not chosen:
        raise ValueError(f"--only {args.only} matches none of {list(NOTEBOOKS)}")
    if args.build_only:
        from .export import build_report

        build_report(show_code=args.show_code, pdf=not args.no_pdf)
        return 0
    run_report(_set_path(args.params), parameters, notebooks=chosen, html=not args.no_html, pdf=not args.no_pdf,
               show_code=args.show_code)
    return 0


def cmd_sweep(args) -> int:
    from .sweep import run_sweep

    result = run_sweep(args.widths, args.models, _set_path(args.params), nproc=args.nproc)
    return 1 if result["failed"] else 0


def cmd_plan(args) -> int:
    from . import config, plan

    result = plan.plan(config.load_params(_set_path(args.params)), args.frames, args.cores)
    print(plan.table(result))
    problems = plan.check(result)
    print("\n" + ("fits one session" if not problems else "does not fit one session:\n  " + "\n  ".join(problems)))
    return 0 if not problems else 1


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
    d.add_argument("--batch-size", type=int,
                   help="frames per forward pass (default: 2 on the CPU, measured fastest there; 8 on a GPU)")
    d.add_argument("--tile", type=int, help="deblur frames larger than TILE x TILE in overlapping tiles "
                                            "(for frames that do not fit the device's memory)")
    d.add_argument("--amp", default="off", choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision (auto: bf16/fp16 on CUDA, bf16 on a CPU with native bf16 such as "
                        "AVX512-BF16 once oneDNN may use it: ONEDNN_MAX_CPU_ISA=ALL, see "
                        "deblur_utils/numerics.py); off (default) is exact float32, as grading uses")
    d.add_argument("--one-blur", action="store_true",
                   help="every image of IN_DIR shares one blur (as each preset's folder): deblur them all with "
                        "one sigma, the median of the blind model's per-image estimates")
    d.add_argument("--views", type=int, default=1, choices=[1, 2, 4, 8],
                   help="blind Wiener network: average the refiner's corrections of this many flipped and "
                        "transposed views of each image (N times its cost; 8 gains ~0.1-0.2 dB at b, "
                        "benchmarks/views.py); 1 (default): one view, as the report grades")
    d.set_defaults(fn=cmd_deblur)

    b = sub.add_parser("blur", help="blur every image in IN_DIR into OUT_DIR (PNG, same names)")
    b.add_argument("--preset", default="b", help="a, b or c (default b)")
    b.add_argument("--kernel-size", type=int, help="custom blur: odd kernel size (with --sigma)")
    b.add_argument("--sigma", type=float, help="custom blur: sigma in pixels (kernel size defaults to 2*ceil(3 sigma)+1)")
    b.add_argument("in_dir"), b.add_argument("out_dir")
    b.set_defaults(fn=cmd_blur)

    pr = sub.add_parser("prepare", help="build Set A, Set B and the split (notebook 01)")
    pr.add_argument("--params", default="default", help="parameter set (default, ci, full) or YAML path")
    pr.add_argument("--raw-dir", help="folder of sharp frames (default: the embedded photos)")
    pr.add_argument("--workers", type=int, help="processes writing Set A/B (default: every core)")
    pr.set_defaults(fn=cmd_prepare)

    fr = sub.add_parser("fetch-real-photos", help="unpack the Debian packages of the real photos (test, validation, "
                                                  "training) under data/external/debian/ "
                                                  "(apt-get download + dpkg-deb -x)")
    fr.add_argument("--dest", help="where to unpack (default data/external/debian)")
    fr.add_argument("--strict", action="store_true", help="exit 1 when a package could not be had")
    fr.set_defaults(fn=cmd_fetch_real_photos)

    t = sub.add_parser("train", help="train one model on a prepared Set A / Set B folder")
    t.add_argument("--params", default="default", help="parameter set whose values fill what is not given")
    t.add_argument("--data-dir", help="the processed folder (holds sharp/, blur_*/ and splits.json)")
    t.add_argument("--out-dir", help="run folder for checkpoints and history (default runs/cli)")
    t.add_argument("--recipe", choices=["faithful", "ours"], default="faithful",
                   help="faithful: the report's recipe (default); ours: the set's `ours` recipe (blind Wiener "
                        "network on the blur continuum), flags override it")
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
                                    "TrainConfig, as workflow.train_run writes it for torchrun); no recipe flags")
    t.set_defaults(fn=cmd_train)

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
    sw.set_defaults(fn=cmd_sweep)

    pl = sub.add_parser("plan", help="minutes per notebook and per training run of a parameter set on one GPU "
                                     "(FLOP estimate), and whether it fits one session")
    pl.add_argument("--params", default="full", help="parameter set: default, ci, full, or a YAML path")
    pl.add_argument("--frames", type=int, default=24_000, help="raw frames in the data folder (course: 24,000)")
    pl.add_argument("--cores", type=int, default=2, help="CPU cores for notebook 01 and the classical baselines")
    pl.set_defaults(fn=cmd_plan)

    r = sub.add_parser("report", help="run notebooks 01-05 with papermill into reports/, then write "
                                      "reports/report.html and report.pdf")
    r.add_argument("--params", default="default", help="parameter set: default, ci, full, or a YAML path")
    r.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override one notebook parameter in every notebook that has it (value read as YAML), "
                        "e.g. -p raw_dir /kaggle/input/reds/train_sharp -p width 2048")
    r.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks, by number prefix, e.g. --only 02 04")
    r.add_argument("--no-html", action="store_true", help="skip the combined report (HTML and PDF)")
    r.add_argument("--no-pdf", action="store_true", help="write reports/report.html only (no Chromium needed)")
    r.add_argument("--show-code", action="store_true",
                   help="show the code cells: writes reports/report_with_code.html/.pdf instead")
    r.add_argument("--build-only", action="store_true",
                   help="run no notebook: build the report from the executed notebooks already in reports/")
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
