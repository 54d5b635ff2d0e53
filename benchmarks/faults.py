"""Bad luck at the course's scale: notebook 01 and the training cache killed half-way, and a disk that fills
up, on a REDS-shaped folder; what each fault leaves and what the rerun does.

    python benchmarks/faults.py [--sequences 24] [--frames 100] [--source train-photos|embedded] [--json PATH]

The folder: ``--sequences`` x ``--frames`` frames of 1280x720, slow pans across the Debian training
photos of the real-photo sets (``course_scale.generate``, once, under runs/benchmarks/faults/). Each
run is `python -m deblur_utils prepare` (notebook 01's step) or the cache build of the training split
(``data.cache.load_cached``, what notebook 02 runs first), in a work directory of its own:

1. **reference**: prepare, then the cache, uninterrupted;
2. **prepare killed**: SIGKILL once 40% of the PNGs are written; the same command again; the files
   it wrote and found done, and whether every file under data/processed equals the reference's;
3. **cache killed**: SIGKILL while the second of the four arrays is written; the build again; its
   seconds beside the whole build's, and whether the cache equals the reference's byte for byte;
4. **disk full** (as root, a tmpfs of its own): a disk too small for Set A and Set B (refused before
   anything is written), then one that fills up half-way (another writer takes the space); the
   message, the files left, and the rerun once the space is free.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import course_scale  # noqa: E402
from deblur_utils.data.imageio import ImageReadError, read_rgb  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.runtime import paths  # noqa: E402

PARAMS = "inherit: default\nreal_photos: false\n"  # notebook 01's frames alone: the real-photo sets are not at stake
CACHE = ("import sys; from deblur_utils.data.cache import load_cached; "
         "load_cached(sys.argv[1] + '/data/processed', 'train')")


def digest(folder: Path) -> dict:
    """{relative path: SHA-256} of every file below ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def prepare_cmd(raw: Path, params: Path) -> list[str]:
    return [sys.executable, "-m", "deblur_utils", "prepare", "--params", str(params), "--raw-dir", str(raw)]


def run(cmd, work: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBLUR_WORKDIR": str(work)}
    env.pop("DEBLUR_PARAMS", None)
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


def kill_when(cmd, work: Path, ready, timeout: float = 1800) -> int:
    """Start ``cmd`` in ``work``, SIGKILL it once ``ready()``; its return code (-9 when killed in time)."""
    env = {**os.environ, "DEBLUR_WORKDIR": str(work)}
    env.pop("DEBLUR_PARAMS", None)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.01)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the notebook's worker processes too, as a machine that dies
    return proc.wait()


def pngs(work: Path) -> int:
    return sum(1 for _ in (work / "data" / "processed").rglob("*.png"))


def temporaries(work: Path) -> list[str]:
    return [str(p) for p in (work / "data").rglob(".*") if p.is_file()]


