"""Speed settings: mixed precision (bf16, fp16 with loss scaling), channels_last, tiled and batched
inference. The CUDA defaults cannot run here; the same code paths run on the CPU when forced."""
import numpy as np
import pytest
import torch
from helpers import blind_tiny, natural_like

from deblur_utils.networks.registry import build_model
from deblur_utils.runtime import accel
from deblur_utils.training.checkpoint import load_checkpoint
from deblur_utils.training.config import TrainConfig
from deblur_utils.training.inference import predict_uint8
from deblur_utils.training.loop import train


def test_auto_is_float32_with_nhwc_convolutions_on_the_cpu():
    speed = accel.resolve("cpu")
    assert (speed.amp, speed.channels_last, speed.compile, speed.scaler) == ("off", True, False, None)
    x = torch.zeros(2, 3, 8, 8, dtype=torch.uint8).permute(0, 1, 3, 2)  # any layout in ...
    y = speed.to_device(x)
    assert y.dtype == torch.float32 and y.is_contiguous()  # ... a contiguous NCHW float image out (the FFTs')


@pytest.mark.parametrize("kw,message", [({"amp": "fp8"}, "amp must be one of"),
                                        ({"channels_last": "maybe"}, "channels_last must be auto, on or off")])
def test_bad_speed_settings_are_refused_up_front(kw, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kw)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_and_channels_last_train_and_resume(processed, tmp_path, amp):  # noqa: F811
    cfg = dict(amp=amp, channels_last="on", epochs=2, ema_decay=0.9)
    first = train(blind_tiny(**cfg), processed, tmp_path / "run", progress=False)
    assert all(np.isfinite(h["train_loss"]) for h in first["history"])
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (ckpt["scaler"] is not None) == (amp == "fp16")  # fp16 keeps its loss scale across a resume
    again = train(blind_tiny(**{**cfg, "epochs": 3, "resume": True}), processed, tmp_path / "run", progress=False)
    assert again["steps"] > first["steps"]


def test_tiled_inference_equals_whole_frames(rng):
    torch.manual_seed(0)
    model = build_model("resnet", width=8, blocks=1)  # receptive field radius 4 px: tiles with 8 px context
    for p in model.parameters():
        p.data.mul_(3)  # far from the identity, so tiling mistakes would show
    frames = np.stack([natural_like(rng, 96, 160) for _ in range(3)])
    whole = predict_uint8(model, frames, "cpu")
    tiled = predict_uint8(model, frames, "cpu", batch_size=2, tile=48, overlap=8)
    assert np.abs(whole.astype(int) - tiled).max() <= 1 and (whole == tiled).mean() > 0.999
    with pytest.raises(ValueError, match="tile 20 leaves no centre with an overlap of 8 px"):
        predict_uint8(model, frames, "cpu", tile=20, overlap=8)


def test_bf16_inference_stays_close_to_float32(rng):
    model = build_model("resnet", width=8, blocks=1)
    frames = np.stack([natural_like(rng, 64, 96) for _ in range(2)])
    ref = predict_uint8(model, frames, "cpu")
    low = predict_uint8(model, frames, "cpu", amp="bf16")
    assert np.abs(ref.astype(int) - low).mean() < 1.0


@pytest.mark.parametrize("native", [True, False])
def test_inference_auto_takes_bf16_on_the_cpu_only_where_it_is_native(monkeypatch, native):
    monkeypatch.setattr(accel, "native_cpu_bf16", lambda: native)
    assert accel.resolve("cpu", "auto", inference=True).amp == ("bf16" if native else "off")
    assert accel.resolve("cpu", "auto").amp == "off"  # training stays float32 on the CPU
    assert accel.resolve("cpu", "off", inference=True).amp == "off"  # grading's exact float32


def test_native_cpu_bf16_reads_the_cpu_flags(monkeypatch, tmp_path):
    import builtins

    real_open = builtins.open
    for flags, expected in (("fpu sse2 avx2 fma", False), ("fpu avx512f avx512_bf16", True)):
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda p, *a, **k: real_open(info if p == "/proc/cpuinfo" else p, *a, **k))
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
        assert accel.native_cpu_bf16() is expected
