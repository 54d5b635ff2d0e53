"""What the default run costs on this machine: seconds per optimiser step of every training run, and
minutes per notebook, side by side, from the files the last `make report` left.

    python benchmarks/recipe_cost.py [--json PATH]

Reads runs/methods.json (the runs notebook 04 graded), each run's summary.json (steps done and asked,
minutes, stopped by) and reports/run_log.json (seconds per notebook). Recipes are defined in steps, so
a slower machine scales every row by the same factor: the table says how long the default takes there.
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
    return common.finish(out, args.json)


if __name__ == "__main__":
    main()
