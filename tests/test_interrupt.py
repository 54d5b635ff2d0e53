"""Interruptions with real signals: training killed mid-epoch resumes to the very same weights, a
truncated newest checkpoint falls back to the previous one, and data preparation killed while it
writes finishes on a rerun with the same files and nothing half-written."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import make_raw

from deblur_utils.data.sets import prepare_sets, save_splits
from deblur_utils.training.checkpoint import load_checkpoint
from deblur_utils.training.config import TrainConfig
from deblur_utils.training.loop import train

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL")

ROOT = Path(__file__).resolve().parent.parent
# Two data paths: Set B PNG pairs in an EpochOrder (the report's recipe), and the blind model on
# crops blurred on the fly (ours). Both write last.pt mid-epoch every 7 steps.
RECIPES = {
    "sets": ["--model", "resnet", "--width", "8", "--blocks", "1", "--epochs", "4", "--batch-size", "4",
             "--crop-size", "48", "--epoch-samples", "720", "--lr", "0.002", "--ema-decay", "0.9"],
    "continuum": ["--recipe", "ours", "--width", "8", "--blocks", "1", "--epochs", "4", "--batch-size", "4",
                  "--epoch-samples", "120", "--warmup-steps", "5"],
}
COMMON = ["--max-minutes", "none", "--device", "cpu", "--val-max-frames", "1", "--seed", "3",
          "--checkpoint-every-steps", "7", "--params", "ci"]


def env():
    # the tests' copy of deblur_utils, one thread each: the signal lands at an arbitrary step
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "DEBLUR_PARAMS": "ci"}


def train_cmd(data, out, recipe, *extra):
    return [sys.executable, "-m", "deblur_utils", "train", "--data-dir", str(data), "--out-dir", str(out),
            *RECIPES[recipe], *COMMON, *extra]


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    import numpy as np

    root = tmp_path_factory.mktemp("interrupt")
    raw = make_raw(root / "raw", np.random.default_rng(7), seqs=("s1", "s2", "s3"), frames=2, size=(256, 448))
    processed = root / "proc"
    prepare_sets(raw, processed, progress=False)
    save_splits(processed, {"train": ["s1", "s2"], "val": ["s3"], "test": []})
    return processed


@pytest.fixture(scope="module")
def straight(data):
    """Each recipe trained once without interruption: what every resumed run must equal."""
    out = {}
    for recipe in RECIPES:
        out[recipe] = data.parent / f"straight_{recipe}"
        run(train_cmd(data, out[recipe], recipe))
    return out


def same_run(a_dir, b_dir):
    a, b = load_checkpoint(a_dir / "last.pt"), load_checkpoint(b_dir / "last.pt")
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"] == 4 and b["epoch_pos"] == 0
    for key in ("raw_weights", "weights"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs"
    for name, value in a["optimizer"]["state"].items():
        assert torch.equal(value["exp_avg"], b["optimizer"]["state"][name]["exp_avg"])
    drop = lambda h: [{k: v for k, v in e.items() if k != "minutes"} for e in h]  # noqa: E731
    assert drop(a["history"]) == drop(b["history"])  # the same losses, epoch by epoch


def mid_epoch_checkpoint(path):
    try:
        ckpt = load_checkpoint(path)
    except (FileNotFoundError, ValueError):
        return None
    return ckpt if ckpt["epoch_pos"] > 0 and ckpt["epoch"] >= 1 else None


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_sigkill_mid_epoch_then_resume_equals_an_uninterrupted_run(data, straight, tmp_path, recipe):
    out = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(data, out, recipe), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env())
    deadline = time.monotonic() + 300
    ckpt = None
    while ckpt is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        ckpt = mid_epoch_checkpoint(out / "last.pt")  # a checkpoint inside the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training finished before the kill; make the run longer"
    killed = load_checkpoint(out / "last.pt")
    assert killed["epoch"] < 4, killed["epoch"]

    run(train_cmd(data, out, recipe, "--resume"))
    same_run(straight[recipe], out)
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"


def test_resume_removes_the_temporary_file_a_kill_during_a_save_left(tmp_path):
    from deblur_utils.runtime.atomic import remove_leftovers

    run_dir = tmp_path / "run[1]"  # glob characters in the folder and file names are literal
    run_dir.mkdir()
    left = run_dir / ".last.pt.k3j9x2.tmp"
    other = run_dir / ".notes.txt.abc.tmp"
    for path in (left, other, run_dir / "last.pt"):
        path.write_bytes(b"x")
    assert remove_leftovers(run_dir / "last.pt") == [left]
    assert not left.exists() and other.exists() and (run_dir / "last.pt").exists()


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(data, straight, tmp_path):
    # The run stops after 2 of the straight run's 4 epochs; last.prev.pt is then its last mid-epoch checkpoint.
    out = tmp_path / "run"
    half = list(train_cmd(data, out, "sets"))
    half[half.index("--epochs") + 1] = "2"
    run(half)
    prev = load_checkpoint(out / "last.prev.pt")
    assert 0 < prev["epoch_pos"] and prev["step"] < load_checkpoint(out / "last.pt")["step"]
    blob = (out / "last.pt").read_bytes()
    (out / "last.pt").write_bytes(blob[: len(blob) // 3])  # cut off as by a full disk or a kill during a copy
    resumed = run(train_cmd(data, out, "sets", "--resume"))
    assert "could not be read" in resumed.stderr and "falling back to the previous checkpoint" in resumed.stderr
    assert "last.prev.pt" in resumed.stderr
    same_run(straight["sets"], out)


def test_no_readable_checkpoint_is_a_clear_error_and_nothing_is_overwritten(data, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    (out / "last.prev.pt").write_bytes(b"not a checkpoint at all")
    cfg = TrainConfig(model="resnet", model_kwargs={"width": 8, "blocks": 1}, epochs=1, batch_size=4, crop_size=48,
                      epoch_samples=16, device="cpu", val_max_frames=1, resume=True)
    with pytest.raises(ValueError, match=r"no readable checkpoint to resume from in .*run.*last\.pt is not a "
                                         r"readable deblur_utils checkpoint.*restore a copy"):
        train(cfg, data, out, progress=False)
    assert (out / "last.pt").read_bytes() == b"PK\x03\x04 truncated"


def _tree(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_prepare_killed_while_writing_then_rerun_equals_an_uninterrupted_run(tmp_path):
    import numpy as np

    raw = make_raw(tmp_path / "raw", np.random.default_rng(5), seqs=[f"s{i}" for i in range(6)], frames=4,
                   size=(300, 500))
    e = {**env(), "DEBLUR_PARAMS": ""}
    cmd = lambda work: [sys.executable, "-m", "deblur_utils", "prepare", "--params", "ci",  # noqa: E731
                        "--raw-dir", str(raw)]
    ref_work, work = tmp_path / "ref", tmp_path / "work"
    subprocess.run(cmd(ref_work), env={**e, "DEBLUR_WORKDIR": str(ref_work)}, check=True, capture_output=True)
    proc = subprocess.Popen(cmd(work), env={**e, "DEBLUR_WORKDIR": str(work)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:  # kill once some, not all, frames are written
        if len(list((work / "data").rglob("*.png"))) >= 10:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "prepare finished before the kill; give it more frames"
    written = len(list((work / "data").rglob("*.png")))
    assert 0 < written < len(list((ref_work / "data").rglob("*.png")))

    subprocess.run(cmd(work), env={**e, "DEBLUR_WORKDIR": str(work)}, check=True, capture_output=True)
    ref, got = _tree(ref_work / "data"), _tree(work / "data")
    assert not [p for p in got if p.name.startswith(".")], "a temporary file was left behind"
    assert sorted(got) == sorted(ref)
    assert all(got[p] == ref[p] for p in ref), "the rerun wrote other bytes than an uninterrupted run"
