"""One report from the executed notebooks: ``reports/report.html`` (self-contained) and ``report.pdf``.

The executed copies of 01-05 (written by ``report.run_report``) are joined in order behind a title
page whose summary and headline table are built from ``reports/metrics.json``; the README's
"Differences from the original report" closes it. Code cells are hidden unless ``show_code``
(then the files are ``report_with_code.*``). Progress bars and warnings (stderr, widgets) are left out.

Offline by construction: nbconvert's *basic* template gives the cells' HTML only (no MathJax,
require.js or widget scripts from a CDN); the page around it, its CSS and every image (base64 PNG)
are inline, and the page has no script at all.

The PDF is headless Chromium printing that HTML (A4, page numbers, a chapter per page). Without
Chromium the HTML is still written and the PDF is skipped with a message that says what to install.

>>> page = render_page("<p>x</p>", "t")
>>> "<script" in page, "http" in page
(False, False)
"""
from __future__ import annotations

import base64
import datetime
import html
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from . import paths
from .atomic import replacing, write_text

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "DEBLUR_CHROMIUM"  # a path to a Chrome/Chromium binary, where it is not on PATH
INSTALL_HINT = ("install Chromium for the PDF: `sudo apt-get install chromium` (Debian/Ubuntu; `make env` does "
                f"it when run as root), or set {CHROMIUM_ENV} to a Chrome/Chromium binary")
DIFFERENCES_HEADING = "## Differences from the original report"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
CSS_PX_PER_INCH = 96  # what a browser prints as one inch: figures made at this dpi print at their true size


# --- the combined notebook ---------------------------------------------------------------------

def executed_notebooks(reports_dir: Path) -> list[Path]:
    """The executed copies of 01-05 in reports/, in order; an error names the missing ones and the fix."""
    found = [reports_dir / f"{n}.ipynb" for n in paths.NOTEBOOKS]
    missing = [p.name for p in found if not p.exists()]
    if missing:
        numbers = " ".join(m[:2] for m in missing)
        raise FileNotFoundError(f"cannot build the report: {', '.join(missing)} missing in {reports_dir}; "
                                f"run them first: python -m deblur_utils report --only {numbers}")
    return found


def _reader_outputs(outputs) -> list:
    """What a reader wants from a cell's outputs: no progress bars (widgets, stderr), no warnings."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            continue
        if WIDGET_MIME in out.get("data", {}):
            continue
        kept.append(out)
    return kept


def _png_size(b64: str) -> tuple[int, int]:
    """(width, height) in pixels, from the PNG header."""
    head = base64.b64decode(b64[:64])
    return struct.unpack(">II", head[16:24])


def _print_size(out, dpi: float, alt: str) -> None:
    """Give each PNG a display width of its size in inches (figure dpi, or the half of a retina PNG), so
    that an A4 page prints a 7-inch figure 7 inches wide whatever its resolution."""
    data = out.get("data", {})
    if "image/png" not in data:
        return
    meta = out.setdefault("metadata", {}).setdefault("image/png", {})
    meta.setdefault("alt", alt)
    if "width" not in meta:  # retina PNGs already carry their display size
        w, h = _png_size(data["image/png"])
        meta["width"], meta["height"] = round(w * CSS_PX_PER_INCH / dpi), round(h * CSS_PX_PER_INCH / dpi)


def combined_notebook(reports_dir: Path, show_code: bool = False, readme: Path | None = None):
    """Title page, then the cells of 01-05 (reader outputs only), then the README's differences."""
    import nbformat

    from .plots import STYLE

    metrics = load_metrics(reports_dir / "metrics.json")
    run_log = reports_dir / "run_log.json"
    run = json.loads(run_log.read_text()) if run_log.exists() else {}
    sources = executed_notebooks(reports_dir)
    notebooks = [nbformat.read(p, as_version=4) for p in sources]
    out = nbformat.v4.new_notebook(metadata={k: v for k, v in notebooks[0].metadata.items()
                                             if k in ("kernelspec", "language_info")})
    out.cells.append(nbformat.v4.new_markdown_cell(title_markdown(metrics, run, [nb_title(nb) for nb in notebooks])))
    for k, nb in enumerate(notebooks, 1):
        heading = nb_title(nb)
        for cell in nb.cells:
            cell.id = f"nb{k}-{len(out.cells)}"  # ids must be unique across the five notebooks
            if cell.cell_type == "markdown":
                heading = next((ln.lstrip("# ").strip() for ln in cell.source.splitlines() if ln.startswith("#")),
                               heading)
            if cell.cell_type == "code":
                cell.outputs = _reader_outputs(cell.get("outputs", []))
                for o in cell.outputs:
                    _print_size(o, STYLE["figure.dpi"], alt=f"figure: {heading}")
                if not show_code and not cell.outputs:
                    continue
            out.cells.append(cell)
    differences = differences_markdown(readme or paths.PROJECT_ROOT / "README.md")
    if differences:
        out.cells.append(nbformat.v4.new_markdown_cell(differences))
    return out


