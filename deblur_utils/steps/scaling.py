"""Data-parallel scaling on this machine: training images per second of 1 process against N (torchrun).

``measure`` trains the same model on the prepared data three ways, each a separate
``python -m deblur_utils train`` process tree started by ``distributed.launch``, one after the other:

- 1 process x 1 thread,
- 1 process x N threads (the single-process path with all the cores N processes would get),
- N processes x 1 thread under ``torchrun`` (Gloo on the CPU, NCCL on GPUs),

and reads ``train_images_per_second`` (training steps only: no validation, no saves) from each
run's ``summary.json``. Every configuration makes the same number of images: N processes take 1/N
of the steps, each of N x ``batch_size`` images. Notebook 02 shows the result (``reports/scaling.json``)
and ``benchmarks/scaling.py`` runs it from the command line.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

from ..report.tables import markdown_table
from ..runtime import distributed, paths
from ..runtime.atomic import write_json_atomic
from ..training.config import TrainConfig

SETTINGS = ("nproc", "device", "model", "width", "crop_size", "batch_size", "images")


def report_path() -> Path:
    return paths.reports_dir() / "scaling.json"


def _run(label, nproc, threads, s, processed, out_dir):
    """One configuration through ``distributed.launch`` (torchrun for nproc > 1): its training images / s."""
    cfg = TrainConfig(model=s["model"], model_kwargs={"width": s["width"]}, crop_size=s["crop_size"],
                      batch_size=s["batch_size"], epochs=1, epoch_samples=s["images"], max_minutes=None,
                      device=s["device"], val_max_frames=1)
    t0 = time.perf_counter()
    try:
        summary = distributed.launch(dataclasses.asdict(cfg), processed, out_dir, nproc, log=lambda _: None,
                                     threads=threads)
    except RuntimeError as err:
        raise RuntimeError(f"scaling: the {label} configuration failed: {err}") from None
    return {"config": label, "processes": nproc, "threads_per_process": threads,
            "train_images_per_second": summary["train_images_per_second"], "steps": summary["steps"],
            "wall_seconds": time.perf_counter() - t0}


def measure(processed=None, out_json=None, nproc=2, device="cpu", model="srcnn", width=64, crop_size=96,
            batch_size=8, images=1536, reuse=True, echo=print) -> dict:
    """Measure (see the module docstring) and write ``out_json`` (default ``reports/scaling.json``).

    ``reuse``: an existing ``out_json`` measured with the same settings is returned as it is, so that
    rerunning notebook 02 does not measure again (delete the file to measure anew).
    """
    processed = Path(processed or paths.processed_dir())
    out_json = Path(out_json or report_path())
    settings = {"nproc": int(nproc), "device": str(device), "model": model, "width": int(width),
                "crop_size": int(crop_size), "batch_size": int(batch_size), "images": int(images)}
    if nproc < 2:
        raise ValueError(f"nproc={nproc}: scaling compares 1 process against N >= 2")
    if images % (nproc * batch_size):
        raise ValueError(f"images={images} must be a multiple of nproc x batch_size ({nproc * batch_size}) "
                         "so that every configuration trains on the same images")
    if reuse and out_json.exists():
        old = json.loads(out_json.read_text(encoding="utf-8"))
        if {k: old.get("settings", {}).get(k) for k in SETTINGS} == settings:
            return old
    configs = [("1 x 1", 1, 1), (f"1 x {nproc}", 1, nproc), (f"{nproc} x 1 (torchrun)", nproc, 1)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="scaling-") as tmp:
        for i, (label, n, threads) in enumerate(configs):
            rows.append(_run(label, n, threads, settings, processed, Path(tmp) / str(i)))
            echo(f"{label:>20} (processes x threads): {rows[-1]['train_images_per_second']:.1f} training images/s")
    single = max(r["train_images_per_second"] for r in rows[:2])
    ratio = rows[2]["train_images_per_second"] / single
    echo(f"{nproc} processes against the best single process: {ratio:.2f}x")
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu_count": os.cpu_count(),
           "load_average_1min_after": load, "settings": settings, "rows": rows, "scaling_ratio": ratio}
    write_json_atomic(out_json, out)
    return out


def section(path=None) -> str:
    """The measurement as Markdown for the report; how to measure it when ``path`` does not exist yet."""
    path = Path(path or report_path())
    shown = f"{path.parent.name}/{path.name}"
    if not path.exists():
        return (f"*Not measured on this machine yet* ({shown} does not exist): set `scaling_images` in "
                "notebook 02's parameters, or run `python benchmarks/scaling.py`, then rerun this notebook.")
    s = json.loads(path.read_text(encoding="utf-8"))
    st, base = s["settings"], s["rows"][0]["train_images_per_second"]
    rows = [[r["config"], f"{r['train_images_per_second']:.1f}", f"{r['train_images_per_second'] / base:.2f}x"]
            for r in s["rows"]]
    load = s.get("load_average_1min_after")
    return (f"Measured {s['date']} on {st['device']} ({s['cpu_count']} cores"
            + (f", load average {load:.1f} just after" if load is not None else "") + f"): {st['model']} width "
            f"{st['width']} on {st['crop_size']}x{st['crop_size']} crops, batch {st['batch_size']} per process, "
            f"{st['images']} training images per configuration.\n\n"
            + markdown_table(["processes x threads", "training images / s", "vs 1 x 1"], rows)
            + f"\n\n{st['nproc']} processes train **{s['scaling_ratio']:.2f}x** as fast as the best single process.")
