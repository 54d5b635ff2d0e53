"""The course's data at scale, on this machine: notebook 01's prepare at one process and at every core,
the cache build, the loader, and a short run of the full recipe, each with its peak memory; then the
same figures extrapolated to the course's 240 sequences of 100 frames.

    python benchmarks/course_scale.py                    # 24 sequences x 100 frames of 1280x720
    python benchmarks/course_scale.py --sequences 4 --json reports/course_scale.json
    ... --skip-recipe                                    # data figures only

The input is a REDS-shaped folder (``<seq>/<frame>.png``, 1280x720) generated once under
``runs/benchmarks/course_scale/raw``: each sequence a slow pan across one of the embedded photos
(enlarged to cover the frame), with sensor-like noise (sigma 2 grey levels) so that the PNGs are as
large and as slow to decode as camera frames rather than smooth upsampled ones. Every step runs in
its own process, so its peak memory (``ru_maxrss``) and CPU time (its own and its workers') are its
own. The recipe step trains every run of the ``full`` parameter set for ``--recipe-steps`` optimiser steps
on this folder (models at their full size; validation and grading on a few frames) and grades it:
the path a Kaggle user takes, end to end, on the CPU.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

COURSE_SEQUENCES, FRAMES, HEIGHT, WIDTH = 240, 100, 720, 1280


def _photo(source: str, index: int) -> np.ndarray:
    """The photo sequence ``index`` pans across: the embedded photos in turn, or ("train-photos") the
    Debian training photos of the real-photo sets (``real_photos.TRAIN_PHOTOS``)."""
    from deblur_utils.data import embedded, real_photos
    from deblur_utils.data.imageio import read_rgb

    if source == "train-photos":
        found = [w[0] for w in map(real_photos.locate, real_photos.TRAIN_PHOTOS) if w is not None]
        if not found:
            raise SystemExit("the training photos are not here: `make real-photos` unpacks them")
        return read_rgb(found[index % len(found)])
    names = list(embedded.PHOTOS)
    return read_rgb(embedded.photo_path(*embedded.PHOTOS[names[index % len(names)]]))


def _sequence(job) -> int:
    """Write one sequence's frames (those missing): a pan over 20% of the enlarged photo, noise per frame."""
    from PIL import Image

    from deblur_utils.data.imageio import write_png_atomic

    out, index, n, source = job
    seq = Path(out) / f"{index:03d}"
    targets = [seq / f"{k:08d}.png" for k in range(n)]
    if all(t.exists() for t in targets):
        return 0
    photo = _photo(source, index)
    h, w = photo.shape[:2]
    scale = max(HEIGHT / h, WIDTH / w) * 1.25
    big = np.asarray(Image.fromarray(photo).resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS))
    rng = np.random.default_rng(index)
    for k, target in enumerate(targets):
        t = k / max(1, n - 1)
        y0 = round((big.shape[0] - HEIGHT) * (0.5 + 0.3 * np.sin(3.0 * t + index)))
        x0 = round((big.shape[1] - WIDTH) * t)
        frame = big[y0:y0 + HEIGHT, x0:x0 + WIDTH].astype(np.float32) + rng.normal(0, 2.0, (HEIGHT, WIDTH, 3))
        if not target.exists():
            write_png_atomic(target, np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return n


def generate(raw: Path, sequences: int, frames: int, source: str = "embedded") -> dict:
    """A REDS-shaped folder ``raw/<seq>/<frame>.png`` of 1280x720 frames (those missing), a process per core."""
    t0 = time.monotonic()
    jobs = [(str(raw), i, frames, source) for i in range(sequences)]
    with concurrent.futures.ProcessPoolExecutor(mp_context=multiprocessing.get_context("spawn")) as pool:
        written = sum(pool.map(_sequence, jobs))
    files = sorted(raw.rglob("*.png"))
    return {"frames": len(files), "written": written, "seconds": time.monotonic() - t0,
            "mean_png_mb": float(np.mean([f.stat().st_size for f in files[::max(1, len(files) // 200)]]) / 1e6)}


# --- each step in its own process --------------------------------------------------------------

def step_prepare(work: Path, raw: Path, workers: int | None) -> dict:
    from deblur_utils.data.sets import prepare_sets

    out = work / f"processed_w{workers or 'all'}"
    shutil.rmtree(out, ignore_errors=True)  # from scratch: a rerun must not skip the frames
    t0 = time.monotonic()
    summary = prepare_sets(raw, out, progress=False, workers=workers)
    seconds = time.monotonic() - t0
    return {"frames": summary.n_frames, "files_written": summary.written, "seconds": seconds,
            "frames_per_second": summary.n_frames / seconds, "output_dir": str(out)}


def step_cache(work: Path, processed: Path) -> dict:
    from deblur_utils.data.cache import load_cached
    from deblur_utils.data.sets import make_splits, save_splits

    seqs = sorted(p.name for p in (processed / "sharp").iterdir())
    save_splits(processed, make_splits(seqs, 0.05, 0.05, seed=0))
    shutil.rmtree(processed / "cache", ignore_errors=True)
    t0 = time.monotonic()
    arrays = load_cached(processed, "train")
    seconds = time.monotonic() - t0
    files = list((processed / "cache").glob("*.npy"))
    return {"train_frames": len(arrays["sharp"]), "seconds": seconds, "bytes": sum(f.stat().st_size for f in files)}


def step_loader(work: Path, processed: Path) -> dict:
    import torch

    from deblur_utils.data.cache import load_cached
    from deblur_utils.data.dataset import PairedFrames
    from deblur_utils.data.sampling import ContinuumCrops
    from deblur_utils.training.config import TrainConfig
    from deblur_utils.training.order import EpochOrder

    arrays = load_cached(processed, "train")
    workers = TrainConfig().num_workers
    ds = PairedFrames(arrays)  # the faithful recipe: whole frames, batch 2, random order
    order = EpochOrder(len(ds), 400, seed=0, epoch=0, replacement=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, sampler=order, num_workers=workers)
    t0 = time.monotonic()
    pairs = sum(len(b[0]) for b in loader)
    whole = pairs / (time.monotonic() - t0)
    crops = ContinuumCrops(arrays["sharp"], 128, seed=0)  # ours: crops of 128 blurred on the fly, batch 32
    t0 = time.monotonic()
    for step in range(20):
        crops.batch(step, 32, "cpu")
    return {"whole_frame_pairs_per_second": whole, "loader_workers": workers,
            "crops128_per_second": 20 * 32 / (time.monotonic() - t0)}


def step_recipe(work: Path, raw: Path, steps: int) -> dict:
    """Every run of the full parameter set for ``steps`` steps on the generated folder, then the grading."""
    import yaml

    from deblur_utils import params
    from deblur_utils.steps import evaluate, prepare, runs

    P = params.load_params("full")
    short = {"inherit": "full", "raw_dir": str(raw), "val_max_frames": 2, "test_max_frames": 2, "tune_max_frames": 1,
             "sweep_max_frames": 1, "sweep_sigmas": [1.2], "rl_iterations": [5], "real_photos": False,
             "faithful": {"epochs": 1, "epoch_samples": P.recipe("faithful")["batch_size"] * steps},
             "small": {"epochs": 1}, "ours": {"epochs": 1, "epoch_samples": P.recipe("ours")["batch_size"] * steps},
             "residual": {"epochs": 1}, "told": {"epochs": 1, "epoch_samples": P.recipe("ours")["batch_size"] * steps}}
    path = work / "full_short.yaml"
    path.write_text(yaml.safe_dump(short))
    os.environ["DEBLUR_WORKDIR"] = str(work / "recipe")
    P = params.load_params(str(path))
    out, t = {}, time.monotonic()
    out["prepare_seconds"] = _timed(lambda: prepare.prepare(P, progress=False))
    for run in runs.training_runs(P):
        out[f"train_{run.name.replace(' ', '_')}_seconds"] = _timed(lambda: runs.train_run(run, progress=False))
    metrics = {}
    out["evaluate_seconds"] = _timed(lambda: metrics.update(evaluate.evaluate(P, progress=False)))
    out["graded_methods"] = sorted(metrics["methods"])
    out["total_seconds"] = time.monotonic() - t
    return out


def _timed(fn) -> float:
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def _usage() -> dict:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_seconds": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "peak_rss_gb": me.ru_maxrss / 2**20, "peak_worker_rss_gb": kids.ru_maxrss / 2**20}


def run_step(args, name: str, *extra) -> dict:
    """This script again, as ``--step name``: the figures of one step in a process of its own."""
    cmd = [sys.executable, __file__, "--step", name, "--work", str(args.work), "--sequences", str(args.sequences),
           "--frames", str(args.frames), *map(str, extra)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"step {name} failed ({done.returncode}): {' '.join(cmd)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=24, help="sequences of 100 frames of 1280x720 (course: 240)")
    ap.add_argument("--frames", type=int, default=FRAMES, help="frames per sequence")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "benchmarks" / "course_scale")
    ap.add_argument("--recipe-steps", type=int, default=2, help="optimiser steps of each run of the full recipe")
    ap.add_argument("--skip-recipe", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    raw = args.work / f"raw_{args.sequences}x{args.frames}"

    if args.step:  # one measured step, in this process: print its figures as the last line
        fn = {"generate": lambda: generate(raw, args.sequences, args.frames),
              "prepare": lambda: step_prepare(args.work, raw, int(args.rest[0]) or None),
              "cache": lambda: step_cache(args.work, Path(args.rest[0])),
              "loader": lambda: step_loader(args.work, Path(args.rest[0])),
              "recipe": lambda: step_recipe(args.work, raw, int(args.rest[0]))}[args.step]
        result = fn()
        print(json.dumps({**result, **_usage()}))
        return result

    import common  # here, not at the top: the generating workers import this script and need none of it
    from deblur_utils.report.tables import markdown_table
    from deblur_utils.runtime.parallel import available_cpus

    cores = available_cpus()
    scale = COURSE_SEQUENCES / args.sequences
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cores": cores, "sequences": args.sequences,
           "frames_per_sequence": args.frames, "cpu": _cpu_name()}
    print(f"generating {args.sequences} x {args.frames} frames of {WIDTH}x{HEIGHT} under {raw} ...", flush=True)
    out["generate"] = run_step(args, "generate")  # in a process of its own: its workers import this script
    rows = []
    for workers in (1, 0):  # 0: every core
        r = run_step(args, "prepare", workers)
        key = "prepare_1_process" if workers == 1 else f"prepare_{cores}_processes"
        out[key] = r
        r["cpu_seconds_per_frame"] = r["cpu_seconds"] / r["frames"]
        rows.append([key.replace("_", " "), f"{r['frames_per_second']:.1f}", f"{r['cpu_seconds_per_frame']:.3f}",
                     f"{r['peak_rss_gb']:.2f} / {r['peak_worker_rss_gb']:.2f}",
                     f"{r['seconds'] / 60:.1f}", f"{r['seconds'] * scale / 60:.0f}"])
        print(f"  {key}: {r['frames_per_second']:.1f} frames/s", flush=True)
    one, every = out["prepare_1_process"], out[f"prepare_{cores}_processes"]
    out["prepare_speedup"] = every["frames_per_second"] / one["frames_per_second"]
    shutil.rmtree(one["output_dir"], ignore_errors=True)
    processed = Path(every["output_dir"])
    out["cache"] = c = run_step(args, "cache", processed)
    rows.append(["cache build (train split)", f"{c['train_frames'] / c['seconds']:.1f}", "",
                 f"{c['peak_rss_gb']:.2f}", f"{c['seconds'] / 60:.1f}", f"{c['seconds'] * scale / 60:.0f}"])
    out["loader"] = ld = run_step(args, "loader", processed)
    print()
    print(markdown_table(["step", "frames / s", "CPU s / frame", "peak memory GB (main / worker)", "minutes here",
                          f"minutes at {COURSE_SEQUENCES} sequences"], rows))
    print(f"\nprepare on {cores} cores: {out['prepare_speedup']:.2f}x the frames per second of one process; "
          f"{every['cpu_seconds_per_frame']:.3f} s of CPU per {WIDTH}x{HEIGHT} frame "
          f"(generated PNGs {out['generate']['mean_png_mb']:.2f} MB each)")
    print(f"cache: {c['bytes'] / 1e9:.2f} GB for {c['train_frames']} training frames "
          f"(x{scale:.0f}: {c['bytes'] * scale / 1e9:.1f} GB, memory-mapped)")
    print(f"loader: {ld['whole_frame_pairs_per_second']:.0f} whole-frame pairs/s ({ld['loader_workers']} workers), "
          f"{ld['crops128_per_second']:.0f} blurred 128x128 crops/s in the training process")
    if not args.skip_recipe:
        print(f"\nthe full recipe, {args.recipe_steps} steps per run on this folder ...", flush=True)
        out["recipe"] = r = run_step(args, "recipe", args.recipe_steps)
        print(markdown_table(["part", "seconds"], [[{"cpu_seconds": "CPU, all processes"}.get(
            k, k.removesuffix("_seconds").replace("_", " ")), f"{v:.1f}"] for k, v in r.items() if k.endswith("_seconds")]
                             + [["peak memory (GB)", f"{r['peak_rss_gb']:.2f}"]]))
        print(f"graded: {', '.join(r['graded_methods'])}")
    return common.finish(out, args.json)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
