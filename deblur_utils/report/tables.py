"""Tables for the report, as Markdown, built from metrics.json, the grading loop's rows and run summaries
(never typed by hand): notebook 04, the title page and the benchmarks read them from here."""
from __future__ import annotations

from ..evaluation.classical import CLASSICAL
from ..evaluation.metrics import describe


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def fmt_psnr(entry) -> str:
    return describe(entry, short=True) if entry else "n/a"


def best_classical(methods: dict, preset: str) -> str | None:
    """The classical method (told the true kernel) with the highest mean PSNR at ``preset``."""
    graded = [m for m in CLASSICAL if (methods.get(m, {}).get(preset) or {}).get("psnr_db") is not None]
    return max(graded, key=lambda m: methods[m][preset]["psnr_db"]) if graded else None


def gains(methods: dict, presets, worst: dict | None = None) -> list[dict]:
    """Per method and preset: PSNR, SSIM, the gain over doing nothing, the gain over the best classical
    method (and which), and the worst frame's gain over doing nothing. The one place these are computed:
    the title page, notebook 04 and ``benchmarks/quality.py`` read them from here."""
    ident = methods.get("identity", {})
    rows = []
    for name, per in methods.items():
        for p in presets:
            e = per.get(p) or {}
            v = e.get("psnr_db")
            if v is None:
                continue
            top = best_classical(methods, p)
            i = (ident.get(p) or {}).get("psnr_db")
            rows.append({"method": name, "preset": p, "psnr_db": v, "ssim": e.get("ssim"),
                         "gain_vs_identity_db": None if i is None else v - i,
                         "best_classical": top,
                         "gain_vs_best_classical_db": None if top is None else v - methods[top][p]["psnr_db"],
                         "worst_frame_gain_db": (worst or {}).get(name, {}).get(p, {}).get("worst_gain_db")})
    return rows


def signed(v) -> str:
    return "n/a" if v is None else f"{v:+.2f}"


def best_model_table(metrics: dict) -> str:
    """Notebook 04's verdict: the best learned model per preset against doing nothing and the best
    classical method."""
    best = metrics["best_method"]
    rows = [[g["preset"], f"{g['psnr_db']:.2f}", signed(g["gain_vs_identity_db"]),
             "n/a" if g["best_classical"] is None else
             f"{g['best_classical']} {metrics['methods'][g['best_classical']][g['preset']]['psnr_db']:.2f}",
             signed(g["gain_vs_best_classical_db"])]
            for g in gains({k: v for k, v in metrics["methods"].items() if k in ("identity", best, *CLASSICAL)},
                           metrics["presets"]) if g["method"] == best]
    return markdown_table(["preset", "PSNR (dB)", "vs doing nothing", "best classical", "vs best classical"], rows)


def configuration_table(metrics: dict) -> str:
    """How each method of notebook 04 ran: the classical knobs chosen on validation frames (and a
    warning at the grid's edge), each learned model's size, training time and steps."""
    rows = []
    for name, i in metrics["method_info"].items():
        kind = i.get("kind")
        if kind == "classical":
            knob = "balance" if "balance" in i else "num_iter"
            how = f"{knob} per preset {i[knob]}, chosen on {i['tuned_on']}"
            if i.get("at_grid_edge"):
                how += f"; at the edge of the grid for {i['at_grid_edge']}: widen it (wiener_balances / rl_iterations)"
        elif kind == "learned" and "model" in i:
            how = (f"{i['model']} {i['model_kwargs']}, {i['parameters']:,} parameters, trained {i['train_minutes']} "
                   f"min, {how_far(i, metrics.get('training', {}).get(name))}")
        else:
            how = i.get("description", "")
        if i.get("missing"):
            how += f"; checkpoint(s) gone since training: {', '.join(i['missing'])} (rerun 02/03)"
        if i.get("not_graded"):
            how += f"; not graded: {i['not_graded']}"
        rows.append([name, how])
    return markdown_table(["method", "configuration"], rows)


def sweep_table(sweep: dict) -> str:
    """PSNR against sigma (notebook 04's robustness sweep), one column per method."""
    names = sweep["methods"]
    return markdown_table(["sigma", "kernel"] + names,
                          [[f"{r['sigma']:.1f}", r["kernel_size"]] + ["n/a" if r[n] is None else f"{r[n]:.2f}"
                                                                       for n in names] for r in sweep["rows"]])


