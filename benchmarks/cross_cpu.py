"""The same recipe with other CPU kernels or threads: what the arithmetic pins of runtime/numerics.py buy.

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

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from fingerprint import state_digest  # noqa: E402
from deblur_utils.evaluation import frame_sets  # noqa: E402
from deblur_utils.evaluation.grading import grade as grade_rows  # noqa: E402
from deblur_utils.evaluation.methods import Learned, Models  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.runtime import paths  # noqa: E402
from deblur_utils.runtime.atomic import write_text  # noqa: E402
from deblur_utils.steps.records import load_metrics  # noqa: E402
from deblur_utils.steps.runs import ours_method  # noqa: E402
from deblur_utils.training.checkpoint import load_checkpoint  # noqa: E402
from deblur_utils.training.config import pick_device  # noqa: E402
from deblur_utils.training.loop import train  # noqa: E402

ISAS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"},
        "native": {"ONEDNN_MAX_CPU_ISA": "ALL", "MKL_CBWR": "AUTO"},
        "sse41": {"ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "SSE4_2", "ATEN_CPU_CAPABILITY": "default"}}


def grade(P, ckpt) -> dict:
    """Course PSNR per preset on the test split and per blur on the real-photo test set."""
    method = Learned("ours", {p: ckpt for p in P.presets}, Models(pick_device(P.device)), P.presets)
    rows = grade_rows([method], frame_sets.test_split(P) + (frame_sets.real_photos_sets(P) or []), progress=False)
    return {f"{r.set} {r.blur}": r.summary["psnr_db"] for r in rows}


def weights_digest(ckpt: Path) -> str:
    """A short SHA-256 of a checkpoint's weights, in name order (``fingerprint.state_digest``)."""
    return state_digest(load_checkpoint(ckpt)["weights"])


def child(P, run_dir: Path, threads: int | None) -> None:
    cfg = P.train_config("ours", **({"cpu_threads": threads} if threads is not None else {}))
    summary = train(cfg, paths.processed_dir(), run_dir, progress=False)
    result = {"summary": {k: summary.get(k) for k in ("steps", "steps_asked", "stopped_by", "minutes", "cpu_threads",
                                                       "cpu_kernels")},
              "grades": grade(P, run_dir / "best.pt")}
    write_text(run_dir / "cross_cpu.json", json.dumps(result, indent=1) + "\n")


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--isa", choices=list(ISAS), default="native")
    ap.add_argument("--threads", type=int, help="train with this many threads (default: the recipe's cpu_threads)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    P = common.load(args)
    if args.child:
        return child(P, args.child, args.threads)
    ckpt = Path(load_metrics()["method_info"][ours_method(P)]["checkpoint"]["b"])
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
    return common.finish({"reference": reference, label: other}, args.json)


if __name__ == "__main__":
    main()
