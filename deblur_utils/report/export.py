"""One report from the executed notebooks: ``reports/report.html`` (self-contained) and ``report.pdf``.

The executed copies of 01-05 (written by ``runner.run_report``) are joined in order behind a title
page whose summary and headline table are built from ``reports/metrics.json`` (``title``); the
chapter "Differences from the original report" (``differences.md`` beside this module) closes it. Code cells are hidden unless ``show_code``
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
import html
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from pygments.formatters import HtmlFormatter

from ..runtime import paths
from ..runtime.atomic import replacing, write_text
from ..steps.records import load_metrics
from .plots import STYLE
from .title import title_markdown

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "DEBLUR_CHROMIUM"  # a path to a Chrome/Chromium binary, where it is not on PATH
INSTALL_HINT = ("install Chromium for the PDF: `sudo apt-get install chromium` (Debian/Ubuntu; `make env` does "
                f"it when run as root), or set {CHROMIUM_ENV} to a Chrome/Chromium binary")
DIFFERENCES = Path(__file__).resolve().parent / "differences.md"
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


def combined_notebook(reports_dir: Path, show_code: bool = False):
    """Title page, then the cells of 01-05 (reader outputs only), then the differences chapter."""
    try:
        metrics = load_metrics(reports_dir / "metrics.json")
    except FileNotFoundError as err:
        raise FileNotFoundError(f"cannot build the report: {err}") from None
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
    out.cells.append(nbformat.v4.new_markdown_cell(differences_markdown()))
    return out


def nb_title(nb) -> str:
    """The notebook's first level-1 heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "(untitled notebook)"


def differences_markdown(path: Path = DIFFERENCES) -> str:
    """The report's last chapter: where this reproduction departs from the course report, and why
    (``differences.md`` beside this module, its one source)."""
    return path.read_text(encoding="utf-8").rstrip() + "\n"


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