def load_metrics(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"cannot build the report: {path} is missing; run notebook 04 "
                                f"(python -m deblur_utils report --only 04) to write it")
    return json.loads(path.read_text())


def nb_title(nb) -> str:
    """The notebook's first level-1 heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "(untitled notebook)"


def differences_markdown(readme: Path) -> str:
    """The README's "Differences from the original report" section, as a chapter of the report."""
    if not readme.exists():
        return ""
    text = readme.read_text(encoding="utf-8")
    start = text.find(DIFFERENCES_HEADING)
    if start < 0:
        return ""
    body = text[start + len(DIFFERENCES_HEADING):]
    end = re.search(r"^## ", body, flags=re.M)
    body = body[:end.start()] if end else body
    return "# Differences from the original report\n\nFrom the project's README: where this reproduction " \
           "departs from the course report, and why.\n" + body.rstrip() + "\n"


# --- the title page: every number from metrics.json --------------------------------------------

def _fmt(entry) -> str:
    from .tables import fmt_psnr

    return fmt_psnr(entry)


def headline_rows(metrics: dict, method: str | None = None) -> list[list[str]]:
    """Per preset: doing nothing, the best classical method, ``method`` (default: the best learned one),
    and the two gains."""
    from .tables import best_classical, gains, signed

    methods, best = metrics["methods"], method or metrics.get("best_method")
    rows = []
    for p in list(metrics["presets"]) + ["all"]:
        top = best_classical(methods, p)
        g = next((g for g in gains(methods, [p]) if g["method"] == best), {}) if best else {}
        rows.append([p, _fmt(methods.get("identity", {}).get(p)), f"{_fmt(methods[top][p])} ({top})" if top else "n/a",
                     _fmt(methods.get(best, {}).get(p)) if best else "n/a",
                     signed(g.get("gain_vs_identity_db")), signed(g.get("gain_vs_best_classical_db"))])
    return rows


def one_blur_markdown(metrics: dict, best: str) -> list[str]:
    """The title page's lines for ``best``'s one-blur row (notebook 04 grades it when ``best`` is a
    blind Wiener network): the same checkpoint given one sigma per set, which is what a folder that
    shares one blur (each preset's, the course's grading set) allows; none without that row."""
    from . import tables
    from .tables import markdown_table

    info = metrics.get("method_info", {})
    one = next((m for m, i in info.items() if i.get("given") == "one_blur" and i.get("given_sigma_of") == best
                and m in metrics["methods"]), None)
    if one is None:
        return []
    views = info[one].get("views", 1)
    lines = ["", f"The same checkpoint given **one blur per set** (`{one}`): every frame of a set that shares "
             "one blur, as each preset's folder and the course's grading set do, gets the median of the frames' "
             "own estimates" + (f", and the refiner's corrections of {views} flipped and transposed views are "
                                "averaged" if views > 1 else "") + ". No frame is told its blur:", "",
             markdown_table(["preset", "doing nothing", "best classical, told the kernel", one,
                             "gain over doing nothing (dB)", "gain over best classical (dB)"],
                            headline_rows(metrics, one))]
    real = metrics.get("real_photos") or {}
    if one in real and "wiener" in real:
        lines += ["", "On the real-photo test set:", "",
                  tables.real_vs_wiener({"summary": real, "blurs": list(real[one]),
                                         "worst": metrics["worst_frames"]["real_photos"]}, one)]
    return lines


