"""Run notebooks 01-05 with papermill, then build the one report from their executed copies.

Executed notebooks go to reports/ (generated, git-ignored), with reports/report.html and
report.pdf (``export.build_report``); figures to figures/; metrics to reports/metrics.json.
A failing notebook stops the run and names its executed copy, where the traceback is.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import papermill
from tqdm.auto import tqdm

from ..params import notebook_parameters
from ..runtime import paths
from ..runtime.atomic import write_text
from ..runtime.paths import NOTEBOOKS
from .export import build_report, executed_notebooks
from .tables import markdown_table
from .title import headline_rows

# The kernel papermill starts would warn that it talks over TCP without encryption (a local kernel,
# on the loopback interface): its log level is raised so that a clean run prints no warning.
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]


def parameter_names() -> dict:
    """Notebook -> the names its ``parameters`` cell defines (what papermill can override)."""
    return {name: set(notebook_parameters(name)) for name in NOTEBOOKS}


def execute(name: str, out_dir: Path, parameters: dict, runs_dir: Path, progress: bool = True) -> Path:
    """Run notebooks/<name>.ipynb with papermill into out_dir/<name>.ipynb; the one papermill call of
    the project (the report and the width sweep run notebooks through it).

    With ``progress`` the terminal shows papermill's cell bar and, below it, the training run under way
    (``TrainingWatch``). A failing notebook raises RuntimeError naming the cell and the executed copy."""
    notebooks = paths.notebooks_dir()
    dst = out_dir / f"{name}.ipynb"
    try:
        with TrainingWatch(runs_dir, enabled=progress):
            papermill.execute_notebook(str(notebooks / f"{name}.ipynb"), str(dst), parameters=parameters,
                                       cwd=str(notebooks), kernel_name="python3", progress_bar=progress,
                                       extra_arguments=KERNEL_ARGS)
    except papermill.PapermillExecutionError as err:
        raise RuntimeError(f"notebook {name} failed at cell {err.exec_count}: {err.ename}: {err.evalue}\n"
                           f"the executed copy with the traceback is {dst}") from None
    return dst


class TrainingWatch:
    """A terminal line for the training run under way while a notebook runs in its own kernel: the run,
    step of steps asked, loss and minutes left, read from the ``progress.json`` every run rewrites
    (training.loop) under ``runs_dir``. Only runs written since the watch started are shown."""

    def __init__(self, runs_dir: Path, enabled: bool = True, interval: float = 1.0):
        self.runs_dir, self.enabled, self.interval = Path(runs_dir), enabled, interval
        self._stop = threading.Event()
        self._bar, self._run = None, None

    def __enter__(self):
        self._since = time.time()
        if self.enabled:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._stop.set()
            self._thread.join()
            self._close()
        return False

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except (OSError, ValueError, KeyError):  # a file replaced while read: the next poll reads it
                continue

    def latest(self) -> dict | None:
        """The newest progress.json written since the watch began, as a dict; None when there is none."""
        files = [p for p in self.runs_dir.glob("*/progress.json") if p.stat().st_mtime >= self._since - 1]
        return json.loads(max(files, key=lambda p: p.stat().st_mtime).read_text()) if files else None

    def poll(self) -> None:
        info = self.latest()
        if info is None:
            return
        if info["run"] != self._run:
            self._close()
            self._run = info["run"]
            run = info["run"] if len(info["run"]) <= 44 else info["run"][:26] + "..." + info["run"][-15:]
            self._bar = tqdm(total=info["steps_asked"], desc=f"   {run}", position=1, leave=False,
                             bar_format="{desc} {bar:20} {n_fmt}/{total_fmt} steps{postfix}")
        self._bar.n = info["step"]
        self._bar.set_postfix_str(describe_progress(info), refresh=True)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar, self._run = None, None


def describe_progress(info: dict) -> str:
    """'loss -38.12, 1.9 min left' from a progress.json (the time left from the pace so far)."""
    parts = [] if info.get("loss") is None else [f"loss {info['loss']:.4g}"]
    if info.get("done"):
        parts.append(f"done in {info['minutes']:.1f} min")
    elif info["step"]:
        parts.append(f"{info['minutes'] / info['step'] * (info['steps_asked'] - info['step']):.1f} min left")
    return ", ".join(parts)


def summary_text(seconds: dict) -> str:
    """What ``make report`` prints at the end: minutes per notebook, the headline table of
    reports/metrics.json, and where the report is."""
    lines = ["", "minutes per notebook: " + ", ".join(f"{n[:2]} {s / 60:.1f}" for n, s in seconds.items())
             + f" (all {sum(seconds.values()) / 60:.1f})"]
    if paths.metrics_path().exists():
        metrics = json.loads(paths.metrics_path().read_text())
        if metrics.get("best_method"):
            lines += ["", f"best learned model: {metrics['best_method']} (mean PSNR dB on the test split)",
                      markdown_table(["preset", "doing nothing", "best classical", metrics["best_method"],
                                      "vs nothing", "vs classical"], headline_rows(metrics))]
    for name in ("report.html", "report.pdf"):
        if (paths.reports_dir() / name).exists():
            lines.append(f"report: {paths.reports_dir() / name}")
    return "\n".join(lines)


def run_report(param_set: str = "default", parameters: dict | None = None, notebooks=NOTEBOOKS,
               html: bool = True, pdf: bool = True, show_code: bool = False, log=print, progress: bool = True) -> dict:
    """Execute the notebooks in order into reports/, then (``html``) build report.html and (``pdf``)
    report.pdf from every executed notebook there; returns {notebook: seconds}. Ends with
    ``summary_text``."""
    out_dir = paths.reports_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    for name in notebooks:
        log(f"== {name}")
        t = time.monotonic()
        dst = execute(name, out_dir, {"param_set": param_set, **(parameters or {})}, paths.runs_dir(), progress)
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
        try:
            executed_notebooks(out_dir)
        except FileNotFoundError as err:  # a partial run (--only) before the others ever ran
            log(f"   report not built: {err}")
            return timings
        t = time.monotonic()
        build_report(out_dir, show_code=show_code, pdf=pdf, log=log)
        timings["report"] = round(time.monotonic() - t, 1)
    log(summary_text({n: s for n, s in timings.items() if n != "report"}))
    return timings
