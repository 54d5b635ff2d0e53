"""Speed settings per device: mixed precision, memory layout, cuDNN/TF32, compilation.

``resolve(device, amp=..., channels_last=..., compile=...)`` turns the parameters into what
the device actually gets ("auto" decides per device, by what measured to help:
``benchmarks/train_speed.py``); ``Speed`` then wraps the forward pass (``autocast``), the
backward pass (``backward_step``: loss scaling for fp16) and the model (``prepare_model``).

- ``amp``: "auto" is bf16 on a CUDA GPU that supports it, else fp16 with loss scaling, and
  off on the CPU and MPS for training; for inference (``resolve(..., inference=True)``) "auto" is
  also bf16 on a CPU with native bf16 instructions (``native_cpu_bf16``: AVX512-BF16 or AMX), where
  it is faster at the same course PSNR (figures in benchmarks/README.md).
  "bf16", "fp16" force one (on the CPU too, for tests); "off".
  Only the network runs in low precision: the on-device blur (exact integer sums) and the
  blind model's spectral sigma estimate and FFTs stay in float32.
- ``channels_last``: NHWC convolution weights; "auto" is on for CUDA (tensor cores want NHWC) and
  on the CPU too, where training and inference measured faster (benchmarks/README.md). Inputs stay NCHW.
- ``compile``: ``torch.compile`` the model (off by default: minutes of compilation).
- On CUDA also ``cudnn.benchmark`` (autotuned convolutions for fixed crop sizes) and TF32
  matmuls/convolutions.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

AMP_CHOICES = ("auto", "bf16", "fp16", "off")


@dataclass
class Speed:
    device: torch.device
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    compile: bool = False
    scaler: object = None  # torch.amp.GradScaler when fp16, else None

    @property
    def amp(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, "off")

    def autocast(self):
        """The context for the forward pass and the loss: low precision where the settings say."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """On the training device, in its layout; uint8 images (the loader's) become [0, 1] floats there."""
        x = x.to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        # NCHW in: with channels_last weights (prepare_model) the convolutions run NHWC all the same,
        # while the blind model's FFTs keep a contiguous image.
        return x.contiguous() if x.dim() == 4 else x

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Layout (in place) and, when asked, a compiled wrapper; the module itself keeps the weights."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return torch.compile(model) if self.compile else model

    def backward_step(self, loss: torch.Tensor, optimizer, params, grad_clip: float | None) -> None:
        """loss.backward(), clipping and the optimiser step, with loss scaling for fp16."""
        if self.scaler is None:
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if grad_clip:
            self.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(params, grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def _flag(value, name: str) -> str:
    if value in (True, "on", "true"):
        return "on"
    if value in (False, "off", "false", None):
        return "off"
    if value == "auto":
        return "auto"
    raise ValueError(f"{name} must be auto, on or off (true/false), got {value!r}")


def check(amp="auto", channels_last="auto") -> None:
    """Refuse unknown settings up front (TrainConfig calls this)."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {list(AMP_CHOICES)}, got {amp!r}")
    _flag(channels_last, "channels_last")


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 dot products in hardware (x86 AVX512-BF16 or AMX-BF16, read from
    /proc/cpuinfo) and oneDNN uses them. Without them bf16 on the CPU is emulated: slower, not faster.
    oneDNN held to AVX2 (numerics.py, the default) does not use them: set ONEDNN_MAX_CPU_ISA=ALL."""
    try:
        flags = set()
        for line in open("/proc/cpuinfo", encoding="utf-8", errors="replace"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:  # not Linux: no reliable way to tell, so no
        return False
    if not flags & {"avx512_bf16", "amx_bf16"}:
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve(device, amp="auto", channels_last="auto", compile=False, inference=False) -> Speed:
    """What the device gets for these parameters (see the module docstring); sets the CUDA switches.
    ``inference``: for a forward pass only, where "auto" also takes bf16 on a CPU that has it natively."""
    device = torch.device(device)
    check(amp, channels_last)
    cuda = device.type == "cuda"
    if amp == "auto":
        if cuda:
            amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            amp = "bf16" if inference and device.type == "cpu" and native_cpu_bf16() else "off"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    cl = _flag(channels_last, "channels_last")
    speed = Speed(device, dtype, cl == "on" or (cl == "auto" and device.type in ("cuda", "cpu")), bool(compile))
    if dtype == torch.float16:
        speed.scaler = torch.amp.GradScaler(device.type)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return speed

