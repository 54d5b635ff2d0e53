"""The command line: the course's printout, blur and deblur folders, and errors with exit codes."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import natural_like
from skimage.metrics import peak_signal_noise_ratio

from deblur_utils.cli import main
from deblur_utils.data.blur import blur_uint8
from deblur_utils.data.imageio import read_rgb, write_png_atomic


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


@pytest.mark.parametrize("args,message", [(["--preset", "q"], "--preset q: choose a, b or c, or give the blur itself with --sigma"),
                                          (["--kernel-size", "4", "--sigma", "1"], "kernel_size must be odd")])
def test_blur_bad_preset_is_refused(folders, capsys, args, message):
    root, _ = folders
    assert main(["blur", *args, str(root / "sharp"), str(root / "out")]) == 2
    assert message in capsys.readouterr().err


def test_deblur_writes_same_names_and_an_untrained_residual_net_is_the_identity(folders, tmp_path):
    from deblur_utils.networks.registry import build_model
    from deblur_utils.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

    root, _ = folders
    model = build_model("resnet", width=8, blocks=1)
    save_checkpoint(tmp_path / "id.pt", {"format": CHECKPOINT_FORMAT, "model": "resnet",
                                         "model_kwargs": {"width": 8, "blocks": 1},
                                         "weights": model.state_dict(), "parameters": 1})
    assert main(["deblur", "--checkpoint", str(tmp_path / "id.pt"), str(root / "blur"), str(root / "out")]) == 0
    for i in range(3):
        np.testing.assert_array_equal(read_rgb(root / "out" / f"{i}.png"), read_rgb(root / "blur" / f"{i}.png"))


def test_deblur_one_blur_gives_every_image_the_median_estimate(folders, tmp_path, capsys):
    """--one-blur: the blind model's per-image estimates (the tiles' set_quantile, not the per-frame
    sigma_quantile), their median in log, every image deblurred with it (as GivenSigma); a checkpoint
    with no estimate is refused with what to do."""
    import torch

    from deblur_utils.networks.blind import GivenSigma
    from deblur_utils.networks.registry import build_model
    from deblur_utils.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
    from deblur_utils.training.inference import predict_uint8, to_tensor

    root, _ = folders
    torch.manual_seed(0)
    kwargs = {"width": 8, "blocks": 1, "est_tile": 32, "sigma_quantile": 0.0, "set_quantile": 1.0}
    model = build_model("blind_wiener", **kwargs)
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    save_checkpoint(tmp_path / "blind.pt", {"format": CHECKPOINT_FORMAT, "model": "blind_wiener",
                                            "model_kwargs": kwargs, "weights": model.state_dict(), "parameters": 1})
    assert main(["deblur", "--one-blur", "--checkpoint", str(tmp_path / "blind.pt"), str(root / "blur"),
                 str(root / "out")]) == 0
    blurred = np.stack([read_rgb(root / "blur" / f"{i}.png") for i in range(3)])
    with torch.no_grad():
        own = [model.estimator.estimate(to_tensor(b[None]), 1.0)[0].item() for b in blurred]
        per_frame = [model.estimator.estimate(to_tensor(b[None]), 0.0)[0].item() for b in blurred]
    assert min(o - p for o, p in zip(own, per_frame)) > 0  # the two quantiles read apart on these images
    sigma = float(np.exp(np.median(np.log(own))))
    assert f"one blur, sigma {sigma:.3f} (the median of 3 pictures' estimates)" in capsys.readouterr().out
    expected = predict_uint8(GivenSigma(model, sigma), blurred, "cpu", batch_size=1)  # a picture at a time
    for i in range(3):
        np.testing.assert_array_equal(read_rgb(root / "out" / f"{i}.png"), expected[i])

    save_checkpoint(tmp_path / "id.pt", {"format": CHECKPOINT_FORMAT, "model": "resnet",
                                         "model_kwargs": {"width": 8, "blocks": 1},
                                         "weights": build_model("resnet", width=8, blocks=1).state_dict(),
                                         "parameters": 1})
    assert main(["deblur", "--one-blur", "--checkpoint", str(tmp_path / "id.pt"), str(root / "blur"),
                 str(root / "o2")]) == 2
    assert "--one-blur needs a checkpoint of the blind Wiener network" in capsys.readouterr().err
    # --views 8: the refiner's corrections of eight flipped and transposed views, averaged
    assert main(["deblur", "--views", "8", "--checkpoint", str(tmp_path / "blind.pt"), str(root / "blur"),
                 str(root / "o3")]) == 0
    model.views = 8
    viewed = predict_uint8(model.eval(), blurred, "cpu", batch_size=1)
    for i in range(3):
        np.testing.assert_array_equal(read_rgb(root / "o3" / f"{i}.png"), viewed[i])
    assert main(["deblur", "--views", "8", "--checkpoint", str(tmp_path / "id.pt"), str(root / "blur"),
                 str(root / "o4")]) == 2
    assert "--views needs a checkpoint of the blind Wiener network" in capsys.readouterr().err


def test_deblur_with_a_non_checkpoint_fails_clearly(folders, tmp_path, capsys):
    root, _ = folders
    (tmp_path / "x.pt").write_text("hello")
    assert main(["deblur", "--checkpoint", str(tmp_path / "x.pt"), str(root / "blur"), str(root / "o")]) == 2
    assert "x.pt is not a readable deblur_utils checkpoint" in capsys.readouterr().err


def test_module_entry_point_has_help_for_each_command():
    for cmd in ("evaluate", "deblur", "blur", "train", "prepare", "report"):
        out = subprocess.run([sys.executable, "-m", "deblur_utils", cmd, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "usage: python -m deblur_utils " + cmd in out.stdout


def test_blur_with_sigma_alone_sizes_the_kernel_and_kernel_alone_is_refused(folders, capsys):
    import cv2

    root, sharp = folders
    assert main(["blur", "--sigma", "1.3", str(root / "sharp"), str(root / "out")]) == 0  # 9x9: +-3 sigma
    np.testing.assert_array_equal(read_rgb(root / "out" / "0.png"), cv2.GaussianBlur(sharp[0], (9, 9), 1.3))
    assert main(["blur", "--kernel-size", "9", str(root / "sharp"), str(root / "o2")]) == 2
    assert "--kernel-size needs --sigma" in capsys.readouterr().err


def test_report_refuses_a_parameter_no_notebook_takes(capsys):
    assert main(["report", "--params", "ci", "-p", "widht", "2048"]) == 2
    assert "no notebook takes parameter(s) ['widht']" in capsys.readouterr().err


def test_report_values_are_yaml_with_numbers_as_numbers():
    from deblur_utils.cli.commands import parse_value as _parse_value

    assert _parse_value("1e-4") == 1e-4 and _parse_value("null") is None and _parse_value("[a, b]") == ["a", "b"]
    assert _parse_value("/kaggle/input/x") == "/kaggle/input/x"


def test_evaluate_json_is_valid_json_even_with_identical_images(folders, tmp_path):
    import json

    root, _ = folders
    assert main(["evaluate", str(root / "sharp"), str(root / "sharp"), "--json", str(tmp_path / "r.json")]) == 0
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["n_infinite"] == 3 and r["psnr_db"] is None and set(r["per_image"].values()) == {None}


def test_train_builds_its_recipe_from_the_notebooks_configuration_then_the_flags():
    """One path from parameters to a TrainConfig: the parameter set's recipe, with the flags given on top."""
    from deblur_utils import cli, params
    from deblur_utils.cli import commands

    P = params.load_params("default")
    parse = cli.build_parser().parse_args
    assert commands.train_config(P, parse(["train"])) == P.train_config("faithful")
    assert commands.train_config(P, parse(["train", "--recipe", "ours"])) == P.train_config("ours")
    cfg = commands.train_config(P, parse(["train", "--recipe", "ours", "--width", "8", "--max-minutes", "none",
                                          "--epochs", "1", "--cosine", "--resume"]))
    want = P.train_config("ours", epochs=1, max_minutes=None, resume=True,
                          model_kwargs={**P.recipe("ours")["model_kwargs"], "width": 8})
    assert cfg == want
    assert commands.t_flags_given(parse(["train", "--recipe", "ours", "--width", "8"])) == ["width", "recipe"]