def results_table(metrics: dict, columns=None) -> str:
    """Methods x presets: mean PSNR dB / SSIM, with the gain over doing nothing on the 'all' column."""
    columns = columns or list(metrics["presets"]) + ["all"]
    ident = metrics["methods"].get("identity", {})
    rows = []
    for name, per in metrics["methods"].items():
        cells = []
        for c in columns:
            e = per.get(c)
            cell = fmt_psnr(e) + (f" / {e['ssim']:.3f}" if e and e.get("ssim") is not None else "")
            cells.append(cell)
        gain = ""
        if name != "identity" and per.get("all", {}).get("psnr_db") and ident.get("all", {}).get("psnr_db"):
            gain = f"{per['all']['psnr_db'] - ident['all']['psnr_db']:+.2f}"
        info = metrics.get("method_info", {}).get(name, {})
        params = f"{info['parameters']:,}" if "parameters" in info else "-"
        rows.append([name] + cells + [gain, params, _minutes(info)])
    headers = (["method"] + [f"{c}: PSNR dB / SSIM" for c in columns] +
               ["all vs identity (dB)", "parameters", "training (min)"])
    return markdown_table(headers, rows)


def _minutes(info) -> str:
    """Training minutes: one number when every preset shares a checkpoint, else the per-preset runs' total."""
    per_preset = info.get("train_minutes")
    if not per_preset:
        return "-"
    values = list(per_preset.values())
    if len(set(info.get("checkpoint", {}).values())) <= 1:
        return f"{values[0]:.1f}"
    return f"{sum(values):.1f} ({len(values)} runs)"


def how_far(info, record=None) -> str:
    """How far a learned method's training got, e.g. '768 of 768 steps' or, when the time cap cut it,
    '412 of 768 steps (stopped by the time cap)'; ``record`` is its entry of metrics.json's "training"."""
    if record and record.get("steps_asked"):
        text = f"{record['steps_done']:,} of {record['steps_asked']:,} steps"
        if record.get("runs"):
            text += f" in {len(record['runs'])} runs"
        return text + {"steps": "", "max_minutes": " (stopped by the time cap)",
                       "interrupted": " (interrupted)"}.get(record["stopped_by"], f" ({record['stopped_by']})")
    steps = info.get("steps") or {}
    return "; ".join(f"{p}: {n:,} steps" for p, n in steps.items()) if len(set(steps.values())) > 1 else \
        (f"{next(iter(steps.values())):,} steps" if steps else "")


def runs_table(summaries) -> str:
    rows = []
    for s in summaries:
        best = s.get("best_val_psnr_db")
        rows.append([s["run_dir"].rsplit("/", 1)[-1], s["model"], f"{s['parameters']:,}", s["device"],
                     f"{s['steps']:,}", f"{s['epochs_done']}/{s['epochs_asked']}", f"{s['minutes']:.1f}",
                     s["stopped_by"], "n/a" if best is None else f"{best:.2f}"])
    return markdown_table(["run", "model", "parameters", "device", "steps", "epochs", "minutes", "stopped by",
                           "best val PSNR (dB)"], rows)


def real_photos_table(real: dict, methods=None) -> str:
    """The real-photo test set: per blur, mean PSNR, the gain over doing nothing, and the worst frame's gain
    (an identical frame counts as 100 dB), for every method graded on it."""
    summary = real["summary"]
    ident = summary["identity"]
    rows = []
    for name in methods or summary:
        cells = []
        for b in real["blurs"]:
            e = summary[name].get(b)
            if e is None:
                cells.append("n/a")
                continue
            text = fmt_psnr(e)
            if name != "identity" and e["psnr_db"] is not None and ident[b]["psnr_db"] is not None:
                text += f" ({e['psnr_db'] - ident[b]['psnr_db']:+.2f}; worst {real['worst'][name][b]['worst_gain_db']:+.2f})"
            cells.append(text)
        rows.append([name] + cells)
    return markdown_table(["method"] + [f"{b}: PSNR dB (vs nothing; worst frame)" for b in real["blurs"]], rows)


def real_vs_wiener(real: dict, method: str) -> str:
    """One method against doing nothing and the true-kernel Wiener filter per blur, with its worst frame
    (``real``: {"blurs", "summary", "worst"}, as reports/real_photos.json holds them)."""
    s = real["summary"]
    rows = []
    for b in real["blurs"]:
        m, i, w, bad = s[method][b], s["identity"][b], s["wiener"][b], real["worst"][method][b]
        rows.append([b, fmt_psnr(i), fmt_psnr(w), fmt_psnr(m), _diff(m, i), _diff(m, w),
                     f"{bad['worst_gain_db']:+.2f} ({bad['worst_frame']})", bad["frames_harmed"]])
    return markdown_table(["blur", "doing nothing", "Wiener, true kernel", method, "vs doing nothing",
                           "vs Wiener", "worst frame vs doing nothing", "frames > 0.5 dB below"], rows)


def _diff(a, b) -> str:
    if a.get("psnr_db") is None or b.get("psnr_db") is None:
        return "n/a"
    return f"{a['psnr_db'] - b['psnr_db']:+.2f}"
