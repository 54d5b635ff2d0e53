"""Quality benchmark: the report's comparison on the embedded test split, the seeds' spread, an ablation.

    python benchmarks/quality.py                 # grade what notebooks 02/03 trained (trains first if nothing is)
    python benchmarks/quality.py --train         # retrain 02's models with the parameter set, then grade
    python benchmarks/quality.py --seeds 0 1 2   # also: train ours once per seed, state the spread per preset
    python benchmarks/quality.py --ablation      # also: one change at a time, each trained --ablation-minutes
    ... --json PATH                              # everything printed, as JSON

Prints, per method and preset, the course PSNR and SSIM, the gain over doing nothing and over the
best classical baseline (Wiener or Richardson-Lucy told the true kernel, tuned on validation); then
the same methods on the real-photo test set at a, b, c and 7x7 sigma 1.2 (notebook 04's table), with
each blur's worst frame against doing nothing.
Runs in the work directory (the project root, or DEBLUR_WORKDIR), on the parameter set's data.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from deblur_utils.report import tables  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.runtime import paths  # noqa: E402
from deblur_utils.steps import evaluate, registry  # noqa: E402
from deblur_utils.steps.prepare import prepare  # noqa: E402
from deblur_utils.steps.runs import ours_method, runs_02, train_run  # noqa: E402
from deblur_utils.training.checkpoint import load_checkpoint  # noqa: E402
from deblur_utils.training.config import TrainConfig  # noqa: E402
from deblur_utils.training.loop import train  # noqa: E402

# One change at a time against ours (the parameter set's `ours` recipe); each value a dict of TrainConfig changes.
ABLATIONS = {
    "ours (as configured)": {},
    "no CNN refiner (Wiener at the estimated sigma only)": {"model_kwargs": {"refine": False}},
    "no no-harm gate": {"model_kwargs": {"gate": False}},
    "gate on the median tile's sigma (as the deconvolution), not the sharpest": {"model_kwargs": {"gate_on": "median_tile"}},
    "one sigma MLP, not an average of five": {"model_kwargs": {"est_heads": 1}},
    "deconvolution trained on sigma jittered 6%, not 3%": {"sigma_jitter": 0.06},
    "trained on presets a/b/c only (Set B), no continuum": {"blur_sampling": "sets"},
    "Charbonnier loss": {"loss": "charbonnier"},
    "MSE loss": {"loss": "mse"},
    "luminance-only refiner (one correction for R, G, B)": {"model_kwargs": {"refine_on": "luma"}},
    "bf16 autocast training (fast only on a CPU with native bf16)": {"amp": "bf16"},
    "plain residual ResNet (no Wiener layer), Charbonnier": {"model": "resnet", "model_kwargs": {"width": 32, "blocks": 4},
                                                             "loss": "charbonnier"},
}


def print_gains(rows, title):
    print(f"\n## {title}\n")
    print(markdown_table(["method", "preset", "PSNR (dB)", "SSIM", "vs doing nothing", "vs best classical",
                          "worst frame vs doing nothing"],
                         [[r["method"], r["preset"], f"{r['psnr_db']:.2f}", f"{r['ssim']:.4f}",
                           f"{r['gain_vs_identity_db']:+.2f}",
                           "" if r["gain_vs_best_classical_db"] is None else f"{r['gain_vs_best_classical_db']:+.2f}",
                           "" if r["worst_frame_gain_db"] is None else f"{r['worst_frame_gain_db']:+.2f}"]
                          for r in rows]))


def variant_config(P, changes: dict, seed=None, minutes=None) -> TrainConfig:
    """Ours with ``changes`` (model_kwargs merged key by key while the model stays), a seed, a time cap."""
    ours, kw = P.recipe("ours"), dict(changes)
    if "model_kwargs" in kw and kw.get("model", ours["model"]) == ours["model"]:
        kw["model_kwargs"] = {**ours["model_kwargs"], **kw["model_kwargs"]}
    if seed is not None:
        kw["seed"] = seed
    if minutes is not None:
        kw["max_minutes"] = minutes
    return P.train_config("ours", **kw)


def train_variant(P, name, changes, seed=None, minutes=None, progress=False):
    """Train ours with ``changes`` into runs/benchmarks/<name>/: (summary, its best.pt)."""
    run_dir = paths.runs_dir() / "benchmarks" / name
    summary = train(variant_config(P, changes, seed, minutes), paths.processed_dir(), run_dir, progress=progress)
    return summary, run_dir / "best.pt"


def reusable_run(P, seed):
    """A finished run of ours trained with exactly this recipe and seed, else None: notebook 02's
    checkpoint (the default run's model counts as its seed), or the one an earlier ``--seeds`` left in
    runs/benchmarks/seed<N>/. A change to inference alone then regrades the seeds without retraining."""
    want = json.loads(json.dumps(dataclasses.asdict(variant_config(P, {}, seed=seed))))
    want.pop("resume", None)
    ckpt = registry.learned(P.presets).get(ours_method(P), {})
    candidates = list(set(ckpt.values())) if len(set(ckpt.values())) == 1 else []
    candidates.append(paths.runs_dir() / "benchmarks" / f"seed{seed}" / "best.pt")
    for path in candidates:
        summary_path = path.parent / "summary.json"  # written when the run ends, not by a run cut off
        if not (path.exists() and summary_path.exists()) or summary_path.stat().st_mtime < path.stat().st_mtime:
            continue
        got = json.loads(json.dumps(load_checkpoint(path)["config"]))  # tuples as lists, as in want
        for f in dataclasses.fields(TrainConfig):  # fields added since: their defaults were in force
            if f.name not in got and f.default is not dataclasses.MISSING:
                got[f.name] = f.default
        got.pop("resume", None)
        if got == want:
            return json.loads(summary_path.read_text()), path
    return None


def main(argv=None):
    ap = common.parser(__doc__, progress=True)
    ap.add_argument("--train", action="store_true", help="retrain notebook 02's models before grading")
    ap.add_argument("--seeds", type=int, nargs="*", default=[], help="train ours once per seed; report the spread")
    ap.add_argument("--ablation", action="store_true")
    ap.add_argument("--ablation-minutes", type=float, default=None,
                    help="training budget per ablation variant (default: ours' max_minutes)")
    args = ap.parse_args(argv)
    P = common.load(args)
    progress = not args.no_progress
    out = common.stamp(P)

    if not paths.splits_path().exists():
        prepare(P, progress=progress)
    if args.train or not registry.learned(P.presets):
        for run in runs_02(P):
            train_run(run, progress=progress)
    metrics = evaluate.evaluate(P, progress=progress)
    presets = metrics["presets"]
    out["comparison"] = tables.gains(metrics["methods"], presets, metrics["worst_frames"]["test"])
    out["best_method"], out["best_checkpoint"] = metrics["best_method"], metrics["best_checkpoint"]
    print_gains(out["comparison"], f"test split, {metrics['test_frames']} frames per preset "
                                   f"(best learned: {metrics['best_method']})")
    real = evaluate.evaluate_real(P, metrics, progress=progress)
    if real is None:
        print("\n(no real-photo test set: `make real-photos`, then notebook 01, build it)")
    else:
        out["real_photos"] = real["summary"]
        print(f"\n## real photos, {len(real['files'])} frames of {len(real['photos'])} photos "
              "(mean PSNR dB; vs doing nothing; worst frame vs doing nothing)\n")
        print(tables.real_photos_table(real))
        if metrics["best_method"]:
            print()
            print(tables.real_vs_wiener(real, metrics["best_method"]))

    if args.seeds:
        per_seed = {}
        for seed in args.seeds:
            reused = reusable_run(P, seed)
            summary, ckpt = reused or train_variant(P, f"seed{seed}", {}, seed=seed, progress=progress)
            per_seed[seed] = {p: r["psnr_db"] for p, r in evaluate.grade_checkpoint(P, ckpt).items()}
            per_seed[seed]["train_minutes"] = summary["minutes"]
            per_seed[seed]["checkpoint"] = str(ckpt)
            if evaluate.given_sigma_methods(P):  # notebook 04's one-blur row of the same checkpoint
                per_seed[seed]["one_blur"] = {p: r["psnr_db"] for p, r in
                                              evaluate.grade_checkpoint(P, ckpt, given="one_blur").items()}
        spread = {p: max(s[p] for s in per_seed.values()) - min(s[p] for s in per_seed.values()) for p in presets}
        out["seeds"] = {"psnr_db": per_seed, "spread_db": spread}
        rows = [[s, "per frame"] + [f"{v[p]:.2f}" for p in presets] + [f"{v['train_minutes']:.1f}"]
                for s, v in per_seed.items()]
        rows.append(["spread (max - min)", "per frame"] + [f"{spread[p]:.2f}" for p in presets] + [""])
        if all("one_blur" in v for v in per_seed.values()):
            one = {s: v["one_blur"] for s, v in per_seed.items()}
            out["seeds"]["one_blur_spread_db"] = one_spread = {
                p: max(v[p] for v in one.values()) - min(v[p] for v in one.values()) for p in presets}
            rows += [[s, "one blur per set"] + [f"{v[p]:.2f}" for p in presets] + [""] for s, v in one.items()]
            rows.append(["spread (max - min)", "one blur per set"] + [f"{one_spread[p]:.2f}" for p in presets] + [""])
        print("\n## seeds (ours, test PSNR dB)\n")
        print(markdown_table(["seed", "sigma"] + presets + ["minutes"], rows))

    if args.ablation:
        ident = metrics["methods"]["identity"]
        rows = {}
        for i, (name, changes) in enumerate(ABLATIONS.items()):
            summary, ckpt = train_variant(P, f"ablation{i}", changes, minutes=args.ablation_minutes, progress=progress)
            graded = evaluate.grade_checkpoint(P, ckpt)
            rows[name] = {"changes": changes, "parameters": summary["parameters"], "minutes": summary["minutes"],
                          **{p: graded[p]["psnr_db"] for p in presets}}
        ref = rows["ours (as configured)"]
        out["ablation"] = rows
        print("\n## ablation (test PSNR dB; in brackets: change against ours as configured)\n")
        print(markdown_table(["variant"] + presets + ["parameters"],
                             [["doing nothing"] + [f"{ident[p]['psnr_db']:.2f}" for p in presets] + [""]] +
                             [[n] + [f"{r[p]:.2f} ({r[p] - ref[p]:+.2f})" for p in presets] + [f"{r['parameters']:,}"]
                              for n, r in rows.items()]))
    return common.finish(out, args.json)


if __name__ == "__main__":
    main()