def test_deblur_sigma_bypasses_the_estimate_and_one_blur_reads_each_folder_on_its_own(tmp_path, rng, capsys):
    """--sigma S deblurs every picture as GivenSigma(model, S); --one-blur takes one median per folder
    (two folders blurred apart read apart); the two together are refused."""
    import torch

    from deblur_utils.networks.blind import GivenSigma
    from deblur_utils.networks.registry import build_model
    from deblur_utils.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
    from deblur_utils.training.inference import predict_uint8

    torch.manual_seed(0)
    kwargs = {"width": 8, "blocks": 1, "est_tile": 32}
    model = build_model("blind_wiener", **kwargs)
    torch.nn.init.normal_(model.tail.weight, std=0.05)
    ckpt = tmp_path / "blind.pt"
    save_checkpoint(ckpt, {"format": CHECKPOINT_FORMAT, "model": "blind_wiener", "model_kwargs": kwargs,
                           "weights": model.state_dict(), "parameters": 1})
    sharp = [natural_like(rng, 64, 96) for _ in range(2)]
    for i, s in enumerate(sharp):
        write_png_atomic(tmp_path / "in" / "soft" / f"{i}.png", blur_uint8(s, "b"))
        write_png_atomic(tmp_path / "in" / "softer" / f"{i}.png", blur_uint8(s, "c"))
    blurred = np.stack([read_rgb(tmp_path / "in" / "softer" / f"{i}.png") for i in range(2)])

    assert main(["deblur", "--sigma", "1.3", "--checkpoint", str(ckpt), str(tmp_path / "in"),
                 str(tmp_path / "told")]) == 0
    expected = predict_uint8(GivenSigma(model.eval(), 1.3), blurred, "cpu", batch_size=1)
    for i in range(2):
        np.testing.assert_array_equal(read_rgb(tmp_path / "told" / "softer" / f"{i}.png"), expected[i])

    # told a blur below the gate (0.42 here): that blur's own inverse, said so, not "read as sharp"
    assert main(["deblur", "--sigma", "0.4", "--checkpoint", str(ckpt), str(tmp_path / "in" / "soft"),
                 str(tmp_path / "mild"), "--report", str(tmp_path / "mild.json")]) == 0
    pictures = json.loads((tmp_path / "mild.json").read_text())["pictures"]
    assert [p["status"] for p in pictures] == ["deblurred"] * 2
    assert all("Wiener inverse" in p["reason"] and p["gate"] == 0 for p in pictures)
    mild = np.stack([read_rgb(tmp_path / "in" / "soft" / f"{i}.png") for i in range(2)])
    expected = predict_uint8(GivenSigma(model.eval(), 0.4), mild, "cpu", batch_size=1)
    for i in range(2):
        np.testing.assert_array_equal(read_rgb(tmp_path / "mild" / f"{i}.png"), expected[i])

    capsys.readouterr()
    assert main(["deblur", "--one-blur", "--checkpoint", str(ckpt), str(tmp_path / "in"),
                 str(tmp_path / "one")]) == 0
    said = capsys.readouterr().out
    medians = [float(line.split("sigma ")[1].split(" ")[0]) for line in said.splitlines() if "one blur, sigma" in line]
    assert len(medians) == 2 and medians[0] != medians[1]  # one per folder, each its own
    assert "--one-blur reads it" not in said
    assert main(["deblur", "--checkpoint", str(ckpt), str(tmp_path / "in"), str(tmp_path / "each")]) == 0
    said = capsys.readouterr().out
    assert said.count("--one-blur reads it from all of them") == 1  # frame by frame: the hint, once

    with pytest.raises(SystemExit) as refused:
        main(["deblur", "--sigma", "1.3", "--one-blur", "--checkpoint", str(ckpt), str(tmp_path / "in"),
              str(tmp_path / "both")])
    assert refused.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_blur_names_each_output_apart_and_refuses_out_inside_in(folders, capsys):
    """"0.png" and "0.tif" would both be blurred to 0.png: the second is written as 0_tif.png, said; an
    OUT_DIR inside IN_DIR is refused (a rerun would blur its own outputs)."""
    from PIL import Image

    root, sharp = folders
    Image.fromarray(sharp[0]).save(root / "sharp" / "0.tif")
    assert main(["blur", "--preset", "b", str(root / "sharp"), str(root / "out")]) == 0
    assert sorted(p.name for p in (root / "out").iterdir()) == ["0.png", "0_tif.png", "1.png", "2.png"]
    assert "0.tif is written as 0_tif.png" in capsys.readouterr().out
    assert main(["blur", "--preset", "b", str(root / "sharp"), str(root / "sharp" / "out")]) == 2
    assert "must not be IN_DIR" in capsys.readouterr().err


