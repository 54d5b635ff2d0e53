"""benchmarks/train_speed.py end to end on the CI parameter set: every figure is measured and written."""
import importlib.util
import json
import math
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "train_speed.py"


def test_train_speed_benchmark_measures_and_writes_its_ratios(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_speed", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(["--param-set", "ci", "--width", "4", "--steps", "1", "--loader-pairs", "6",
                    "--reference-minutes", "0.05", "--reference-width", "4", "--inference-frames", "4",
                    "--json", str(tmp_path / "s.json"), "--no-progress"])
    printed = capsys.readouterr().out
    assert "data path:" in printed and "throughput ratio" in printed and "time to quality" in printed
    saved = json.loads((tmp_path / "s.json").read_text())
    for key in ("loader_ratio", "throughput_ratio", "time_to_quality_ratio", "inference_seconds_150"):
        assert key in saved and math.isfinite(saved[key]) and saved[key] >= 0, key
    assert abs(saved["loader_ratio"] - out["loader_ours_pairs_per_s"] / out["loader_original_pairs_per_s"]) < 1e-9


def test_the_flop_count_of_srcnn_2048_matches_the_course_epoch_and_tflops_are_measured():
    spec = importlib.util.spec_from_file_location("train_speed", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import torch

    from deblur_utils.networks.registry import build_model

    with torch.device("meta"):  # the count needs shapes only
        big = build_model("srcnn", width=2048)
    macs = sum(m.weight.numel() for m in big.modules() if isinstance(m, torch.nn.Conv2d))  # per output pixel
    assert 72000 * 6 * macs * 256 * 448 / 1e15 == __import__("pytest").approx(240, rel=0.01)  # ~240 PFLOP an epoch
    small = mod.srcnn_tflops("cpu", width=4, batch=1, steps=1, size=(24, 32), amp="off")
    exact = 3 * 2 * mod.conv_macs_per_frame(build_model("srcnn", width=4), 24, 32)
    assert small["tflop_per_frame"] * 1e12 == exact and small["achieved_tflops"] > 0
