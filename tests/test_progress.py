"""What `make report` shows of a training run: read from the progress.json the run writes as it trains."""
import json
import os
import time

from helpers import tiny

from deblur_utils.report import runner as report
from deblur_utils.training.loop import train


def test_a_run_writes_its_progress_and_the_watch_reads_the_newest(processed, tmp_path):
    runs = tmp_path / "runs"
    with report.TrainingWatch(runs, enabled=False) as watch:
        assert watch.latest() is None
        train(tiny(epochs=2), processed, runs / "first", progress=False)
        last = json.loads((runs / "first" / "progress.json").read_text())
        assert (last["run"], last["step"], last["steps_asked"], last["done"]) == ("first", 16, 16, True)
        (runs / "second").mkdir()
        (runs / "second" / "progress.json").write_text(json.dumps(
            {"run": "second", "step": 10, "steps_asked": 40, "loss": -30.0, "minutes": 1.0, "done": False}))
        future = time.time() + 5
        os.utime(runs / "second" / "progress.json", (future, future))
        assert watch.latest()["run"] == "second"
    assert report.describe_progress(watch.latest()) == "loss -30, 3.0 min left"  # 30 steps at 0.1 min each
    assert report.describe_progress(last).startswith("done in ")