def test_evaluate_reads_16_bit_colour_by_the_rule_and_refuses_two_images_of_one_name(folders, capsys):
    """A 16-bit colour PNG is graded as v / 257 rounded (Pillow alone keeps its high byte, one grey level
    off here wherever v >= 128); a folder holding "0.png" and "0.jpg" is refused, since either could be
    the one graded."""
    from PIL import Image

    from deblur_utils.data.imageio import encode_png

    root, sharp = folders
    (root / "deep").mkdir()
    for i, s in enumerate(sharp):  # 257 v + 128 rounds back to v; its high byte is v + 1 from v = 128 up
        (root / "deep" / f"{i}.png").write_bytes(encode_png((s.astype(np.uint16) * 257 + 128 * (s < 255)).astype(np.uint16)))
    assert main(["evaluate", "--no-ssim", str(root / "deep"), str(root / "sharp")]) == 0
    assert "Average PSNR between corresponding images: inf dB" in capsys.readouterr().out
    import tifffile

    for i in range(3):  # the same as 16-bit TIFFs
        (root / "deep" / f"{i}.png").unlink()
        tifffile.imwrite(root / "deep" / f"{i}.tif", (sharp[i].astype(np.uint16) * 257 + 128 * (sharp[i] < 255))
                         .astype(np.uint16), photometric="rgb")
    assert main(["evaluate", "--no-ssim", str(root / "deep"), str(root / "sharp")]) == 0
    assert "Average PSNR between corresponding images: inf dB" in capsys.readouterr().out
    Image.fromarray(sharp[0]).save(root / "blur" / "0.jpg")
    assert main(["evaluate", str(root / "blur"), str(root / "sharp")]) == 2
    assert "holds both 0.jpg and 0.png" in capsys.readouterr().err


