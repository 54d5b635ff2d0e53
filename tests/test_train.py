"""Training: it learns, budgets stop it cleanly, checkpoints are safe and resume exactly."""
import json

import numpy as np
import pytest
import torch
from helpers import blind_tiny, tiny

from deblur_utils.networks.registry import build_model
from deblur_utils.training import checkpoint as checkpoint_mod
from deblur_utils.training import config as config_mod
from deblur_utils.training import inference as inference_mod
from deblur_utils.training import loop as training_loop
from deblur_utils.training.checkpoint import load_checkpoint, model_from_checkpoint
from deblur_utils.training.config import TrainConfig, pick_device
from deblur_utils.training.loop import train


def test_training_lowers_the_loss_and_writes_the_run(processed, tmp_path):
    s = train(tiny(epochs=6), processed, tmp_path / "run", progress=False)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(hist) == 6 and s["stopped_by"] == "steps" and s["steps"] == s["steps_asked"] == 6 * 8
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    for f in ("best.pt", "last.pt", "config.json", "summary.json"):
        assert (tmp_path / "run" / f).exists()


def test_checkpoint_reloads_to_the_same_outputs(processed, tmp_path):
    train(tiny(ema_decay=0.9), processed, tmp_path / "run", progress=False)
    model, ckpt = model_from_checkpoint(tmp_path / "run" / "best.pt")
    raw = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    x = torch.rand(1, 3, 24, 24)
    ref = build_model("resnet", width=8, blocks=1)
    ref.load_state_dict(raw["weights"])
    assert torch.equal(model(x), ref.eval()(x))
    assert ckpt["parameters"] == sum(p.numel() for p in model.parameters())


def test_time_budget_stops_cleanly_and_saves(processed, tmp_path):
    s = train(tiny(epochs=10_000, max_minutes=0.05), processed, tmp_path / "run", progress=False)
    assert s["stopped_by"] == "max_minutes" and s["epochs_done"] < 10_000 and s["steps"] < s["steps_asked"]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == s["epochs_done"]


def test_the_first_validation_counts_inside_the_budget(processed, tmp_path, monkeypatch):
    """A validation estimated to outlast the cap leaves no time to train: the run stops before its first
    step instead of validating minutes past its budget; the estimate is measured, not assumed."""
    model = build_model("resnet", width=8, blocks=1)
    from deblur_utils.data.cache import load_cached
    val = load_cached(processed, "val", ["a", "b", "c"], 1)
    assert 0 < inference_mod.validation_seconds(model, val, ["a", "b", "c"], torch.device("cpu")) < 60
    monkeypatch.setattr(training_loop, "validation_seconds", lambda *a, **k: 3600.0)
    s = train(tiny(epochs=2, max_minutes=30), processed, tmp_path / "run", progress=False)
    assert (s["steps"], s["stopped_by"]) == (0, "max_minutes")
    assert load_checkpoint(tmp_path / "run" / "best.pt")["step"] == 0  # the untrained weights, to grade
    s = train(tiny(epochs=2, max_minutes=None), processed, tmp_path / "run2", progress=False)
    assert (s["steps"], s["stopped_by"]) == (16, "steps")  # no cap: no estimate needed


def test_resume_continues_to_the_same_weights_bit_for_bit(processed, tmp_path):
    straight = train(tiny(epochs=4, ema_decay=0.9), processed, tmp_path / "a", progress=False)
    train(tiny(epochs=2, ema_decay=0.9), processed, tmp_path / "b", progress=False)
    resumed = train(tiny(epochs=4, ema_decay=0.9, resume=True), processed, tmp_path / "b", progress=False)
    assert resumed["steps"] == straight["steps"]
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    for k in a["raw_weights"]:
        assert torch.equal(a["raw_weights"][k], b["raw_weights"][k]), k
    for k in a["weights"]:
        assert torch.equal(a["weights"][k], b["weights"][k]), k