def title_markdown(metrics: dict, run: dict, chapters: list[str]) -> str:
    from . import tables
    from .tables import markdown_table
    from .workflow import cut_runs, machine_bound_runs

    best = metrics.get("best_method")
    info = metrics.get("method_info", {}).get(best, {}) if best else {}
    param_set = metrics.get("param_set", run.get("param_set", "?"))
    minutes = sum(run.get("seconds", {}).values()) / 60
    built = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Image deblurring with CNNs: the course report, reproduced and measured", "",
             f"*Built {built} from the executed notebooks 01-05; parameter set `{param_set}`"
             + (f", {minutes:.0f} minutes of notebook time" if minutes else "") + ".*", ""]
    if Path(str(param_set)).stem == "ci":
        lines += ["> **A test build.** The `ci` parameter set trains for seconds on a handful of frames: "
                  "the numbers below check the workflow, they say nothing about the methods.", ""]
    cut = cut_runs(metrics)
    if cut:
        which = "; ".join(f"{m} at step {r['steps_done']:,} of {r['steps_asked']:,}" if r["steps_asked"] else
                          f"{m} at step {r['steps_done']:,}" for m, r in cut.items())
        lines += [f"> **Training stopped by the time cap** ({which}); these numbers are below the recipe's. "
                  "A larger `max_minutes` with `-p resume True` finishes the recipe from where it stopped.", ""]
    bound = machine_bound_runs(metrics)
    if bound:
        lines += [f"> **Trained with this CPU's own kernels or thread count** ({', '.join(bound)}): another "
                  "machine trains another model from the same recipe, and its numbers differ by about a seed's "
                  "spread. Leave `ONEDNN_MAX_CPU_ISA` and `MKL_CBWR` unset and `cpu_threads` at 2 for numbers "
                  "any x86 CPU reproduces (docs/results.md).", ""]
    missing = metrics.get("training_photos_missing") or []
    if missing:
        lines += [f"> **Trained without {len(missing)} of the recipe's training photos** ({', '.join(missing)}: "
                  "their Debian package was not found); these numbers are below the recipe's. "
                  "`make real-photos` unpacks it where apt-get exists; then rerun notebooks 01-04.", ""]
    lines += ["## Summary", "",
              "Sharp frames are blurred with the course's three Gaussian presets and restored; every method is "
              "graded with the course's metric (PSNR per uint8 image against the sharp frame, then the mean) on "
              f"a test split of {metrics.get('test_frames', '?')} frames per preset, from photos never trained on. "
              "*Doing nothing* (returning the blurred input) is the bar every method must clear; the classical "
              "methods are told the true kernel, the best learned model is not."]
    if best:
        params = f", {info['parameters']:,} parameters" if "parameters" in info else ""
        lines += ["", f"Best learned model: **{best}**{params}. Mean PSNR (dB) per preset:", "",
                  markdown_table(["preset", "doing nothing", "best classical, told the kernel", f"{best}",
                                  "gain over doing nothing (dB)", "gain over best classical (dB)"],
                                 headline_rows(metrics))]
        real = metrics.get("real_photos") or {}
        if best in real and "wiener" in real:
            n = real[best]["b"]["n_images"]
            lines += ["", f"On the **real-photo test set** ({n} frames of photographs downscaled from 1080p and more, "
                      "never trained or tuned on), with each blur's worst frame:", "",
                      tables.real_vs_wiener({"summary": real, "blurs": list(real[best]),
                                             "worst": metrics["worst_frames"]["real_photos"]}, best)]
        lines += one_blur_markdown(metrics, best)
    else:
        lines += ["", "No learned model was graded: run notebooks 02 and 03, then 04."]
    lines += ["", "## Contents", ""] + [f"{k}. {t}" for k, t in enumerate(chapters + ["Differences from the "
                                                                                     "original report"], 1)]
    return "\n".join(lines) + "\n"


# --- HTML --------------------------------------------------------------------------------------

PAGE_CSS = """
@page { size: A4; margin: 16mm 15mm 18mm 15mm;
        @bottom-center { content: counter(page) " / " counter(pages); font: 9pt sans-serif; color: #555; } }
html { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; font-size: 10pt; line-height: 1.4;
       color: #111; }
body { max-width: 180mm; margin: 0 auto; padding: 1em; box-sizing: border-box; }
@media print { body { max-width: none; padding: 0; } }
h1 { font-size: 17pt; margin: 0 0 0.4em; break-before: page; border-bottom: 2px solid #0072B2; }
body > div:first-child h1, .cell:first-child h1 { break-before: auto; }
h2 { font-size: 13pt; margin: 1.1em 0 0.3em; break-after: avoid; }
h3 { font-size: 11pt; break-after: avoid; }
p, li { orphans: 3; widows: 3; }
.text_cell { break-after: avoid; }  /* prose stays on the page of the figure or table it introduces */
a.anchor-link { display: none; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 8.5pt; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0.3em 0; }
.output_stdout pre, .output_text pre { color: #333; background: #f6f6f6; padding: 3px 6px; }
.input_area { background: #f7f7f9; border-left: 3px solid #56B4E9; padding: 2px 6px; margin: 0.4em 0; }
.prompt { display: none; }
img { max-width: 100%; height: auto; display: block; margin: 0.4em auto; break-inside: avoid; }
.output_png { break-inside: avoid; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 8pt; break-inside: avoid; }
th, td { border-bottom: 1px solid #ccc; padding: 2px 4px; text-align: left; vertical-align: top; }
th { border-bottom: 1.5px solid #333; background: #f0f4f8; }
td { overflow-wrap: break-word; }
td.n { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafafa; }
blockquote { margin: 0.6em 0; padding: 0.3em 0.8em; background: #FFF4E0; border-left: 4px solid #E69F00; }
"""


