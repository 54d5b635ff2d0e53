"""A training process killed with a real signal resumes from its last checkpoint to the very same weights."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from deblur_utils.data import prepare_sets, save_splits
from deblur_utils.train import load_checkpoint

from test_data import make_raw

ARGS = ["--model", "resnet", "--width", "8", "--blocks", "1", "--epochs", "5", "--batch-size", "4",
        "--crop-size", "32", "--epoch-samples", "160", "--max-minutes", "none", "--device", "cpu",
        "--val-max-frames", "1", "--lr", "0.002", "--ema-decay", "0.9", "--seed", "3"]


def run_train(data, out, *extra, wait=True):
    cmd = [sys.executable, "-m", "deblur_utils", "train", "--data-dir", str(data), "--out-dir", str(out), *ARGS, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if wait:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    return proc


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_sigkill_mid_training_then_resume_equals_an_uninterrupted_run(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1", "s2", "s3"), frames=2, size=(256, 448))
    data = tmp_path / "proc"
    prepare_sets(raw, data, progress=False)
    save_splits(data, {"train": ["s1", "s2"], "val": ["s3"], "test": []})

    run_train(data, tmp_path / "straight")

    proc = run_train(data, tmp_path / "killed", wait=False)
    last = tmp_path / "killed" / "last.pt"
    deadline = time.monotonic() + 240
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch_at_kill = load_checkpoint(last)["epoch"]
    assert epoch_at_kill < 5, "training finished before the kill; make the epochs longer"

    run_train(data, tmp_path / "killed", "--resume")
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(last)
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"] == 5
    for key in ("raw_weights", "weights"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name}"
