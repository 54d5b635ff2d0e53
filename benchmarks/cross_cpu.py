"""The same recipe on another instruction set: does a slower CPU give the same table?

    python benchmarks/cross_cpu.py [--isa avx2|default] [--json PATH]

Retrains ours (the parameter set's recipe, seed and steps) in a child process whose ATen and oneDNN
kernels are held to an older instruction set (``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA``:
``avx2`` imitates a CPU without AVX-512, ``default`` one without AVX2), grades it on the test split
and the real-photo test set, and prints it beside the checkpoint notebook 02 trained (the last
`make report`), with the differences and both training times. Recipes are defined in steps, so
the two must agree to rounding: float sums in another order drift a little over 768 steps.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deblur_utils import config, paths, workflow  # noqa: E402
from deblur_utils.atomic import write_text  # noqa: E402
from deblur_utils.tables import markdown_table  # noqa: E402

ISAS = {"avx2": ("avx2", "AVX2"), "default": ("default", "SSE41")}


def grade(P, ckpt) -> dict:
    """Course PSNR per preset on the test split and per blur on the real-photo test set."""
    from deblur_utils import real_photos
    from deblur_utils.metrics import psnr_db, summarize
    from deblur_utils.train import model_from_checkpoint, pick_device, predict_uint8

    out = {f"test {p}": r["psnr_db"] for p, r in workflow.grade_checkpoint(P, ckpt).items()}
    real = real_photos.load()
    if real is not None:
        device = pick_device(P["device"])
        model, _ = model_from_checkpoint(ckpt, device)
        for b in real_photos.EVAL_BLURS:
            pred = predict_uint8(model, real[b], device)
            out[f"real {b}"] = summarize([psnr_db(s, q) for s, q in zip(real["sharp"], pred)])["psnr_db"]
    return out


def child(P, run_dir: Path) -> None:
    summary = workflow.train(workflow.ours_config(P), paths.processed_dir(), run_dir, progress=False)
    result = {"summary": {k: summary[k] for k in ("steps", "steps_asked", "stopped_by", "minutes")},
              "grades": grade(P, run_dir / "best.pt")}
    write_text(run_dir / "cross_cpu.json", json.dumps(result, indent=1) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--isa", choices=list(ISAS), default="default")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    if args.child:
        return child(P, args.child)
    metrics = workflow.load_metrics()
    name = f"ours_{P['ours']['model']}"
    ckpt = Path(metrics["method_info"][name]["checkpoint"]["b"])
    reference = {"summary": json.loads((ckpt.parent / "summary.json").read_text()), "grades": grade(P, ckpt)}
    run_dir = paths.runs_dir() / "benchmarks" / f"cross_cpu_{args.isa}"
    aten, onednn = ISAS[args.isa]
    env = {**os.environ, "ATEN_CPU_CAPABILITY": aten, "ONEDNN_MAX_CPU_ISA": onednn}
    subprocess.run([sys.executable, __file__, "--param-set", args.param_set, "--child", str(run_dir)], env=env,
                   check=True)
    other = json.loads((run_dir / "cross_cpu.json").read_text())
    rows = [[k, f"{reference['grades'][k]:.2f}", f"{other['grades'][k]:.2f}",
             f"{other['grades'][k] - reference['grades'][k]:+.3f}"] for k in reference["grades"]]
    rs, os_ = reference["summary"], other["summary"]
    rows.append(["training", f"{rs['steps']} steps, {rs['minutes']:.1f} min", f"{os_['steps']} steps, "
                 f"{os_['minutes']:.1f} min", ""])
    print(markdown_table(["ours, PSNR dB", "this machine (notebook 02)", f"kernels held to {args.isa}",
                          "difference"], rows))
    out = {"reference": reference, args.isa: other}
    if args.json:
        write_text(args.json, json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
