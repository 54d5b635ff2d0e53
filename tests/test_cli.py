"""The command line: the course's printout, blur and deblur folders, and errors with exit codes."""
import subprocess
import sys

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from deblur_utils.blur import blur_uint8
from deblur_utils.cli import main
from deblur_utils.imageio import read_rgb, write_png_atomic

from helpers import natural_like


@pytest.fixture
def folders(tmp_path, rng):
    sharp = [natural_like(rng, 48, 64) for _ in range(3)]
    for i, s in enumerate(sharp):
        write_png_atomic(tmp_path / "sharp" / f"{i}.png", s)
        write_png_atomic(tmp_path / "blur" / f"{i}.png", blur_uint8(s, "b"))
    return tmp_path, sharp


def test_evaluate_prints_the_course_lines(folders, capsys):
    root, sharp = folders
    assert main(["evaluate", str(root / "blur"), str(root / "sharp")]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = np.mean([peak_signal_noise_ratio(s, blur_uint8(s, "b")) for s in sharp])
    assert lines[0] == "3"
    assert lines[1] == f"Average PSNR between corresponding images: {expected} dB"


def test_evaluate_mismatched_folders_exit_nonzero_with_the_file(folders, capsys):
    root, _ = folders
    (root / "blur" / "2.png").unlink()
    assert main(["evaluate", str(root / "blur"), str(root / "sharp")]) == 2
    assert "2.png" in capsys.readouterr().err


def test_evaluate_size_mismatch_is_named(folders, capsys):
    root, _ = folders
    write_png_atomic(root / "blur" / "1.png", np.zeros((10, 10, 3), np.uint8))
    assert main(["evaluate", str(root / "blur"), str(root / "sharp")]) == 2
    assert "1.png: size 10x10 differs" in capsys.readouterr().err


def test_blur_writes_each_image_blurred(folders):
    root, sharp = folders
    assert main(["blur", "--preset", "c", str(root / "sharp"), str(root / "out")]) == 0
    np.testing.assert_array_equal(read_rgb(root / "out" / "0.png"), blur_uint8(sharp[0], "c"))


@pytest.mark.parametrize("args,message", [(["--preset", "q"], "unknown blur preset 'q'"),
                                          (["--kernel-size", "4", "--sigma", "1"], "kernel_size must be odd")])
def test_blur_bad_preset_is_refused(folders, capsys, args, message):
    root, _ = folders
    assert main(["blur", *args, str(root / "sharp"), str(root / "out")]) == 2
    assert message in capsys.readouterr().err


def test_deblur_writes_same_names_and_an_untrained_residual_net_is_the_identity(folders, tmp_path):
    import torch

    from deblur_utils.models import build_model
    from deblur_utils.train import CHECKPOINT_FORMAT, save_checkpoint

    root, _ = folders
    model = build_model("resnet", width=8, blocks=1)
    save_checkpoint(tmp_path / "id.pt", {"format": CHECKPOINT_FORMAT, "model": "resnet",
                                         "model_kwargs": {"width": 8, "blocks": 1},
                                         "weights": model.state_dict(), "parameters": 1})
    assert main(["deblur", "--checkpoint", str(tmp_path / "id.pt"), str(root / "blur"), str(root / "out")]) == 0
    for i in range(3):
        np.testing.assert_array_equal(read_rgb(root / "out" / f"{i}.png"), read_rgb(root / "blur" / f"{i}.png"))


def test_deblur_with_a_non_checkpoint_fails_clearly(folders, tmp_path, capsys):
    root, _ = folders
    (tmp_path / "x.pt").write_text("hello")
    assert main(["deblur", "--checkpoint", str(tmp_path / "x.pt"), str(root / "blur"), str(root / "o")]) == 2
    assert "x.pt is not a readable deblur_utils checkpoint" in capsys.readouterr().err


def test_module_entry_point_has_help_for_each_command():
    for cmd in ("evaluate", "deblur", "blur", "train", "prepare", "report"):
        out = subprocess.run([sys.executable, "-m", "deblur_utils", cmd, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "usage: python -m deblur_utils " + cmd in out.stdout
