"""The GPU figures in one run of at most ~8 minutes: what a Kaggle/Colab card does with this project.

    python benchmarks/gpu_check.py [--json PATH] [--peak-tflops 65]
    python benchmarks/gpu_check.py --device cpu --quick      # the same code paths on the CPU (but compile)

1. SRCNN-2048 training on whole 256x448 frames (bf16 autocast where the card has it, else fp16;
   channels_last): achieved TFLOP/s against the card's dense bf16 peak (target: >= 40%).
2. Ours (the full recipe's model, crops of 128) training images per second: float32, AMP, AMP with
   channels_last, and AMP with channels_last and ``torch.compile``.
3. One optimiser step under ``torchrun --nproc_per_node 1`` (NCCL): the data-parallel path starts,
   trains and saves on this card.
4. 150 frames of 256x448 deblurred by the full recipe's model (untrained: the cost is the same),
   exact float32 and with AMP (target: < 2 s).

Builds the default embedded data when none is prepared (step 3 trains on it).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import common  # noqa: E402
from deblur_utils import params  # noqa: E402
from deblur_utils.networks.registry import build_model  # noqa: E402
from deblur_utils.runtime import accel, paths  # noqa: E402
from deblur_utils.steps.prepare import prepare  # noqa: E402
from deblur_utils.training.config import psnr_loss  # noqa: E402
from deblur_utils.training.inference import predict_uint8  # noqa: E402
from train_speed import BF16_PEAK_TFLOPS, srcnn_tflops  # noqa: E402

# Dense fp16/bf16 tensor peaks of the cards Kaggle and Colab lend (T4 and P100 have no bf16).
PEAKS = {**BF16_PEAK_TFLOPS, "T4": 65.0, "P100": 18.7, "V100": 125.0}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours_images_per_second(device, model_kwargs, batch, crop, steps, amp, channels_last, compile_):
    """Training images per second of ours on random crops, with the given speed settings."""
    speed = accel.resolve(device, amp, channels_last="on" if channels_last else "off", compile=compile_)
    torch.manual_seed(0)
    model = build_model("blind_wiener", **model_kwargs).to(device)
    net = speed.prepare_model(model)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    x, t = torch.rand(batch, 3, crop, crop, device=device), torch.rand(batch, 3, crop, crop, device=device)
    sigma = torch.full((batch,), 1.0, device=device)
    for i in range(steps + 3):  # three warm-up steps (cuDNN autotuning, compilation)
        if i == 3:
            sync(device)
            t0 = time.perf_counter()
        with speed.autocast():
            loss = psnr_loss(net(x, sigma=sigma).float(), t)
        opt.zero_grad(set_to_none=True)
        speed.backward_step(loss, opt, model.parameters(), None)
    sync(device)
    return batch * steps / (time.perf_counter() - t0)


def torchrun_step(device) -> dict:
    """One short training run of the CI recipe under torchrun with one process; its summary."""
    P = params.load_params("ci", device=device.type)
    cfg = P.train_config("ours", epochs=1, max_minutes=None)
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = Path(tmp) / "config.json"
        cfg_path.write_text(json.dumps(__import__("dataclasses").asdict(cfg)))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m",
               "deblur_utils", "train", "--config", str(cfg_path), "--data-dir", str(paths.processed_dir()),
               "--out-dir", str(Path(tmp) / "run")]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - t0
        summary_path = Path(tmp) / "run" / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return {"returncode": done.returncode, "seconds": seconds, "steps": summary.get("steps"),
            "world_size": summary.get("world_size"), "output_tail": (done.stdout + done.stderr)[-1500:]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check the code paths (CPU)")
    ap.add_argument("--peak-tflops", type=float, help="the card's dense bf16/fp16 peak (default: by its name)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a GPU machine, or pass --device cpu --quick to check the code")
    ours = params.load_params("full").recipe("ours")
    kwargs = dict(ours["model_kwargs"])
    batch, crop, steps, width, frames = ours["batch_size"], ours["crop_size"], 10, 2048, 150
    if args.quick:
        kwargs.update(width=8, blocks=1)
        batch, crop, steps, width, frames = 2, 64, 2, 16, 4
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": name, "torch": torch.__version__}
    print(f"device: {name}, torch {torch.__version__}", flush=True)

    amp = "bf16" if device.type != "cuda" or torch.cuda.is_bf16_supported() else "fp16"
    s = srcnn_tflops(device, width=width, batch=4 if not args.quick else 1, steps=steps if not args.quick else 1,
                     amp=amp)
    peak = args.peak_tflops or next((v for k, v in PEAKS.items() if k in name), None)
    out["srcnn"] = {**s, "peak_tflops": peak, "fraction_of_peak": s["achieved_tflops"] / peak if peak else None}
    print(f"1. SRCNN-{width} training, {s['tflops_amp']}: {s['achieved_tflops']:.1f} TFLOP/s"
          + (f" = {s['achieved_tflops'] / peak:.0%} of the {peak:g} peak" if peak else " (peak unknown: --peak-tflops)"),
          flush=True)

    variants = {"float32": ("off", False, False), "AMP": ("auto", False, False),
                "AMP + channels_last": ("auto", True, False), "AMP + channels_last + compile": ("auto", True, True)}
    if args.quick:  # compiling on a CPU takes minutes: the quick check leaves it to the GPU run
        variants.pop("AMP + channels_last + compile")
    out["ours_images_per_second"] = {}
    for label, (a, cl, comp) in variants.items():
        try:
            v = ours_images_per_second(device, kwargs, batch, crop, steps, a, cl, comp)
        except Exception as err:  # compile may be unavailable (no compiler on the machine): say so, go on
            print(f"2. ours {label}: failed ({err.__class__.__name__}: {str(err)[:200]})", flush=True)
            out["ours_images_per_second"][label] = None
            continue
        out["ours_images_per_second"][label] = v
        print(f"2. ours training ({kwargs['width']} wide, {kwargs['blocks']} blocks, crops {crop}, batch {batch}), "
              f"{label}: {v:.0f} images/s", flush=True)

    if not paths.splits_path().exists():
        prepare(params.load_params("ci"), progress=False)
    out["torchrun"] = r = torchrun_step(device)
    print(f"3. torchrun, 1 process ({'NCCL' if device.type == 'cuda' else 'Gloo'}): exit {r['returncode']}, "
          f"{r['steps']} steps, world size {r['world_size']}, {r['seconds']:.0f} s", flush=True)
    if r["returncode"]:
        print(r["output_tail"])

    model = build_model("blind_wiener", **kwargs).to(device).eval()
    x = (np.random.default_rng(0).random((frames, 256, 448, 3)) * 255).astype(np.uint8)
    out["inference_150"] = {}
    for a in ("off", "auto"):
        predict_uint8(model, x[:2], device, amp=a)
        sync(device)
        t0 = time.perf_counter()
        predict_uint8(model, x, device, amp=a)
        sync(device)
        out["inference_150"][a] = (time.perf_counter() - t0) * 150 / frames
        print(f"4. 150 frames deblurred, amp {a}: {out['inference_150'][a]:.2f} s", flush=True)
    return common.finish(out, args.json)


if __name__ == "__main__":
    main()
