"""How far each method's training got, read from its run folder: the recipe's steps done and asked,
what stopped it, and whether a CPU run's numbers are every x86 CPU's (metrics.json's "training")."""
from __future__ import annotations

import json
from pathlib import Path

from ..runtime import numerics, paths
from ..training.checkpoint import load_checkpoint


def run_record(run_dir: Path) -> dict:
    """{"steps_done", "steps_asked", "stopped_by"} of one training run: "steps" when its recipe ran to the
    end, "max_minutes" when the time cap cut it, "interrupted" when it never finished (no summary.json);
    a CPU run adds "portable": whether its kernels and threads were pinned, so any x86 CPU trains the same
    model (runtime/numerics.py)."""
    run_dir = Path(run_dir)
    if (run_dir / "summary.json").exists():
        s = json.loads((run_dir / "summary.json").read_text())
        done, asked, by = s["steps"], s.get("steps_asked"), s["stopped_by"]
        same_anywhere = numerics.portable(s)  # a CPU run: were its kernels and threads pinned?
    else:
        last = load_checkpoint(run_dir / "last.pt")
        done, asked, by = last["step"], last.get("steps_asked"), "interrupted"
        same_anywhere = None
    by = "steps" if by == "epochs" else by  # the name before recipes counted steps
    record = {"steps_done": done, "steps_asked": asked, "stopped_by": by}
    if same_anywhere is not None:
        record["portable"] = same_anywhere
    return record


def training_record(checkpoints: dict) -> dict:
    """One method's training: its run's record, or for a model per preset the runs' totals, cut when any was
    (``runs`` keeps each)."""
    runs = {p: run_record(Path(c).parent) for p, c in checkpoints.items()}
    if len(set(checkpoints.values())) == 1:  # one run for every preset
        return next(iter(runs.values()))
    cut = [r["stopped_by"] for r in runs.values() if r["stopped_by"] != "steps"]
    asked = [r["steps_asked"] for r in runs.values()]
    record = {"steps_done": sum(r["steps_done"] for r in runs.values()),
              "steps_asked": None if None in asked else sum(asked),
              "stopped_by": cut[0] if cut else "steps", "runs": runs}
    said = [r["portable"] for r in runs.values() if "portable" in r]
    if said:
        record["portable"] = all(said)
    return record


def machine_bound_runs(metrics: dict) -> dict:
    """The methods trained on the CPU without the pinned kernels or thread count: another machine trains
    another model from them (runtime/numerics.py)."""
    return {m: r for m, r in metrics.get("training", {}).items() if r.get("portable") is False}


def cut_runs(metrics: dict) -> dict:
    """The methods whose training the time cap (or an interruption) stopped before the recipe's last step."""
    return {m: r for m, r in metrics.get("training", {}).items() if r["stopped_by"] != "steps"}


def load_metrics(path: Path | None = None) -> dict:
    """reports/metrics.json (notebook 04's); an error with the command that writes it when it is missing."""
    path = Path(path or paths.metrics_path())
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run notebook 04 first "
                                "(python -m deblur_utils report --only 04)")
    return json.loads(path.read_text())


def graded_learned(metrics: dict) -> list[str]:
    """The learned methods notebook 04 graded with every checkpoint recorded (none deleted since), in its order."""
    return [m for m, i in metrics["method_info"].items()
            if i.get("kind") == "learned" and not i.get("missing") and m in metrics["methods"]]
