"""Fuzz: random bytes and damaged real PNGs fed to the data preparation, the training cache and the
`deblur` / `blur` / `evaluate` commands. Every file is either processed or named with the reason;
no traceback reaches the user, and nothing is written outside the output folder."""
import io

import numpy as np
import pytest
from helpers import natural_like
from PIL import Image

from deblur_utils.cli import main
from deblur_utils.data.cache import load_cached
from deblur_utils.data.imageio import ImageReadError, write_png_atomic
from deblur_utils.data.sets import prepare_sets, save_splits
from deblur_utils.runtime import paths

N_FUZZ = 24


def png_bytes(img) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def fuzz_blobs(rng, good: bytes) -> dict:
    """Damaged files, by kind: random bytes, a PNG signature then noise, truncations, flipped bytes, empty."""
    blobs = {"empty": b"", "text": b"this is not an image\n",
             "signature_only": good[:8], "header_only": good[:33]}
    for i in range(N_FUZZ):
        kind = i % 4
        if kind == 0:
            blobs[f"random{i}"] = rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
        elif kind == 1:
            blobs[f"sig_noise{i}"] = good[:8] + rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
        elif kind == 2:
            blobs[f"truncated{i}"] = good[: int(rng.integers(9, len(good) - 13))]
        else:  # flipped bytes past the header: may still decode (the CRC of IDAT is not always checked)
            b = bytearray(good)
            for pos in rng.integers(40, len(good), 6):
                b[pos] ^= 0xFF
            blobs[f"flipped{i}"] = bytes(b)
    return blobs


def snapshot(root):
    return {p.relative_to(root): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def fuzzed(tmp_path, rng):
    """tmp/in: 3 good frames and the fuzz files; tmp/sharp: their sharp counterparts (all good)."""
    good = [natural_like(rng, 48, 64) for _ in range(3)]
    for i, g in enumerate(good):
        write_png_atomic(tmp_path / "in" / f"good{i}.png", g)
        write_png_atomic(tmp_path / "sharp" / f"good{i}.png", g)
    blobs = fuzz_blobs(rng, png_bytes(good[0]))
    for name, blob in blobs.items():
        (tmp_path / "in" / f"{name}.png").write_bytes(blob)
        write_png_atomic(tmp_path / "sharp" / f"{name}.png", good[0])
    return tmp_path, blobs


def readable(path) -> bool:
    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:
        return False


def test_prepare_handles_or_names_every_damaged_file(fuzzed):
    root, blobs = fuzzed
    before = snapshot(root / "in")
    summary = prepare_sets(root / "in", root / "proc", presets=["b"], height=32, width=48, progress=False)
    skipped = {p for p, _ in summary.skipped}
    for name in list(blobs) + ["good0", "good1", "good2"]:
        src = root / "in" / f"{name}.png"
        written = (root / "proc" / "sharp" / f"{name}.png").exists()
        assert written != (str(src) in skipped), name  # exactly one of: processed, or named as skipped
        assert written == readable(src), name
    assert all(why.startswith("not a readable image") for _, why in summary.skipped)
    assert str(root / "in" / "empty.png") in skipped and str(root / "in" / "text.png") in skipped
    assert snapshot(root / "in") == before  # the input is never touched
    assert {p.name for p in root.iterdir()} == {"in", "sharp", "proc"}
    assert not [p for p in (root / "proc").rglob(".*")], "a temporary file was left behind"


def test_a_damaged_frame_in_set_a_is_named_when_the_training_cache_is_built(tmp_path, rng):
    for seq in ("s1", "s2"):
        write_png_atomic(tmp_path / "raw" / seq / "0.png", natural_like(rng, 256, 448))
    prepare_sets(tmp_path / "raw", tmp_path / "proc", presets=["b"], progress=False)
    save_splits(tmp_path / "proc", {"train": ["s1", "s2"], "val": [], "test": []})
    victim = paths.blur_dir("b", tmp_path / "proc") / "s2" / "0.png"
    victim.write_bytes(victim.read_bytes()[:500])
    with pytest.raises(ImageReadError, match=r"blur_b/s2/0.png: not a readable image .*a damaged Set A/B frame\. "
                                             r"Delete it and rerun notebook 01"):
        load_cached(tmp_path / "proc", "train", ["b"])


def test_deblur_and_blur_write_each_readable_input_and_name_each_unreadable_one(fuzzed, capsys):
    import torch

    from deblur_utils.networks.registry import build_model
    from deblur_utils.training.checkpoint import CHECKPOINT_FORMAT, save_checkpoint

    root, blobs = fuzzed
    save_checkpoint(root / "id.pt", {"format": CHECKPOINT_FORMAT, "model": "resnet", "model_kwargs": {"width": 8, "blocks": 1},
                                     "weights": build_model("resnet", width=8, blocks=1).state_dict(), "parameters": 1})
    before = snapshot(root / "in")
    for args, out in ((["deblur", "--checkpoint", str(root / "id.pt")], "deblurred"), (["blur", "--preset", "b"], "blurred")):
        code = main([*args, str(root / "in"), str(root / out)])
        err = capsys.readouterr().err
        assert code == 1  # some inputs were skipped: not a clean success
        for name in list(blobs) + ["good0"]:
            src = root / "in" / f"{name}.png"
            if readable(src):
                assert (root / out / f"{name}.png").exists(), name
            else:
                assert f"skipped: {src}: not a readable image" in err, name
                assert not (root / out / f"{name}.png").exists(), name
        assert "Traceback" not in err
    assert snapshot(root / "in") == before
    assert {p.name for p in root.iterdir()} == {"in", "sharp", "id.pt", "deblurred", "blurred"}
    del torch


@pytest.mark.parametrize("which", ["pred", "sharp"])
def test_evaluate_names_the_first_unreadable_file_and_writes_nothing(fuzzed, capsys, which, tmp_path):
    root, blobs = fuzzed
    # the deblurred folder is the fuzzed one (or, swapped, the sharp one is)
    pred, sharp = (root / "in", root / "sharp") if which == "pred" else (root / "sharp", root / "in")
    before = snapshot(root)
    code = main(["evaluate", str(pred), str(sharp), "--json", str(tmp_path / "out" / "r.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {root / 'in'}/") and ": not a readable image" in err
    assert "Traceback" not in err
    assert snapshot(root) == before and not (tmp_path / "out").exists()
