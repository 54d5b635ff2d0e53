"""The same recipe with other CPU kernels or threads: what the arithmetic pins of numerics.py buy.

    python benchmarks/cross_cpu.py [--isa avx2|native|sse41] [--threads N] [--json PATH]

Retrains ours (the parameter set's recipe, seed and steps) in a child process whose kernels are set
by ``--isa`` and grades it on the test split and the real-photo test set, beside the checkpoint
notebook 02 trained (the last `make report`), with the differences and both training times:

- ``avx2``: the pins deblur_utils sets itself (oneDNN and MKL held to AVX2): a rerun that must give
  notebook 02's model bit for bit on this machine (and, measured on an AVX2-only and an AVX-512 AMD
  EPYC, the same model as on another x86 CPU);
- ``native``: the CPU's widest kernels (``ONEDNN_MAX_CPU_ISA=ALL``, ``MKL_CBWR=AUTO``, ATen's own):
  what an AVX-512 CPU gains in speed and how far its numbers move without the pins;
- ``sse41``: a CPU without AVX2 (oneDNN SSE4.1, MKL SSE4.2, ATen's default kernels).

``--threads N`` trains with N threads instead of the recipe's ``cpu_threads``.
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

ISAS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
        "native": {"ONEDNN_MAX_CPU_ISA": "ALL", "MKL_CBWR": "AUTO"},
        "sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "SSE4_2", "ATEN_CPU_CAPABILITY": "default"}}


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


def weights_digest(ckpt: Path) -> str:
    """A short SHA-256 of a checkpoint's weights, in name order: equal only when they are bit for bit."""
    import hashlib

    from deblur_utils.train import load_checkpoint
    weights = load_checkpoint(ckpt)["weights"]
    h = hashlib.sha256()
    for name in sorted(weights):
        h.update(name.encode() + weights[name].cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def child(P, run_dir: Path, threads: int | None) -> None:
    cfg = workflow.ours_config(P, **({"cpu_threads": threads} if threads is not None else {}))
    summary = workflow.train(cfg, paths.processed_dir(), run_dir, progress=False)
    result = {"summary": {k: summary.get(k) for k in ("steps", "steps_asked", "stopped_by", "minutes", "cpu_threads",
                                                       "cpu_kernels")},
              "grades": grade(P, run_dir / "best.pt")}
    write_text(run_dir / "cross_cpu.json", json.dumps(result, indent=1) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param-set", default="default")
    ap.add_argument("--isa", choices=list(ISAS), default="native")
    ap.add_argument("--threads", type=int, help="train with this many threads (default: the recipe's cpu_threads)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    P = config.load_params(args.param_set)
    if args.child:
        return child(P, args.child, args.threads)
    metrics = workflow.load_metrics()
    name = f"ours_{P['ours']['model']}"
    ckpt = Path(metrics["method_info"][name]["checkpoint"]["b"])
    reference = {"summary": json.loads((ckpt.parent / "summary.json").read_text()), "grades": grade(P, ckpt)}
    label = args.isa + (f", {args.threads} threads" if args.threads is not None else "")
    suffix = f"_t{args.threads}" if args.threads is not None else ""
    run_dir = paths.runs_dir() / "benchmarks" / f"cross_cpu_{args.isa}{suffix}"
    env = {**os.environ, **ISAS[args.isa]}
    if args.isa != "sse41":
        env.pop("ATEN_CPU_CAPABILITY", None)
    extra = ["--threads", str(args.threads)] if args.threads is not None else []
    subprocess.run([sys.executable, __file__, "--param-set", args.param_set, "--child", str(run_dir), "--isa",
                    args.isa, *extra], env=env, check=True)
    other = json.loads((run_dir / "cross_cpu.json").read_text())
    rows = [[k, f"{reference['grades'][k]:.2f}", f"{other['grades'][k]:.2f}",
             f"{other['grades'][k] - reference['grades'][k]:+.3f}"] for k in reference["grades"]]
    rs, os_ = reference["summary"], other["summary"]
    rows.append(["training", f"{rs['steps']} steps, {rs['minutes']:.1f} min, {rs.get('cpu_threads')} threads",
                 f"{os_['steps']} steps, {os_['minutes']:.1f} min, {os_.get('cpu_threads')} threads", ""])
    digests = [weights_digest(ckpt), weights_digest(run_dir / "best.pt")]
    rows.append(["weights (SHA-256)", *digests, "bit for bit" if digests[0] == digests[1] else "differ"])
    other["weights_identical"] = digests[0] == digests[1]
    print(markdown_table(["ours, PSNR dB", "notebook 02", f"kernels {label}",
                          "difference"], rows))
    out = {"reference": reference, label: other}
    if args.json:
        write_text(args.json, json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
