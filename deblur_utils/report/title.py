"""The report's title page: its summary, the headline tables and the warnings a reader must see first
(a run the time cap cut, a model trained with this CPU's own kernels, training photos missing), every
number from reports/metrics.json."""
from __future__ import annotations

import datetime
from pathlib import Path

from ..steps.records import cut_runs, machine_bound_runs
from .tables import best_classical, fmt_psnr, gains, markdown_table, real_vs_wiener, signed


def headline_rows(metrics: dict, method: str | None = None) -> list[list[str]]:
    """Per preset: doing nothing, the best classical method, ``method`` (default: the best learned one),
    and the two gains."""
    methods, best = metrics["methods"], method or metrics.get("best_method")
    rows = []
    for p in list(metrics["presets"]) + ["all"]:
        top = best_classical(methods, p)
        g = next((g for g in gains(methods, [p]) if g["method"] == best), {}) if best else {}
        rows.append([p, fmt_psnr(methods.get("identity", {}).get(p)), f"{fmt_psnr(methods[top][p])} ({top})" if top else "n/a",
                     fmt_psnr(methods.get(best, {}).get(p)) if best else "n/a",
                     signed(g.get("gain_vs_identity_db")), signed(g.get("gain_vs_best_classical_db"))])
    return rows


def one_blur_markdown(metrics: dict, best: str) -> list[str]:
    """The title page's lines for ``best``'s one-blur row (notebook 04 grades it when ``best`` is a
    blind Wiener network): the same checkpoint given one sigma per set, which is what a folder that
    shares one blur (each preset's, the course's grading set) allows; none without that row."""
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
                  real_vs_wiener({"summary": real, "blurs": list(real[one]),
                                         "worst": metrics["worst_frames"]["real_photos"]}, one)]
    return lines


def title_markdown(metrics: dict, run: dict, chapters: list[str]) -> str:
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
                      real_vs_wiener({"summary": real, "blurs": list(real[best]),
                                             "worst": metrics["worst_frames"]["real_photos"]}, best)]
        lines += one_blur_markdown(metrics, best)
    else:
        lines += ["", "No learned model was graded: run notebooks 02 and 03, then 04."]
    lines += ["", "## Contents", ""] + [f"{k}. {t}" for k, t in enumerate(chapters + ["Differences from the "
                                                                                     "original report"], 1)]
    return "\n".join(lines) + "\n"
