"""Training speed: the original report's loop against ours, measured side by side in one run.

    python benchmarks/train_speed.py [--json PATH] [--reference-minutes 30] [--width 128]

1. Data path alone (no model): (blurred, sharp) pairs per second delivered by the original loader
   (PIL decodes a sharp PNG and its three blurred PNGs per sample, whole frames) against ours
   (the uint8 memory-mapped cache of Set A/B, ``data.load_cached``, in ``EpochOrder``).
2. Whole training step, the faithful SRCNN at ``--width``, whole 256x448 frames: the original loop
   (PNGs decoded per step, batch 2, fp32) against ours (cached frames or random patches, as our
   recipe trains, in the layout and batch that measure fastest here); pixels per second and the ratio.
3. Time to quality: the faithful SRCNN recipe (width ``--reference-width``, batch 2, lr 1e-4,
   whole frames) trains ``--reference-minutes``; its validation PSNR on preset b at the end is the
   target. Ours (the parameter set's recipe) trains until its validation PSNR on b reaches it.
4. Inference: seconds for 150 frames of 256x448 through the best model (reports/metrics.json's
   ``best_checkpoint``, else the same architecture untrained: the cost is the same), in exact
   float32 and as ``deblur --amp auto`` runs it (bf16 on a CPU with native bf16), each with its
   course PSNR on the test split when the checkpoint is trained.

``--json PATH`` writes the figures with the keys loader_ratio, throughput_ratio,
time_to_quality_ratio and inference_seconds_150.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import common  # noqa: E402
from deblur_utils.data.blur import PRESETS as BLUR_PRESETS, get_preset  # noqa: E402
from deblur_utils.data.cache import load_cached  # noqa: E402
from deblur_utils.data.dataset import PairedFrames  # noqa: E402
from deblur_utils.data.imageio import read_rgb  # noqa: E402
from deblur_utils.data.sets import split_frames  # noqa: E402
from deblur_utils.evaluation.metrics import psnr_db  # noqa: E402
from deblur_utils.networks.registry import build_model  # noqa: E402
from deblur_utils.params import override  # noqa: E402
from deblur_utils.runtime import accel, paths  # noqa: E402
from deblur_utils.steps.prepare import prepare  # noqa: E402
from deblur_utils.training.checkpoint import model_from_checkpoint  # noqa: E402
from deblur_utils.training.config import TrainConfig  # noqa: E402
from deblur_utils.training.inference import predict_uint8, to_tensor  # noqa: E402
from deblur_utils.training.loop import train  # noqa: E402
from deblur_utils.training.order import EpochOrder  # noqa: E402

PRESETS = tuple(BLUR_PRESETS)


class OriginalFrames(torch.utils.data.Dataset):
    """The report's loader: per sample, PIL decodes the sharp PNG and its three blurred PNGs."""

    def __init__(self, processed, rels):
        self.processed, self.rels = Path(processed), rels

    def __len__(self):
        return len(self.rels)

    def __getitem__(self, i):
        rel = self.rels[i]
        sharp = to_tensor(read_rgb(paths.sharp_dir(self.processed) / rel)[None])[0]
        blurred = [to_tensor(read_rgb(paths.blur_dir(get_preset(p).name, self.processed) / rel)[None])[0]
                   for p in PRESETS]
        return torch.stack(blurred), sharp.expand(3, *sharp.shape)  # 3 pairs


def original_pairs(processed, rels, batch=2):
    """(blurred, sharp) batches of ``batch`` pairs, decoded from PNG as the original loop did."""
    for blurred, sharp in torch.utils.data.DataLoader(OriginalFrames(processed, rels), batch_size=1):
        b, s = blurred[0], sharp[0]
        for k in range(0, len(b), batch):
            yield b[k:k + batch], s[k:k + batch]


def our_pairs(arrays, batch=2, seed=0, crop=None):
    """The training loop's batches: uint8 from the cache, made [0, 1] floats on the device (here the CPU);
    whole frames, or random ``crop`` x ``crop`` patches with flips (drawn with replacement)."""
    ds = PairedFrames(arrays, PRESETS, crop_size=crop, augment=crop is not None)
    n = len(ds) // batch * batch if crop is None else 10**6
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, drop_last=True,
                                         sampler=EpochOrder(len(ds), n, seed, 0, replacement=crop is not None))
    speed = accel.resolve("cpu", amp="off", channels_last="off")
    for blurred, sharp, _ in loader:
        yield speed.to_device(blurred), speed.to_device(sharp)