@pytest.mark.parametrize("flag,message", [(["--sigma=inf"], "--sigma must be a positive number"),
                                          (["--tile", "abc"], "argument --tile: auto, 0 (whole)"),
                                          (["--tile", "144"], "--tile 144 leaves no centre")])
def test_deblur_refuses_an_infinite_sigma_and_a_tile_that_is_no_number_or_too_small(folders, tmp_path, capsys, flag, message):
    from deblur_utils.networks.registry import build_model
    from deblur_utils.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

    root, _ = folders
    kwargs = {"width": 8, "blocks": 1, "est_tile": 32}
    save_checkpoint(tmp_path / "blind.pt", {"format": CHECKPOINT_FORMAT, "model": "blind_wiener", "model_kwargs": kwargs,
                                            "weights": build_model("blind_wiener", **kwargs).state_dict(),
                                            "parameters": 1})
    try:
        code = main(["deblur", *flag, "--checkpoint", str(tmp_path / "blind.pt"), str(root / "blur"), str(root / "o")])
    except SystemExit as exit_:  # argparse's own refusal
        code = exit_.code
    assert code == 2 and message in capsys.readouterr().err
    assert not (root / "o").exists()


def test_evaluate_says_when_grey_is_compared_with_colour(folders, capsys):
    from PIL import Image

    root, _ = folders
    assert main(["evaluate", "--no-ssim", str(root / "blur"), str(root / "sharp")]) == 0
    assert "# note:" not in capsys.readouterr().out
    Image.open(root / "blur" / "1.png").convert("L").save(root / "blur" / "1.png")
    assert main(["evaluate", "--no-ssim", str(root / "blur"), str(root / "sharp")]) == 0
    assert "# note: 1 image(s) grey on one side and colour on the other, e.g." in capsys.readouterr().out


