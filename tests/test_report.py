"""The report end to end in the CI configuration, the way `make report` makes it: notebooks 01-05
executed by papermill (once per session, shared by every test here), then reports/report.html and
report.pdf. The PDF is read back with pdftotext: its chapters start pages in the promised order and
its results table carries exactly the numbers of metrics.json. The HTML fetches nothing.

The PDF tests need Chromium and poppler-utils (`make env` installs them as root); without them they
skip, unless DEBLUR_REQUIRE_PDF=1 (set by .ci/run) makes the absence a failure.
"""
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pytest

from deblur_utils import cli
from deblur_utils.report import export, runner
from deblur_utils.runtime.paths import NOTEBOOKS, notebooks_dir
from deblur_utils.steps.records import graded_learned

FIGURES = {"01_kernels", "01_blur_examples", "02_training_curves", "03_small_models_curves", "03_told_blur_curves",
           "04_psnr_bars", "04_psnr_vs_sigma", "05_qualitative_a", "05_qualitative_b", "05_qualitative_c",
           "05_failure_srcnn_faithful"}


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory):
    """A work directory in which notebooks 01-05 ran in the CI configuration (papermill, like `make report`)."""
    work = tmp_path_factory.mktemp("report-work")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEBLUR_WORKDIR", str(work))
        mp.setenv("DEBLUR_PARAMS", "ci")
        runner.run_report("ci", html=False, log=lambda *a: None)
    return work


def _pdf_tools_or_skip():
    chromium, pdftotext = export.find_chromium(), shutil.which("pdftotext")
    if chromium and pdftotext:
        return
    why = ("no Chrome/Chromium" if not chromium else "no pdftotext") + \
        "; install them with `sudo apt-get install chromium poppler-utils` (or `make env` as root)"
    if os.environ.get("DEBLUR_REQUIRE_PDF") == "1":
        pytest.fail(f"DEBLUR_REQUIRE_PDF=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def built(ci_run):
    """report.html, and report.pdf where Chromium is installed, built from the CI run."""
    has_pdf = export.find_chromium() is not None
    result = export.build_report(ci_run / "reports", pdf=has_pdf, log=lambda *a: None)
    metrics = json.loads((ci_run / "reports" / "metrics.json").read_text())
    return result, metrics


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_runs_end_to_end_without_an_error_output(ci_run, name):
    nb = nbformat.read(ci_run / "reports" / f"{name}.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])), \
        f"{name} shows no figure"


def test_the_notebooks_write_every_figure_of_the_report(ci_run):
    assert FIGURES <= {p.stem for p in (ci_run / "figures").glob("*.png")}


class _Resources(HTMLParser):
    """Every URL the page could load: src/href/srcset/data/poster attributes, CSS url() and @import."""

    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self.images, self._style = [], 0, [], False

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self._style = tag == "style"
        for key, value in attrs:
            if key in ("src", "href", "srcset", "data", "poster", "action", "xlink:href") and value:
                self.urls.append(value)
            if key == "style" and value:
                self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", value)
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))

    def handle_data(self, data):
        if self._style:
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data)
            self.urls += re.findall(r"@import\s+['\"]?([^'\";]+)", data)

    def handle_endtag(self, tag):
        self._style = False if tag == "style" else self._style


def test_html_is_self_contained_no_script_no_external_url(built):
    (result, metrics) = built
    page = _Resources()
    page.feed(result["html"].read_text(encoding="utf-8"))
    external = [u for u in page.urls if re.match(r"\s*(https?:|ftp:|//|file:)", u, re.I)]
    assert external == []
    assert page.scripts == 0
    assert len(page.images) >= len(FIGURES) and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert all(u.startswith(("#", "data:")) for u in page.urls), [u for u in page.urls if not u.startswith("#")][:5]


def test_html_hides_code_by_default_and_shows_it_on_request(built, ci_run):
    (result, _) = built
    def text(path):  # highlighted code is split into spans
        return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))

    assert "evaluate.evaluate(P)" not in text(result["html"])
    with_code = export.build_report(ci_run / "reports", show_code=True, pdf=False, log=lambda *a: None)
    assert with_code["html"].name == "report_with_code.html"
    assert "metrics = evaluate.evaluate(P)" in text(with_code["html"])