def rate(iterator, n_pairs):
    """Pairs per second to draw ``n_pairs`` from an iterator of (blurred, sharp) batches."""
    t0, got = time.perf_counter(), 0
    for blurred, _ in iterator:
        got += len(blurred)
        if got >= n_pairs:
            break
    return got / (time.perf_counter() - t0)


def step_rate(model_width, batches, steps, channels_last=False):
    """Pixels per second of whole training steps (forward, MSE, backward, Adam) over ``batches``."""
    torch.manual_seed(0)
    model = build_model("srcnn", width=model_width)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    pixels, t0 = 0, None
    for i, (blurred, sharp) in enumerate(batches):
        if i == 1:  # the first step warms up allocators and kernels
            t0, pixels = time.perf_counter(), 0
        if channels_last:
            blurred = blurred.contiguous(memory_format=torch.channels_last)
        loss = torch.nn.functional.mse_loss(model(blurred), sharp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        pixels += blurred.shape[0] * blurred.shape[2] * blurred.shape[3]
        if i >= steps:
            break
    return pixels / (time.perf_counter() - t0)


# Dense bf16 tensor peaks (TFLOP/s, without sparsity) of cards users meet; --peak-tflops overrides.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10G": 125.0, "L40S": 362.0}


def conv_macs_per_frame(model, height, width) -> int:
    """Multiply-accumulates of one forward pass through the model's convolutions, from their output sizes."""
    macs = []

    def hook(mod, _inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1]
        macs.append(out.shape[-2] * out.shape[-1] * out.shape[1] * mod.in_channels // mod.groups * k)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, height, width, device=next(model.parameters()).device))
    for h in handles:
        h.remove()
    return int(sum(macs))


def srcnn_tflops(device, width=2048, batch=4, steps=5, size=(256, 448), amp="bf16"):
    """Achieved TFLOP/s of faithful SRCNN training steps on whole frames (bf16 autocast, channels_last), counting
    a training step as 3x the forward pass's 2 x MACs; also the projected minutes of one course epoch (72K frames)."""
    device = torch.device(device)
    speed = accel.resolve(device, amp, channels_last="on")
    model = speed.prepare_model(build_model("srcnn", width=width).to(device))
    flops_frame = 3 * 2 * conv_macs_per_frame(model, *size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, *size, device=device)
    t = torch.rand(batch, 3, *size, device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for i in range(steps + 2):  # two warm-up steps (cuDNN autotuning)
        if i == 2:
            sync()
            t0 = time.perf_counter()
        with speed.autocast():
            y = model(x)
        loss = torch.nn.functional.mse_loss(y.float(), t[..., :y.shape[-2], :y.shape[-1]])
        opt.zero_grad(set_to_none=True)
        speed.backward_step(loss, opt, model.parameters(), None)
    sync()
    seconds = (time.perf_counter() - t0) / steps
    tflops = flops_frame * batch / seconds / 1e12
    return {"tflops_width": width, "tflops_batch": batch, "tflops_amp": speed.amp, "tflop_per_frame": flops_frame / 1e12,
            "achieved_tflops": tflops, "course_epoch_minutes": 72000 * flops_frame / (tflops * 1e12) / 60}


def time_to_quality(P, minutes, ref_width, progress):
    runs = paths.runs_dir() / "benchmarks" / "speed"
    ref_cfg = TrainConfig(model="srcnn", model_kwargs={"width": ref_width}, presets=list(PRESETS), batch_size=2,
                          lr=1e-4, epochs=100000, epoch_samples=16, max_minutes=minutes, val_max_frames=2,
                          device=P.device, seed=0)
    ref = train(ref_cfg, paths.processed_dir(), runs / "reference", progress=progress)
    target = ref["history"][-1]["val_psnr_db_per_preset"]["b"]
    ours_cfg = override(P, val_max_frames=2).train_config("ours", max_minutes=minutes, epochs=100000,
                                                          epoch_samples=P.recipe("ours")["batch_size"] * 8)
    ours = train(ours_cfg, paths.processed_dir(), runs / "ours", progress=progress,
                 stop_when=lambda h: h["val_psnr_db_per_preset"]["b"] >= target)
    hit = [h for h in ours["history"] if h["val_psnr_db_per_preset"]["b"] >= target]
    ours_min = hit[0]["minutes"] if hit else float("inf")
    return {"target_val_psnr_b_db": target, "reference_minutes": ref["minutes"], "reference_steps": ref["steps"],
            "ours_minutes": ours_min, "ours_val_psnr_b_db": hit[0]["val_psnr_db_per_preset"]["b"] if hit else None,
            "time_to_quality_ratio": ref["minutes"] / ours_min if hit else 0.0}


def inference_seconds(P, n=150):
    """Seconds for ``n`` test frames of preset b through the best model, exact float32 ("off", what grading
    uses) and as ``deblur --amp auto`` runs it (bf16 on a CPU with native bf16, else the same float32);
    with a trained checkpoint also the course PSNR of each on the test frames of every preset."""
    test = load_cached(paths.processed_dir(), "test", PRESETS)
    frames = np.asarray(test[get_preset("b").name])
    frames = np.concatenate([frames] * (n // len(frames) + 1))[:n]
    ckpt = None
    if paths.metrics_path().exists():
        ckpt = json.loads(paths.metrics_path().read_text()).get("best_checkpoint")
    if ckpt and Path(ckpt).exists():
        model, _ = model_from_checkpoint(ckpt)
        what = ckpt
    else:
        cfg = P.train_config("ours")
        model, what, ckpt = build_model(cfg.model, **cfg.model_kwargs).eval(), f"{cfg.model} (untrained, same cost)", None
    out = {"inference_model": what, "inference_native_cpu_bf16": accel.native_cpu_bf16()}
    for amp in ("off", "auto"):
        predict_uint8(model, frames[:2], "cpu", amp=amp)  # warm-up
        t0 = time.perf_counter()
        predict_uint8(model, frames, "cpu", amp=amp)
        out[f"inference_seconds_amp_{amp}"] = time.perf_counter() - t0
        if ckpt:  # what the speed costs: PSNR on the test split, per preset
            out[f"inference_psnr_db_amp_{amp}"] = {
                p: float(np.mean([psnr_db(s_, q) for s_, q in
                                  zip(np.asarray(test["sharp"]), predict_uint8(model, np.asarray(test[p]), "cpu",
                                                                               amp=amp))]))
                for p in PRESETS}
    return out


def main(argv=None):
    ap = common.parser(__doc__, progress=True)
    ap.add_argument("--width", type=int, default=128, help="faithful SRCNN width for the step comparison")
    ap.add_argument("--steps", type=int, default=4, help="timed training steps per variant")
    ap.add_argument("--loader-pairs", type=int, default=48)
    ap.add_argument("--reference-minutes", type=float, default=30.0)
    ap.add_argument("--reference-width", type=int, default=1024)
    ap.add_argument("--skip-ttq", action="store_true", help="skip the time-to-quality race")
    ap.add_argument("--inference-frames", type=int, default=150, help="frames timed (scaled to 150)")
    ap.add_argument("--tflops-width", type=int, default=2048,
                    help="on a GPU: achieved TFLOP/s of SRCNN at this width, whole 256x448 frames, bf16")
    ap.add_argument("--tflops-batch", type=int, default=4)
    ap.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak (default: looked up by name)")
    args = ap.parse_args(argv)
    P = common.load(args)
    if not paths.splits_path().exists():
        prepare(P, progress=not args.no_progress)
    processed = paths.processed_dir()
    rels = split_frames(processed, "train")
    arrays = load_cached(processed, "train", PRESETS)
    out = {**common.stamp(P), "device": "cpu", "threads": torch.get_num_threads()}

    orig = rate(original_pairs(processed, rels), args.loader_pairs)
    ours = rate(our_pairs(arrays), args.loader_pairs)
    out.update(loader_original_pairs_per_s=orig, loader_ours_pairs_per_s=ours, loader_ratio=ours / orig)
    print(f"data path: original {orig:.1f} pairs/s, ours {ours:.1f} pairs/s, ratio {ours / orig:.1f}x")

    variants = {"original loop (PNG per step, batch 2, fp32)": (lambda: original_pairs(processed, rels), False),
                "ours: cache, batch 2": (lambda: our_pairs(arrays, 2), False),
                "ours: cache, batch 2, channels_last": (lambda: our_pairs(arrays, 2), True),
                "ours: cache, batch 8": (lambda: our_pairs(arrays, 8), False),
                "ours: cache, batch 8, channels_last": (lambda: our_pairs(arrays, 8), True),
                "ours: cache, 96x96 patches, batch 16": (lambda: our_pairs(arrays, 16, crop=96), False),
                "ours: cache, 96x96 patches, batch 16, channels_last": (lambda: our_pairs(arrays, 16, crop=96), True)}
    steps = {name: step_rate(args.width, make(), args.steps, cl) for name, (make, cl) in variants.items()}
    base = steps.pop("original loop (PNG per step, batch 2, fp32)")
    best = max(steps, key=steps.get)
    out.update(step_original_pixels_per_s=base, step_variants_pixels_per_s=steps, step_ours_best=best,
               throughput_ratio=steps[best] / base)
    print(f"training step, SRCNN width {args.width}, 256x448 frames: original {base / 1e6:.3f} Mpx/s")
    for name, v in steps.items():
        print(f"  {name}: {v / 1e6:.3f} Mpx/s ({v / base:.2f}x)")
    print(f"throughput ratio (best: {best}): {steps[best] / base:.2f}x")

    if not args.skip_ttq:
        ttq = time_to_quality(P, args.reference_minutes, args.reference_width, not args.no_progress)
        out.update(ttq)
        print(f"time to quality: SRCNN-{args.reference_width} recipe reaches {ttq['target_val_psnr_b_db']:.2f} dB "
              f"(val, b) after {ttq['reference_minutes']:.1f} min; ours reaches it after {ttq['ours_minutes']:.2f} min: "
              f"{ttq['time_to_quality_ratio']:.1f}x")
    inf = inference_seconds(P, args.inference_frames)
    scale = 150 / args.inference_frames
    out.update(inf, inference_frames_timed=args.inference_frames,
               inference_seconds_150=inf["inference_seconds_amp_auto"] * scale)
    for amp, label in (("off", "float32 (exact, as graded)"), ("auto", "deblur --amp auto")):
        psnr = inf.get(f"inference_psnr_db_amp_{amp}")
        psnr = " / ".join(f"{v:.2f}" for v in psnr.values()) + " dB on test a / b / c" if psnr else ""
        print(f"inference, {label}: {inf[f'inference_seconds_amp_{amp}'] * scale:.1f} s per 150 frames of "
              f"256x448 {psnr}")
    print(f"  ({inf['inference_model']}; native CPU bf16: {inf['inference_native_cpu_bf16']})")
    if torch.cuda.is_available():  # the GPU figures: SRCNN-2048 training against the card's bf16 peak
        name = torch.cuda.get_device_name(0)
        gpu = srcnn_tflops("cuda", args.tflops_width, args.tflops_batch)
        peak = args.peak_tflops or next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
        out.update(gpu, gpu_name=name, gpu_peak_bf16_tflops=peak,
                   fraction_of_peak=gpu["achieved_tflops"] / peak if peak else None)
        print(f"GPU {name}: SRCNN-{args.tflops_width} training, batch {args.tflops_batch} of 256x448, {gpu['tflops_amp']}: "
              f"{gpu['achieved_tflops']:.1f} TFLOP/s" + (f" = {gpu['achieved_tflops'] / peak:.0%} of {peak:.0f} peak"
                                                          if peak else " (peak unknown: pass --peak-tflops)")
              + f"; one course epoch (72K frames) {gpu['course_epoch_minutes']:.0f} min against the original's 360")
    return common.finish(out, args.json)


if __name__ == "__main__":
    main()
