"""What the default run costs on this machine: seconds per optimiser step of every training run,
minutes per notebook, and where notebook 04's go, side by side, from the files the last `make report`
left.

    python benchmarks/recipe_cost.py [--json PATH]

Reads runs/methods.json (the runs notebook 04 graded), each run's summary.json (steps done and asked,
minutes, stopped by), reports/run_log.json (seconds per notebook), and the seconds each method of
notebook 04 took on the test split, the sigma sweep and the real photos (``grading_seconds`` in
metrics.json and sigma_sweep.json). Recipes are defined in steps, so a slower machine scales every
row by the same factor: the tables say how long the default takes there, and what takes it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from deblur_utils.report.tables import markdown_table  # noqa: E402
from deblur_utils.runtime import paths  # noqa: E402


def runs() -> list[dict]:
    table = json.loads(paths.methods_path().read_text())
    seen, rows = set(), []
    for method, per in table.items():
        for preset, ckpt in per.items():
            run = Path(ckpt).parent
            if run in seen or not (run / "summary.json").exists():
                continue
            seen.add(run)
            s = json.loads((run / "summary.json").read_text())
            rows.append({"method": method, "run": run.name, "steps": s["steps"], "steps_asked": s.get("steps_asked"),
                         "stopped_by": s["stopped_by"], "minutes": s["minutes"],
                         "seconds_per_step": s["minutes"] * 60 / max(1, s["steps"])})
    return rows


GRADED = (("test split", "metrics.json", ("grading_seconds", "test")),
          ("sigma sweep", "sigma_sweep.json", ("grading_seconds",)),
          ("real photos", "metrics.json", ("grading_seconds", "real_photos")))


def grading() -> dict:
    """{part of notebook 04: {method: seconds}} from the files the last notebook 04 wrote (a part it did
    not write, or wrote before the files kept their seconds, is left out)."""
    out = {}
    for part, name, keys in GRADED:
        path = paths.reports_dir() / name
        if not path.exists():
            continue
        found = json.loads(path.read_text())
        for key in keys:
            found = found.get(key, {}) if isinstance(found, dict) else {}
        if found:
            out[part] = found
    return out


def grading_rows(parts: dict) -> list[list[str]]:
    """One row per method, the slowest first: its seconds in each part and in all of them; then the total."""
    methods = list(dict.fromkeys(m for per in parts.values() for m in per))
    total = {m: sum(per.get(m, 0.0) for per in parts.values()) for m in methods}

    def cell(v):
        return "" if v is None else f"{v:.1f}"
    rows = [[m, *(cell(per.get(m)) for per in parts.values()), cell(total[m])]
            for m in sorted(methods, key=total.get, reverse=True)]
    return rows + [["all", *(cell(sum(per.values())) for per in parts.values()), cell(sum(total.values()))]]


def main(argv=None):
    ap = common.parser(__doc__)
    args = ap.parse_args(argv)
    out = {"runs": runs()}
    print(markdown_table(["method", "run", "steps (asked)", "stopped by", "minutes", "s / step (validation included)"],
                         [[r["method"], r["run"], f"{r['steps']:,} ({r['steps_asked'] or '?'})", r["stopped_by"],
                           f"{r['minutes']:.2f}", f"{r['seconds_per_step']:.3f}"] for r in out["runs"]]))
    log = paths.reports_dir() / "run_log.json"
    if log.exists():
        out["notebook_seconds"] = json.loads(log.read_text())["seconds"]
        total = sum(out["notebook_seconds"].values())
        print()
        print(markdown_table(["notebook", "minutes"], [[n, f"{s / 60:.1f}"] for n, s in out["notebook_seconds"].items()]
                             + [["all", f"{total / 60:.1f}"]]))
    parts = grading()
    if parts:
        out["grading_seconds"] = parts
        print("\nnotebook 04, seconds per method (deblurring and grading, every blur):\n")
        print(markdown_table(["method", *parts, "all"], grading_rows(parts)))
    elif (paths.reports_dir() / "metrics.json").exists():
        print("\nnotebook 04's seconds per method: its metrics.json is older than the record of them; "
              "`python -m deblur_utils report --only 04` writes them")
    return common.finish(out, args.json)


if __name__ == "__main__":
    main()