def _pdf_pages(pdf: Path, layout: bool) -> list[str]:
    args = ["pdftotext", "-enc", "UTF-8"] + (["-layout"] if layout else []) + [str(pdf), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split("\f")


def _first_line(page: str) -> str:
    return next((" ".join(line.split()) for line in page.splitlines() if line.strip()), "")


def test_pdf_chapters_start_pages_in_the_readers_order(built):
    _pdf_tools_or_skip()
    (result, _) = built
    pages = _pdf_pages(result["pdf"], layout=False)
    titles = [export.nb_title(nbformat.read(notebooks_dir() / f"{n}.ipynb", as_version=4)) for n in NOTEBOOKS]
    chapters = ["Image deblurring with CNNs"] + titles + ["Differences from the original report"]
    firsts = [_first_line(p) for p in pages]
    starts = [next((i for i, f in enumerate(firsts) if f.startswith(t[:40])), None) for t in chapters]
    assert None not in starts, dict(zip(chapters, starts))
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    text = " ".join(" ".join(pages[starts[1]:]).split())  # from chapter 01 on (not the contents list)
    at, found = 0, {}
    for heading in ["The three blurs", "The split, by sequence", "Parameter counts", "Training curves",
                    "How each method was configured", "Between and around the presets", "Failure analysis",
                    "Differences from the original report"]:
        at = text.find(heading, at)
        found[heading] = at
        assert at >= 0, f"{heading!r} missing or out of order: {found}"


PAIR = re.compile(r"(-?\d+\.\d+|inf)(?: \(\d+ inf\))? / (\d\.\d{3})")


def _rows(chapter: str) -> dict:
    """Results-table rows as {method: [(psnr, ssim), ...]}: 'name  72.41 / 1.000  30.48 / 0.904 ...'.
    A long name may wrap after an underscore; its rest is then alone on the next line."""
    lines, rows = chapter.splitlines(), {}
    for i, line in enumerate(lines):
        pairs = PAIR.findall(line)
        if len(pairs) < 2:
            continue
        name = line.split()[0]
        rest = lines[i + 1].split() if i + 1 < len(lines) else []
        if name.endswith("_") and rest and not PAIR.findall(lines[i + 1]):
            name += rest[0]
        rows.setdefault(name, [(float(p), float(q)) for p, q in pairs])
    return rows


def test_pdf_results_table_carries_the_numbers_of_metrics_json(built):
    _pdf_tools_or_skip()
    (result, metrics) = built
    pages = _pdf_pages(result["pdf"], layout=True)
    first = [_first_line(p) for p in pages]
    start = next(i for i, f in enumerate(first) if f.startswith("04 · PSNR"))
    end = next(i for i, f in enumerate(first) if f.startswith("05 · What"))
    chapter, text = "\n".join(pages[start:end]), "\n".join(pages)
    columns = list(metrics["presets"]) + ["all"]
    assert set(metrics["methods"]) >= {"identity", "wiener", "ours_blind_wiener"}
    rows = _rows(chapter)
    assert set(rows) == set(metrics["methods"]), rows.keys()
    for method, per in metrics["methods"].items():
        cells = rows[method]
        assert len(cells) == len(columns), (method, cells)
        for (psnr, ssim), col in zip(cells, columns):
            assert psnr == pytest.approx(per[col]["psnr_db"], abs=0.005 + 1e-9), (method, col)
            assert ssim == pytest.approx(per[col]["ssim"], abs=0.0005 + 1e-9), (method, col)
    # the title page's headline: doing nothing and the best learned model, preset by preset
    title = text[:text.index("Contents")]
    best = metrics["best_method"]
    for preset in metrics["presets"]:
        line = next(ln for ln in title.splitlines() if re.match(rf"\s*{preset}\s{{2,}}\d", ln))
        numbers = [float(x) for x in re.findall(r"[-+]?\d+\.\d+", line)]
        ident, ours = metrics["methods"]["identity"][preset]["psnr_db"], metrics["methods"][best][preset]["psnr_db"]
        assert numbers[0] == pytest.approx(ident, abs=0.005) and numbers[2] == pytest.approx(ours, abs=0.005)
        assert numbers[3] == pytest.approx(ours - ident, abs=0.01)


def test_without_chromium_the_html_is_still_built_and_the_message_says_what_to_install(ci_run, tmp_path,
                                                                                         monkeypatch, capsys):
    reports = tmp_path / "work" / "reports"
    reports.mkdir(parents=True)
    for f in [*(ci_run / "reports").glob("0*.ipynb"), ci_run / "reports" / "metrics.json"]:
        shutil.copy(f, reports)
    monkeypatch.setattr(export, "find_chromium", lambda: None)
    assert cli.main(["report", "--build-only"]) == 0
    out = capsys.readouterr().out
    assert (reports / "report.html").stat().st_size > 0 and not (reports / "report.pdf").exists()
    assert "PDF skipped" in out and "apt-get install chromium" in out


def test_a_missing_executed_notebook_is_named_with_the_command_that_makes_it(ci_run, tmp_path, capsys):
    reports = tmp_path / "work" / "reports"
    reports.mkdir(parents=True)
    for f in [*(ci_run / "reports").glob("0*.ipynb"), ci_run / "reports" / "metrics.json"]:
        if not f.name.startswith("03"):
            shutil.copy(f, reports)
    assert cli.main(["report", "--build-only", "--no-pdf"]) == 2
    err = capsys.readouterr().err
    assert "03_per_blur_small_models.ipynb missing" in err and "report --only 03" in err


def test_the_real_photo_chapter_grades_every_method_or_says_why_not(ci_run):
    """Where the real-photo test set was unpacked (`make real-photos`), notebook 04 grades every method
    at a, b, c and 7x7 sigma 1.2, draws each frame's gain, and metrics.json carries the table; where
    it was not, notebook 04 says it skipped the chapter."""
    from deblur_utils.data import real_photos

    metrics = json.loads((ci_run / "reports" / "metrics.json").read_text())
    nb = nbformat.read(ci_run / "reports" / "04_psnr_eval.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    if not any((real_photos.external_dir() / p.package).exists() for p in real_photos.PHOTOS):
        assert "no real-photo test set here" in printed and "real_photos" not in metrics
        pytest.skip("the real-photo packages are not unpacked here (`make real-photos`)")
    real = metrics["real_photos"]
    learned = graded_learned(metrics)
    assert set(real) == {"identity", "wiener", *learned, "ours_blind_wiener_true_sigma", "ours_blind_wiener_one_blur"}
    for method, per in real.items():
        assert set(per) == {"a", "b", "c", "s1.2"}, method
        assert all(set(e) == {"psnr_db", "ssim", "n_images", "n_infinite"} for e in per.values())
        assert all(e["n_images"] == per["a"]["n_images"] > 0 for e in per.values())
    worst = metrics["worst_frames"]["real_photos"]
    assert all(w["worst_gain_db"] == 0 and w["frames_harmed"] == 0 for w in worst["identity"].values())
    per_frame = json.loads((ci_run / "reports" / "real_photos.json").read_text())["per_frame"]
    ident = per_frame["identity"]["c"]
    assert real["identity"]["c"]["psnr_db"] == pytest.approx(float(np.mean(ident)))
    assert {"01_real_photos", "04_real_photos_gain"} <= {p.stem for p in (ci_run / "figures").glob("*.png")}
    manifest = json.loads((ci_run / "data" / "processed" / "manifest.json").read_text())
    assert all(e["licence"] and e["version"] and e["package"] for e in manifest["real_photo_test_set"])
    test_names = {e["photo"] for e in manifest["real_photo_test_set"]}
    assert not test_names & {e["photo"] for e in manifest["real_photo_validation_set"] or []}


def test_recipe_cost_says_where_notebook_04s_minutes_go(ci_run, monkeypatch, capsys):
    """benchmarks/recipe_cost.py on the run's files: minutes per notebook, and the seconds of every method
    notebook 04 graded, on the test split, the sigma sweep and (where unpacked) the real photos."""
    from test_benchmarks import load_script

    recipe_cost = load_script("recipe_cost")
    monkeypatch.setenv("DEBLUR_WORKDIR", str(ci_run))
    out = recipe_cost.main(["--param-set", "ci"])
    printed = capsys.readouterr().out
    metrics = json.loads((ci_run / "reports" / "metrics.json").read_text())
    sweep = json.loads((ci_run / "reports" / "sigma_sweep.json").read_text())
    parts = out["grading_seconds"]
    assert set(parts["test split"]) == set(metrics["methods"]) and set(parts["sigma sweep"]) == set(sweep["methods"])
    assert ("real photos" in parts) == ("real_photos" in metrics)
    if "real_photos" in metrics:
        assert set(parts["real photos"]) == set(metrics["real_photos"])
    assert all(v >= 0 for per in parts.values() for v in per.values())
    assert all(per["ours_blind_wiener"] > 0 for per in parts.values())  # a model's pass takes measurable time
    assert set(out["notebook_seconds"]) == set(NOTEBOOKS)
    table = printed.split("notebook 04, seconds per method")[1]
    lines = [line for line in table.splitlines() if line.startswith("| ")][1:]  # the header apart (the rule is "|---")
    assert {line.split(" | ")[0][2:] for line in lines[:-1]} == set().union(*parts.values())
    totals = [float(line.rstrip(" |").split(" | ")[-1]) for line in lines]
    assert totals[:-1] == sorted(totals[:-1], reverse=True)  # the slowest first
    assert totals[-1] == pytest.approx(sum(totals[:-1]), abs=0.05 * len(totals))
