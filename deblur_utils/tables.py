"""Tables for the report, as Markdown, built from metrics.json and run summaries (never typed by hand)."""
from __future__ import annotations

from .metrics import describe


def markdown_table(headers, rows) -> str:
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def fmt_psnr(entry) -> str:
    return describe(entry, short=True) if entry else "n/a"


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


def how_far(info) -> str:
    """How far a learned method's training got, e.g. '1,195 steps, 5/1000 epochs (stopped by the time budget)'."""
    out = []
    for preset, steps in (info.get("steps") or {}).items():
        done, asked = info["epochs_done"][preset], info.get("epochs_asked", {}).get(preset)
        text = f"{steps:,} steps, {done}/{asked or '?'} epochs" + (" (stopped by the time budget)"
                                                                  if asked and done < asked else "")
        out.append(text)
    if len(set(out)) == 1:
        return out[0]
    return "; ".join(f"{p}: {t}" for p, t in zip(info["steps"], out))


def runs_table(summaries) -> str:
    rows = []
    for s in summaries:
        best = s.get("best_val_psnr_db")
        rows.append([s["run_dir"].rsplit("/", 1)[-1], s["model"], f"{s['parameters']:,}", s["device"],
                     f"{s['steps']:,}", f"{s['epochs_done']}/{s['epochs_asked']}", f"{s['minutes']:.1f}",
                     s["stopped_by"], "n/a" if best is None else f"{best:.2f}"])
    return markdown_table(["run", "model", "parameters", "device", "steps", "epochs", "minutes", "stopped by",
                           "best val PSNR (dB)"], rows)
