"""Run notebooks 01-05 with papermill, then build the one report from their executed copies.

Executed notebooks go to reports/ (generated, git-ignored), with reports/report.html and
report.pdf (``export.build_report``); figures to figures/; metrics to reports/metrics.json.
A failing notebook stops the run and names its executed copy, where the traceback is.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from . import paths
from .atomic import write_text

NOTEBOOKS = ("01_blur_dataset", "02_train_srcnn", "03_per_blur_small_models", "04_psnr_eval", "05_qualitative")


def notebook_parameters() -> dict:
    """Notebook -> the names its ``parameters`` cell defines (what papermill can override)."""
    import ast

    import nbformat

    out = {}
    for name in NOTEBOOKS:
        nb = nbformat.read(paths.NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        out[name] = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                     for t in node.targets if isinstance(t, ast.Name)}
    return out


def run_report(param_set: str = "default", parameters: dict | None = None, notebooks=NOTEBOOKS,
               html: bool = True, pdf: bool = True, show_code: bool = False, log=print) -> dict:
    """Execute the notebooks in order into reports/, then (``html``) build report.html and (``pdf``)
    report.pdf from every executed notebook there; returns {notebook: seconds}."""
    import papermill

    out_dir = paths.reports_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    for name in notebooks:
        src = paths.NOTEBOOKS_DIR / f"{name}.ipynb"
        dst = out_dir / f"{name}.ipynb"
        log(f"== {name}")
        t = time.monotonic()
        try:
            papermill.execute_notebook(str(src), str(dst), parameters={"param_set": param_set, **(parameters or {})},
                                       cwd=str(paths.NOTEBOOKS_DIR), kernel_name="python3", progress_bar=False)
        except papermill.PapermillExecutionError as err:
            raise RuntimeError(f"notebook {name} failed at cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                               f"the executed copy with the traceback is {dst}") from None
        timings[name] = round(time.monotonic() - t, 1)
        log(f"   {timings[name]:.0f} s -> {dst}")
    log_path = out_dir / "run_log.json"
    seconds = dict(timings)
    if len(notebooks) < len(NOTEBOOKS) and log_path.exists():  # --only: keep the other notebooks' times
        earlier = json.loads(log_path.read_text())
        if earlier.get("param_set") == param_set:
            seconds = {**earlier.get("seconds", {}), **timings}
    write_text(log_path, json.dumps({"param_set": param_set, "parameters": parameters or {},
                                     "seconds": seconds}, indent=2) + "\n")
    if html:
        from .export import build_report, executed_notebooks

        try:
            executed_notebooks(out_dir)
        except FileNotFoundError as err:  # a partial run (--only) before the others ever ran
            log(f"   report not built: {err}")
            return timings
        t = time.monotonic()
        build_report(out_dir, show_code=show_code, pdf=pdf, log=log)
        timings["report"] = round(time.monotonic() - t, 1)
    return timings
