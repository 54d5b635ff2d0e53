"""Bad luck at the course's scale, at a small one: sequence folders given as links, odd files in the raw
folder, a disk too small or one that fills up half-way (named, nothing half-written, the rerun completes),
a kill during the cache build (the rerun gives the same bytes)."""
import errno
import os
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from helpers import make_raw, natural_like

from deblur_utils.data import frames as frames_mod
from deblur_utils.data.cache import load_cached
from deblur_utils.data.imageio import read_rgb, write_png_atomic
from deblur_utils.data.sets import make_splits, prepare_sets, save_splits
from deblur_utils.runtime import atomic
from deblur_utils.runtime.atomic import DiskFullError, replacing

Usage = namedtuple("Usage", "total used free")


def tree(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sequence_folders_given_as_links_are_read_like_real_ones(tmp_path, rng):
    """The usual way to point at a read-only dataset (/kaggle/input): a folder of links to its sequences."""
    real = make_raw(tmp_path / "dataset", rng, seqs=("s1", "s2"), frames=2, size=(260, 450))
    linked = tmp_path / "raw"
    linked.mkdir()
    for seq in ("s1", "s2"):
        (linked / seq).symlink_to(real / seq, target_is_directory=True)
    (linked / "loop").symlink_to(linked, target_is_directory=True)  # a link back up is read once, not forever
    summary = prepare_sets(linked, tmp_path / "proc", presets=["b"], progress=False, workers=1)
    assert summary.n_frames == 4 and [str(f) for f in summary.frames] == ["s1/000.png", "s1/001.png", "s2/000.png",
                                                                           "s2/001.png"]


def test_odd_files_are_named_skipped_or_read_as_documented(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1",), frames=2, size=(260, 450))
    (raw / "s1" / "notes.txt").write_text("not a picture")
    (raw / "s1" / "002.png").write_bytes((raw / "s1" / "000.png").read_bytes()[:200])  # truncated
    write_png_atomic(raw / "s1" / "003.png", natural_like(rng, 100, 120))  # another size: resized
    grey16 = (rng.integers(0, 65536, (300, 500))).astype(np.uint16)
    import cv2
    cv2.imwrite(str(raw / "s1" / "004.png"), grey16)  # 16-bit grey: 8-bit RGB, v / 257
    summary = prepare_sets(raw, tmp_path / "proc", presets=["b"], progress=False, workers=1)
    assert summary.n_frames == 4 and summary.ignored == [raw / "s1" / "notes.txt"]
    assert [Path(p).name for p, _ in summary.skipped] == ["002.png"]
    record = summary.record()
    assert record["ignored"] == [str(raw / "s1" / "notes.txt")] and record["skipped"][0]["file"].endswith("002.png")
    assert "notes.txt" in str(summary) and read_rgb(tmp_path / "proc" / "sharp" / "s1" / "003.png").shape == (256, 448, 3)


def test_a_disk_too_small_is_refused_before_anything_is_written(tmp_path, rng, monkeypatch):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1", "s2"), frames=2, size=(260, 450))
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 50_000, 50_000))
    with pytest.raises(DiskFullError, match=r"not enough space in .*proc: Set A and Set B \(8 PNGs of 448x256 still "
                                            r"to write\) needs about .* MB, 0.1 MB is free"):
        prepare_sets(raw, tmp_path / "proc", presets=["b"], progress=False, workers=1)
    assert not list((tmp_path / "proc").rglob("*.png"))


def test_a_disk_that_fills_up_half_way_leaves_no_truncated_file_and_the_rerun_completes(tmp_path, rng, monkeypatch):
    raw = make_raw(tmp_path / "raw", rng, seqs=("s1", "s2", "s3"), frames=2, size=(260, 450))
    prepare_sets(raw, tmp_path / "ref", presets=["a", "b"], progress=False, workers=1)
    real_write, calls = frames_mod.write_png_atomic, []

    def filling(path, image):  # the fifth PNG meets a full disk half-way through its bytes
        calls.append(path)
        if len(calls) < 5:
            return real_write(path, image)
        with replacing(path) as tmp:
            tmp.write_bytes(b"\x89PNG half")
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(frames_mod, "write_png_atomic", filling)
    with pytest.raises(DiskFullError, match=r"the disk filled up in .*work while writing Set A and Set B: about .* was "
                                            r"needed for 18 PNGs, .* is "
                                            r"free now. Free space .* and rerun"):
        prepare_sets(raw, tmp_path / "work", presets=["a", "b"], progress=False, workers=1)
    written = tree(tmp_path / "work")
    assert not [p for p in written if p.name.startswith(".")], "a temporary file was left behind"
    assert all(written[p] == (tmp_path / "ref" / p).read_bytes() for p in written if p.suffix == ".png")
    monkeypatch.setattr(frames_mod, "write_png_atomic", real_write)
    summary = prepare_sets(raw, tmp_path / "work", presets=["a", "b"], progress=False, workers=1)
    assert summary.already_done == 4 and tree(tmp_path / "work") == tree(tmp_path / "ref")


def test_a_cache_too_large_for_the_disk_is_refused_by_name(processed, monkeypatch):
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: Usage(10**9, 10**9 - 100_000, 100_000))
    with pytest.raises(DiskFullError, match=r"cache.*: the cache train_4_sharp.npy \(4 frames\) needs about 1.4 MB, "
                                            r"0.1 MB is free"):
        load_cached(processed, "train")
    assert not list((processed / "cache").glob(".*"))


BUILD = ("import sys; from deblur_utils.data.cache import load_cached; load_cached(sys.argv[1], 'train')")


def test_a_cache_build_killed_half_way_is_finished_by_the_rerun_byte_for_byte(tmp_path, rng):
    raw = make_raw(tmp_path / "raw", rng, seqs=[f"s{i}" for i in range(8)], frames=10, size=(256, 448))
    proc_dir = tmp_path / "proc"
    prepare_sets(raw, proc_dir, progress=False)
    save_splits(proc_dir, make_splits([f"s{i}" for i in range(8)], 0.125, 0.125, seed=0))
    ref = tmp_path / "ref"
    subprocess.run(["cp", "-r", str(proc_dir), str(ref)], check=True)
    subprocess.run([sys.executable, "-c", BUILD, str(ref)], check=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(proc_dir)], env=env)
    cache = proc_dir / "cache"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:  # kill while the second array is being written
        if (cache / "train_60_sharp.npy").exists() and list(cache.glob(".train_60_a.npy.*")):
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the build finished before the kill; give it more frames"
    assert list(cache.glob(".*.npy")), "the kill left no temporary file: it came too late to test anything"
    subprocess.run([sys.executable, "-c", BUILD, str(proc_dir)], check=True, env=env)
    got, want = tree(cache), tree(ref / "cache")
    assert not [p for p in got if p.name.startswith(".")] and sorted(got) == sorted(want)
    assert all(got[p] == want[p] for p in want if p.suffix == ".npy")