def render_page(body_html: str, title: str, extra_css: str = "") -> str:
    """A whole HTML page around nbconvert's cell HTML: inline CSS, no script, no external resource."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{PAGE_CSS}{extra_css}</style>\n</head>\n"
            f"<body>\n{body_html}\n</body>\n</html>\n")


def notebook_html(nb, show_code: bool) -> str:
    from nbconvert import HTMLExporter
    from pygments.formatters import HtmlFormatter

    exporter = HTMLExporter(template_name="basic", exclude_input=not show_code, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    # short cells (numbers, names) never wrap, so a table row stays one line on paper; long text cells do
    # long names may break after an underscore, so no table is wider than the page (Chromium would
    # shrink every page to fit the widest element)
    body = re.sub(r"<td>([^<]{1,24})</td>", r'<td class="n">\1</td>', body)
    body = re.sub(r"<(t[hd])>([^<]*)</t[hd]>",
                  lambda m: f"<{m[1]}>" + m[2].replace("_", "_<wbr>") + f"</{m[1]}>", body)
    css = HtmlFormatter(style="default").get_style_defs(".highlight") if show_code else ""
    return render_page(body, nb_title(nb), css)


# --- PDF ---------------------------------------------------------------------------------------

def find_chromium() -> str | None:
    """The Chrome/Chromium binary: $DEBLUR_CHROMIUM, else the first of CHROMIUM_NAMES on PATH."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        if not (Path(given).is_file() and os.access(given, os.X_OK)):
            raise FileNotFoundError(f"{CHROMIUM_ENV}={given} is not an executable file; unset it or point it "
                                    f"at a Chrome/Chromium binary")
        return given
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def print_pdf(html_path: Path, pdf_path: Path, chromium: str, timeout_s: float = 300) -> Path:
    """Headless Chromium prints ``html_path`` to ``pdf_path`` (A4, from the page's CSS), offline: every
    host name resolves to nothing, and no profile, sync or update traffic."""
    with tempfile.TemporaryDirectory(prefix="deblur-chromium-") as profile, \
            replacing(pdf_path, suffix=".pdf") as tmp:
        cmd = [chromium, "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
               "--no-pdf-header-footer", "--generate-pdf-document-outline", f"--print-to-pdf={tmp}",
               Path(html_path).resolve().as_uri()]
        if os.name == "posix" and os.geteuid() == 0:
            cmd.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{chromium} did not finish printing {html_path} to PDF within {timeout_s:.0f} s; "
                               f"reports/report.html is complete; rerun with --no-pdf to skip the PDF") from None
        if proc.returncode != 0 or tmp.stat().st_size == 0 or tmp.read_bytes()[:5] != b"%PDF-":
            tail = "\n".join((proc.stderr or "").strip().splitlines()[-8:])
            raise RuntimeError(f"{chromium} could not print {html_path} to {pdf_path} (exit {proc.returncode}):\n"
                               f"{tail}\nreports/report.html is complete; rerun with --no-pdf to skip the PDF")
    return pdf_path


# --- the whole build ---------------------------------------------------------------------------

def build_report(reports_dir: Path | None = None, show_code: bool = False, pdf: bool = True,
                 log=print) -> dict:
    """Write reports/report.html (and report.pdf when Chromium is there); returns their paths (pdf None
    when skipped). ``show_code`` writes report_with_code.html/.pdf instead, code cells shown."""
    reports_dir = Path(reports_dir or paths.reports_dir())
    stem = "report_with_code" if show_code else "report"
    nb = combined_notebook(reports_dir, show_code)
    html_path = reports_dir / f"{stem}.html"
    write_text(html_path, notebook_html(nb, show_code))
    log(f"   report -> {html_path}")
    result = {"html": html_path, "pdf": None}
    if not pdf:
        return result
    chromium = find_chromium()
    if chromium is None:
        log(f"   PDF skipped: no Chrome/Chromium found (looked for {', '.join(CHROMIUM_NAMES)} on PATH); "
            f"{INSTALL_HINT}. The HTML is complete without it.")
        return result
    result["pdf"] = print_pdf(html_path, reports_dir / f"{stem}.pdf", chromium)
    log(f"   report -> {result['pdf']}")
    return result