def summary_line(stdout: str) -> str:
    return next((ln for ln in stdout.splitlines() if " frames: " in ln), stdout.strip()[-200:])


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--sequences", type=int, default=24)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--source", choices=("train-photos", "embedded"), default="train-photos",
                    help="what the frames pan across: the Debian training photos (`make real-photos`) or the embedded ones")
    ap.add_argument("--work", type=Path, default=None, help="default runs/benchmarks/faults")
    args = ap.parse_args(argv)
    root = args.work or paths.runs_dir() / "benchmarks" / "faults"
    raw = root / f"raw_{args.source}_{args.sequences}x{args.frames}"
    root.mkdir(parents=True, exist_ok=True)
    params = root / "params.yaml"
    params.write_text(PARAMS)
    out = {"sequences": args.sequences, "frames_per_sequence": args.frames}
    out["generate"] = course_scale.generate(raw, args.sequences, args.frames, source=args.source)
    total = args.sequences * args.frames * 4  # Set A and three Set B PNGs a frame

    ref = root / f"reference_{raw.name}"
    if not (ref / "done").exists():
        subprocess.run(["rm", "-rf", str(ref)], check=True)
        t0 = time.monotonic()
        done = run(prepare_cmd(raw, params), ref)
        out["reference_prepare_seconds"] = time.monotonic() - t0
        assert done.returncode == 0, done.stderr
        t0 = time.monotonic()
        run([sys.executable, "-c", CACHE, str(ref)], ref)
        out["reference_cache_seconds"] = time.monotonic() - t0
        (ref / "done").write_text(json.dumps({k: out[k] for k in ("reference_prepare_seconds",
                                                                  "reference_cache_seconds")}))
    out.update(json.loads((ref / "done").read_text() or "{}"))
    want = digest(ref / "data" / "processed")
    print(f"reference: {len(want)} files", flush=True)

    # 2. prepare killed at 40%
    work = root / "prepare_killed"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    code = kill_when(prepare_cmd(raw, params), work, lambda: pngs(work) >= 0.4 * total)
    left = {"pngs": pngs(work), "temporary_files": len(temporaries(work))}
    t0 = time.monotonic()
    again = run(prepare_cmd(raw, params), work)
    got = digest(work / "data" / "processed")
    out["prepare_killed"] = {"returncode": code, "left": left, "rerun_seconds": time.monotonic() - t0,
                             "rerun_summary": summary_line(again.stdout), "rerun_exit": again.returncode,
                             "identical": got == {k: v for k, v in want.items() if not k.startswith("cache")},
                             "temporary_files_after": len(temporaries(work))}
    print(f"prepare killed: {out['prepare_killed']}", flush=True)

    # 3. the cache build killed on its second array
    cache = work / "data" / "processed" / "cache"
    t0 = time.monotonic()
    code = kill_when([sys.executable, "-c", CACHE, str(work)], work,
                     lambda: len(list(cache.glob("train_*_sharp.npy"))) == 1 and len(list(cache.glob(".train_*.npy.*"))) > 0)
    killed_after = time.monotonic() - t0
    left = {"arrays": sorted(p.name for p in cache.glob("*.npy")), "temporary_files": len(list(cache.glob(".*")))}
    finished = {p.name: p.stat().st_mtime_ns for p in cache.glob("[!.]*.npy")}
    t0 = time.monotonic()
    again = run([sys.executable, "-c", CACHE, str(work)], work)
    got = digest(cache)
    kept = sorted(n for n, t in finished.items() if (cache / n).stat().st_mtime_ns == t)
    out["cache_killed"] = {"returncode": code, "killed_after_seconds": killed_after, "left": left,
                           "rerun_seconds": time.monotonic() - t0, "rerun_exit": again.returncode,
                           "finished_arrays_kept": kept,
                           "reference_seconds": out.get("reference_cache_seconds"),
                           "identical": {k: v for k, v in got.items() if k.endswith(".npy")} ==
                           {k.split("/", 1)[1]: v for k, v in want.items() if k.startswith("cache/") and k.endswith(".npy")},
                           "temporary_files_after": len(list(cache.glob(".*")))}
    print(f"cache killed: {out['cache_killed']}", flush=True)

    # 4. a disk too small, then one that fills up half-way
    out["disk_full"] = disk_full(raw, params, root / "small", ref, want, total)
    print(f"disk full: {out['disk_full']}", flush=True)
    rows = [["prepare killed", f"{out['prepare_killed']['left']['pngs']:,} of {total:,} PNGs, "
             f"{out['prepare_killed']['left']['temporary_files']} temporary", out["prepare_killed"]["rerun_summary"],
             out["prepare_killed"]["identical"]],
            ["cache killed", ", ".join(out["cache_killed"]["left"]["arrays"]) or "no array",
             f"{out['cache_killed']['rerun_seconds']:.0f} s, kept: "
             f"{', '.join(out['cache_killed']['finished_arrays_kept']) or 'nothing'}", out["cache_killed"]["identical"]]]
    d = out["disk_full"]
    if "skipped" not in d:
        rows += [["disk too small", d["too_small"]["message"][:120], f"files written: {d['too_small']['pngs']}", ""],
                 ["disk filled half-way", d["fills_up"]["message"][:120],
                  d["rerun_summary"], d["identical"]]]
    print()
    print(markdown_table(["fault", "what it left / said", "the rerun", "equals the uninterrupted run"], rows))
    return common.finish(out, args.json)


def disk_full(raw: Path, params: Path, mount: Path, ref: Path, want: dict, total: int) -> dict:
    """A tmpfs too small for Set A and B (refused before writing); then one that another writer fills
    while prepare runs; then the space freed and prepare again."""
    need = sum(os.path.getsize(ref / "data" / "processed" / k) for k in want
               if k.endswith(".png"))
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["umount", str(mount)], capture_output=True)
    small = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={need // 3}", "tmpfs", str(mount)],
                           capture_output=True, text=True)
    if small.returncode:
        return {"skipped": f"no tmpfs could be mounted ({small.stderr.strip()}): run as root"}
    try:
        out = {"reference_pngs_bytes": need}
        done = run(prepare_cmd(raw, params), mount)
        out["too_small"] = {"exit": done.returncode, "message": done.stderr.strip().splitlines()[-1],
                            "pngs": pngs(mount)}
        subprocess.run(["mount", "-o", f"remount,size={int(need * 2)}", str(mount)], check=True)
        filler = mount / "other_writer.bin"

        def fill():  # once a fifth of the PNGs are written, another writer takes all but 20 MB
            if pngs(mount) < 0.2 * total:
                return False
            free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
            chunk = b"\0" * (1 << 20)
            try:
                with open(filler, "wb") as f:
                    for _ in range(max(0, free - (20 << 20)) >> 20):
                        f.write(chunk)
            except OSError:  # prepare took some of the space first: the disk is full either way
                pass
            return True

        env = {**os.environ, "DEBLUR_WORKDIR": str(mount)}
        env.pop("DEBLUR_PARAMS", None)
        proc = subprocess.Popen(prepare_cmd(raw, params), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        filled = False
        while proc.poll() is None:
            filled = filled or fill()
            time.sleep(0.05)
        err = proc.stderr.read()
        out["fills_up"] = {"exit": proc.returncode, "message": (err.strip().splitlines() or [""])[-1],
                           "pngs": pngs(mount), "temporary_files": len(temporaries(mount)),
                           "every_png_whole": all(_reads(p) for p in (mount / "data" / "processed").rglob("*.png"))}
        filler.unlink(missing_ok=True)  # the space freed
        again = run(prepare_cmd(raw, params), mount)
        out["rerun_summary"], out["rerun_exit"] = summary_line(again.stdout), again.returncode
        got = digest(mount / "data" / "processed")
        out["identical"] = got == {k: v for k, v in want.items() if not k.startswith("cache")}
        return out
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def _reads(path: Path) -> bool:
    try:
        read_rgb(path)
        return True
    except ImageReadError:
        return False


if __name__ == "__main__":
    main()
