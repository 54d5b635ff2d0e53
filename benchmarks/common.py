"""What the benchmark scripts share: their common arguments and JSON output, the checkpoints of ours they
grade, the frame sets they choose on, and the figures they read off the grading loop's rows.

Every script runs in the work directory (the project root, or DEBLUR_WORKDIR) on the parameter set's
data, prints its tables and, with ``--json PATH``, writes everything it printed as JSON.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur_utils import params  # noqa: E402
from deblur_utils.data.blur import get_preset  # noqa: E402
from deblur_utils.evaluation import frame_sets  # noqa: E402
from deblur_utils.evaluation.grading import HARM_DB, capped  # noqa: E402
from deblur_utils.evaluation.metrics import grade_arrays  # noqa: E402
from deblur_utils.runtime import paths  # noqa: E402
from deblur_utils.runtime.atomic import json_safe, write_json_atomic  # noqa: E402
from deblur_utils.steps import registry  # noqa: E402
from deblur_utils.steps.runs import ours_method  # noqa: E402


def options(progress: bool = False) -> argparse.ArgumentParser:
    """The options every script takes: ``--param-set``, ``--json`` (and ``--no-progress``), as a parent parser."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--param-set", default="default", help="parameter set: default, ci, full, or a YAML path")
    ap.add_argument("--json", type=Path, help="also write the results here")
    if progress:
        ap.add_argument("--no-progress", action="store_true")
    return ap


def parser(doc: str, progress: bool = False) -> argparse.ArgumentParser:
    """The script's parser: its docstring's first line and ``options``."""
    return argparse.ArgumentParser(description=doc.splitlines()[0], parents=[options(progress)])


def load(args) -> params.Params:
    return params.load_params(args.param_set)


def stamp(P) -> dict:
    return {"param_set": P.param_set, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def finish(out: dict, path: Path | None) -> dict:
    """Write ``out`` to ``path`` (``--json``) when given; returns it."""
    if path:
        write_json_atomic(path, json_safe(out))
        print(f"\nwritten to {path}")
    return out


def ours_checkpoints(P) -> dict:
    """name -> best.pt of every finished run of ours: notebook 02's, then the seeds' runs
    (runs/benchmarks/seed<N>/, ``quality.py --seeds``)."""
    found = {}
    ours = set(registry.learned(P.presets).get(ours_method(P), {}).values())
    if len(ours) == 1:
        found["notebook 02"] = next(iter(ours))
    for run in sorted((paths.runs_dir() / "benchmarks").glob("seed*")):
        if (run / "summary.json").exists() and (run / "best.pt").exists():
            found[run.name] = run / "best.pt"
    return found


def notebook_checkpoint(P, ap) -> Path:
    """Notebook 02's finished checkpoint of ours; the parser's error, saying what to run, without one."""
    ckpt = ours_checkpoints(P).get("notebook 02")
    if ckpt is None:
        ap.error("no finished checkpoint of ours from notebook 02: run `make report` first")
    return ckpt


def choosing_sets(P, test: bool = False) -> list:
    """The frame sets a choice is made on: the embedded validation split at b and c and the real-photo
    validation set at b, c and sigma 1.2 (every frame); with ``test`` also both test sets, for the record."""
    sets = frame_sets.embedded(P, "val", ("b", "c")) + (frame_sets.real_photos_sets(P, "val", ("b", "c", "s1.2")) or [])
    if test:
        sets += frame_sets.embedded(P, "test", ("a", "b", "c"))
        sets += frame_sets.real_photos_sets(P, "test") or []
    return sets


def gain_stats(rows, identity: dict | None = None) -> dict:
    """{(set, blur): figures} of one method's rows: the mean PSNR and the mean gain over doing nothing
    (an identical frame counts as 100 dB), the worst frame's gain, the frames more than 0.5 dB below
    doing nothing, the estimate's mean error in log sigma (from the notes: each frame's ``estimates``, or
    the set's one ``sigma``), and the seconds a frame took. ``identity``: {(set, blur): per-frame PSNR}."""
    out = {}
    for r in rows:
        psnr = np.array([capped(v) for v in r.psnr_db])
        base = np.array([capped(v) for v in (identity or {}).get((r.set, r.blur), r.psnr_db)])
        gain = psnr - base
        est = r.notes.get("estimates", [r.notes["sigma"]] if "sigma" in r.notes else None)
        true = None if est is None else get_preset(r.blur).sigma if r.set != "sweep" else float(r.blur)
        out[(r.set, r.blur)] = {"frames": len(psnr), "psnr_db": float(psnr.mean()), "gain_db": float(gain.mean()),
                                "worst_gain_db": float(gain.min()), "frames_harmed": int((gain < -HARM_DB).sum()),
                                "log_error_mean": None if est is None else float(np.mean(np.log(np.asarray(est) / true))),
                                "seconds_per_frame": r.seconds / len(psnr)}
    return out


def identity_psnrs(sets) -> dict:
    """{(set, blur): per-frame PSNR of doing nothing}, for ``gain_stats``."""
    return {(s.name, s.blur): grade_arrays(s.sharp, s.blurred, with_ssim=False)[0] for s in sets}


def stats_row(label: list, r: dict) -> list:
    """A table row of ``gain_stats`` figures after ``label``."""
    return [*label, f"{r['psnr_db']:.2f}", f"{r['gain_db']:+.2f}", f"{r['worst_gain_db']:+.2f}", r["frames_harmed"],
            "" if r["log_error_mean"] is None else f"{r['log_error_mean']:+.3f}"]


STATS_HEADER = ["PSNR", "gain vs nothing", "worst frame", f"frames > {HARM_DB} dB below", "log sigma error (mean)"]
