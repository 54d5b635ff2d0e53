"""The scaling measurement: its report section, the settings it refuses, and reuse of an earlier
measurement. (The three training runs themselves run in notebook 02 inside tests/test_report.py.)"""
import json

import pytest

from deblur_utils.steps import scaling


def measured(settings):
    rows = [{"config": "1 x 1", "processes": 1, "train_images_per_second": 20.0},
            {"config": "1 x 2", "processes": 1, "train_images_per_second": 25.0},
            {"config": "2 x 1 (torchrun)", "processes": 2, "train_images_per_second": 35.0}]
    return {"date": "2026-11-28 02:00 UTC", "cpu_count": 2, "load_average_1min_after": 1.5,
            "settings": settings, "rows": rows, "scaling_ratio": 1.4}


SETTINGS = {"nproc": 2, "device": "cpu", "model": "srcnn", "width": 64, "crop_size": 96, "batch_size": 8,
            "images": 64}


def test_the_section_shows_the_measurement_or_how_to_measure_it(tmp_path):
    path = tmp_path / "reports" / "scaling.json"
    hint = scaling.section(path)
    assert "Not measured" in hint and "reports/scaling.json" in hint and str(tmp_path) not in hint
    path.parent.mkdir()
    path.write_text(json.dumps(measured(SETTINGS)))
    text = scaling.section(path)
    assert "| 2 x 1 (torchrun) | 35.0 | 1.75x |" in text and "**1.40x**" in text and "load average 1.5" in text


def test_an_earlier_measurement_with_the_same_settings_is_reused_and_other_settings_are_measured(tmp_path, monkeypatch):
    path = tmp_path / "scaling.json"
    path.write_text(json.dumps(measured(SETTINGS)))
    calls = []
    monkeypatch.setattr(scaling, "_run", lambda label, n, *a: calls.append(label) or
                        {"config": label, "processes": n, "train_images_per_second": 10.0 * n})
    kw = {k: v for k, v in SETTINGS.items() if k != "crop_size"}
    assert scaling.measure(tmp_path, path, crop_size=96, echo=lambda *_: None, **kw)["scaling_ratio"] == 1.4
    assert calls == []
    again = scaling.measure(tmp_path, path, crop_size=48, echo=lambda *_: None, **kw)
    assert calls == ["1 x 1", "1 x 2", "2 x 1 (torchrun)"] and again["scaling_ratio"] == 2.0
    assert json.loads(path.read_text())["settings"]["crop_size"] == 48


@pytest.mark.parametrize("kw,message", [({"nproc": 1}, "1 process against N >= 2"),
                                        ({"images": 40}, "multiple of nproc x batch_size")])
def test_settings_that_cannot_compare_are_refused(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        scaling.measure(tmp_path, tmp_path / "s.json", **{"images": 64, **kw})