def test_resuming_a_run_its_budget_stopped_trains_no_further(processed, tmp_path):
    first = train(tiny(epochs=1000, max_minutes=0.05), processed, tmp_path / "run", progress=False)
    assert first["stopped_by"] == "max_minutes"
    again = train(tiny(epochs=1000, max_minutes=0.05, resume=True), processed, tmp_path / "run", progress=False)
    assert again["steps"] == first["steps"] and len(again["history"]) == len(first["history"])


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint(processed, tmp_path, monkeypatch):
    train(tiny(epochs=1), processed, tmp_path / "run", progress=False)
    monkeypatch.setitem(config_mod.LOSSES, "mse", lambda p, t: (p - t).mean() * float("nan"))
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 8 \(epoch 1\).*last.pt is kept"):
        train(tiny(epochs=2, resume=True), processed, tmp_path / "run", progress=False)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_foreign_or_corrupt_checkpoints_get_a_clear_error(tmp_path):
    (tmp_path / "junk.pt").write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(ValueError, match="junk.pt is not a readable deblur_utils checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not a deblur_utils checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoints_load_without_running_code(tmp_path, capsys):
    torch.save({"format": checkpoint_mod.CHECKPOINT_FORMAT, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable deblur_utils checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert "code ran" not in capsys.readouterr().out


def test_cuda_asked_without_a_gpu_says_what_to_do():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="device='cuda' but no CUDA GPU.*use device='auto' or 'cpu'"):
        pick_device("cuda")


@pytest.mark.parametrize("kw,message", [({"batch_size": 0}, "batch_size must be an integer >= 1"),
                                        ({"lr": -1.0}, "lr must be a positive number"),
                                        ({"loss": "huber"}, "loss must be one of"),
                                        ({"crop_size": 4}, "crop_size must be null"),
                                        ({"checkpoint_every_steps": 0}, "checkpoint_every_steps must be an integer >= 1"),
                                        ({"checkpoint_every_minutes": -1}, "checkpoint_every_minutes must be > 0"),
                                        ({"estimator_tau": 1.0}, r"estimator_tau must be in \(0, 1\)")])
def test_bad_training_parameters_are_refused_up_front(kw, message):
    with pytest.raises(ValueError, match=message):
        tiny(**kw)


def test_crop_larger_than_the_frames_is_refused(processed, tmp_path):
    with pytest.raises(ValueError, match="crop_size 512 is larger than the 256x448 frames"):
        train(tiny(crop_size=512), processed, tmp_path / "run", progress=False)


def test_a_fresh_run_sets_the_previous_one_aside_instead_of_overwriting_it(processed, tmp_path):
    train(tiny(epochs=1), processed, tmp_path / "run", progress=False)
    first = load_checkpoint(tmp_path / "run" / "best.pt")
    train(tiny(epochs=1, lr=1e-3), processed, tmp_path / "run", progress=False)
    kept = list((tmp_path / "run").glob("replaced-*/best.pt"))
    assert len(kept) == 1
    assert all(torch.equal(first["weights"][k], v) for k, v in load_checkpoint(kept[0])["weights"].items())


def test_blind_model_on_the_continuum_trains_and_resumes_bit_for_bit(processed, tmp_path):
    straight = train(blind_tiny(epochs=3, ema_decay=0.9), processed, tmp_path / "a", progress=False)
    assert all("estimator_loss" in h for h in straight["history"])
    train(blind_tiny(epochs=1, ema_decay=0.9), processed, tmp_path / "b", progress=False)
    train(blind_tiny(epochs=3, ema_decay=0.9, resume=True), processed, tmp_path / "b", progress=False)
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    for k in a["weights"]:
        assert torch.equal(a["weights"][k], b["weights"][k]), k
    model, _ = model_from_checkpoint(tmp_path / "a" / "best.pt")
    assert model(torch.rand(1, 3, 40, 40)).shape == (1, 3, 40, 40)


def test_continuum_needs_crops():
    with pytest.raises(ValueError, match="blur_sampling='continuum' trains on crops: set crop_size"):
        tiny(blur_sampling="continuum", crop_size=None)


def test_the_learning_rate_schedule_follows_the_steps_not_the_clock(processed, tmp_path, monkeypatch):
    """A recipe is its steps: under a far time cap every step is made, and the schedule is told the
    fraction of the recipe's steps done, never of the clock (a slower CPU takes longer, trains the same)."""
    calls, real = [], config_mod.lr_factor
    monkeypatch.setattr(training_loop, "lr_factor", lambda step, progress, cfg: calls.append((step, progress))
                        or real(step, progress, cfg))
    s = train(tiny(epochs=2, cosine=True, warmup_steps=2, max_minutes=600), processed, tmp_path / "run",
              progress=False)
    assert s["stopped_by"] == "steps" and s["steps"] == s["steps_asked"] == 16
    assert calls == [(k, k / 16) for k in range(16)]


def _ci_recipe_with_threads(processed, run_dir, threads, cpu_threads=None):
    """Ours' CI recipe trained in a process that has ``threads`` torch threads, the recipe asking for
    ``cpu_threads`` (None: it computes with the process's own)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        cfg = TrainConfig(model="blind_wiener", model_kwargs={"width": 8, "blocks": 1, "est_tile": 64, "est_heads": 2},
                          epochs=2, batch_size=4, lr=1e-3, crop_size=32, epoch_samples=16, val_max_frames=1,
                          device="cpu", loss="psnr", optimizer="adamw", warmup_steps=2, cosine=True,
                          blur_sampling="continuum", estimator_batch=4, ema_decay=0.9, select_on="last",
                          max_minutes=600, cpu_threads=cpu_threads)
        summary = train(cfg, processed, run_dir, progress=False)
        assert torch.get_num_threads() == threads  # the recipe's threads end with the run
        return summary
    finally:
        torch.set_num_threads(before)


def _weights(run_dir):
    return load_checkpoint(run_dir / "best.pt")["weights"]


def test_one_thread_and_two_train_the_same_steps_and_metrics(processed, tmp_path):
    """Without the recipe's thread count (cpu_threads None: every core) a machine with fewer cores still
    makes the same steps and validates within 0.01 dB: the sums of a step differ only in the last bits."""
    one = _ci_recipe_with_threads(processed, tmp_path / "one", 1)
    two = _ci_recipe_with_threads(processed, tmp_path / "two", 2)
    assert one["steps"] == two["steps"] == one["steps_asked"] == 8
    assert one["stopped_by"] == two["stopped_by"] == "steps"
    assert (one["cpu_threads"], two["cpu_threads"]) == (1, 2)
    for h1, h2 in zip(one["history"], two["history"]):
        assert h1["val_psnr_db"] == pytest.approx(h2["val_psnr_db"], abs=0.01)
        assert h1["train_loss"] == pytest.approx(h2["train_loss"], abs=1e-3)


def test_the_recipes_threads_give_the_same_weights_bit_for_bit_on_one_core_or_three(processed, tmp_path):
    """With the recipe's cpu_threads (2, every parameter set's) the machine's core count no longer
    reaches the arithmetic: a process with 1 thread and one with 3 train the same weights, bit for bit,
    and say what they computed with."""
    one = _ci_recipe_with_threads(processed, tmp_path / "one", 1, cpu_threads=2)
    three = _ci_recipe_with_threads(processed, tmp_path / "three", 3, cpu_threads=2)
    assert one["cpu_threads"] == three["cpu_threads"] == 2
    assert one["cpu_kernels"] == three["cpu_kernels"] == {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
    assert [h["train_loss"] for h in one["history"]] == [h["train_loss"] for h in three["history"]]
    w1, w3 = _weights(tmp_path / "one"), _weights(tmp_path / "three")
    assert w1.keys() == w3.keys()
    assert all(torch.equal(w1[k], w3[k]) for k in w1)