def _identity_checkpoint(path):
    from deblur_utils.networks.registry import build_model
    from deblur_utils.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "model": "resnet", "model_kwargs": {"width": 8, "blocks": 1},
                           "weights": build_model("resnet", width=8, blocks=1).state_dict(), "parameters": 1})
    return str(path)


def test_a_report_or_json_path_that_is_no_json_file_is_refused_before_anything_is_written(folders, tmp_path, capsys):
    """A slip of the arguments (--report naming an input picture, the checkpoint) once wrote JSON over it."""
    root, _ = folders
    ckpt = _identity_checkpoint(tmp_path / "id.pt")
    picture, before = root / "blur" / "1.png", (root / "blur" / "1.png").read_bytes()
    for argv in (["deblur", "--checkpoint", ckpt, "--report", str(picture), str(root / "blur"), str(root / "out")],
                 ["deblur", "--checkpoint", ckpt, "--report", ckpt, str(root / "blur"), str(root / "out")],
                 ["evaluate", "--json", str(root / "sharp" / "0.png"), str(root / "blur"), str(root / "sharp")],
                 ["evaluate", "--json", str(root), str(root / "blur"), str(root / "sharp")]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "does not end in .json" in err or "is a folder" in err
    assert picture.read_bytes() == before and not (root / "out").exists()
    assert read_rgb(root / "sharp" / "0.png").shape == (48, 64, 3)
    assert main(["deblur", "--checkpoint", ckpt, "--report", str(tmp_path / "r.json"), str(root / "blur"),
                 str(root / "out")]) == 0


def test_blur_and_evaluate_see_a_phones_picture_upright_as_deblur_does(tmp_path, rng, capsys):
    from PIL import Image

    sharp = natural_like(rng, 40, 56)
    (tmp_path / "in").mkdir()
    stored = Image.fromarray(np.rot90(sharp, 1).copy())  # stored turned left; orientation 6 turns it back
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(tmp_path / "in" / "phone.jpg", exif=exif.tobytes(), quality=100, subsampling=0)
    assert read_rgb(tmp_path / "in" / "phone.jpg").shape == (40, 56, 3)
    assert main(["blur", "--preset", "a", str(tmp_path / "in" / "phone.jpg"), str(tmp_path / "blurred")]) == 0
    assert read_rgb(tmp_path / "blurred" / "phone.png").shape == (40, 56, 3)  # one file in: blurred into OUT_DIR
    assert main(["deblur", "--checkpoint", _identity_checkpoint(tmp_path / "id.pt"), str(tmp_path / "in"),
                 str(tmp_path / "out")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--no-ssim", str(tmp_path / "out"), str(tmp_path / "in")]) == 0  # no size mismatch
    assert float(capsys.readouterr().out.splitlines()[1].split(": ")[1].split()[0]) > 35


def test_files_that_are_no_pictures_read_here_are_named_and_outputs_replaced_are_counted(folders, tmp_path, capsys):
    root, _ = folders
    (root / "blur" / "IMG_1.HEIC").write_bytes(b"\0" * 16)
    (root / "blur" / "notes.txt").write_text("x")
    (root / "blur" / "old.jfif").write_bytes((root / "blur" / "0.png").read_bytes())  # a JPEG name, read as one
    ckpt = _identity_checkpoint(tmp_path / "id.pt")
    assert main(["deblur", "--checkpoint", ckpt, "--report", str(tmp_path / "r.json"), str(root / "blur"),
                 str(root / "out")]) == 0
    said = capsys.readouterr().out
    assert "2 file(s) below IN are not pictures read here and were left out (1 .heic, 1 .txt" in said
    assert "replaced" not in said and (root / "out" / "old.png").exists()
    report = json.loads((tmp_path / "r.json").read_text())
    assert sorted(Path(p).name for p in report["left_out"]) == ["IMG_1.HEIC", "notes.txt"]
    assert main(["deblur", "--checkpoint", ckpt, str(root / "blur"), str(root / "out")]) == 0
    assert "note: 4 file(s) already in OUT were replaced" in capsys.readouterr().out
    assert main(["blur", str(root / "blur"), str(root / "blurred")]) == 0
    assert "2 file(s) below" in capsys.readouterr().out


def test_a_name_near_the_limit_is_written_and_an_output_that_cannot_be_written_skips_only_that_picture(
        folders, tmp_path, capsys):
    root, _ = folders
    long = "n" * 240 + ".png"  # its temporary name would pass 255 bytes
    (root / "blur" / long).write_bytes((root / "blur" / "0.png").read_bytes())
    (root / "blur" / "sub").mkdir()
    (root / "blur" / "sub" / "a.png").write_bytes((root / "blur" / "1.png").read_bytes())
    (root / "out").mkdir()
    (root / "out" / "sub").write_text("a file where OUT/sub/ would be")
    ckpt = _identity_checkpoint(tmp_path / "id.pt")
    assert main(["deblur", "--checkpoint", ckpt, str(root / "blur"), str(root / "out")]) == 1
    printed = capsys.readouterr()
    assert (root / "out" / long).exists() and (root / "out" / "2.png").exists()  # the folder went on
    assert "skipped:" in printed.err and "could not be written" in printed.err and str(Path("sub", "a.png")) in printed.err
    assert "4 deblurred" in printed.out and "1 skipped" in printed.out


def test_pillows_pixel_guard_names_the_file_in_the_library_and_is_lifted_for_the_commands(folders, monkeypatch):
    from PIL import Image

    from deblur_utils.data.imageio import ImageReadError

    root, sharp = folders
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 48x64 frames: over twice the guard, as a panorama is
    with pytest.raises(ImageReadError, match="0.png"):
        read_rgb(root / "sharp" / "0.png")
    assert main(["blur", "--preset", "c", str(root / "sharp"), str(root / "out")]) == 0
    np.testing.assert_array_equal(read_rgb(root / "out" / "0.png"), blur_uint8(sharp[0], "c"))


def test_an_interrupted_deblur_says_that_a_rerun_starts_over(folders, tmp_path, monkeypatch, capsys):
    from deblur_utils.cli import deblur

    def stop(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(deblur, "cmd_deblur", stop)
    root, _ = folders
    assert main(["deblur", "--checkpoint", "x.pt", str(root / "blur"), str(root / "out")]) == 2
    assert "a rerun does every picture again" in capsys.readouterr().err


def test_blur_of_one_picture_into_its_own_folder_is_refused_and_an_unwritable_output_skips_only_it(folders, capsys):
    root, _ = folders
    assert main(["blur", str(root / "sharp" / "0.png"), str(root / "sharp")]) == 2
    assert "is the folder of" in capsys.readouterr().err
    (root / "sharp" / "sub").mkdir()
    (root / "sharp" / "sub" / "a.png").write_bytes((root / "sharp" / "1.png").read_bytes())
    (root / "out").mkdir()
    (root / "out" / "sub").write_text("a file where OUT_DIR/sub/ would be")
    assert main(["blur", str(root / "sharp"), str(root / "out")]) == 1
    printed = capsys.readouterr()
    assert "could not be written" in printed.err and (root / "out" / "2.png").exists()


def test_a_json_path_the_system_refuses_is_an_argument_error_not_a_traceback(folders, capsys):
    root, _ = folders
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--json", "r" * 300 + ".json", str(root / "blur"), str(root / "sharp")])
    assert stop.value.code == 2 and "too long" in capsys.readouterr().err.lower()
