"""Refiner blocks per CPU millisecond: the plain residual block of ours against cheaper designs.

    python benchmarks/blocks.py [--repeats 5] [--steps 10] [--json PATH]

Ours' refiner is a stack of plain residual blocks (``networks.layers.ResBlock``: 3x3 conv, ReLU, 3x3
conv). Designs that cost fewer multiply-adds per pixel could buy width or depth at the same minutes:
the inverted residual (1x1 expand, depthwise 3x3 or 5x5, 1x1 back; MobileNetV2), a gated block (NAFNet's
1x1, depthwise 3x3 and SimpleGate, then a gated 1x1 feed-forward; no normalisation, no attention),
and the plain block on 2x2 pixel-unshuffled positions (``refine_scale: 2``). Whether they do depends
on how fast the CPU's kernels run each, which this measures: the refiner alone (ours' 13 input
channels: the frame, three deconvolutions and the sigma map; 3 out), in the layout training and
inference use on the CPU (NHWC weights, ``runtime.accel``), with the thread count of a training run.

Printed per design: parameters, multiply-adds per pixel, the milliseconds of one training step (batch
8 of 64x64 crops: forward, backward, AdamW) and of one 256x448 frame's forward pass, each the median
of ``--repeats`` rounds that visit the designs in turn, and both as a ratio to the default
(``res w24 b3``). Training a design is what ``ablation.py refiner`` does; a design slower per step
than a plain block of the same width does not reach that stage.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import common  # noqa: E402
from deblur_utils.networks.layers import ResBlock  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.runtime.numerics import CPU_THREADS, cpu_threads  # noqa: E402

IN_CH, OUT_CH = 13, 3  # ours' refiner: x, three deconvolutions (3 channels each) and the sigma map in; RGB out


class Inverted(nn.Module):
    """1x1 expand (x ``expand``), ReLU, depthwise k x k, ReLU, 1x1 back, added to the input."""

    def __init__(self, ch: int, expand: int = 2, k: int = 3):
        super().__init__()
        e = ch * expand
        self.body = nn.Sequential(nn.Conv2d(ch, e, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(e, e, k, padding=k // 2, groups=e), nn.ReLU(inplace=True),
                                  nn.Conv2d(e, ch, 1))

    def forward(self, x):
        return x + self.body(x)


class Gated(nn.Module):
    """NAFNet's block without its normalisation and attention: 1x1 to 2ch, depthwise 3x3, SimpleGate (one half
    times the other), 1x1; then a feed-forward 1x1 to 2ch, SimpleGate, 1x1; each added to its input."""

    def __init__(self, ch: int):
        super().__init__()
        self.expand = nn.Conv2d(ch, 2 * ch, 1)
        self.dw = nn.Conv2d(2 * ch, 2 * ch, 3, padding=1, groups=2 * ch)
        self.back = nn.Conv2d(ch, ch, 1)
        self.ff_in, self.ff_out = nn.Conv2d(ch, 2 * ch, 1), nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        u, v = self.dw(self.expand(x)).chunk(2, 1)
        x = x + self.back(u * v)
        u, v = self.ff_in(x).chunk(2, 1)
        return x + self.ff_out(u * v)


class Refiner(nn.Module):
    """head 3x3 -> blocks -> tail 3x3, as ours' refiner, on ``scale`` x ``scale`` pixel-unshuffled positions."""

    def __init__(self, block, width: int, blocks: int, scale: int = 1):
        super().__init__()
        s2 = scale * scale
        self.scale = scale
        self.net = nn.Sequential(nn.Conv2d(IN_CH * s2, width, 3, padding=1), *[block(width) for _ in range(blocks)],
                                 nn.Conv2d(width, OUT_CH * s2, 3, padding=1))

    def forward(self, x):
        if self.scale == 1:
            return self.net(x)
        return F.pixel_shuffle(self.net(F.pixel_unshuffle(x, self.scale)), self.scale)


DESIGNS = {  # name -> (block, width, blocks, scale)
    "res w24 b3": (ResBlock, 24, 3, 1),
    "res w32 b4": (ResBlock, 32, 4, 1),
    "inverted w32 b4": (Inverted, 32, 4, 1),
    "inverted w48 b4": (Inverted, 48, 4, 1),
    "inverted k5 w32 b6": (lambda ch: Inverted(ch, k=5), 32, 6, 1),
    "gated w32 b4": (Gated, 32, 4, 1),
    "gated w48 b4": (Gated, 48, 4, 1),
    "res w48 b4 on 2x2": (ResBlock, 48, 4, 2),
    "res w64 b4 on 2x2": (ResBlock, 64, 4, 2),
}
DEFAULT = "res w24 b3"


def macs_per_pixel(model: nn.Module) -> float:
    """Multiply-adds per output pixel of the full-resolution frame (a conv on unshuffled positions counts 1/s^2)."""
    total = 0.0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total += m.out_channels * (m.in_channels // m.groups) * k
    return total / (model.scale ** 2)


def timed(fn, n: int) -> float:
    """Milliseconds per call of ``fn`` over ``n`` calls."""
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1000


def build(name: str) -> tuple:
    block, width, blocks, scale = DESIGNS[name]
    torch.manual_seed(0)
    model = Refiner(block, width, blocks, scale).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    crops = torch.randn(8, IN_CH, 64, 64)
    frame = torch.randn(1, IN_CH, 256, 448)

    def step():
        loss = model(crops).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(frame)
    step(), infer()  # warm-up: the kernels' first calls
    return model, step, infer


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--repeats", type=int, default=5, help="rounds over the designs; each figure is their median")
    ap.add_argument("--steps", type=int, default=10, help="training steps (and frames) timed per design and round")
    ap.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    args = ap.parse_args(argv)
    names = [DEFAULT] + [n for n in args.designs if n != DEFAULT]
    with cpu_threads(CPU_THREADS):
        built = {n: build(n) for n in names}
        step_ms = {n: [] for n in names}
        infer_ms = {n: [] for n in names}
        for _ in range(args.repeats):
            for n in names:
                _, step, infer = built[n]
                step_ms[n].append(timed(step, args.steps))
                infer_ms[n].append(timed(infer, max(1, args.steps // 2)))
    out = {"threads": CPU_THREADS, "designs": {}}
    for n in names:
        model = built[n][0]
        out["designs"][n] = {"parameters": sum(p.numel() for p in model.parameters()),
                             "macs_per_pixel": macs_per_pixel(model),
                             "train_step_ms": float(np.median(step_ms[n])), "frame_ms": float(np.median(infer_ms[n]))}
    base = out["designs"][DEFAULT]
    rows = [[n, f"{d['parameters']:,}", f"{d['macs_per_pixel'] / 1000:.1f}K",
             f"{d['macs_per_pixel'] / base['macs_per_pixel']:.2f}", f"{d['train_step_ms']:.1f}",
             f"{d['train_step_ms'] / base['train_step_ms']:.2f}", f"{d['frame_ms']:.1f}",
             f"{d['frame_ms'] / base['frame_ms']:.2f}"] for n, d in out["designs"].items()]
    print(f"\n## refiner designs on this CPU ({CPU_THREADS} threads, NHWC)\n")
    print(markdown_table(["design", "parameters", "MACs per pixel", "x default", "train step (ms)", "x default",
                          "256x448 frame (ms)", "x default"], rows))
    return common.finish(out, args.json)


if __name__ == "__main__":
    main()
