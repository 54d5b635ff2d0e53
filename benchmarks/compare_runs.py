"""Two runs' numbers side by side: every number of reports/metrics.json, real_photos.json and
sigma_sweep.json of one work directory against another's, wall-clock timings apart.

    python benchmarks/compare_runs.py OLD_REPORTS NEW_REPORTS [--json PATH]

Each folder is a ``reports/`` folder that `make report` wrote (the same machine before and after a
change meant to keep behaviour; or two machines, for the numbers another CPU gives). Prints, per
file, how many numbers were compared and how many differ, the largest difference and the first
differing entries by name; the timings (``seconds_per_frame``, ``train_minutes``, ``grading_seconds``)
differ from run to run and are counted apart. Exits 1 when a number differs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

FILES = ("metrics.json", "real_photos.json", "sigma_sweep.json")
TIMINGS = ("seconds_per_frame", "train_minutes", "grading_seconds")


def leaves(obj, path=()):
    """(path, value) of every leaf of a JSON document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, path + (str(k),))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, path + (str(i),))
    else:
        yield path, obj


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare(old: dict, new: dict) -> dict:
    """The numbers two JSON documents hold at the same places: counted, the differing ones listed
    (timings apart), and the places that hold a number in one only."""
    a, b = dict(leaves(old)), dict(leaves(new))
    out = {"compared": 0, "differ": [], "timings_compared": 0, "only_in_one": []}
    for path in sorted(set(a) | set(b)):
        x, y = a.get(path), b.get(path)
        if not (is_number(x) or is_number(y)):
            continue
        if any(t in path for t in TIMINGS):  # in one file only too: a run from before it kept that timing
            out["timings_compared"] += 1
            continue
        if path not in a or path not in b:
            out["only_in_one"].append("/".join(path))
            continue
        out["compared"] += 1
        if x != y:
            out["differ"].append({"at": "/".join(path), "old": x, "new": y,
                                  "difference": y - x if is_number(x) and is_number(y) else None})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="the reports/ folder of one run")
    ap.add_argument("new", type=Path, help="the reports/ folder of the other")
    ap.add_argument("--json", type=Path, help="also write the comparison here")
    args = ap.parse_args(argv)
    out = {}
    for name in FILES:
        paths = [args.old / name, args.new / name]
        if not all(p.exists() for p in paths):
            print(f"{name}: not in both folders, skipped")
            continue
        r = out[name] = compare(*(json.loads(p.read_text()) for p in paths))
        largest = max((abs(d["difference"]) for d in r["differ"] if d["difference"] is not None), default=0.0)
        print(f"{name}: {r['compared']} numbers compared, {len(r['differ'])} differ (largest {largest:g}); "
              f"{r['timings_compared']} timings left aside; {len(r['only_in_one'])} numbers in one file only")
        for d in r["differ"][:10]:
            print(f"  {d['at']}: {d['old']} -> {d['new']}")
        for at in r["only_in_one"][:10]:
            print(f"  only in one: {at}")
    common.finish(out, args.json)
    return 1 if any(r["differ"] or r["only_in_one"] for r in out.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
